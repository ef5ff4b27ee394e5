//! The pool of one PostgreSQL environment.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dbfleet_core::driver_api::{
    Column, DatabaseInfo, DbError, EnvironmentConfig, ExecOutcome, Pool, PoolStats, Query, RoutineInfo, Row,
    RowStream, ServerInfo, TableFilter, TableInfo, TableRef, TableSchema, async_trait,
};
use dbfleet_sqlx_support::{CallConnection, Canceller, Prepared, run_to_end};
use futures::StreamExt;
use futures::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgRow, PgTypeInfo};
use sqlx::{
    AssertSqlSafe, Column as _, Connection, Either, Executor, Postgres, SqlSafeStr, Statement, TypeInfo,
};

use crate::catalog;
use crate::errors::from_sqlx;
use crate::settings::connect_options;
use crate::types::{Decoder, bind, decode, logical_type};

/// Rows per chunk when the consumer sets no tighter limit.
const CHUNK_ROWS: usize = 500;

pub struct PostgresPool {
    pool: PgPool,
    read_only: bool,
    /// Every connection opened so far was told its session's own process id
    /// at start-up, as a server is (a connection pooler in between tells
    /// one of its own): a call may then cancel its statement by that id, and
    /// a read-only call sends its statement at once ([`PostgresPool::prepare`]).
    pids_announced: Arc<AtomicBool>,
}

/// Opens a call on a read-only environment: a read-only transaction, which
/// no statement inside it can turn read-write, and which is always rolled
/// back; and the session's process id, to cancel the statement by.
const BEGIN_READ_ONLY: &str = "BEGIN READ ONLY; SELECT pg_backend_pid()";
const BEGIN: &str = "SELECT pg_backend_pid()";

/// The read-only transaction, sent in the statement's own pipeline. Its
/// empty query takes the transaction's first snapshot, after which no
/// statement may turn it read-write (`SET TRANSACTION READ WRITE` is
/// accepted until then), as `SELECT pg_backend_pid()` does in
/// [`BEGIN_READ_ONLY`].
const READ_ONLY_TRANSACTION: &[&str] = &["BEGIN READ ONLY", "SELECT WHERE false"];

/// Has the server check every second, while a statement runs, whether the
/// client is still there, so that a statement whose result dbfleet abandoned
/// (a cancelled call, a row limit) stops at once instead of running until its
/// statement timeout: PostgreSQL 14 and later (the version test is the
/// server's own: sqlx does not parse version strings such as "15.2 (Debian
/// 15.2-1)"); older servers keep running it. Its one column is NULL when the
/// server does not check. A macro, as both statements that run it are
/// literals put together with `concat!`.
macro_rules! watch_for_disconnects {
    () => {
        "SELECT set_config('client_connection_check_interval', '1000', false) \
         WHERE current_setting('server_version_num')::int >= 140000"
    };
}

/// Sets up a new session ([`set_up_session`]).
const SET_UP_SESSION: &str = concat!("SELECT pg_backend_pid(), (", watch_for_disconnects!(), ")");

/// Fails the reset, which closes the session, when a statement prepared
/// with SQL's `PREPARE` (not one sqlx prepared) outlived its call. dbfleet
/// refuses `PREPARE` and `DEALLOCATE`, but a function may run them: it could
/// deallocate one of sqlx's statements and prepare its own under the same
/// name, which a later call on this session, another caller's perhaps,
/// would run in its place. Prepared statements are not transactional: a
/// rollback keeps them. The cast of a text that names the statement, not
/// of a constant, which the planner would fold and fail on at every call.
/// The function, not the view `pg_prepared_statements` over it, and no
/// subquery: rewriting the view and planning the subquery at every call
/// was about half of the check's cost (BENCHMARKS.md, "One thread for one
/// client").
macro_rules! close_if_statements_were_swapped {
    () => {
        "SELECT ('a statement prepared with SQL outlived its call: ' || name)::int \
         FROM pg_catalog.pg_prepared_statement() WHERE from_sql"
    };
}

