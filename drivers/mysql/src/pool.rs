//! The pool of one MySQL/MariaDB environment.

use std::sync::Arc;
use std::time::Duration;

use dbfleet_core::{
    Column, DatabaseInfo, DbError, EnvironmentConfig, ExecOutcome, LogicalType, Pool, PoolStats, Query, Row,
    RowStream, ServerInfo, TableFilter, TableInfo, TableRef, TableSchema, async_trait,
};
use futures::StreamExt;
use sqlx::mysql::{MySqlArguments, MySqlConnection, MySqlPool, MySqlPoolOptions, MySqlRow, MySqlTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{
    AssertSqlSafe, Column as _, Connection, Either, Executor, MySql, Row as _, SqlSafeStr, Statement,
    TypeInfo,
};

use crate::catalog;
use crate::errors::from_sqlx;
use crate::settings::connect_options;
use crate::types::{bind, decode, logical_type};

/// Rows per chunk when the consumer sets no tighter limit.
const CHUNK_ROWS: usize = 500;

pub struct MySqlFleetPool {
    pool: MySqlPool,
}

/// Opens the pool after one direct connection, which surfaces the real cause
/// of a failure (the pool would only report that it timed out).
pub async fn connect(env: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError> {
    let options = connect_options(env)?;
    let probe = MySqlConnection::connect_with(&options).await.map_err(from_sqlx)?;
    let _ = probe.close().await;
    let read_only = env.read_only;
    let timeout = env.query_timeout;
    let pool = MySqlPoolOptions::new()
        .max_connections(env.pool.max_connections)
        .min_connections(env.pool.min_connections)
        .acquire_timeout(env.pool.connect_timeout)
        .idle_timeout(env.pool.idle_timeout)
        .after_connect(move |conn, _| Box::pin(async move { configure(conn, read_only, timeout).await }))
        .connect_with(options)
        .await
        .map_err(from_sqlx)?;
    Ok(Arc::new(MySqlFleetPool { pool }))
}

/// Session settings: read-only transactions for read-only environments (so
/// the server refuses writes too), and a server-side statement timeout —
/// `max_statement_time` on MariaDB, `max_execution_time` (SELECT only) on MySQL.
async fn configure(
    conn: &mut MySqlConnection,
    read_only: bool,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    let version: String = sqlx::query_scalar("SELECT VERSION()").fetch_one(&mut *conn).await?;
    let limit = if version.contains("MariaDB") {
        format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64())
    } else {
        format!("SET SESSION max_execution_time = {}", timeout.as_millis())
    };
    conn.execute(AssertSqlSafe(limit)).await?;
    if read_only {
        conn.execute("SET SESSION TRANSACTION READ ONLY").await?;
    }
    Ok(())
}

struct Prepared {
    conn: PoolConnection<MySql>,
    columns: Vec<(String, MySqlTypeInfo)>,
    args: MySqlArguments,
}

// User SQL is the product here: it is run as given, on the environment the
// user chose, with values bound as parameters (hence `AssertSqlSafe`).
impl MySqlFleetPool {
    /// A connection from the pool; one whose every connection stayed busy
    /// is a `timeout`, not a lost server.
    async fn connection(&self) -> Result<PoolConnection<MySql>, DbError> {
        dbfleet_sqlx_support::acquire(&self.pool, from_sqlx).await
    }

    async fn prepare(&self, q: &Query) -> Result<Prepared, DbError> {
        let mut conn = self.connection().await?;
        let statement =
            (&mut *conn).prepare(AssertSqlSafe(q.sql.clone()).into_sql_str()).await.map_err(from_sqlx)?;
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
        Ok(Prepared { conn, columns, args })
    }
}

/// Decodes by the row's own column types: MariaDB describes a placeholder
/// column (`SELECT ?`) as NULL when preparing, and as the real type once run.
fn decode_row(row: &MySqlRow) -> Result<Row, DbError> {
    row.columns().iter().enumerate().map(|(i, column)| decode(row, i, column.type_info())).collect()
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
impl Pool for MySqlFleetPool {
    async fn query(&self, q: &Query) -> Result<RowStream, DbError> {
        let Prepared { mut conn, columns, args } = self.prepare(q).await?;
        if columns.is_empty() {
            sqlx::query_with(AssertSqlSafe(q.sql.clone()), args)
                .execute(&mut *conn)
                .await
                .map_err(from_sqlx)?;
            return Ok(RowStream::empty(Vec::new()));
        }
        let mut header: Vec<Column> = columns
            .iter()
            .map(|(name, info)| {
                Column::new(name.clone(), info.name().to_ascii_lowercase(), logical_type(info))
            })
            .collect();
        let chunk_rows = q.chunk_size(CHUNK_ROWS);
        let chunks = dbfleet_sqlx_support::chunks(
            conn,
            q.sql.clone(),
            args,
            chunk_rows,
            |row: &MySqlRow| decode_row(row),
            from_sqlx,
        );
        let mut chunks = Box::pin(chunks);
        let first = chunks.next().await;
        if let Some(Ok(rows)) = &first {
            refine_header(&mut header, rows);
        }
        Ok(RowStream::new(header, futures::stream::iter(first).chain(chunks)))
    }

    async fn execute(&self, q: &Query) -> Result<ExecOutcome, DbError> {
        let Prepared { mut conn, args, .. } = self.prepare(q).await?;
        let done = sqlx::query_with(AssertSqlSafe(q.sql.clone()), args)
            .execute(&mut *conn)
            .await
            .map_err(from_sqlx)?;
        Ok(ExecOutcome { affected_rows: done.rows_affected() })
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
        Ok(ServerInfo { version })
    }

    fn stats(&self) -> PoolStats {
        let size = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        PoolStats {
            size,
            idle,
            in_use: size.saturating_sub(idle),
            max: self.pool.options().get_max_connections(),
        }
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
