//! The pool of one MySQL/MariaDB environment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dbfleet_core::driver_api::{
    Column, DatabaseInfo, DbError, EnvironmentConfig, ExecOutcome, LogicalType, Pool, PoolStats, Query,
    RoutineInfo, Row, RowStream, ServerInfo, TableFilter, TableInfo, TableRef, TableSchema, async_trait,
};
use dbfleet_sqlx_support::{CallConnection, Canceller, Prepared, run_to_end};
use futures::StreamExt;
use futures::future::BoxFuture;
use sqlx::mysql::{MySqlArguments, MySqlConnection, MySqlRow, MySqlTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{
    AssertSqlSafe, Column as _, Connection, Either, Executor, MySql, Row as _, SqlSafeStr, Statement,
    TypeInfo,
};

use crate::catalog;
use crate::errors::from_sqlx;
use crate::settings::connect_options;
use crate::types::{Decoders, bind, logical_type};

/// Rows per chunk when the consumer sets no tighter limit.
const CHUNK_ROWS: usize = 500;

pub struct MySqlPool {
    pool: sqlx::Pool<MySql>,
    read_only: bool,
    /// Every connection opened so far was told its session's own id in the
    /// server's handshake (a proxy in between tells one of its own): a call
    /// may then stop its statement by that id, and a read-only call sends
    /// its statement at once ([`MySqlPool::prepare`]).
    ids_announced: Arc<AtomicBool>,
    /// What every session runs, known once the first connection opened.
    session: Arc<OnceLock<SessionSettings>>,
}

/// Opens a call on a read-only environment: a read-only transaction (set
/// for this transaction, so a statement that changes the session's default
/// cannot make it read-write), always rolled back; and the connection id,
/// to cancel the statement by.
const BEGIN_READ_ONLY: &str = "START TRANSACTION READ ONLY; SELECT CONNECTION_ID()";
const BEGIN: &str = "SELECT CONNECTION_ID()";

/// The read-only transaction, sent in the statement's own write. The server
/// runs the statement even if this fails (MySQL has no pipeline to abort),
/// but the call then fails with its error, and the statement ran read-only
/// all the same: the session's default is read-only on a read-only
/// environment, set when it opens and again after every call.
const READ_ONLY_TRANSACTION: &str = "START TRANSACTION READ ONLY";

/// Opens the pool and one connection, so that a wrong host, database or
/// credential fails at start-up.
pub async fn connect(env: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError> {
    let options = connect_options(env)?;
    if options.get_socket().is_none() {
        dbfleet_sqlx_support::fail_if_refused(options.get_host(), options.get_port())
            .await
            .map_err(from_sqlx)?;
    }
    // What a session runs depends on the server (MariaDB or MySQL, and its
    // version), which the first connection asks; every later one reuses it.
    let session: Arc<OnceLock<SessionSettings>> = Arc::default();
    let (read_only, timeout) = (env.read_only, env.query_timeout);
    let reset = session.clone();
    let settings = session.clone();
    let ids_announced = Arc::new(AtomicBool::new(true));
    let announced = ids_announced.clone();
    let pool = dbfleet_sqlx_support::pool_options::<MySql>()
        .max_connections(env.pool.max_connections)
        .min_connections(env.pool.min_connections)
        .acquire_timeout(env.pool.connect_timeout)
        .idle_timeout(env.pool.idle_timeout)
        .after_connect(move |conn, _| {
            let session = session.clone();
            let announced = announced.clone();
            Box::pin(async move {
                let settings = match session.get() {
                    Some(settings) => settings,
                    None => {
                        let version: String =
                            sqlx::query_scalar("SELECT VERSION()").fetch_one(&mut *conn).await?;
                        session.get_or_init(|| session_settings(&version, read_only, timeout))
                    }
                };
                sqlx::raw_sql(AssertSqlSafe(settings.configure.clone())).execute(&mut *conn).await?;
                let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()").fetch_one(&mut *conn).await?;
                if id != u64::from(conn.connection_id()) {
                    tracing::debug!("the session's id is not the one announced: a proxy is in between");
                    announced.store(false, Ordering::Release);
                }
                Ok(())
            })
        })
        // The pool pings every connection given back to it, after this: the
        // reset goes out with the ping and is answered in its round trip
        // (patched sqlx, `vendor/README.md`). A reset that fails fails the
        // ping, which closes the connection.
        .after_release(move |conn, _| {
            let reset = reset.clone();
            Box::pin(async move {
                // A connection is released only after it connected, which set them.
                let Some(settings) = reset.get() else { return Ok(false) };
                conn.queue_before_next_ping(&settings.reset)?;
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .map_err(from_sqlx)?;
    Ok(Arc::new(MySqlPool { pool, read_only: env.read_only, ids_announced, session: settings }))
}

/// What every session of the environment runs.
struct SessionSettings {
    /// On connect: a server-side statement timeout (`max_statement_time` on
    /// MariaDB, `max_execution_time`, for SELECT only, on MySQL) and, on a
    /// read-only environment, read-only transactions by default.
    configure: String,
    /// On every connection given back to the pool: roll back what is open,
    /// release named locks, and set the session's settings again, in case a
    /// statement (or a function it called) changed them. MySQL's own
    /// reset-connection command would also clear user variables and
    /// temporary tables, but sqlx does not send it.
    reset: String,
}

fn session_settings(version: &str, read_only: bool, timeout: Duration) -> SessionSettings {
    let mut configure = if version.contains("MariaDB") {
        format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64())
    } else {
        format!("SET SESSION max_execution_time = {}", timeout.as_millis())
    };
    if read_only {
        configure.push_str("; SET SESSION TRANSACTION READ ONLY");
    }
    let release = if releases_all_locks(version) { "DO RELEASE_ALL_LOCKS(); " } else { "" };
    SessionSettings { reset: format!("ROLLBACK; {release}{configure}"), configure }
}

/// `RELEASE_ALL_LOCKS()` exists from MySQL 5.7 and MariaDB 10.5 on.
fn releases_all_locks(version: &str) -> bool {
    let mut numbers = version.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u32>().ok());
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    if version.contains("MariaDB") { (major, minor) >= (10, 5) } else { (major, minor) >= (5, 7) }
}

// User SQL is the product here: it is run as given, on the environment the
// user chose, with values bound as parameters (hence `AssertSqlSafe`).
impl MySqlPool {
    /// A live connection from the pool (pinged: the catalog's statements
    /// are not the first on it); a pool whose every connection stayed busy
    /// is a `timeout`, not a lost server.
    async fn connection(&self) -> Result<PoolConnection<MySql>, DbError> {
        Ok(dbfleet_sqlx_support::acquire_live(&self.pool, from_sqlx, |conn| Box::pin(conn.ping())).await?.0)
    }

    /// Whether a read-only call's statement goes out in the same write as
    /// its transaction, with no round trip before it.
    fn pipelined(&self) -> bool {
        self.read_only && self.ids_announced.load(Ordering::Acquire)
    }

    /// A connection for one user statement.
    ///
    /// When [pipelined](Self::pipelined), the connection as the pool gives
    /// it, and its id the one the server announced; the read-only
    /// transaction goes ahead of the statement ([`Self::prepare`]).
    /// Otherwise a round trip opens the call (inside a read-only transaction
    /// on a read-only environment) and also finds connections the server
    /// closed.
    async fn open_call(&self) -> Result<(CallConnection<MySql>, bool), DbError> {
        if self.pipelined() {
            let conn = dbfleet_sqlx_support::acquire(&self.pool, from_sqlx).await?;
            // A connection opened just now may have found a proxy.
            if self.pipelined() {
                let (pool, id) = (self.pool.clone(), u64::from(conn.connection_id()));
                let cancel: Canceller = Box::new(move || kill_query(pool, id));
                return Ok((CallConnection::new(conn, Some(cancel)), true));
            }
        }
        let begin = if self.read_only { BEGIN_READ_ONLY } else { BEGIN };
        let call = dbfleet_sqlx_support::begin_call(&self.pool, begin, kill_query, from_sqlx).await?;
        Ok((call, false))
    }

    /// `q` prepared on the call; on a pipelined call, its read-only
    /// transaction goes out with it, first, and the reset behind it, so that
    /// the server rolls back as soon as the statement ends and the pool's
    /// ping on release only reads the reset's answer (patched sqlx,
    /// `vendor/README.md`).
    async fn prepare(
        &self,
        call: CallConnection<MySql>,
        pipelined: bool,
        q: &Query,
    ) -> Result<Prepared<MySql, Vec<(String, MySqlTypeInfo)>>, DbError> {
        let mut prepared = dbfleet_sqlx_support::prepare(call, async |conn| describe(conn, q).await).await?;
        if pipelined {
            let conn = prepared.call.get();
            conn.run_before_next_statement(READ_ONLY_TRANSACTION);
            if let Some(settings) = self.session.get() {
                conn.run_after_next_statement(&settings.reset);
            }
        }
        Ok(prepared)
    }

    async fn query_on(
        &self,
        call: CallConnection<MySql>,
        pipelined: bool,
        q: &Query,
    ) -> Result<RowStream, DbError> {
        let Prepared { call, columns, args } = self.prepare(call, pipelined, q).await?;
        let mut header: Vec<Column> = columns.iter().map(|(name, info)| column(name, info)).collect();
        // A `CALL` reports no columns when prepared: its result sets' columns
        // are known only from their rows.
        let found_columns: Arc<OnceLock<Vec<Column>>> = Arc::default();
        let decode = {
            let mut decoders = Decoders::default();
            let found_columns = header.is_empty().then(|| Arc::clone(&found_columns));
            move |row: &MySqlRow| {
                if let Some(found) = &found_columns {
                    found.get_or_init(|| {
                        row.columns().iter().map(|c| column(c.name(), c.type_info())).collect()
                    });
                }
                decoders.decode_row(row)
            }
        };
        let more_results = Arc::default();
        let chunks = dbfleet_sqlx_support::chunks(
            call,
            q.sql.clone(),
            args,
            q.chunk_size(CHUNK_ROWS),
            decode,
            Some(Arc::clone(&more_results)),
            from_sqlx,
        );
        let mut chunks = Box::pin(chunks);
        // The first answer is awaited here, so that a connection found lost
        // is replaced before the caller has seen anything.
        match chunks.next().await {
            Some(Err(err)) => Err(err),
            first => {
                if header.is_empty() {
                    header = found_columns.get().cloned().unwrap_or_default();
                }
                if let Some(Ok(rows)) = &first {
                    refine_header(&mut header, rows);
                }
                let chunks = futures::stream::iter(first).chain(chunks);
                Ok(RowStream::new(header, chunks).with_more_results_flag(more_results))
            }
        }
    }

    async fn execute_on(
        &self,
        call: CallConnection<MySql>,
        pipelined: bool,
        q: &Query,
    ) -> Result<ExecOutcome, DbError> {
        let Prepared { call, args, .. } = self.prepare(call, pipelined, q).await?;
        let done = run_to_end(call, q.sql.clone(), args, from_sqlx).await?;
        Ok(ExecOutcome::new(done.rows_affected()))
    }
}

/// Stops what connection `id` runs, from another connection; the same login
/// may stop its own statements.
fn kill_query(pool: sqlx::Pool<MySql>, id: u64) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let killed = async {
            let mut conn = pool.acquire().await?;
            conn.execute(AssertSqlSafe(format!("KILL QUERY {id}"))).await
        };
        match killed.await {
            Ok(_) => tracing::debug!(id, "stopped an abandoned statement"),
            Err(err) => tracing::warn!(id, error = %err, "could not stop an abandoned statement"),
        }
    })
}

/// The statement's result columns, and its parameters bound.
async fn describe(
    conn: &mut MySqlConnection,
    q: &Query,
) -> Result<(Vec<(String, MySqlTypeInfo)>, MySqlArguments), DbError> {
    {
        let statement = conn.prepare(AssertSqlSafe(q.sql.clone()).into_sql_str()).await.map_err(from_sqlx)?;
        let columns = statement
            .columns()
            .iter()
            .map(|c| (c.name().to_owned(), c.type_info().clone()))
            .collect::<Vec<_>>();
        let expected = match statement.parameters() {
            Some(Either::Left(types)) => types.len(),
            Some(Either::Right(count)) => count,
            None => 0,
        };
        if expected != q.params.len() {
            return Err(DbError::invalid_argument(format!(
                "the statement takes {expected} parameters, {} given",
                q.params.len()
            )));
        }
        let mut args = MySqlArguments::default();
        for (i, value) in q.params.iter().enumerate() {
            bind(&mut args, i + 1, value)?;
        }
        Ok((columns, args))
    }
}

fn column(name: &str, info: &MySqlTypeInfo) -> Column {
    Column::new(name, info.name().to_ascii_lowercase(), logical_type(info))
}

/// Columns whose type was unknown when the statement was prepared take the
/// type of their first non-null value.
fn refine_header(header: &mut [Column], first: &[Row]) {
    for (i, column) in header.iter_mut().enumerate() {
        if column.logical_type == LogicalType::Null
            && let Some(value) = first.iter().map(|row| &row[i]).find(|v| !v.is_null())
        {
            column.logical_type = value.logical_type();
        }
    }
}

#[async_trait]
impl Pool for MySqlPool {
    async fn query(&self, q: &Query) -> Result<RowStream, DbError> {
        let run = |call, pipelined| self.query_on(call, pipelined, q);
        dbfleet_sqlx_support::run_call(&self.pool, || self.open_call(), run, |_| false).await
    }

    async fn execute(&self, q: &Query) -> Result<ExecOutcome, DbError> {
        let run = |call, pipelined| self.execute_on(call, pipelined, q);
        dbfleet_sqlx_support::run_call(&self.pool, || self.open_call(), run, |_| false).await
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
        let version: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(&mut *self.connection().await?)
            .await
            .map_err(from_sqlx)?;
        // MariaDB reports e.g. "10.11.19-MariaDB-0+deb12u1"; name the engine either way.
        let version = match version.split_once("-MariaDB") {
            Some((number, _)) => format!("MariaDB {number} ({version})"),
            None => format!("MySQL {version}"),
        };
        Ok(ServerInfo::new(version))
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