/// Run on every connection given back to the pool, so that nothing a
/// statement did to its session outlives its call: an open transaction
/// (rolled back), settings (back to those of the connection string, then
/// the disconnect check again, which `RESET ALL` turns off), session-level
/// advisory locks, listeners, cursors, temporary tables and sequence state,
/// and statements prepared with SQL (see [`close_if_statements_were_swapped!`]).
/// `DISCARD ALL` would also drop the prepared statements sqlx keeps per
/// connection, so its other parts are listed one by one.
const RESET: &str = concat!(
    "ROLLBACK; CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; ",
    "SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES; ",
    watch_for_disconnects!(),
    "; ",
    close_if_statements_were_swapped!()
);

/// What the reset comes to on a read-only environment, where every user
/// statement runs alone (one statement of the extended protocol, which
/// cannot hold two) inside a read-only transaction that this rolls back.
/// The rollback undoes what such a statement can do to its session, but
/// for session-level advisory locks and prepared statements: settings, the
/// session's role, cursors and listeners are transactional, and a read-only
/// transaction can create no temporary table and advance no sequence. It
/// costs the server a small part of [`RESET`] (BENCHMARKS.md, "A lighter
/// reset").
const READ_ONLY_RESET: &str =
    concat!("ROLLBACK; SELECT pg_advisory_unlock_all(); ", close_if_statements_were_swapped!());

