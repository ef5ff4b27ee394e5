//! The environment manager: every configured environment with its pool and
//! health, and the routing of each call to the environment it names.
//!
//! Start-up never fails because an environment is down: each enabled
//! environment connects concurrently, bounded by its connect timeout; one that
//! fails stays listed as `unhealthy` with its error and is retried in the
//! background with capped exponential backoff and jitter until it connects.
//! An environment that was connected and then loses its server is marked
//! `unhealthy` by the call that found out, and probed the same way until it
//! answers again, so its status recovers without anyone calling it.

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use secrecy::ExposeSecret;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;

use crate::config::{Config, EnvironmentConfig};
use crate::driver::{
    DatabaseDriver, DatabaseInfo, Pool, PoolStats, Query, TableFilter, TableInfo, TableRef, TableSchema,
};
use crate::error::{DbError, ErrorKind};
use crate::readonly::{Classifier, ClassifyError};
use crate::redact;
use crate::registry;
use crate::stream::{Bound, Bounds, RowStream, collect_bounded};
use crate::value::{Column, Row, Value};

/// The connection state of one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Healthy,
    Unhealthy,
    Disabled,
    Connecting,
}

/// How the fleet starts.
#[derive(Debug, Clone, Copy)]
pub struct StartOptions {
    /// Retry environments that fail to connect, in the background, until they
    /// connect. Off for one-shot commands such as `dbfleet check`.
    pub reconnect: bool,
    /// First and longest delay between reconnection attempts.
    pub min_retry_delay: Duration,
    pub max_retry_delay: Duration,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            reconnect: true,
            min_retry_delay: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(60),
        }
    }
}

/// A snapshot of one environment, as `list_environments` and `health_check` report it.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentStatus {
    pub name: String,
    pub driver: String,
    pub description: Option<String>,
    pub default: bool,
    pub enabled: bool,
    pub read_only: bool,
    pub status: Status,
    /// Where the environment points, without secrets.
    pub target: String,
    pub latency_ms: Option<f64>,
    pub server_version: Option<String>,
    pub last_error: Option<DbError>,
    pub consecutive_failures: u32,
    pub pool: Option<PoolStats>,
    /// On a read-only environment: what its login may do beyond reading.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What a fresh connection attempt found (`test_connection`).
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionReport {
    pub environment: String,
    pub driver: String,
    /// Host, port and database (or file), without secrets.
    pub target: String,
    pub ok: bool,
    pub connect_time_ms: f64,
    pub server_version: Option<String>,
    pub error: Option<DbError>,
    /// On failure: `dns`, `refused`, `timeout`, `auth`, `tls`, `database`, or
    /// `other`.
    pub failure_class: Option<&'static str>,
}

/// Sorts a connection failure into the classes an operator acts on.
fn failure_class(err: &DbError) -> &'static str {
    let message = err.message.to_lowercase();
    match err.kind {
        ErrorKind::Auth => "auth",
        ErrorKind::Timeout => "timeout",
        _ if ["failed to lookup", "name or service not known", "no such host", "nodename nor servname"]
            .iter()
            .any(|m| message.contains(m)) =>
        {
            "dns"
        }
        _ if message.contains("connection refused") => "refused",
        _ if message.contains("tls") || message.contains("certificate") => "tls",
        _ if message.contains("database") => "database",
        _ => "other",
    }
}

/// One statement to run on one environment.
#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    pub sql: String,
    pub params: Vec<Value>,
    /// Defaults to the environment's `max_rows`, and is capped by it.
    pub max_rows: Option<u64>,
}

/// The result of one statement on one environment.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    pub environment: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    pub row_count: usize,
    pub truncated: bool,
    /// The bound that stopped the result, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_by: Option<Bound>,
    /// Values of the first row cut to fit `max_result_bytes`.
    #[serde(skip_serializing_if = "is_zero")]
    pub values_cut: usize,
    /// The row limit that applied.
    pub max_rows: u64,
    /// The byte bound that applied.
    pub max_result_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affected_rows: Option<u64>,
    /// The statement returned more than one result set; only the first is here.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub more_result_sets: bool,
    pub execution_time_ms: f64,
}

