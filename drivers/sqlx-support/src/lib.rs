//! What the drivers built on sqlx (PostgreSQL, MySQL/MariaDB) share: streaming
//! a result in chunks over a pooled connection, the errors every sqlx backend
//! reports alike, and pool statistics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dbfleet_core::driver_api::{ChunkBuilder, DbError, ErrorKind, PoolStats, Row};
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Database, Executor, IntoArguments};

/// A connection that read a row this large is closed after its call: sqlx
/// keeps a connection's read buffer at the size of the largest message it
/// read, so a pooled connection that once read a 300 MB value would hold
/// 300 MB for as long as it lives.
pub const LARGE_ROW_BYTES: usize = 16 << 20;

/// Stops a statement on the server, from another connection.
pub type Canceller = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// The pooled connection one call runs on.
///
/// A call abandoned half-way (a row limit, a timeout, a cancelled call)
/// does not give its connection back to the pool, where it would first
/// drain every row left: the connection is detached, which frees its pool
/// slot at once, and closed (sqlx's graceful `close_on_drop` was seen to keep
/// the slot for its five-second close timeout while the statement still ran
/// on the server). When the call was abandoned while the engine was still
/// working on the statement, rather than while it was sending rows (which a
/// closed socket stops at once), the statement is first cancelled on the
/// server from another connection; the abandoned one stays open until then,
/// so its session id cannot have passed to another session.
pub struct CallConnection<DB: Database> {
    conn: Option<PoolConnection<DB>>,
    cancel: Option<Canceller>,
    /// The statement has run to its end; the connection may go back.
    finished: bool,
    /// The call is waiting for the engine (not for its consumer).
    waiting: Arc<AtomicBool>,
}

impl<DB: Database> CallConnection<DB> {
    pub fn new(conn: PoolConnection<DB>, cancel: Option<Canceller>) -> Self {
        CallConnection { conn: Some(conn), cancel, finished: false, waiting: Arc::default() }
    }

    pub fn get(&mut self) -> &mut PoolConnection<DB> {
        self.conn.as_mut().expect("the connection is held until the call ends")
    }

    /// Marks whether the call is now waiting for the engine to answer (the
    /// statement runs) or for its consumer to pull (rows are on their way).
    pub fn set_waiting(&self, waiting: bool) {
        self.waiting.store(waiting, Ordering::Release);
    }

    /// The statement ran to its end: the connection goes back to the pool.
    pub fn finish(mut self) {
        self.finished = true;
    }

    /// The statement ran to its end, but the connection is closed rather
    /// than given back (see [`LARGE_ROW_BYTES`]).
    pub fn close(mut self) {
        self.cancel = None;
    }
}

impl<DB: Database> Drop for CallConnection<DB> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.finished {
            return;
        }
        let raw = conn.detach();
        let waiting = self.waiting.load(Ordering::Acquire);
        match (self.cancel.take(), waiting, tokio::runtime::Handle::try_current()) {
            (Some(cancel), true, Ok(runtime)) => {
                runtime.spawn(async move {
                    cancel().await;
                    drop(raw);
                });
            }
            _ => drop(raw),
        }
    }
}

/// Runs `sql` on the call's connection and yields its rows in chunks of `chunk_rows` (or
/// fewer, wide rows). The
/// generator runs only when the consumer polls it, so rows are decoded no
/// faster than they are pulled. User SQL is the product here: it runs as
/// given, with values bound as parameters (hence `AssertSqlSafe`).
pub fn chunks<DB, D>(
    call: CallConnection<DB>,
    sql: String,
    args: DB::Arguments,
    chunk_rows: usize,
    decode: D,
    map_err: fn(sqlx::Error) -> DbError,
) -> impl Stream<Item = Result<Vec<Row>, DbError>> + Send + 'static
where
    DB: Database,
    DB::Arguments: IntoArguments<DB> + Send + 'static,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    D: Fn(&DB::Row) -> Result<Row, DbError> + Send + 'static,
{
    async_stream::stream! {
        let mut call = call;
        let waiting = call.waiting.clone();
        let mut chunk = ChunkBuilder::new(chunk_rows);
        {
            let mut rows = sqlx::query_with(AssertSqlSafe(sql), args).fetch(&mut **call.get());
            loop {
                waiting.store(true, Ordering::Release);
                let Some(row) = rows.next().await else { break };
                waiting.store(false, Ordering::Release);
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
        if chunk.widest_row() > LARGE_ROW_BYTES {
            call.close();
        } else {
            call.finish();
        }
        if let Some(rest) = chunk.rest() {
            yield Ok(rest);
        }
    }
}

/// Takes a connection from the pool. sqlx reports a pool whose every
/// connection stayed busy and a server it cannot reach with one error; the
/// first is a `timeout` (the environment is fine, only loaded), the second a
/// `connection` failure through `map_err`.
pub async fn acquire<DB: Database>(
    pool: &sqlx::Pool<DB>,
    map_err: fn(sqlx::Error) -> DbError,
) -> Result<PoolConnection<DB>, DbError> {
    match pool.acquire().await {
        Ok(conn) => Ok(conn),
        Err(sqlx::Error::PoolTimedOut) if pool_stats(pool).in_use >= pool.options().get_max_connections() => {
            Err(DbError::new(
                ErrorKind::Timeout,
                format!(
                    "all {} connections stayed busy for connect_timeout_secs; wait for the running \
                     statements or raise [pool] max_connections",
                    pool.options().get_max_connections()
                ),
            ))
        }
        Err(err) => Err(map_err(err)),
    }
}

/// The errors every sqlx backend reports the same way. Drivers classify
/// database errors by their own codes before falling back to this.
pub fn transport_error(err: sqlx::Error) -> DbError {
    match err {
        sqlx::Error::Io(io) => DbError::connection(format!("cannot reach the server: {io}")),
        sqlx::Error::Tls(tls) => DbError::connection(format!("TLS failed: {tls}")),
        sqlx::Error::PoolTimedOut => DbError::connection(
            "no connection within connect_timeout_secs: the server is unreachable or every connection stayed busy",
        ),
        sqlx::Error::PoolClosed => DbError::connection("the connection pool is closed"),
        sqlx::Error::Configuration(err) => DbError::invalid_argument(err.to_string()),
        sqlx::Error::Database(db) => DbError::query(db.message().to_owned()),
        other => DbError::query(other.to_string()),
    }
}

pub fn pool_stats<DB: Database>(pool: &sqlx::Pool<DB>) -> PoolStats {
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    PoolStats::new(size, idle, pool.options().get_max_connections())
}
