//! Stopping a statement whose caller went away, without touching the next
//! user of the same pooled connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dbfleet_core::driver_api::DbError;
use rusqlite::Connection;

use crate::errors::from_sqlite;

/// SQLite checks the interrupt callback every this many VM steps.
const PROGRESS_STEPS: i32 = 1000;

/// Sets `cancel` when dropped: the statement running for a caller that went
/// away (a timeout, a dropped stream) is interrupted.
pub struct CancelOnDrop(Arc<AtomicBool>);

impl CancelOnDrop {
    pub fn new(cancel: Arc<AtomicBool>) -> Self {
        CancelOnDrop(cancel)
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `work` with a progress handler that aborts the running statement once
/// `cancel` is set. Scoped to this work, unlike `sqlite3_interrupt`, which
/// could hit the next user of a pooled connection.
pub fn interruptible<T>(
    conn: &Connection,
    cancel: &Arc<AtomicBool>,
    work: impl FnOnce(&Connection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let flag = cancel.clone();
    conn.progress_handler(PROGRESS_STEPS, Some(move || flag.load(Ordering::Relaxed))).map_err(from_sqlite)?;
    let outcome = work(conn);
    conn.progress_handler(PROGRESS_STEPS, None::<fn() -> bool>).map_err(from_sqlite)?;
    outcome
}
