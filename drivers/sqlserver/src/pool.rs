//! The pool of one SQL Server environment: bb8 over tiberius clients, and
//! the streaming of results out of it.
//!
//! A tiberius client serves one request at a time and must read a response
//! to its end before the next request. A request that did not run to its end
//! (a result abandoned half-way, a future dropped by a timeout, an I/O or
//! protocol error) therefore marks its connection broken, and the pool closes
//! it instead of handing it out again: draining an abandoned million-row
//! result would cost more than a new connection. Connections that died while
//! idle (a server restart) fail the `SELECT 1` run at check-out and are
//! replaced.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use bb8::{ErrorSink, ManageConnection, PooledConnection, RunError};
use dbfleet_core::driver_api::{
    ChunkBuilder, Column, DatabaseInfo, DbError, EnvironmentConfig, ErrorKind, ExecOutcome, Pool, PoolStats,
    Query, Row, RowStream, ServerInfo, TableFilter, TableInfo, TableRef, TableSchema, async_trait,
};
use futures::{Stream, StreamExt, TryStreamExt};
use tiberius::{Client, ColumnData, ColumnType, Config, QueryItem, SqlBrowser};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::catalog;
use crate::errors::{from_tiberius, response_complete};
use crate::params;
use crate::settings::client_config;
use crate::types;

/// Rows per chunk when the consumer sets no tighter limit.
const CHUNK_ROWS: usize = 500;

type TdsClient = Client<Compat<TcpStream>>;

/// One connection of the pool.
pub struct Connection {
    /// Taken out (and the connection broken) when an abandoned request is
    /// cancelled, so that the pool slot is free while the cancel runs.
    client: Option<TdsClient>,
    /// Set when the last request on it did not run to its end.
    broken: bool,
}

impl Connection {
    fn client(&mut self) -> Result<&mut TdsClient, DbError> {
        self.client.as_mut().ok_or_else(|| DbError::internal("the connection was closed"))
    }
}

/// The last error of a connection attempt, kept for the caller whose wait
/// for a connection timed out: bb8 then reports only the timeout.
#[derive(Debug, Clone, Default)]
struct LastError(Arc<Mutex<Option<DbError>>>);

impl LastError {
    fn set(&self, err: Option<DbError>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = err;
    }

    fn take(&self) -> Option<DbError> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl ErrorSink<DbError> for LastError {
    fn sink(&self, err: DbError) {
        self.set(Some(err));
    }

    fn boxed_clone(&self) -> Box<dyn ErrorSink<DbError>> {
        Box::new(self.clone())
    }
}

struct Manager {
    config: Config,
    /// A named instance without a port: SQL Browser tells the port.
    sql_browser: bool,
    /// Connecting to an SSH tunnel's local end (`connect_address`).
    tunnelled: bool,
    connect_timeout: Duration,
    last_error: LastError,
}

impl Manager {
    async fn open(&self) -> Result<TdsClient, DbError> {
        let attempt = async {
            match Client::connect(self.config.clone(), self.tcp(&self.config).await?).await {
                // Azure SQL's gateway may send the login elsewhere, once.
                // Through an SSH tunnel the login may only go where the tunnel leads.
                Err(tiberius::error::Error::Routing { host, port }) if self.tunnelled => {
                    Err(DbError::connection(format!(
                        "the server sent the login to {host}:{port}, which the SSH tunnel does not lead to"
                    )))
                }
                Err(tiberius::error::Error::Routing { host, port }) => {
                    let mut config = self.config.clone();
                    config.host(&host);
                    config.port(port);
                    let tcp = self.tcp(&config).await?;
                    Client::connect(config, tcp).await.map_err(from_tiberius)
                }
                other => other.map_err(from_tiberius),
            }
        };
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(DbError::new(
                ErrorKind::Timeout,
                format!(
                    "could not connect to {} within {} s (connect_timeout_secs)",
                    self.config.get_addr(),
                    self.connect_timeout.as_secs_f64()
                ),
            )),
        }
    }

    async fn tcp(&self, config: &Config) -> Result<Compat<TcpStream>, DbError> {
        let tcp = if self.sql_browser {
            TcpStream::connect_named(config).await.map_err(from_tiberius)?
        } else {
            TcpStream::connect(config.get_addr())
                .await
                .map_err(|err| DbError::connection(format!("cannot reach {}: {err}", config.get_addr())))?
        };
        // Requests are small packets waiting for an answer: do not delay them.
        tcp.set_nodelay(true).map_err(|err| DbError::connection(err.to_string()))?;
        Ok(tcp.compat_write())
    }
}

