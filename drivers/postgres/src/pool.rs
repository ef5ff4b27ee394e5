//! The pool of one PostgreSQL environment.

use std::sync::Arc;

use dbfleet_core::driver_api::{
    Column, DatabaseInfo, DbError, EnvironmentConfig, ExecOutcome, Pool, PoolStats, Query, RoutineInfo, Row,
    RowStream, ServerInfo, TableFilter, TableInfo, TableRef, TableSchema, async_trait,
};
use dbfleet_sqlx_support::{Prepared, run_to_end};
use futures::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgRow, PgTypeInfo};
use sqlx::{
    AssertSqlSafe, Column as _, Connection, Either, Executor, Postgres, SqlSafeStr, Statement, TypeInfo,
};

use crate::catalog;
use crate::errors::from_sqlx;
use crate::settings::connect_options;
use crate::types::{bind, decode, logical_type};

/// Rows per chunk when the consumer sets no tighter limit.
const CHUNK_ROWS: usize = 500;

pub struct PostgresPool {
    pool: PgPool,
    read_only: bool,
}

/// Opens a call on a read-only environment: a read-only transaction, which
/// no statement inside it can turn read-write, and which is always rolled
/// back; and the session's process id, to cancel the statement by.
const BEGIN_READ_ONLY: &str = "BEGIN READ ONLY; SELECT pg_backend_pid()";
const BEGIN: &str = "SELECT pg_backend_pid()";

/// Run on every connection given back to the pool, so that nothing a
/// statement did to its session outlives its call: an open transaction
/// (rolled back), settings (back to those of the connection string),
/// session-level advisory locks, listeners, cursors, temporary tables and
/// sequence state. `DISCARD ALL` would also drop the prepared statements
/// sqlx keeps per connection, so its other parts are listed one by one.
const RESET: &str = "ROLLBACK; CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; \
                     SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES";

/// Opens the pool and one connection, so that a wrong host, database or
/// credential fails at start-up.
pub async fn connect(env: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError> {
    let options = connect_options(env)?;
    if options.get_socket().is_none() {
        dbfleet_sqlx_support::fail_if_refused(options.get_host(), options.get_port())
            .await
            .map_err(from_sqlx)?;
    }
    let pool = dbfleet_sqlx_support::pool_options::<Postgres>()
        .after_connect(|conn, _| Box::pin(watch_for_disconnects(conn)))
        .after_release(|conn, _| {
            Box::pin(async move {
                sqlx::raw_sql(RESET).execute(conn).await?;
                Ok(true)
            })
        })
        .max_connections(env.pool.max_connections)
        .min_connections(env.pool.min_connections)
        .acquire_timeout(env.pool.connect_timeout)
        .idle_timeout(env.pool.idle_timeout)
        .connect_with(options)
        .await
        .map_err(from_sqlx)?;
    Ok(Arc::new(PostgresPool { pool, read_only: env.read_only }))
}

/// Has the server check every second, while a statement runs, whether the
/// client is still there, so that a statement whose result dbfleet abandoned
/// (a cancelled call, a row limit) stops at once instead of running until its
/// statement timeout. PostgreSQL 14 and later; older servers (and servers
/// that only speak PostgreSQL's protocol) keep running it.
async fn watch_for_disconnects(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    // The version test is the server's own: sqlx does not parse version
    // strings such as "15.2 (Debian 15.2-1)".
    let set = "SELECT set_config('client_connection_check_interval', '1000', false) \
               WHERE current_setting('server_version_num')::int >= 140000";
    if let Err(err) = conn.execute(set).await {
        tracing::debug!(error = %err, "the server does not check for disconnected clients");
    }
    Ok(())
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

    /// A connection for one user statement, inside a read-only transaction on
    /// a read-only environment, with its statement prepared.
    async fn prepare(&self, q: &Query) -> Result<Prepared<Postgres, Vec<(String, PgTypeInfo)>>, DbError> {
        let begin = if self.read_only { BEGIN_READ_ONLY } else { BEGIN };
        let call = dbfleet_sqlx_support::begin_call(&self.pool, begin, cancel_backend, from_sqlx).await?;
        dbfleet_sqlx_support::prepare(call, async |conn| describe(conn, q).await).await
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

fn decode_row(row: &PgRow, types: &[PgTypeInfo]) -> Result<Row, DbError> {
    dbfleet_core::driver_api::decode_row(types.iter().enumerate(), |(i, info)| decode(row, i, info))
}

#[async_trait]
impl Pool for PostgresPool {
    async fn query(&self, q: &Query) -> Result<RowStream, DbError> {
        let Prepared { call, columns, args } = self.prepare(q).await?;
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
        let types: Vec<PgTypeInfo> = columns.into_iter().map(|(_, info)| info).collect();
        let chunk_rows = q.chunk_size(CHUNK_ROWS);
        let chunks = dbfleet_sqlx_support::chunks(
            call,
            q.sql.clone(),
            args,
            chunk_rows,
            move |row: &PgRow| decode_row(row, &types),
            from_sqlx,
        );
        Ok(RowStream::new(header, chunks))
    }

    async fn execute(&self, q: &Query) -> Result<ExecOutcome, DbError> {
        let Prepared { call, args, .. } = self.prepare(q).await?;
        let done = run_to_end(call, q.sql.clone(), args, from_sqlx).await?;
        Ok(ExecOutcome::new(done.rows_affected()))
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
