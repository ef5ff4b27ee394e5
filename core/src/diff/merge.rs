//! The streaming merge: every environment's rows read in key order, in one
//! statement each, and compared in step; memory holds a few chunks per
//! environment whatever the table's size.

use std::cmp::Ordering;
use std::collections::VecDeque;

use super::keys::{Key, key_cmp, key_of};
use super::statements::{KeyRange, Side};
use super::tally::Tally;
use super::{DiffProgress, Progress};
use crate::error::DbError;
use crate::stream::RowStream;
use crate::value::Row;

/// Rows between two progress reports.
const PROGRESS_EVERY: u64 = 10_000;

struct Cursor<'a> {
    side: &'a Side,
    stream: RowStream,
    buffer: VecDeque<Row>,
    head: Option<(Key, Row)>,
    finished: bool,
    last: Option<Key>,
    rows: u64,
}

impl<'a> Cursor<'a> {
    async fn open(side: &'a Side) -> Result<Cursor<'a>, DbError> {
        let stream = side.rows(&KeyRange::default(), true).await?;
        Ok(Cursor { side, stream, buffer: VecDeque::new(), head: None, finished: false, last: None, rows: 0 })
    }

    /// Makes the next row the head, unless one already is.
    async fn fill(&mut self) -> Result<(), DbError> {
        while self.head.is_none() {
            if let Some(row) = self.buffer.pop_front() {
                let keys = self.side.keys.len();
                if let Some(position) = row[..keys].iter().position(|v| v.is_null()) {
                    return Err(DbError::invalid_argument(format!(
                        "a row has NULL in key column {}; key columns must identify every row",
                        self.side.keys[position].name
                    ))
                    .in_env(self.side.env.name()));
                }
                self.head = Some((key_of(&row[..keys]), row));
                continue;
            }
            if self.finished {
                return Ok(());
            }
            match self.stream.next_chunk().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    self.side.fetched(chunk.len());
                    self.buffer.extend(chunk);
                }
                None => self.finished = true,
            }
        }
        Ok(())
    }

    /// Takes the head, checking that rows come in key order.
    fn take(&mut self) -> Result<(Key, Row), DbError> {
        let (key, row) = self.head.take().ok_or_else(|| DbError::internal("no row to take"))?;
        if let Some(last) = &self.last
            && key_cmp(last, &key) == Ordering::Greater
        {
            return Err(DbError::invalid_argument(
                "the engine returned keys in another order than the other environments (a key type it \
                 sorts its own way); compare with method \"bisect\" instead",
            )
            .in_env(self.side.env.name()));
        }
        self.last = Some(key.clone());
        self.rows += 1;
        Ok((key, row))
    }
}

/// Compares every row; returns each environment's row count.
pub(super) async fn merge(
    sides: &[Side],
    tally: &mut Tally,
    progress: Progress<'_>,
) -> Result<Vec<u64>, DbError> {
    let mut cursors = futures::future::try_join_all(sides.iter().map(Cursor::open)).await?;
    let mut compared: u64 = 0;
    loop {
        for cursor in &mut cursors {
            cursor.fill().await?;
        }
        let Some(lowest) = cursors
            .iter()
            .filter_map(|c| c.head.as_ref().map(|(key, _)| key))
            .min_by(|a, b| key_cmp(a, b))
            .cloned()
        else {
            break;
        };
        let mut rows: Vec<Option<Row>> = vec![None; cursors.len()];
        for (i, cursor) in cursors.iter_mut().enumerate() {
            let mut count = 0;
            while cursor.head.as_ref().is_some_and(|(key, _)| *key == lowest) {
                let (_, row) = cursor.take()?;
                if rows[i].is_none() {
                    rows[i] = Some(row);
                }
                count += 1;
                cursor.fill().await?;
            }
            if count > 1
                && let Some(row) = &rows[i]
            {
                tally.duplicate(i, &row[..cursor.side.keys.len()], count);
            }
        }
        tally.row(&rows);
        compared += 1;
        if compared.is_multiple_of(PROGRESS_EVERY) {
            progress(DiffProgress {
                rows_compared: compared,
                rows_total: None,
                message: format!("{compared} keys compared"),
            });
        }
    }
    Ok(cursors.iter().map(|c| c.rows).collect())
}
