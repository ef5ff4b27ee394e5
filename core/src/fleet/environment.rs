//! One environment: its configuration, its driver and pool, and every call
//! made on it, each checked (read-only rules, statement size, row limit) and
//! bounded by its timeout.

use std::borrow::Cow;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Notify, broadcast};
use tracing::Instrument;

use super::health::{EnvState, HealthChange, Status};
use super::telemetry;
use crate::audit;
use crate::catalog::{DatabaseInfo, TableFilter, TableInfo, TableRef, TableSchema};
use crate::config::{EnvironmentConfig, SshConfig};
use crate::driver::{DatabaseDriver, Pool, Query};
use crate::error::{DbError, ErrorKind};
use crate::readonly::{Classifier, ClassifyError};
use crate::redact;
use crate::result::{QueryRequest, QueryResult, ResultRows, duration_ms};
use crate::ssh::Tunnel;
use crate::stream::{Bounds, LimitedRows, RowStream, collect_bounded_into};
use crate::value::Value;

/// What a time limit bounds, and so which setting sets it.
#[derive(Clone, Copy)]
pub(super) enum Limit {
    /// A call on the engine (`query_timeout_secs`).
    Query,
    /// Opening a pool (`connect_timeout_secs`).
    Connect,
    /// A ping or a check on an open pool (`connect_timeout_secs`).
    Ping,
}

/// Engines with a server-side statement timeout get the first chance to stop
/// a query cleanly, which keeps the connection usable; the client-side limit
/// waits this much longer, as the backstop.
const CLIENT_TIMEOUT_GRACE: Duration = Duration::from_secs(1);

/// Chunks a streamed result may be decoded ahead of its consumer.
const READ_AHEAD_CHUNKS: usize = 2;

/// One configured environment: its settings, its driver and its live state.
pub struct Environment {
    config: EnvironmentConfig,
    driver: &'static dyn DatabaseDriver,
    /// Where the environment points, without secrets; worked out once, as
    /// health reports show it on every call.
    target: String,
    classifier: Classifier,
    state: RwLock<EnvState>,
    /// Signalled when a call finds the connected environment unreachable;
    /// the environment's background task then probes until it answers.
    pub(super) lost: Notify,
    /// The password `password_command` printed last, scrubbed from errors
    /// like the configured one.
    command_password: Mutex<Option<SecretString>>,
    /// The SSH tunnel, opened at the first connection attempt and kept for
    /// the environment's life, so that its local port never changes.
    tunnel: tokio::sync::OnceCell<Tunnel>,
    health_changes: broadcast::Sender<HealthChange>,
    /// Held by the call that makes a lazy environment's first connection,
    /// so that the calls arriving meanwhile wait for it.
    first_connection: tokio::sync::Mutex<()>,
}