/// Which configured limit bounds a call.
#[derive(Clone, Copy)]
enum Limit {
    Query,
    Connect,
}

const CLIENT_TIMEOUT_GRACE: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct EnvState {
    status: Status,
    pool: Option<Arc<dyn Pool>>,
    last_error: Option<DbError>,
    latency: Option<Duration>,
    server_version: Option<String>,
    consecutive_failures: u32,
    warnings: Vec<String>,
}

/// One configured environment: its settings, its driver and its live state.
pub struct Environment {
    config: EnvironmentConfig,
    driver: &'static dyn DatabaseDriver,
    classifier: Classifier,
    state: RwLock<EnvState>,
    /// Signalled when a call finds the connected environment unreachable;
    /// the environment's background task then probes until it answers.
    lost: Notify,
}

impl Environment {
    fn new(config: EnvironmentConfig, driver: &'static dyn DatabaseDriver) -> Self {
        let status = if config.enabled { Status::Connecting } else { Status::Disabled };
        let classifier =
            Classifier::new(driver.sql_dialect(), driver.engine_rules(), &config.side_effect_functions);
        Environment {
            config,
            driver,
            classifier,
            state: RwLock::new(EnvState {
                status,
                pool: None,
                last_error: None,
                latency: None,
                server_version: None,
                consecutive_failures: 0,
                warnings: Vec::new(),
            }),
            lost: Notify::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &EnvironmentConfig {
        &self.config
    }

    pub fn driver(&self) -> &'static dyn DatabaseDriver {
        self.driver
    }

    pub fn status(&self) -> Status {
        self.read_state().status
    }

    fn read_state(&self) -> EnvState {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn update_state(&self, change: impl FnOnce(&mut EnvState)) {
        change(&mut self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner()));
    }

    /// The live pool, or why there is none. Fails fast: a call to an
    /// environment that is down never waits for a connection attempt.
    pub fn pool(&self) -> Result<Arc<dyn Pool>, DbError> {
        if !self.config.enabled {
            return Err(DbError::new(
                ErrorKind::DisabledEnvironment,
                "environment is disabled in the configuration",
            )
            .in_env(self.name()));
        }
        let state = self.read_state();
        state.pool.ok_or_else(|| {
            let reason = match &state.last_error {
                Some(err) => format!("environment is not connected: {}", err.message),
                None => "environment is still connecting".to_owned(),
            };
            DbError::connection(reason).in_env(self.name())
        })
    }

    fn snapshot(&self, is_default: bool) -> EnvironmentStatus {
        let state = self.read_state();
        EnvironmentStatus {
            name: self.config.name.clone(),
            driver: self.config.driver.clone(),
            description: self.config.description.clone(),
            default: is_default,
            enabled: self.config.enabled,
            read_only: self.config.read_only,
            status: state.status,
            target: self.driver.target(&self.config),
            latency_ms: state.latency.map(duration_ms),
            server_version: state.server_version,
            last_error: state.last_error,
            consecutive_failures: state.consecutive_failures,
            pool: state.pool.as_ref().map(|pool| pool.stats()),
            warnings: state.warnings,
        }
    }

    /// Tags an error with this environment and removes this environment's
    /// secrets from its message, whatever the driver put there.
    fn scrub(&self, mut err: DbError) -> DbError {
        let password = self.config.password.as_ref().map(|p| p.expose_secret());
        err.message = redact::scrub(&err.message, password.as_slice());
        err.in_env(self.name())
    }

    /// Runs `work` under `limit`, scrubs its error, and keeps the health state
    /// in step: a connection failure marks the environment unhealthy, any
    /// answer from the engine marks it healthy again.
    async fn guarded<T>(
        &self,
        limit: Limit,
        work: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        let (duration, setting) = match limit {
            Limit::Query => (self.config.query_timeout, "query_timeout_secs"),
            Limit::Connect => (self.config.pool.connect_timeout, "connect_timeout_secs"),
        };
        // Engines with a server-side statement timeout get the first chance to
        // stop a query cleanly, which keeps the connection usable; this
        // client-side limit is the backstop.
        let outcome = match tokio::time::timeout(duration + CLIENT_TIMEOUT_GRACE, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(DbError::new(
                ErrorKind::Timeout,
                format!("no answer within {} s ({setting})", duration.as_secs_f64()),
            )),
        };
        match outcome {
            Ok(value) => {
                self.mark_reachable();
                Ok(value)
            }
            Err(err) => {
                let err = self.scrub(err);
                if matches!(err.kind, ErrorKind::Connection | ErrorKind::Auth) {
                    self.record_failure(err.clone());
                    self.lost.notify_one();
                } else {
                    self.mark_reachable();
                }
                Err(err)
            }
        }
    }

    fn mark_reachable(&self) {
        self.update_state(|state| {
            if state.pool.is_some() {
                state.status = Status::Healthy;
                state.consecutive_failures = 0;
            }
        });
    }

    fn record_failure(&self, err: DbError) {
        self.update_state(|state| {
            state.status = Status::Unhealthy;
            state.last_error = Some(err);
            state.consecutive_failures += 1;
        });
    }

    /// One connection attempt: open the pool and ping it, both bounded by the
    /// connect timeout.
    async fn connect_once(&self) -> Result<(), DbError> {
        let limit = self.config.pool.connect_timeout;
        let started = Instant::now();
        let attempt = async {
            let pool = self.driver.connect(&self.config).await?;
            let info = pool.ping().await?;
            Ok::<_, DbError>((pool, info))
        };
        let outcome = match tokio::time::timeout(limit, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(DbError::new(
                ErrorKind::Timeout,
                format!("could not connect within {} s (connect_timeout_secs)", limit.as_secs_f64()),
            )),
        };
        match outcome {
            Ok((pool, info)) => {
                let latency = started.elapsed();
                let warnings = self.login_warnings(pool.as_ref()).await;
                let old_pool = {
                    let mut state = self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                    state.status = Status::Healthy;
                    state.last_error = None;
                    state.consecutive_failures = 0;
                    state.latency = Some(latency);
                    state.server_version = Some(info.version);
                    state.warnings = warnings;
                    state.pool.replace(pool)
                };
                if let Some(old) = old_pool {
                    old.close().await;
                }
                tracing::info!(environment = %self.name(), "connected");
                Ok(())
            }
            Err(err) => {
                let err = self.scrub(err);
                self.record_failure(err.clone());
                Err(err)
            }
        }
    }

    /// On a read-only environment, what its login may do beyond reading.
    async fn login_warnings(&self, pool: &dyn Pool) -> Vec<String> {
        if !self.config.read_only {
            return Vec::new();
        }
        let limit = self.config.pool.connect_timeout;
        let warnings = match tokio::time::timeout(limit, pool.write_rights()).await {
            Ok(Ok(rights)) => rights,
            Ok(Err(err)) => {
                vec![format!("could not check what the login may write: {}", self.scrub(err).message)]
            }
            Err(_) => vec!["could not check what the login may write: no answer in time".to_owned()],
        };
        for warning in &warnings {
            tracing::warn!(environment = %self.name(), "read-only environment: {warning}");
        }
        warnings
    }

    /// One recovery attempt: ping the live pool (its driver replaces broken
    /// connections), or open one when there is none. Unlike a call, a failed
    /// probe does not signal `lost` again.
    async fn probe(&self) -> Result<(), DbError> {
        let Some(pool) = self.read_state().pool else { return self.connect_once().await };
        let limit = self.config.pool.connect_timeout;
        let started = Instant::now();
        let outcome = match tokio::time::timeout(limit, pool.ping()).await {
            Ok(outcome) => outcome.map_err(|err| self.scrub(err)),
            Err(_) => Err(DbError::new(
                ErrorKind::Timeout,
                format!("no answer within {} s (connect_timeout_secs)", limit.as_secs_f64()),
            )
            .in_env(self.name())),
        };
        match outcome {
            Ok(info) => {
                self.record_ping(started.elapsed(), info.version);
                Ok(())
            }
            Err(err) => {
                self.record_failure(err.clone());
                Err(err)
            }
        }
    }

    /// The live pool answered a ping: the environment is healthy.
    fn record_ping(&self, latency: Duration, version: String) {
        self.update_state(|state| {
            state.status = Status::Healthy;
            state.last_error = None;
            state.consecutive_failures = 0;
            state.latency = Some(latency);
            state.server_version = Some(version);
        });
    }

    /// Pings the live pool and records the latency; an environment without a
    /// pool reports its last state.
    async fn check(&self) {
        let Ok(pool) = self.pool() else { return };
        let started = Instant::now();
        if let Ok(info) = self.guarded(Limit::Connect, pool.ping()).await {
            self.record_ping(started.elapsed(), info.version);
        }
    }

    /// Opens a fresh connection (not from the pool), pings it and closes it.
    pub async fn test_connection(&self) -> ConnectionReport {
        let limit = self.config.pool.connect_timeout;
        let started = Instant::now();
        let attempt = async {
            let pool = self.driver.connect(&self.config).await?;
            let info = pool.ping().await;
            pool.close().await;
            info
        };
        let outcome = match tokio::time::timeout(limit, attempt).await {
            Ok(outcome) => outcome.map_err(|err| self.scrub(err)),
            Err(_) => Err(DbError::new(
                ErrorKind::Timeout,
                format!("could not connect within {} s (connect_timeout_secs)", limit.as_secs_f64()),
            )
            .in_env(self.name())),
        };
        let connect_time_ms = duration_ms(started.elapsed());
        let (server_version, error) = match outcome {
            Ok(info) => (Some(info.version), None),
            Err(err) => (None, Some(err)),
        };
        ConnectionReport {
            environment: self.name().to_owned(),
            driver: self.config.driver.clone(),
            target: self.driver.target(&self.config),
            ok: error.is_none(),
            connect_time_ms,
            server_version,
            failure_class: error.as_ref().map(failure_class),
            error,
        }
    }

    /// Runs one statement: read-only check, row limit, timeout.
    pub async fn query(&self, request: &QueryRequest) -> Result<QueryResult, DbError> {
        let max_rows = self.effective_max_rows(request.max_rows)?;
        let returns_rows = self.check_statement(&request.sql)?;
        let pool = self.pool()?;
        let started = Instant::now();
        let query = Query::new(request.sql.clone()).with_params(request.params.clone());
        let bounds = Bounds { max_rows, max_bytes: self.config.max_result_bytes };
        let (limited, affected_rows) = self
            .guarded(Limit::Query, async {
                if returns_rows {
                    let stream = pool.query(&query.with_fetch_limit(max_rows.saturating_add(1))).await?;
                    Ok((Some(collect_bounded(stream, bounds).await?), None))
                } else {
                    let outcome = pool.execute(&query).await?;
                    Ok((None, Some(outcome.affected_rows)))
                }
            })
            .await?;
        let limited = limited.unwrap_or_default();
        Ok(QueryResult {
            environment: self.name().to_owned(),
            row_count: limited.rows.len(),
            columns: limited.columns,
            rows: limited.rows,
            truncated: limited.truncated,
            truncated_by: limited.stopped_by,
            values_cut: limited.values_cut,
            max_rows,
            max_result_bytes: bounds.max_bytes,
            affected_rows,
            more_result_sets: limited.more_results,
            execution_time_ms: duration_ms(started.elapsed()),
        })
    }

    /// Opens a row stream for a consumer that writes rows out as they arrive
    /// (exports). The query timeout bounds opening the stream; the consumer
    /// decides how much it pulls.
    pub async fn stream(&self, sql: &str, params: Vec<Value>) -> Result<RowStream, DbError> {
        if !self.check_statement(sql)? {
            return Err(DbError::invalid_argument(
                "the statement returns no rows; run it as a query instead",
            )
            .in_env(self.name()));
        }
        let pool = self.pool()?;
        let query = Query::new(sql).with_params(params);
        self.guarded(Limit::Query, pool.query(&query)).await
    }

    pub(crate) fn effective_max_rows(&self, requested: Option<u64>) -> Result<u64, DbError> {
        let cap = self.config.max_rows;
        match requested {
            Some(0) => Err(DbError::invalid_argument("max_rows must be at least 1").in_env(self.name())),
            Some(n) => Ok(n.min(cap)),
            None => Ok(cap),
        }
    }

    /// Refuses what a read-only environment must not run, and statements
    /// longer than `max_statement_bytes`; tells whether the statement returns
    /// rows.
    fn check_statement(&self, sql: &str) -> Result<bool, DbError> {
        if sql.len() > self.config.max_statement_bytes {
            return Err(DbError::invalid_argument(format!(
                "the statement is {} bytes long, more than max_statement_bytes ({})",
                sql.len(),
                self.config.max_statement_bytes
            ))
            .in_env(self.name()));
        }
        match self.classifier.classify(sql) {
            Ok(class) if self.config.read_only && !class.read_only => Err(DbError::new(
                ErrorKind::ReadOnly,
                format!(
                    "environment is read-only: {}",
                    class.write_reason.unwrap_or_else(|| "statement may write".into())
                ),
            )
            .in_env(self.name())),
            Ok(class) => Ok(class.returns_rows),
            Err(ClassifyError::Parse(reason)) if self.config.read_only => Err(DbError::new(
                ErrorKind::ReadOnly,
                format!(
                    "environment is read-only and the statement could not be verified as read-only ({reason})"
                ),
            )
            .in_env(self.name())),
            // A writable environment lets the engine judge what the parser
            // does not understand; it is sent as a query so any rows come back.
            Err(ClassifyError::Parse(_)) => Ok(true),
            Err(err) => Err(DbError::invalid_argument(err.to_string()).in_env(self.name())),
        }
    }

    pub async fn list_databases(&self) -> Result<Vec<DatabaseInfo>, DbError> {
        let pool = self.pool()?;
        self.guarded(Limit::Query, pool.list_databases()).await
    }

    pub async fn list_tables(&self, filter: &TableFilter) -> Result<Vec<TableInfo>, DbError> {
        let pool = self.pool()?;
        self.guarded(Limit::Query, pool.list_tables(filter)).await
    }

    pub async fn describe_table(&self, table: &TableRef) -> Result<TableSchema, DbError> {
        let pool = self.pool()?;
        self.guarded(Limit::Query, pool.describe_table(table)).await
    }
}

/// Every configured environment, by name.
pub struct Fleet {
    environments: Vec<Arc<Environment>>,
    default_environment: Option<String>,
    /// How many enabled environments have not finished their first attempt.
    pending: watch::Receiver<usize>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Fleet {
    /// Builds the fleet and starts connecting every enabled environment in the
    /// background. Returns at once; see [`Fleet::wait_ready`].
    ///
    /// The configuration must have been validated (every driver exists).
    pub fn start(config: &Config, options: StartOptions) -> Result<Arc<Fleet>, DbError> {
        let mut environments = Vec::with_capacity(config.environments.len());
        for env in &config.environments {
            let driver = registry::find_driver(&env.driver).ok_or_else(|| {
                DbError::internal(format!(
                    "no driver named '{}' is linked into this binary (available: {})",
                    env.driver,
                    registry::driver_names().join(", ")
                ))
                .in_env(&env.name)
            })?;
            environments.push(Arc::new(Environment::new(env.clone(), driver)));
        }
        let enabled: Vec<_> = environments.iter().filter(|env| env.config.enabled).cloned().collect();
        let (pending_tx, pending) = watch::channel(enabled.len());
        let pending_tx = Arc::new(pending_tx);
        let tasks = enabled
            .into_iter()
            .map(|env| {
                let pending_tx = pending_tx.clone();
                tokio::spawn(async move {
                    let first = env.connect_once().await;
                    pending_tx.send_modify(|n| *n -= 1);
                    if let Err(err) = &first {
                        tracing::warn!(environment = %env.name(), error = %err, "could not connect");
                    }
                    if !options.reconnect {
                        return;
                    }
                    if first.is_err() {
                        reconnect(&env, options).await;
                    }
                    loop {
                        env.lost.notified().await;
                        // A signal left over from calls that failed while the
                        // last recovery ran: nothing is lost any more.
                        if env.status() == Status::Healthy {
                            continue;
                        }
                        tracing::warn!(environment = %env.name(), "lost its server; probing until it answers");
                        reconnect(&env, options).await;
                    }
                })
                .abort_handle()
            })
            .collect();
        Ok(Arc::new(Fleet {
            environments,
            default_environment: config.default_environment.clone(),
            pending,
            tasks: Mutex::new(tasks),
        }))
    }

    /// Waits until every enabled environment has finished its first
    /// connection attempt, whatever its outcome.
    pub async fn wait_ready(&self) {
        let mut pending = self.pending.clone();
        // The sender lives as long as the start-up tasks; if they are gone,
        // start-up is over either way.
        let _ = pending.wait_for(|n| *n == 0).await;
    }

    pub fn is_ready(&self) -> bool {
        *self.pending.borrow() == 0
    }

    pub fn default_environment(&self) -> Option<&str> {
        self.default_environment.as_deref()
    }

    pub fn environments(&self) -> &[Arc<Environment>] {
        &self.environments
    }

    /// The named environment, or the default one when no name is given.
    pub fn environment(&self, name: Option<&str>) -> Result<Arc<Environment>, DbError> {
        let name = match name.or(self.default_environment.as_deref()) {
            Some(name) => name,
            None => {
                return Err(DbError::invalid_argument(format!(
                    "no environment named and no default_environment configured; choose one of: {}",
                    self.names().join(", ")
                )));
            }
        };
        self.environments.iter().find(|env| env.name() == name).cloned().ok_or_else(|| {
            DbError::new(
                ErrorKind::UnknownEnvironment,
                format!("no environment named '{name}'; configured: {}", self.names().join(", ")),
            )
            .in_env(name)
        })
    }

    fn names(&self) -> Vec<&str> {
        self.environments.iter().map(|env| env.name()).collect()
    }

    /// The last known state of every environment, enabled or not, in
    /// configuration order. Does not touch the network.
    pub fn statuses(&self) -> Vec<EnvironmentStatus> {
        self.environments.iter().map(|env| env.snapshot(self.is_default(env))).collect()
    }

    /// Pings the named environment (or all, concurrently) and reports its state.
    pub async fn health_check(&self, name: Option<&str>) -> Result<Vec<EnvironmentStatus>, DbError> {
        let targets = match name {
            Some(name) => vec![self.environment(Some(name))?],
            None => self.environments.clone(),
        };
        futures::future::join_all(targets.iter().map(|env| env.check())).await;
        Ok(targets.iter().map(|env| env.snapshot(self.is_default(env))).collect())
    }

    fn is_default(&self, env: &Environment) -> bool {
        self.default_environment.as_deref() == Some(env.name())
    }

    /// Stops reconnection attempts and closes every pool.
    pub async fn shutdown(&self) {
        for task in self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).drain(..) {
            task.abort();
        }
        for env in &self.environments {
            let pool = env.read_state().pool;
            if let Some(pool) = pool {
                pool.close().await;
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).drain(..) {
            task.abort();
        }
    }
}

/// Retries after a failed attempt, first after `min_retry_delay`: retrying at
/// once would only repeat the failure just reported.
async fn reconnect(env: &Environment, options: StartOptions) {
    tokio::time::sleep(options.min_retry_delay).await;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(options.min_retry_delay)
        .with_max_delay(options.max_retry_delay)
        .with_jitter()
        .without_max_times();
    let outcome = (|| env.probe())
        .retry(backoff)
        .notify(|err, delay| {
            tracing::warn!(
                environment = %env.name(),
                error = %err,
                retry_in_ms = delay.as_millis() as u64,
                "still cannot connect"
            );
        })
        .await;
    if outcome.is_ok() {
        tracing::info!(environment = %env.name(), "reconnected");
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

pub(crate) fn duration_ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use async_trait::async_trait;
    use proptest::prelude::*;
    use secrecy::SecretString;

    use super::*;
    use crate::config::{ConfigProblem, DriverSettings, PoolConfig, ServerConfig};

    /// A driver whose connection attempts fail with an engine message that
    /// (carelessly) repeats the password and a secret-bearing URL.
    struct LeakyDriver;

    #[async_trait]
    impl DatabaseDriver for LeakyDriver {
        fn name(&self) -> &'static str {
            "leaky-test-driver"
        }
        fn description(&self) -> &'static str {
            "fails to connect, quoting its secrets"
        }
        fn settings_keys(&self) -> &'static [&'static str] {
            &[]
        }
        fn validate(&self, _: &DriverSettings) -> Result<(), Vec<ConfigProblem>> {
            Ok(())
        }
        fn target(&self, _: &EnvironmentConfig) -> String {
            "nowhere".into()
        }
        async fn connect(&self, env: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError> {
            let password = env.password.as_ref().map(|p| p.expose_secret().to_owned()).unwrap_or_default();
            Err(DbError::new(
                ErrorKind::Auth,
                format!("password '{password}' rejected for leaky://admin:{password}@db:1/x"),
            ))
        }
    }

