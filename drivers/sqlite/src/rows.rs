//! Streaming a result out of SQLite, chunk by chunk, on demand.
//!
//! The connection lives on a blocking thread for as long as the stream does.
//! It reads the first chunk at once (the header's types come from it) and
//! every further chunk only when the consumer asks for it, so rows are never
//! stepped ahead of demand. Dropping the stream interrupts the statement and
//! returns the connection to the pool.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc as std_mpsc;

use dbfleet_core::driver_api::{
    ChunkBuilder, Column, DbError, LogicalType, Query, Row, RowStream, Value, decode_row,
};
use rusqlite::{Connection, Rows, params_from_iter};
use tokio::sync::{mpsc, oneshot};

use crate::connections::Pool;
use crate::errors::{from_sqlite, pool_error};
use crate::interrupt::{CancelOnDrop, interruptible};
use crate::types::{logical_type, to_param, to_value};

/// Rows per chunk when the consumer sets no tighter limit.
const CHUNK_ROWS: usize = 512;

struct Head {
    columns: Vec<Column>,
    first: Vec<Row>,
    done: bool,
}

pub async fn open(pool: &Pool, query: &Query) -> Result<RowStream, DbError> {
    let params = params_of(query)?;
    let conn = pool.get().await.map_err(pool_error)?;
    let sql = query.sql.clone();
    let chunk_rows = query.chunk_size(CHUNK_ROWS);
    let cancel = Arc::new(AtomicBool::new(false));
    let guard = CancelOnDrop::new(cancel.clone());
    let (head_tx, head_rx) = oneshot::channel();
    let (pull_tx, pull_rx) = std_mpsc::channel::<()>();
    let (chunk_tx, chunk_rx) = mpsc::channel(1);
    // The blocking thread holds the pooled connection until the stream is
    // done with it. It is started here rather than through deadpool's
    // `interact`, which would need a task of its own to await it: each hop
    // between threads is a wake-up, and for a small result those cost more
    // than SQLite's own work (BENCHMARKS.md, "Fewer wake-ups").
    tokio::task::spawn_blocking(move || {
        let Ok(c) = conn.lock() else {
            let _ = head_tx.send(Err(DbError::internal("the SQLite connection is unusable after a panic")));
            return;
        };
        let outcome = interruptible(&c, &cancel, |c| {
            produce(c, &sql, params, chunk_rows, head_tx, pull_rx, chunk_tx);
            Ok(())
        });
        if let Err(err) = outcome {
            tracing::error!(error = %err, "SQLite worker failed");
        }
    });
    let head = head_rx.await.map_err(|_| DbError::internal("the SQLite worker stopped"))??;
    let first = futures::stream::iter((!head.first.is_empty()).then_some(Ok(head.first)));
    if head.done {
        return Ok(RowStream::new(head.columns, first));
    }
    let rest =
        futures::stream::unfold((pull_tx, chunk_rx, guard), |(pull_tx, mut chunk_rx, guard)| async move {
            pull_tx.send(()).ok()?;
            let chunk = chunk_rx.recv().await?;
            Some((chunk, (pull_tx, chunk_rx, guard)))
        });
    Ok(RowStream::new(head.columns, futures::StreamExt::chain(first, rest)))
}

pub fn params_of(query: &Query) -> Result<Vec<rusqlite::types::Value>, DbError> {
    query.params.iter().enumerate().map(|(i, value)| to_param(i + 1, value)).collect()
}

fn produce(
    c: &Connection,
    sql: &str,
    params: Vec<rusqlite::types::Value>,
    chunk_rows: usize,
    head_tx: oneshot::Sender<Result<Head, DbError>>,
    pull_rx: std_mpsc::Receiver<()>,
    chunk_tx: mpsc::Sender<Result<Vec<Row>, DbError>>,
) {
    let mut statement = match c.prepare(sql) {
        Ok(statement) => statement,
        Err(err) => {
            let _ = head_tx.send(Err(from_sqlite(err)));
            return;
        }
    };
    if statement.column_count() == 0 {
        let outcome = statement.execute(params_from_iter(params));
        let _ = head_tx
            .send(outcome.map(|_| Head { columns: vec![], first: vec![], done: true }).map_err(from_sqlite));
        return;
    }
    let declared: Vec<(String, Option<String>)> = statement
        .columns()
        .iter()
        .map(|column| (column.name().to_owned(), column.decl_type().map(str::to_owned)))
        .collect();
    let logical: Vec<LogicalType> =
        declared.iter().map(|(_, decl)| decl.as_deref().map_or(LogicalType::Other, logical_type)).collect();
    let mut rows = match statement.query(params_from_iter(params)) {
        Ok(rows) => rows,
        Err(err) => {
            let _ = head_tx.send(Err(from_sqlite(err)));
            return;
        }
    };
    let (first, done) = match read_chunk(&mut rows, &logical, chunk_rows) {
        Ok(chunk) => chunk,
        Err(err) => {
            let _ = head_tx.send(Err(err));
            return;
        }
    };
    let columns = header(declared, &logical, &first);
    if head_tx.send(Ok(Head { columns, first, done })).is_err() || done {
        return;
    }
    while pull_rx.recv().is_ok() {
        match read_chunk(&mut rows, &logical, chunk_rows) {
            Ok((chunk, done)) => {
                if chunk_tx.blocking_send(Ok(chunk)).is_err() || done {
                    return;
                }
            }
            Err(err) => {
                let _ = chunk_tx.blocking_send(Err(err));
                return;
            }
        }
    }
}

/// Up to `limit` rows (fewer when they are wide), and whether the result ended.
fn read_chunk(
    rows: &mut Rows<'_>,
    logical: &[LogicalType],
    limit: usize,
) -> Result<(Vec<Row>, bool), DbError> {
    let mut chunk = ChunkBuilder::new(limit);
    loop {
        match rows.next().map_err(from_sqlite)? {
            Some(row) => {
                let values = decode_row(logical.iter().enumerate(), |(i, logical)| {
                    row.get_ref(i).map(|cell| to_value(cell, *logical))
                })
                .map_err(from_sqlite)?;
                if let Some(full) = chunk.push(values) {
                    return Ok((full, false));
                }
            }
            None => return Ok((chunk.rest().unwrap_or_default(), true)),
        }
    }
}

/// Columns with a declared type report it; expression columns take the type
/// of their first non-null value in the first chunk.
fn header(declared: Vec<(String, Option<String>)>, logical: &[LogicalType], first: &[Row]) -> Vec<Column> {
    declared
        .into_iter()
        .enumerate()
        .map(|(i, (name, decl))| match decl {
            Some(decl) => Column::new(name, decl, logical[i]),
            None => {
                let sample = first.iter().map(|row| &row[i]).find(|v| !v.is_null());
                let (native, logical) = match sample {
                    Some(Value::Int(_)) => ("INTEGER", LogicalType::Int),
                    Some(Value::Float(_)) => ("REAL", LogicalType::Float),
                    Some(Value::Text(_)) => ("TEXT", LogicalType::Text),
                    Some(Value::Bytes(_)) => ("BLOB", LogicalType::Bytes),
                    _ => ("", LogicalType::Null),
                };
                Column::new(name, native, logical)
            }
        })
        .collect()
}
