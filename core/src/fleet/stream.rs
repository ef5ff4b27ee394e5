//! Streaming one statement from several environments at once.
//!
//! Each environment's rows arrive as they are produced, interleaved with the
//! others', tagged with the environment. Memory stays bounded: every
//! environment holds at most the chunk it is producing, and a chunk is only
//! pulled when the consumer asks for the next event. Dropping the stream ends
//! every query still running.

use std::sync::Arc;
use std::time::Instant;

use futures::stream::{self, BoxStream, Stream, StreamExt};

use sqlparser::dialect::{Dialect, GenericDialect};

use super::{Environment, Fleet};
use crate::audit;
use crate::error::DbError;
use crate::result::duration_ms;
use crate::stream::RowStream;
use crate::value::{Column, Row, Value};

/// One step of a fan-out stream. Per environment the order is: `Columns`,
/// any number of `Rows`, then `End`; or `Error` at any point (after rows
/// already sent, when the statement failed half-way).
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Columns { environment: String, columns: Vec<Column> },
    Rows { environment: String, rows: Vec<Row> },
    End { environment: String, summary: StreamEnd },
    Error { environment: String, error: DbError },
}

impl StreamEvent {
    pub fn environment(&self) -> &str {
        match self {
            StreamEvent::Columns { environment, .. }
            | StreamEvent::Rows { environment, .. }
            | StreamEvent::End { environment, .. }
            | StreamEvent::Error { environment, .. } => environment,
        }
    }
}

/// How one environment's stream ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct StreamEnd {
    pub row_count: u64,
    /// More rows existed beyond `max_rows`; they were not read.
    pub truncated: bool,
    pub max_rows: u64,
    /// The statement returned further result sets, which were not read.
    pub more_result_sets: bool,
    pub execution_time_ms: f64,
}

enum State {
    Start {
        env: Result<Arc<Environment>, DbError>,
        sql: String,
        params: Vec<Value>,
        max_rows: Option<u64>,
    },
    Streaming {
        stream: RowStream,
        sent: u64,
        max_rows: u64,
        started: Instant,
    },
    /// The row limit cut the last chunk: its `End` follows, the stream is gone.
    Ending(StreamEvent),
    Done,
}

impl Fleet {
    /// Streams `sql` from each named environment (each name once), or from
    /// every enabled one when `environments` is `None`. Each environment
    /// stops at its row limit (`max_rows`, capped by its own setting).
    pub fn stream_many(
        &self,
        environments: Option<&[String]>,
        sql: &str,
        params: &[Value],
        max_rows: Option<u64>,
    ) -> BoxStream<'static, StreamEvent> {
        // The stream is read after the call's scope has ended: its audit
        // records carry the call, taken now.
        let audit = audit::enabled().then(audit::current);
        let asked = Instant::now();
        let streams = self.fan_out_names(environments).into_iter().map(|name| {
            let env = self.environment(Some(&name));
            let dialect: Box<dyn Dialect + Send + Sync> = match &env {
                Ok(env) => env.driver().sql_dialect(),
                Err(_) => Box::new(GenericDialect {}),
            };
            let start = State::Start { env, sql: sql.to_owned(), params: params.to_vec(), max_rows };
            let events = environment_events(name, start);
            match audit.clone() {
                None => events.boxed(),
                Some(context) => {
                    let sql = sql.to_owned();
                    events
                        .inspect(move |event| {
                            let outcome = match event {
                                StreamEvent::End { summary, .. } => Ok(summary.row_count),
                                StreamEvent::Error { error, .. } => Err(error),
                                StreamEvent::Columns { .. } | StreamEvent::Rows { .. } => return,
                            };
                            audit::streamed(
                                &context,
                                event.environment(),
                                &*dialect,
                                &sql,
                                outcome,
                                asked.elapsed(),
                            );
                        })
                        .boxed()
                }
            }
        });
        stream::select_all(streams).boxed()
    }
}

fn environment_events(name: String, start: State) -> impl Stream<Item = StreamEvent> + Send + 'static {
    stream::unfold(start, move |state| {
        let name = name.clone();
        async move {
            let error = |error: DbError| StreamEvent::Error { environment: name.clone(), error };
            match state {
                State::Start { env, sql, params, max_rows } => {
                    let started = Instant::now();
                    let opened = async {
                        let env = env?;
                        let max_rows = env.effective_max_rows(max_rows)?;
                        Ok::<_, DbError>((env.stream(&sql, params).await?, max_rows))
                    };
                    match opened.await {
                        Ok((stream, max_rows)) => {
                            let columns = stream.columns().to_vec();
                            let event = StreamEvent::Columns { environment: name.clone(), columns };
                            Some((event, State::Streaming { stream, sent: 0, max_rows, started }))
                        }
                        Err(err) => Some((error(err.in_env(&name)), State::Done)),
                    }
                }
                State::Streaming { mut stream, sent, max_rows, started } => {
                    let end = |sent: u64, truncated: bool, stream: &RowStream| StreamEvent::End {
                        environment: name.clone(),
                        summary: StreamEnd {
                            row_count: sent,
                            truncated,
                            max_rows,
                            more_result_sets: stream.more_results(),
                            execution_time_ms: duration_ms(started.elapsed()),
                        },
                    };
                    if sent == max_rows {
                        // One more row tells whether the limit cut the result.
                        let truncated = match stream.next_chunk().await {
                            Some(Err(err)) => return Some((error(err.in_env(&name)), State::Done)),
                            other => other.is_some(),
                        };
                        return Some((end(sent, truncated, &stream), State::Done));
                    }
                    match stream.next_chunk().await {
                        None => Some((end(sent, false, &stream), State::Done)),
                        Some(Err(err)) => Some((error(err.in_env(&name)), State::Done)),
                        Some(Ok(mut rows)) => {
                            let room = usize::try_from(max_rows - sent).unwrap_or(usize::MAX);
                            let cut = rows.len() > room;
                            rows.truncate(room);
                            let sent = sent + rows.len() as u64;
                            let event = StreamEvent::Rows { environment: name.clone(), rows };
                            if cut {
                                let end = end(sent, true, &stream);
                                return Some((event, State::Ending(end)));
                            }
                            Some((event, State::Streaming { stream, sent, max_rows, started }))
                        }
                    }
                }
                State::Ending(end) => Some((end, State::Done)),
                State::Done => None,
            }
        }
    })
}