impl ManageConnection for Manager {
    type Connection = Connection;
    type Error = DbError;

    async fn connect(&self) -> Result<Connection, DbError> {
        let client = self.open().await?;
        self.last_error.set(None);
        Ok(Connection { client: Some(client), broken: false })
    }

    async fn is_valid(&self, conn: &mut Connection) -> Result<(), DbError> {
        let outcome = match conn.client()?.simple_query("SELECT 1").await {
            Ok(stream) => stream.into_first_result().await.map(drop),
            Err(err) => Err(err),
        };
        outcome.map_err(|err| {
            conn.broken = true;
            from_tiberius(err)
        })
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.broken
    }
}

/// A pooled connection serving one request. Unless the request ran to its
/// end (`complete`), the connection goes back to the pool marked broken,
/// whatever ended it: an error, a consumer that stopped pulling rows, a
/// future dropped by a timeout. A request dropped while the server was still
/// working on it (`waiting`) is first stopped with an ATTENTION: SQL Server
/// would otherwise run it on until it next wrote to the closed connection.
struct InUse {
    conn: Option<PooledConnection<'static, Manager>>,
    complete: Completion,
    waiting: Cell<bool>,
}

/// How long an abandoned request's ATTENTION may take before its connection
/// is closed anyway.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

impl InUse {
    fn new(conn: PooledConnection<'static, Manager>) -> Self {
        InUse { conn: Some(conn), complete: Completion::default(), waiting: Cell::new(false) }
    }

    fn client(&mut self) -> Result<&mut TdsClient, DbError> {
        self.conn.as_mut().expect("the connection is held until the request ends").client()
    }

    /// Runs one batch of dbfleet's own to its end.
    async fn batch(&mut self, sql: &'static str) -> Result<(), DbError> {
        self.complete.start();
        let outcome = match self.client()?.simple_query(sql).await {
            Ok(stream) => stream.into_results().await.map(drop),
            Err(err) => Err(err),
        };
        self.complete.settle(outcome)
    }

    /// Opens the transaction a read-only environment's statement runs in.
    async fn begin_read_only(&mut self, read_only: bool) -> Result<(), DbError> {
        if read_only { self.batch("BEGIN TRANSACTION").await } else { Ok(()) }
    }

    /// Rolls back a read-only environment's transaction once its response
    /// was read to its end; a connection whose response was not is closed,
    /// and the server rolls back with it.
    async fn end_read_only(&mut self, read_only: bool) -> Result<(), DbError> {
        if read_only && self.complete.0.get() { self.batch("ROLLBACK TRANSACTION").await } else { Ok(()) }
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        if self.complete.0.get() {
            return;
        }
        conn.broken = true;
        if let (true, Some(mut client), Ok(runtime)) =
            (self.waiting.get(), conn.client.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move {
                match tokio::time::timeout(CANCEL_TIMEOUT, client.cancel_query()).await {
                    Ok(Ok(())) => tracing::debug!("cancelled an abandoned request"),
                    Ok(Err(err)) => tracing::warn!(error = %err, "could not cancel an abandoned request"),
                    Err(_) => {
                        tracing::warn!("the server did not acknowledge the cancel of an abandoned request")
                    }
                }
            });
        }
    }
}

/// Whether the request of an [`InUse`] ran to its end. A field of its own
/// (a `Cell`), so that it can be set while a result stream borrows the
/// connection beside it.
#[derive(Default)]
struct Completion(Cell<bool>);

impl Completion {
    /// A request is sent: its response is not read yet.
    fn start(&self) {
        self.0.set(false);
    }

    /// The response was read to its end.
    fn done(&self) {
        self.0.set(true);
    }

    /// The request failed with `err`: converts it, noting whether the
    /// response was read to its end all the same.
    fn failed(&self, err: tiberius::error::Error) -> DbError {
        self.0.set(response_complete(&err));
        from_tiberius(err)
    }

    fn settle<T>(&self, outcome: Result<T, tiberius::error::Error>) -> Result<T, DbError> {
        match outcome {
            Ok(value) => {
                self.done();
                Ok(value)
            }
            Err(err) => Err(self.failed(err)),
        }
    }
}

pub struct SqlServerPool {
    /// `None` once closed.
    pool: RwLock<Option<bb8::Pool<Manager>>>,
    /// Statements run inside a transaction that is always rolled back.
    read_only: bool,
    last_error: LastError,
    max: u32,
    connect_timeout: Duration,
}

