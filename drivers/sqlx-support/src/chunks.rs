//! A result streamed in chunks over a call's connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dbfleet_core::driver_api::{ChunkBuilder, DbError, Row};
use futures::{Stream, StreamExt};
use sqlx::{AssertSqlSafe, Database, Either, Executor, IntoArguments};

use crate::call::CallConnection;

/// A connection that read a row this large is closed after its call: sqlx
/// keeps a connection's read buffer at the size of the largest message it
/// read, so a pooled connection that once read a 300 MB value would hold
/// 300 MB for as long as it lives.
pub const LARGE_ROW_BYTES: usize = 16 << 20;

/// Runs `sql` on the call's connection and yields its rows in chunks of
/// `chunk_rows` (or fewer, wide rows). With `more_results`, only the first
/// result set's: when another follows (a MySQL procedure's second
/// `SELECT`), the stream ends there, sets the flag and closes the connection
/// rather than read the rest. Without it, every row the statement returns
/// (PostgreSQL: the results of statements pipelined ahead of it end before
/// its rows). The
/// generator runs only when the consumer polls it, so rows are decoded no
/// faster than they are pulled. User SQL is the product here: it runs as
/// given, with values bound as parameters (hence `AssertSqlSafe`).
pub fn chunks<DB, D>(
    call: CallConnection<DB>,
    sql: String,
    args: DB::Arguments,
    chunk_rows: usize,
    mut decode: D,
    more_results: Option<Arc<AtomicBool>>,
    map_err: fn(sqlx::Error) -> DbError,
) -> impl Stream<Item = Result<Vec<Row>, DbError>> + Send + 'static
where
    DB: Database,
    DB::Arguments: IntoArguments<DB> + Send + 'static,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    D: FnMut(&DB::Row) -> Result<Row, DbError> + Send + 'static,
{
    async_stream::stream! {
        let mut call = call;
        let waiting = call.waiting.clone();
        let mut chunk = ChunkBuilder::new(chunk_rows);
        let mut first_set_ended = false;
        let mut unread_results = false;
        {
            let query = sqlx::query_with(AssertSqlSafe(sql), args);
            let mut results = (&mut **call.get()).fetch_many(query);
            loop {
                waiting.store(true, Ordering::Release);
                let Some(next) = results.next().await else { break };
                waiting.store(false, Ordering::Release);
                let row = match next {
                    Ok(Either::Left(_)) => {
                        first_set_ended = more_results.is_some();
                        continue;
                    }
                    Ok(Either::Right(_)) if first_set_ended => {
                        if let Some(more) = &more_results {
                            more.store(true, Ordering::Release);
                        }
                        unread_results = true;
                        break;
                    }
                    Ok(Either::Right(row)) => Ok(row),
                    Err(err) => Err(err),
                };
                match row.map_err(map_err).and_then(|row| decode(&row)) {
                    Ok(values) => {
                        if let Some(full) = chunk.push(values) {
                            yield Ok(full);
                        }
                    }
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                }
            }
        }
        if chunk.widest_row() > LARGE_ROW_BYTES || unread_results {
            call.close();
        } else {
            call.finish();
        }
        if let Some(rest) = chunk.rest() {
            yield Ok(rest);
        }
    }
}