/// Opens the pool and one connection, so that a wrong host, database or
/// credential fails at start-up.
pub async fn connect(env: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError> {
    let options = connect_options(env)?;
    if options.get_socket().is_none() {
        dbfleet_sqlx_support::fail_if_refused(options.get_host(), options.get_port())
            .await
            .map_err(from_sqlx)?;
    }
    let reset = if env.read_only { READ_ONLY_RESET } else { RESET };
    let pids_announced = Arc::new(AtomicBool::new(true));
    let announced = pids_announced.clone();
    let pool = dbfleet_sqlx_support::pool_options::<Postgres>()
        .after_connect(move |conn, _| {
            let announced = announced.clone();
            Box::pin(async move {
                set_up_session(conn, &announced).await;
                Ok(())
            })
        })
        // The pool pings every connection given back to it, after this: the
        // reset goes out and is answered in that round trip (patched sqlx,
        // `vendor/README.md`). A reset that fails fails the ping, which
        // closes the connection.
        .after_release(move |conn, _| {
            Box::pin(async move { conn.queue_before_next_ping(reset).map(|()| true) })
        })
        .max_connections(env.pool.max_connections)
        .min_connections(env.pool.min_connections)
        .acquire_timeout(env.pool.connect_timeout)
        .idle_timeout(env.pool.idle_timeout)
        .connect_with(options)
        .await
        .map_err(from_sqlx)?;
    Ok(Arc::new(PostgresPool { pool, read_only: env.read_only, pids_announced }))
}

/// Sets up a new session in one round trip: the disconnect check (see
/// [`watch_for_disconnects!`]), and a look at the session's process id, which
/// clears `announced` unless it is the one the server announced. A server
/// that cannot say (one that only speaks PostgreSQL's protocol) counts as a
/// pooler.
async fn set_up_session(conn: &mut PgConnection, announced: &AtomicBool) {
    let own = match sqlx::query_as::<_, (i32, Option<String>)>(SET_UP_SESSION).fetch_one(&mut *conn).await {
        Ok((pid, checking)) => {
            if checking.is_none() {
                tracing::debug!("the server does not check for disconnected clients");
            }
            u32::try_from(pid).ok()
        }
        Err(err) => {
            tracing::debug!(error = %err, "the session could not be set up: no disconnect checks, no pipelining");
            None
        }
    };
    if own != Some(conn.backend_process_id()) {
        tracing::debug!(
            "the session's process id is not the one announced: a connection pooler is in between"
        );
        announced.store(false, Ordering::Release);
    }
}

// User SQL is the product here: it is run as given, on the environment the
// user chose, with values bound as parameters (hence `AssertSqlSafe`).
impl PostgresPool {
    /// A live connection from the pool (pinged: the catalog's statements
    /// are not the first on it); a pool whose every connection stayed busy
    /// is a `timeout`, not a lost server.
    async fn connection(&self) -> Result<PoolConnection<Postgres>, DbError> {
        Ok(dbfleet_sqlx_support::acquire_live(&self.pool, from_sqlx, |conn| Box::pin(conn.ping())).await?.0)
    }

    /// Whether a read-only call's statement goes out in the same pipeline as
    /// its transaction, with no round trip before it.
    fn pipelined(&self) -> bool {
        self.read_only && self.pids_announced.load(Ordering::Acquire)
    }

    /// A connection for one user statement.
    ///
    /// When [pipelined](Self::pipelined), the connection as the pool gives
    /// it, and its process id the one the server announced; the read-only
    /// transaction goes ahead of the statement ([`Self::prepare`]).
    /// Otherwise a round trip opens the call (inside a read-only transaction
    /// on a read-only environment) and also finds connections the server
    /// closed.
    async fn open_call(&self) -> Result<(CallConnection<Postgres>, bool), DbError> {
        if self.pipelined() {
            let conn = dbfleet_sqlx_support::acquire(&self.pool, from_sqlx).await?;
            // A connection opened just now may have found a pooler.
            if self.pipelined() {
                let (pool, pid) = (self.pool.clone(), conn.backend_process_id().cast_signed());
                let cancel: Canceller = Box::new(move || cancel_backend(pool, pid));
                return Ok((CallConnection::new(conn, Some(cancel)), true));
            }
        }
        let begin = if self.read_only { BEGIN_READ_ONLY } else { BEGIN };
        let call = dbfleet_sqlx_support::begin_call(&self.pool, begin, cancel_backend, from_sqlx).await?;
        Ok((call, false))
    }

    /// `q` prepared on the call; on a pipelined call, its read-only
    /// transaction goes out with it, first, and the statement does not run
    /// if the transaction fails; and the reset goes out behind it, so that
    /// the server rolls the transaction back as soon as the statement ends,
    /// and the pool's ping on release only reads the reset's answer, which
    /// is there by then (patched sqlx, `vendor/README.md`).
    async fn prepare(
        &self,
        call: CallConnection<Postgres>,
        pipelined: bool,
        q: &Query,
    ) -> Result<Prepared<Postgres, Vec<(String, PgTypeInfo)>>, DbError> {
        let mut prepared = dbfleet_sqlx_support::prepare(call, async |conn| describe(conn, q).await).await?;
        if pipelined {
            let conn = prepared.call.get();
            conn.run_before_next_statement(READ_ONLY_TRANSACTION);
            conn.run_after_next_statement(READ_ONLY_RESET);
        }
        Ok(prepared)
    }

    async fn query_on(
        &self,
        call: CallConnection<Postgres>,
        pipelined: bool,
        q: &Query,
    ) -> Result<RowStream, DbError> {
        let Prepared { call, columns, args } = self.prepare(call, pipelined, q).await?;
        if columns.is_empty() {
            run_to_end(call, q.sql.clone(), args, from_sqlx).await?;
            return Ok(RowStream::empty(Vec::new()));
        }
        let header = columns
            .iter()
            .map(|(name, info)| {
                Column::new(name.clone(), info.name().to_ascii_lowercase(), logical_type(info))
            })
            .collect();
        let types: Vec<(PgTypeInfo, Decoder)> = columns
            .into_iter()
            .map(|(_, info)| {
                let decoder = Decoder::for_type(&info);
                (info, decoder)
            })
            .collect();
        let chunk_rows = q.chunk_size(CHUNK_ROWS);
        let mut chunks = Box::pin(dbfleet_sqlx_support::chunks(
            call,
            q.sql.clone(),
            args,
            chunk_rows,
            move |row: &PgRow| decode_row(row, &types),
            None,
            from_sqlx,
        ));
        // The first answer is awaited here, so that a connection found lost
        // is replaced before the caller has seen anything.
        match chunks.next().await {
            Some(Err(err)) => Err(err),
            first => Ok(RowStream::new(header, futures::stream::iter(first).chain(chunks))),
        }
    }

    async fn execute_on(
        &self,
        call: CallConnection<Postgres>,
        pipelined: bool,
        q: &Query,
    ) -> Result<ExecOutcome, DbError> {
        let Prepared { call, args, .. } = self.prepare(call, pipelined, q).await?;
        let done = run_to_end(call, q.sql.clone(), args, from_sqlx).await?;
        Ok(ExecOutcome::new(done.rows_affected()))
    }
}

/// The statement's result columns, and its parameters bound with the types
/// the server inferred for them.
async fn describe(
    conn: &mut PgConnection,
    q: &Query,
) -> Result<(Vec<(String, PgTypeInfo)>, PgArguments), DbError> {
    {
        let statement = conn.prepare(AssertSqlSafe(q.sql.clone()).into_sql_str()).await.map_err(from_sqlx)?;
        let columns = statement
            .columns()
            .iter()
            .map(|c| (c.name().to_owned(), c.type_info().clone()))
            .collect::<Vec<_>>();
        let parameters: Vec<PgTypeInfo> = match statement.parameters() {
            Some(Either::Left(types)) => types.to_vec(),
            _ => Vec::new(),
        };
        if parameters.len() != q.params.len() {
            return Err(DbError::invalid_argument(format!(
                "the statement takes {} parameters, {} given",
                parameters.len(),
                q.params.len()
            )));
        }
        let mut args = PgArguments::default();
        for (i, (value, info)) in q.params.iter().zip(&parameters).enumerate() {
            bind(&mut args, i + 1, info, value)?;
        }
        Ok((columns, args))
    }
}

/// A statement that the session had prepared and cannot run as prepared: a
/// table it reads was altered since, so that its result columns changed
/// (0A000), or a statement deallocated it or one of the read-only
/// transaction's (26000). The server refused it before it ran, and the
/// failed call's connection is closed, not given back.
fn refused_as_prepared(err: &DbError) -> bool {
    match err.code.as_deref() {
        Some("0A000") => err.message.contains("cached plan must not change result type"),
        Some("26000") => true,
        _ => false,
    }
}

/// Cancels what the session `pid` runs, from another connection; the same
/// login may cancel its own sessions.
fn cancel_backend(pool: PgPool, pid: i32) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let cancelled = async {
            let mut conn = pool.acquire().await?;
            sqlx::query("SELECT pg_cancel_backend($1)").bind(pid).execute(&mut *conn).await
        };
        match cancelled.await {
            Ok(_) => tracing::debug!(pid, "cancelled an abandoned statement"),
            Err(err) => tracing::warn!(pid, error = %err, "could not cancel an abandoned statement"),
        }
    })
}