/// Opens the pool with one connection made first, so that a wrong host,
/// database or credential fails at start-up with its own error.
pub async fn connect(env: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError> {
    let (config, address) = client_config(env)?;
    let last_error = LastError::default();
    let connect_timeout = env.pool.connect_timeout.max(Duration::from_millis(1));
    let manager = Manager {
        config,
        sql_browser: address.uses_sql_browser() && env.connect_address.is_none(),
        tunnelled: env.connect_address.is_some(),
        connect_timeout,
        last_error: last_error.clone(),
    };
    let first = manager.connect().await?;
    let max = env.pool.max_connections.max(1);
    let pool = bb8::Pool::builder()
        .max_size(max)
        .min_idle((env.pool.min_connections > 0).then(|| env.pool.min_connections.min(max)))
        .connection_timeout(connect_timeout)
        .idle_timeout(env.pool.idle_timeout.filter(|t| !t.is_zero()))
        .error_sink(Box::new(last_error.clone()))
        .build_unchecked(manager);
    // When min_connections already filled the pool, the first connection is
    // surplus and simply closes.
    let _ = pool.add(first);
    Ok(Arc::new(SqlServerPool {
        pool: RwLock::new(Some(pool)),
        read_only: env.read_only,
        last_error,
        max,
        connect_timeout,
    }))
}

/// What the result generator yields: the columns once, then rows.
enum Item {
    Header(Vec<Column>),
    Rows(Vec<Row>),
}

impl SqlServerPool {
    fn handle(&self) -> Option<bb8::Pool<Manager>> {
        self.pool.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    async fn checkout(&self) -> Result<InUse, DbError> {
        let pool = self.handle().ok_or_else(|| DbError::connection("the connection pool is closed"))?;
        match pool.get_owned().await {
            Ok(conn) => Ok(InUse::new(conn)),
            Err(RunError::User(err)) => Err(err),
            Err(RunError::TimedOut) => Err(match self.last_error.take() {
                Some(mut err) => {
                    err.message = format!(
                        "no connection within {} s (connect_timeout_secs); last attempt: {}",
                        self.connect_timeout.as_secs_f64(),
                        err.message
                    );
                    err
                }
                None => DbError::connection(format!(
                    "no connection within {} s (connect_timeout_secs): every connection is in use",
                    self.connect_timeout.as_secs_f64()
                )),
            }),
        }
    }
}

impl catalog::Fetch for SqlServerPool {
    /// The rows of the first result of a catalog statement.
    async fn fetch(
        &self,
        sql: &'static str,
        params: Vec<ColumnData<'static>>,
    ) -> Result<Vec<tiberius::Row>, DbError> {
        let mut held = self.checkout().await?;
        let mut query = tiberius::Query::new(sql);
        for param in params {
            query.bind(param);
        }
        let outcome = match query.query(held.client()?).await {
            Ok(stream) => stream.into_first_result().await,
            Err(err) => Err(err),
        };
        held.complete.settle(outcome)
    }
}

/// Runs `sql` on `held` and yields its columns, then its rows in chunks of
/// `chunk_rows`, at most `fetch_limit` rows in all. The generator runs only
/// when polled, so rows are read from the server no faster than the consumer
/// pulls them; dropping it drops `held`, which marks the connection broken
/// unless the response was read to its end. A second result set sets
/// `more_results` and ends the stream. On a read-only environment `held` is
/// inside a transaction, rolled back once the response is read.
fn result_items(
    mut held: InUse,
    sql: String,
    params: Vec<ColumnData<'static>>,
    chunk_rows: usize,
    fetch_limit: Option<u64>,
    more_results: Arc<AtomicBool>,
    read_only: bool,
) -> impl Stream<Item = Result<Item, DbError>> + Send + 'static {
    async_stream::stream! {
        let mut query = tiberius::Query::new(sql);
        for param in params {
            query.bind(param);
        }
        let mut failure = None;
        let mut chunk = ChunkBuilder::new(chunk_rows);
        'response: {
            held.complete.start();
            held.waiting.set(true);
            let conn = held.conn.as_mut().expect("the connection is held until the request ends");
            let client = match conn.client() {
                Ok(client) => client,
                Err(err) => {
                    failure = Some(err);
                    break 'response;
                }
            };
            let mut results = match query.query(client).await {
                Ok(results) => results,
                Err(err) => {
                    failure = Some(held.complete.failed(err));
                    break 'response;
                }
            };
            let columns = results.columns().await;
            held.waiting.set(false);
            let (header, column_types): (Vec<Column>, Vec<ColumnType>) = match columns {
                Ok(Some(columns)) => (
                    columns.iter().map(types::column).collect(),
                    columns.iter().map(tiberius::Column::column_type).collect(),
                ),
                // No result set: looking for one read the response to its end.
                Ok(None) => {
                    held.complete.done();
                    drop(results);
                    if let Err(err) = held.end_read_only(read_only).await {
                        yield Err(err);
                        return;
                    }
                    yield Ok(Item::Header(Vec::new()));
                    return;
                }
                Err(err) => {
                    failure = Some(held.complete.failed(err));
                    break 'response;
                }
            };
            yield Ok(Item::Header(header));
            let mut in_first_result = false;
            let mut read: u64 = 0;
            loop {
                if fetch_limit.is_some_and(|limit| read >= limit) {
                    break;
                }
                held.waiting.set(true);
                let item = results.try_next().await;
                held.waiting.set(false);
                match item {
                    Ok(Some(QueryItem::Metadata(_))) if !in_first_result => in_first_result = true,
                    Ok(Some(QueryItem::Metadata(_))) => {
                        // The rest of the response is left unread and the
                        // connection replaced.
                        more_results.store(true, Ordering::Release);
                        break;
                    }
                    Ok(Some(QueryItem::Row(row))) => {
                        read += 1;
                        let values = row.into_iter().zip(&column_types).map(|(data, ty)| types::value(*ty, &data));
                        if let Some(full) = chunk.push(values.collect()) {
                            yield Ok(Item::Rows(full));
                        }
                    }
                    Ok(None) => {
                        held.complete.done();
                        break;
                    }
                    Err(err) => {
                        failure = Some(held.complete.failed(err));
                        break 'response;
                    }
                }
            }
        }
        if let Err(err) = held.end_read_only(read_only).await {
            failure.get_or_insert(err);
        }
        if let Some(err) = failure {
            yield Err(err);
            return;
        }
        if let Some(rest) = chunk.rest() {
            yield Ok(Item::Rows(rest));
        }
    }
}

