//! The chunked row stream: the only way rows leave a driver.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::stream::{BoxStream, Stream, StreamExt};
use serde::Serialize;

use crate::error::DbError;
use crate::value::{Column, Row, Value};

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

impl RowStream {
    /// Moves the driver's work (reading rows off the wire and decoding them)
    /// to a task of its own, up to `chunks` chunks ahead of the consumer, so
    /// that decoding rows and writing them out run on two cores. Memory stays
    /// bounded by `chunks` more chunks. Dropping the stream stops the task,
    /// and with it the query, also while the task waits for the engine.
    pub fn read_ahead(self, chunks: usize) -> Self {
        let RowStream { columns, chunks: mut inner, rows_pulled, more_results } = self;
        let (sender, mut receiver) = tokio::sync::mpsc::channel(chunks.max(1));
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = inner.next() => next,
                    () = sender.closed() => return,
                };
                let Some(next) = next else { return };
                if sender.send(next).await.is_err() {
                    return;
                }
            }
        });
        let chunks = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        RowStream { columns, chunks: chunks.boxed(), rows_pulled, more_results }
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

/// A chunk is full at about this many bytes of its rows' JSON form, whatever
/// its row count, so that wide rows do not fill memory before a consumer's
/// bounds can stop them.
pub const CHUNK_BYTES: usize = 1 << 20;

/// Gathers rows into chunks of at most `max_rows` rows or about
/// [`CHUNK_BYTES`], whichever comes first. Drivers build their chunks with it.
pub struct ChunkBuilder {
    rows: Vec<Row>,
    max_rows: usize,
    bytes: usize,
    widest: usize,
}

impl ChunkBuilder {
    pub fn new(max_rows: usize) -> Self {
        let max_rows = max_rows.max(1);
        ChunkBuilder { rows: Vec::with_capacity(max_rows.min(1024)), max_rows, bytes: 0, widest: 0 }
    }

    /// Adds a row; gives back the chunk it filled, if it did.
    pub fn push(&mut self, row: Row) -> Option<Vec<Row>> {
        let size = row_size(&row);
        self.bytes += size;
        self.widest = self.widest.max(size);
        self.rows.push(row);
        (self.rows.len() >= self.max_rows || self.bytes >= CHUNK_BYTES).then(|| self.take())
    }

    /// The size of the widest row pushed so far.
    pub fn widest_row(&self) -> usize {
        self.widest
    }

    /// The rows gathered so far (the last chunk of a result), if any.
    pub fn rest(mut self) -> Option<Vec<Row>> {
        (!self.rows.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Vec<Row> {
        self.bytes = 0;
        std::mem::replace(&mut self.rows, Vec::with_capacity(self.max_rows.min(1024)))
    }
}

/// About how many bytes a row takes in a JSON answer.
pub fn row_size(row: &Row) -> usize {
    row.iter().map(|v| v.json_size() + 1).sum()
}

/// Which bound stopped a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    MaxRows,
    MaxResultBytes,
}

/// How much of a result a consumer keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub max_rows: u64,
    /// Of the rows' JSON form ([`Value::json_size`]). The first row is always
    /// kept, its longest values cut to fit; later rows stop the result.
    pub max_bytes: u64,
}

/// Where a consumer's rows go as they are pulled: kept as values
/// (`Vec<Row>`), or written out at once (as [`crate::result::JsonRows`] does)
/// so that a large result is never held decoded.
pub trait RowSink {
    fn push(&mut self, row: Row) -> Result<(), DbError>;
    /// How many rows were pushed.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RowSink for Vec<Row> {
    fn push(&mut self, row: Row) -> Result<(), DbError> {
        Vec::push(self, row);
        Ok(())
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// Rows collected from a stream under a row limit, into `R`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitedRows<R = Vec<Row>> {
    pub columns: Vec<Column>,
    pub rows: R,
    /// More rows existed beyond `max_rows`, or beyond the byte bound.
    pub truncated: bool,
    /// The bound that stopped the result, when one did.
    pub stopped_by: Option<Bound>,
    /// Values of the first row cut to fit the byte bound.
    pub values_cut: usize,
    /// Rows the driver handed over: at most `max_rows + 1` when the driver
    /// honours [`crate::driver::Query::fetch_limit`].
    pub rows_pulled: u64,
    /// The statement returned further result sets, which were not read.
    pub more_results: bool,
}

impl<R> LimitedRows<R> {
    /// No result set: a statement that returns no rows.
    pub fn none(rows: R) -> Self {
        LimitedRows {
            columns: Vec::new(),
            rows,
            truncated: false,
            stopped_by: None,
            values_cut: 0,
            rows_pulled: 0,
            more_results: false,
        }
    }
}

/// Pulls up to `max_rows + 1` rows (the extra one only tells whether the
/// result was truncated), then drops the stream so the query ends.
pub async fn collect_limited(stream: RowStream, max_rows: u64) -> Result<LimitedRows, DbError> {
    collect_bounded(stream, Bounds { max_rows, max_bytes: u64::MAX }).await
}

/// Pulls rows until `bounds` stop it (at most `max_rows + 1`; the extra one
/// only tells whether the result was truncated), then drops the stream so
/// the query ends. Rows past a bound are dropped as their chunk arrives, so
/// memory follows the bounds and the chunk size.
pub async fn collect_bounded(stream: RowStream, bounds: Bounds) -> Result<LimitedRows, DbError> {
    collect_bounded_into(stream, bounds, Vec::new()).await
}

/// As [`collect_bounded`], each kept row pushed to `rows` as it arrives.
pub async fn collect_bounded_into<R: RowSink>(
    mut stream: RowStream,
    bounds: Bounds,
    mut rows: R,
) -> Result<LimitedRows<R>, DbError> {
    let limit = usize::try_from(bounds.max_rows).unwrap_or(usize::MAX);
    let budget = usize::try_from(bounds.max_bytes).unwrap_or(usize::MAX);
    let mut used = 0usize;
    let mut stopped_by = None;
    let mut values_cut = 0;
    'chunks: while let Some(chunk) = stream.next_chunk().await {
        for mut row in chunk? {
            if rows.len() == limit {
                stopped_by = Some(Bound::MaxRows);
                break 'chunks;
            }
            let size = row_size(&row);
            if used.saturating_add(size) > budget {
                if !rows.is_empty() {
                    stopped_by = Some(Bound::MaxResultBytes);
                    break 'chunks;
                }
                values_cut = cut_to_fit(&mut row, budget);
            }
            used = used.saturating_add(size.min(budget));
            rows.push(row)?;
        }
    }
    let rows_pulled = stream.rows_pulled();
    let more_results = stream.more_results();
    Ok(LimitedRows {
        columns: stream.columns,
        rows,
        truncated: stopped_by.is_some(),
        stopped_by,
        values_cut,
        rows_pulled,
        more_results,
    })
}

