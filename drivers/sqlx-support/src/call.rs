//! One call's connection: opened with the engine's guard statement, given
//! back when the statement ran to its end, detached and (when the engine is
//! still working) cancelled on the server when the call is abandoned.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dbfleet_core::driver_api::DbError;
use futures::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, ColumnIndex, Database, Decode, Executor, IntoArguments, Row as _, Type};

use crate::pool::{acquire_live, is_lost_connection};

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
    pub(crate) waiting: Arc<AtomicBool>,
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
    /// than given back (see [`crate::LARGE_ROW_BYTES`]).
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

/// Opens a call on `pool`: a pooled connection on which `begin` has run (on
/// a read-only environment it opens a read-only transaction) and returned
/// the session's id, by which `cancel` stops the statement from another
/// connection if the call is abandoned while the engine works.
pub async fn begin_call<DB, Id>(
    pool: &sqlx::Pool<DB>,
    begin: &'static str,
    cancel: fn(sqlx::Pool<DB>, Id) -> BoxFuture<'static, ()>,
    map_err: fn(sqlx::Error) -> DbError,
) -> Result<CallConnection<DB>, DbError>
where
    DB: Database,
    Id: for<'r> Decode<'r, DB> + Type<DB> + Send + 'static,
    usize: ColumnIndex<DB::Row>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let (conn, row) = acquire_live(pool, map_err, |conn| sqlx::raw_sql(begin).fetch_one(conn)).await?;
    let id: Id = row.try_get(0).map_err(map_err)?;
    let pool = pool.clone();
    Ok(CallConnection::new(conn, Some(Box::new(move || cancel(pool, id)))))
}

/// Runs one statement's call: `open` takes a connection and says whether
/// the call is pipelined (its read-only transaction goes out with the
/// statement, no round trip before it), `run` runs the statement on it.
///
/// A pipelined call's own failure is the first sign of a connection the
/// server closed while it sat in the pool (a restart, a killed session, a
/// proxy's cut): it is then run on another connection, every idle one in
/// turn and then a new one. It ran, if at all, read-only, in a session that
/// ended. So is a call the engine refused before its statement ran, as
/// `refused_unrun` tells. A connection that cannot be had at all is not
/// tried again: that failure is the caller's at once.
pub async fn run_call<DB, T, Open, Run>(
    pool: &sqlx::Pool<DB>,
    open: impl Fn() -> Open,
    run: impl Fn(CallConnection<DB>, bool) -> Run,
    refused_unrun: fn(&DbError) -> bool,
) -> Result<T, DbError>
where
    DB: Database,
    Open: Future<Output = Result<(CallConnection<DB>, bool), DbError>>,
    Run: Future<Output = Result<T, DbError>>,
{
    let mut attempt = 1;
    loop {
        let (call, pipelined) = open().await?;
        match run(call, pipelined).await {
            Err(err)
                if pipelined
                    && attempt <= pool.options().get_max_connections()
                    && (is_lost_connection(&err) || refused_unrun(&err)) =>
            {
                tracing::debug!(error = %err, "running a read-only statement again on another connection");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// A statement prepared on a call's connection: what the driver learnt of
/// its result columns, and its parameters bound.
pub struct Prepared<DB: Database, C> {
    pub call: CallConnection<DB>,
    pub columns: C,
    pub args: DB::Arguments,
}

/// Prepares a statement with the driver's `describe`; a statement that does
/// not prepare (bad SQL, wrong parameters) gives the connection back at once.
pub async fn prepare<DB, C>(
    mut call: CallConnection<DB>,
    describe: impl AsyncFnOnce(&mut DB::Connection) -> Result<(C, DB::Arguments), DbError>,
) -> Result<Prepared<DB, C>, DbError>
where
    DB: Database,
{
    match describe(&mut **call.get()).await {
        Ok((columns, args)) => Ok(Prepared { call, columns, args }),
        Err(err) => {
            call.finish();
            Err(err)
        }
    }
}

/// Runs a prepared statement whose rows, if any, nobody reads (a write, or a
/// query without columns) to its end. User SQL is the product here: it runs
/// as given, with values bound as parameters (hence `AssertSqlSafe`).
pub async fn run_to_end<DB>(
    call: CallConnection<DB>,
    sql: String,
    args: DB::Arguments,
    map_err: fn(sqlx::Error) -> DbError,
) -> Result<DB::QueryResult, DbError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let mut call = call;
    call.set_waiting(true);
    let done = sqlx::query_with(AssertSqlSafe(sql), args).execute(&mut **call.get()).await;
    call.finish();
    done.map_err(map_err)
}
