//! The chunked row stream: the only way rows leave a driver.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::stream::{BoxStream, Stream, StreamExt};

use crate::error::DbError;
use crate::value::{Column, Row};

/// A header (the columns) followed by chunks of rows, pulled on demand.
///
/// Memory is bounded by the chunk size, not the result size: a consumer that
/// stops pulling (a row limit, a closed client) drops the stream, and the
/// driver ends the query.
pub struct RowStream {
    columns: Vec<Column>,
    chunks: BoxStream<'static, Result<Vec<Row>, DbError>>,
    rows_pulled: u64,
    more_results: Option<Arc<AtomicBool>>,
}

impl RowStream {
    pub fn new(
        columns: Vec<Column>,
        chunks: impl Stream<Item = Result<Vec<Row>, DbError>> + Send + 'static,
    ) -> Self {
        RowStream { columns, chunks: chunks.boxed(), rows_pulled: 0, more_results: None }
    }

    /// For engines whose statements can return several result sets: the
    /// driver sets `flag` when another result set followed the one streamed.
    pub fn with_more_results_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.more_results = Some(flag);
        self
    }

    /// Another result set followed this one (known once the stream has ended).
    pub fn more_results(&self) -> bool {
        self.more_results.as_ref().is_some_and(|flag| flag.load(Ordering::Acquire))
    }

    /// A result with columns and no rows.
    pub fn empty(columns: Vec<Column>) -> Self {
        Self::new(columns, futures::stream::empty())
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// How many rows the driver has handed over so far.
    pub fn rows_pulled(&self) -> u64 {
        self.rows_pulled
    }

    /// The next chunk; `None` at the end of the result. Empty chunks are skipped.
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<Row>, DbError>> {
        loop {
            match self.chunks.next().await? {
                Ok(chunk) if chunk.is_empty() => continue,
                Ok(chunk) => {
                    self.rows_pulled += chunk.len() as u64;
                    return Some(Ok(chunk));
                }
                Err(err) => return Some(Err(err)),
            }
        }
    }
}

impl std::fmt::Debug for RowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("columns", &self.columns)
            .field("rows_pulled", &self.rows_pulled)
            .finish_non_exhaustive()
    }
}

/// Rows collected from a stream under a row limit.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitedRows {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// More rows existed beyond `max_rows`.
    pub truncated: bool,
    /// Rows the driver handed over: at most `max_rows + 1` when the driver
    /// honours [`crate::driver::Query::fetch_limit`].
    pub rows_pulled: u64,
    /// The statement returned further result sets, which were not read.
    pub more_results: bool,
}

/// Pulls up to `max_rows + 1` rows (the extra one only tells whether the
/// result was truncated), then drops the stream so the query ends.
pub async fn collect_limited(mut stream: RowStream, max_rows: u64) -> Result<LimitedRows, DbError> {
    let limit = usize::try_from(max_rows).unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = stream.next_chunk().await {
        rows.extend(chunk?);
        if rows.len() > limit {
            rows.truncate(limit);
            truncated = true;
            break;
        }
    }
    let rows_pulled = stream.rows_pulled();
    let more_results = stream.more_results();
    Ok(LimitedRows { columns: stream.columns, rows, truncated, rows_pulled, more_results })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{LogicalType, Value};

    fn counting_stream(total: i64, chunk: i64) -> RowStream {
        let chunks = futures::stream::iter((0..total).step_by(chunk as usize).map(move |start| {
            Ok((start..(start + chunk).min(total)).map(|i| vec![Value::Int(i)]).collect())
        }));
        RowStream::new(vec![Column::new("n", "INTEGER", LogicalType::Int)], chunks)
    }

    #[tokio::test]
    async fn stops_after_limit_plus_one() {
        let got = collect_limited(counting_stream(1_000_000, 1), 10).await.unwrap();
        assert_eq!(got.rows.len(), 10);
        assert!(got.truncated);
        assert_eq!(got.rows_pulled, 11);
    }

    #[tokio::test]
    async fn exact_fit_is_not_truncated() {
        let got = collect_limited(counting_stream(10, 4), 10).await.unwrap();
        assert_eq!(got.rows.len(), 10);
        assert!(!got.truncated);
    }

    #[tokio::test]
    async fn errors_pass_through() {
        let stream = RowStream::new(vec![], futures::stream::iter([Err(DbError::query("boom"))]));
        assert_eq!(collect_limited(stream, 5).await.unwrap_err().message, "boom");
    }
}