/// Cuts the largest values of `row` until it fits `budget` (or nothing more
/// can be cut); how many values were cut.
fn cut_to_fit(row: &mut Row, budget: usize) -> usize {
    let mut cut = vec![false; row.len()];
    loop {
        let size = row_size(row);
        let largest = row.iter().map(Value::json_size).enumerate().max_by_key(|(_, size)| *size);
        let Some((largest, value_size)) = largest.filter(|_| size > budget) else { break };
        if !row[largest].cut_to(value_size.saturating_sub(size - budget)) {
            break;
        }
        cut[largest] = true;
    }
    cut.iter().filter(|c| **c).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::LogicalType;

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

    fn wide_rows(rows: usize, width: usize) -> RowStream {
        let chunks = futures::stream::iter(
            (0..rows).map(move |i| Ok(vec![vec![Value::Int(i as i64), Value::Text("x".repeat(width))]])),
        );
        RowStream::new(vec![Column::new("t", "TEXT", LogicalType::Text)], chunks)
    }

    #[tokio::test]
    async fn a_byte_bound_stops_the_result_and_says_so() {
        let bounds = Bounds { max_rows: 1000, max_bytes: 10_000 };
        let got = collect_bounded(wide_rows(100, 1_000), bounds).await.unwrap();
        assert_eq!(got.rows.len(), 9, "nine rows of about 1 KB fit in 10 KB");
        assert_eq!((got.truncated, got.stopped_by, got.values_cut), (true, Some(Bound::MaxResultBytes), 0));
        assert!(got.rows_pulled <= 10, "rows past the bound are not pulled");
    }

    #[tokio::test]
    async fn a_first_row_too_large_is_cut_to_fit() {
        let bounds = Bounds { max_rows: 1000, max_bytes: 4_096 };
        let got = collect_bounded(wide_rows(1, 300_000), bounds).await.unwrap();
        assert_eq!(got.rows.len(), 1);
        assert_eq!((got.truncated, got.values_cut), (false, 1));
        let size: usize = got.rows[0].iter().map(|v| v.json_size() + 1).sum();
        assert!(size <= 4_096 && size > 4_000, "{size}");
        assert_eq!(got.rows[0][0], Value::Int(0), "the small value stays whole");
    }

    #[tokio::test]
    async fn the_row_limit_still_applies() {
        let got =
            collect_bounded(wide_rows(100, 10), Bounds { max_rows: 5, max_bytes: u64::MAX }).await.unwrap();
        assert_eq!((got.rows.len(), got.stopped_by), (5, Some(Bound::MaxRows)));
    }

    #[test]
    fn chunks_end_at_their_row_count_or_their_size() {
        let mut narrow = ChunkBuilder::new(3);
        assert!(narrow.push(vec![Value::Int(1)]).is_none());
        assert!(narrow.push(vec![Value::Int(2)]).is_none());
        assert_eq!(narrow.push(vec![Value::Int(3)]).map(|c| c.len()), Some(3));
        assert!(narrow.rest().is_none());
        let mut wide = ChunkBuilder::new(500);
        let row = || vec![Value::Text("x".repeat(300_000))];
        assert!(wide.push(row()).is_none() && wide.push(row()).is_none() && wide.push(row()).is_none());
        assert_eq!(wide.push(row()).map(|c| c.len()), Some(4), "four rows of 300 kB pass 1 MiB");
        assert!(wide.push(row()).is_none());
        assert_eq!(wide.rest().map(|c| c.len()), Some(1));
    }

    #[tokio::test]
    async fn errors_pass_through() {
        let stream = RowStream::new(vec![], futures::stream::iter([Err(DbError::query("boom"))]));
        assert_eq!(collect_limited(stream, 5).await.unwrap_err().message, "boom");
    }
}