#[async_trait]
impl Pool for SqlServerPool {
    async fn query(&self, q: &Query) -> Result<RowStream, DbError> {
        let params = params::bind_all(&q.params)?;
        let mut held = self.checkout().await?;
        held.begin_read_only(self.read_only).await?;
        let more_results = Arc::new(AtomicBool::new(false));
        let mut items = Box::pin(result_items(
            held,
            q.sql.clone(),
            params,
            q.chunk_size(CHUNK_ROWS),
            q.fetch_limit,
            more_results.clone(),
            self.read_only,
        ));
        // The first item is the header: the statement has run by then.
        let columns = match items.next().await {
            Some(Ok(Item::Header(columns))) => columns,
            Some(Err(err)) => return Err(err),
            Some(Ok(Item::Rows(_))) | None => {
                return Err(DbError::internal("the result ended before its columns were known"));
            }
        };
        let chunks = items.map_ok(|item| match item {
            Item::Rows(rows) => rows,
            Item::Header(_) => Vec::new(),
        });
        Ok(RowStream::new(columns, chunks).with_more_results_flag(more_results))
    }

    async fn execute(&self, q: &Query) -> Result<ExecOutcome, DbError> {
        let params = params::bind_all(&q.params)?;
        let mut held = self.checkout().await?;
        held.begin_read_only(self.read_only).await?;
        let mut query = tiberius::Query::new(q.sql.as_str());
        for param in params {
            query.bind(param);
        }
        held.complete.start();
        held.waiting.set(true);
        let outcome = query.execute(held.client()?).await;
        held.waiting.set(false);
        let result = held.complete.settle(outcome);
        held.end_read_only(self.read_only).await?;
        Ok(ExecOutcome::new(result?.total()))
    }

    async fn list_databases(&self) -> Result<Vec<DatabaseInfo>, DbError> {
        catalog::list_databases(self).await
    }

    async fn list_tables(&self, filter: &TableFilter) -> Result<Vec<TableInfo>, DbError> {
        catalog::list_tables(self, filter).await
    }

    async fn describe_table(&self, table: &TableRef) -> Result<TableSchema, DbError> {
        catalog::describe_table(self, table).await
    }

    async fn ping(&self) -> Result<ServerInfo, DbError> {
        catalog::server_info(self).await
    }

    fn stats(&self) -> PoolStats {
        let Some(pool) = self.handle() else {
            return PoolStats::new(0, 0, self.max);
        };
        let state = pool.state();
        PoolStats::new(state.connections, state.idle_connections, self.max)
    }

    /// bb8 has no close of its own: idle connections close as the last
    /// handle to the pool goes, connections in use when they are returned.
    async fn close(&self) {
        self.pool.write().unwrap_or_else(PoisonError::into_inner).take();
    }
}