fn decode_row(row: &PgRow, types: &[(PgTypeInfo, Decoder)]) -> Result<Row, DbError> {
    dbfleet_core::driver_api::decode_row(types.iter().enumerate(), |(i, (info, decoder))| {
        decode(row, i, info, *decoder)
    })
    .map_err(|err| *err)
}

#[async_trait]
impl Pool for PostgresPool {
    async fn query(&self, q: &Query) -> Result<RowStream, DbError> {
        let run = |call, pipelined| self.query_on(call, pipelined, q);
        dbfleet_sqlx_support::run_call(&self.pool, || self.open_call(), run, refused_as_prepared).await
    }

    async fn execute(&self, q: &Query) -> Result<ExecOutcome, DbError> {
        let run = |call, pipelined| self.execute_on(call, pipelined, q);
        dbfleet_sqlx_support::run_call(&self.pool, || self.open_call(), run, refused_as_prepared).await
    }

    async fn list_databases(&self) -> Result<Vec<DatabaseInfo>, DbError> {
        catalog::list_databases(&mut *self.connection().await?).await
    }

    async fn list_tables(&self, filter: &TableFilter) -> Result<Vec<TableInfo>, DbError> {
        catalog::list_tables(&mut *self.connection().await?, filter).await
    }

    async fn describe_table(&self, table: &TableRef) -> Result<TableSchema, DbError> {
        catalog::describe_table(&mut *self.connection().await?, table).await
    }

    async fn list_routines(&self, schema: Option<&str>) -> Result<Option<Vec<RoutineInfo>>, DbError> {
        catalog::list_routines(&mut *self.connection().await?, schema).await.map(Some)
    }

    async fn ping(&self) -> Result<ServerInfo, DbError> {
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&mut *self.connection().await?)
            .await
            .map_err(from_sqlx)?;
        Ok(ServerInfo::new(format!("PostgreSQL {version}")))
    }

    async fn write_rights(&self) -> Result<Vec<String>, DbError> {
        catalog::write_rights(&mut *self.connection().await?).await
    }

    fn stats(&self) -> PoolStats {
        dbfleet_sqlx_support::pool_stats(&self.pool)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