    inventory::submit!(crate::registry::DriverRegistration(&LeakyDriver));

    fn leaky_env(name: &str, password: &str) -> EnvironmentConfig {
        EnvironmentConfig {
            name: name.into(),
            driver: "leaky-test-driver".into(),
            description: None,
            enabled: true,
            read_only: true,
            max_rows: 10,
            query_timeout: Duration::from_secs(1),
            max_statement_bytes: crate::config::DEFAULT_MAX_STATEMENT_BYTES,
            max_result_bytes: crate::config::DEFAULT_MAX_RESULT_BYTES,
            side_effect_functions: Vec::new(),
            pool: PoolConfig::default(),
            password: Some(SecretString::from(password.to_owned())),
            settings: DriverSettings::default(),
            base_dir: PathBuf::from("."),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        #[test]
        fn driver_errors_never_carry_the_password(password in "Q[0-9QXZ]{9,23}") {
            let config = Config {
                default_environment: None,
                server: ServerConfig::default(),
                environments: vec![leaky_env("a", &password)],
                source: None,
            };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let statuses = runtime.block_on(async {
                let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..StartOptions::default() })
                    .unwrap();
                fleet.wait_ready().await;
                let err = fleet.environment(Some("a")).unwrap().query(&QueryRequest {
                    sql: "SELECT 1".into(),
                    ..QueryRequest::default()
                }).await.unwrap_err();
                (fleet.statuses(), err)
            });
            let (statuses, query_err) = statuses;
            let error = statuses[0].last_error.clone().unwrap();
            prop_assert_eq!(error.kind, ErrorKind::Auth);
            prop_assert_eq!(statuses[0].status, Status::Unhealthy);
            for text in [
                error.to_string(),
                format!("{error:?}"),
                serde_json::to_string(&statuses).unwrap(),
                query_err.to_string(),
            ] {
                prop_assert!(!text.contains(&password), "password leaked: {}", text);
                prop_assert!(text.contains("***"), "{}", text);
            }
        }
    }
}