impl Environment {
    pub(super) fn new(
        config: EnvironmentConfig,
        driver: &'static dyn DatabaseDriver,
        health_changes: broadcast::Sender<HealthChange>,
    ) -> Self {
        let status = match (config.enabled, config.lazy) {
            (false, _) => Status::Disabled,
            (true, true) => Status::Idle,
            (true, false) => Status::Connecting,
        };
        let classifier =
            Classifier::new(driver.sql_dialect(), driver.engine_rules(), &config.side_effect_functions);
        Environment {
            target: driver.target(&config),
            config,
            driver,
            classifier,
            state: RwLock::new(EnvState::new(status)),
            lost: Notify::new(),
            command_password: Mutex::new(None),
            tunnel: tokio::sync::OnceCell::new(),
            health_changes,
            first_connection: tokio::sync::Mutex::new(()),
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

    /// The driver's description of where the environment points, without secrets.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn status(&self) -> Status {
        self.read_state().status
    }

    pub(super) fn read_state(&self) -> EnvState {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Changes the state; a change between healthy and unhealthy is
    /// announced ([`HealthChange`]).
    pub(super) fn update_state(&self, change: impl FnOnce(&mut EnvState)) {
        let mut state = self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = state.status;
        change(&mut state);
        let announced = HealthChange::between(self.name(), before, &state);
        drop(state);
        if let Some(change) = announced {
            change.announce(&self.health_changes);
        }
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

    /// The live pool; a lazy environment not connected yet connects first
    /// (within `connect_timeout_secs`), and a failure then is handled like a
    /// lost server: the environment is probed in the background.
    pub(super) async fn ready_pool(&self) -> Result<Arc<dyn Pool>, DbError> {
        if self.status() != Status::Idle {
            return self.pool();
        }
        let _first = self.first_connection.lock().await;
        if self.status() == Status::Idle
            && let Err(err) = self.connect_once().await
        {
            self.lost.notify_one();
            return Err(err.in_env(self.name()));
        }
        self.pool()
    }

    /// Connects a lazy environment now (what its first call would do); any
    /// other is left as it is.
    pub async fn connect_if_idle(&self) -> Result<(), DbError> {
        if self.status() == Status::Idle { self.ready_pool().await.map(drop) } else { Ok(()) }
    }

    /// Tags an error with this environment and removes this environment's
    /// secrets from its message, whatever the driver put there.
    pub(super) fn scrub(&self, mut err: DbError) -> DbError {
        let from_command = self.command_password.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let passphrase = self.config.ssh.as_ref().and_then(|ssh| ssh.key_passphrase.as_ref());
        let passwords: Vec<&str> = self
            .config
            .password
            .iter()
            .chain(from_command.iter())
            .chain(passphrase)
            .map(|p| p.expose_secret())
            .collect();
        err.message = redact::scrub(&err.message, &passwords);
        err.in_env(self.name())
    }

    /// The configuration to open a connection with: through `tunnel`, its
    /// sessions up and its local port as the address; with
    /// `password_command`, the password the command prints now (a
    /// short-lived token is fresh at every connection attempt).
    pub(super) async fn connect_config(
        &self,
        tunnel: Option<&Tunnel>,
    ) -> Result<Cow<'_, EnvironmentConfig>, DbError> {
        let connect_address = match tunnel {
            Some(tunnel) => {
                tunnel.connect().await.map_err(|err| self.scrub(err))?;
                Some(tunnel.local_addr())
            }
            None => None,
        };
        let password = match &self.config.password_command {
            Some(command) => {
                let password = command.run().await.map_err(|err| self.scrub(err))?;
                *self.command_password.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(password.clone());
                Some(password)
            }
            None => None,
        };
        if connect_address.is_none() && password.is_none() {
            return Ok(Cow::Borrowed(&self.config));
        }
        let mut config = self.config.clone();
        config.connect_address = connect_address;
        if password.is_some() {
            config.password = password;
        }
        Ok(Cow::Owned(config))
    }

    /// The environment's SSH tunnel, if it has one.
    pub(super) async fn tunnel(&self) -> Result<Option<&Tunnel>, DbError> {
        let Some(ssh) = &self.config.ssh else { return Ok(None) };
        self.tunnel.get_or_try_init(|| self.open_tunnel(ssh)).await.map(Some).map_err(|err| self.scrub(err))
    }

    /// The tunnel, if the environment has tried to connect through it.
    pub(super) fn opened_tunnel(&self) -> Option<&Tunnel> {
        self.tunnel.get()
    }

    /// A new tunnel to the environment's server (the environment's own is
    /// opened once, by [`Environment::tunnel`]).
    pub(super) async fn open_tunnel(&self, ssh: &SshConfig) -> Result<Tunnel, DbError> {
        let target = self.driver.server_address(&self.config).ok_or_else(|| {
            DbError::internal(format!("the {} driver has no server address to tunnel to", self.driver.name()))
        })?;
        Tunnel::open(ssh, target, self.config.pool.connect_timeout).await
    }

    /// Bounds `work` by `limit`; running out of time is a `timeout` error that
    /// names the setting to raise.
    pub(super) async fn within<T>(
        &self,
        limit: Limit,
        work: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        let connect_timeout = self.config.pool.connect_timeout;
        let (duration, grace, failure, setting) = match limit {
            Limit::Query => {
                (self.config.query_timeout, CLIENT_TIMEOUT_GRACE, "no answer", "query_timeout_secs")
            }
            Limit::Connect => (connect_timeout, Duration::ZERO, "could not connect", "connect_timeout_secs"),
            Limit::Ping => (connect_timeout, Duration::ZERO, "no answer", "connect_timeout_secs"),
        };
        tokio::time::timeout(duration + grace, work).await.unwrap_or_else(|_| {
            Err(DbError::new(
                ErrorKind::Timeout,
                format!("{failure} within {} s ({setting})", duration.as_secs_f64()),
            ))
        })
    }

    /// Runs `work` under `limit`, scrubs its error, and keeps the health state
    /// in step: a connection failure marks the environment unhealthy, any
    /// answer from the engine marks it healthy again.
    pub(super) async fn guarded<T>(
        &self,
        limit: Limit,
        work: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        match self.within(limit, work).await {
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

    /// Runs one statement: read-only check, row limit, timeout.
    pub async fn query(&self, request: &QueryRequest) -> Result<QueryResult, DbError> {
        self.query_into(request, Vec::new()).await
    }

    /// As [`Environment::query`], each row pushed to `rows` as it arrives.
    pub async fn query_into<R: ResultRows + Send>(
        &self,
        request: &QueryRequest,
        rows: R,
    ) -> Result<QueryResult<R>, DbError> {
        let started = Instant::now();
        let span = telemetry::statement_span(self.name(), &self.config.driver, || {
            audit::mask_literals(&request.sql, &*self.driver.sql_dialect())
        });
        let outcome = self.run_query(request, rows).instrument(span.clone()).await;
        telemetry::end_statement_span(&span, outcome.as_ref().map(|r| r.row_count));
        let elapsed = started.elapsed();
        telemetry::statement(self.name(), outcome.as_ref().map(|r| r.row_count), elapsed);
        if audit::enabled() {
            audit::statement(
                self.name(),
                &*self.driver.sql_dialect(),
                &request.sql,
                outcome.as_ref(),
                elapsed,
            );
        }
        outcome
    }

    async fn run_query<R: ResultRows + Send>(
        &self,
        request: &QueryRequest,
        rows: R,
    ) -> Result<QueryResult<R>, DbError> {
        let max_rows = self.effective_max_rows(request.max_rows)?;
        let returns_rows = self.check_statement(&request.sql)?;
        let pool = self.ready_pool().await?;
        let started = Instant::now();
        let query = Query::new(request.sql.clone()).with_params(request.params.clone());
        let bounds = Bounds { max_rows, max_bytes: self.config.max_result_bytes };
        let (limited, affected_rows) = self
            .guarded(Limit::Query, async {
                if returns_rows {
                    let stream = pool.query(&query.with_fetch_limit(max_rows.saturating_add(1))).await?;
                    Ok((collect_bounded_into(stream, bounds, rows).await?, None))
                } else {
                    let outcome = pool.execute(&query).await?;
                    Ok((LimitedRows::none(rows), Some(outcome.affected_rows)))
                }
            })
            .await?;
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
        let pool = self.ready_pool().await?;
        let query = Query::new(sql).with_params(params);
        let stream = self.guarded(Limit::Query, pool.query(&query)).await?;
        Ok(stream.read_ahead(READ_AHEAD_CHUNKS))
    }

    pub(super) fn effective_max_rows(&self, requested: Option<u64>) -> Result<u64, DbError> {
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
        let checked = self.classify(sql);
        if let Err(err) = &checked
            && err.kind == ErrorKind::ReadOnly
        {
            tracing::info!(environment = %self.name(), "refused a statement: {}", err.message);
            telemetry::refused(self.name());
        }
        checked
    }

    /// Whether `sql` may run here, and whether it returns rows.
    fn classify(&self, sql: &str) -> Result<bool, DbError> {
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

    /// Refuses `sql` unless it is one statement that only reads and returns
    /// rows, whatever the environment allows: work such as comparing tables
    /// builds statements around a caller's filter, and must never write.
    pub(crate) fn check_reads_only(&self, sql: &str) -> Result<(), DbError> {
        let reason = match self.classifier.classify(sql) {
            Ok(class) if class.read_only && class.returns_rows => return Ok(()),
            Ok(class) => class.write_reason.unwrap_or_else(|| "it returns no rows".into()),
            Err(ClassifyError::Parse(reason)) => format!("it could not be verified as read-only ({reason})"),
            Err(err) => err.to_string(),
        };
        Err(DbError::invalid_argument(format!("the statement must only read: {reason}")).in_env(self.name()))
    }

    pub async fn list_databases(&self) -> Result<Vec<DatabaseInfo>, DbError> {
        let pool = self.ready_pool().await?;
        self.guarded(Limit::Query, pool.list_databases()).await
    }

    pub async fn list_tables(&self, filter: &TableFilter) -> Result<Vec<TableInfo>, DbError> {
        let pool = self.ready_pool().await?;
        self.guarded(Limit::Query, pool.list_tables(filter)).await
    }

    pub async fn describe_table(&self, table: &TableRef) -> Result<TableSchema, DbError> {
        let pool = self.ready_pool().await?;
        self.guarded(Limit::Query, pool.describe_table(table)).await
    }
}
