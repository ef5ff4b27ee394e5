//! The pool's connections: how they are opened and handed out again.
//!
//! deadpool-sqlite's manager runs a query on a blocking thread every time a
//! connection is taken from the pool, to check that it still works. A SQLite
//! connection lives in this process and cannot be lost that way, and the
//! extra hop between threads cost more than a small query itself
//! (BENCHMARKS.md, "Fewer wake-ups"), so this manager, on deadpool and
//! deadpool-sync as deadpool-sqlite is, hands connections out as they are.

use std::path::PathBuf;
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{Metrics, RecycleError, RecycleResult};
use deadpool_sync::SyncWrapper;
use rusqlite::Connection;
use rusqlite::limits::Limit;

pub type Pool = deadpool::managed::Pool<Manager>;
pub type PoolError = deadpool::managed::PoolError<rusqlite::Error>;

pub struct Manager {
    /// A URI filename, or `:memory:`.
    pub uri: PathBuf,
    pub read_only: bool,
    pub busy_timeout: Duration,
}

impl deadpool::managed::Manager for Manager {
    type Type = SyncWrapper<Connection>;
    type Error = rusqlite::Error;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        let (uri, read_only, busy_timeout) = (self.uri.clone(), self.read_only, self.busy_timeout);
        SyncWrapper::new(Runtime::Tokio1, move || {
            let conn = Connection::open(uri)?;
            configure(&conn, read_only, busy_timeout)?;
            Ok(conn)
        })
        .await
    }

    /// A statement that panicked leaves its connection's mutex poisoned:
    /// that connection is dropped, any other is fine.
    async fn recycle(&self, conn: &mut Self::Type, _: &Metrics) -> RecycleResult<Self::Error> {
        if conn.is_mutex_poisoned() {
            return Err(RecycleError::message("the connection is unusable after a panic"));
        }
        Ok(())
    }
}

/// Per-connection settings. A read-only environment is refused by SQLite
/// itself too: `query_only` stops writes and a zero ATTACH limit stops
/// attaching other files.
fn configure(conn: &Connection, read_only: bool, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    crate::diff::register(conn)?;
    if read_only {
        conn.pragma_update(None, "query_only", true)?;
        conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    }
    Ok(())
}
