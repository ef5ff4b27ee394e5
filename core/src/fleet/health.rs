//! The health of each environment: its connection state, start-up and
//! recovery, and the reports `list_environments`, `health_check` and
//! `test_connection` give.
//!
//! Start-up never fails because an environment is down: each enabled
//! environment connects concurrently, bounded by its connect timeout; one that
//! fails stays listed as `unhealthy` with its error and is retried in the
//! background with capped exponential backoff and jitter until it connects.
//! An environment that was connected and then loses its server is marked
//! `unhealthy` by the call that found out, and probed the same way until it
//! answers again, so its status recovers without anyone calling it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use serde::Serialize;

use super::StartOptions;
use super::environment::{Environment, Limit};
use super::telemetry;
use crate::driver::{Pool, PoolStats};
use crate::error::{DbError, ErrorKind};
use crate::result::duration_ms;
use crate::ssh::{Tunnel, TunnelStatus, is_ssh_error};

/// The connection state of one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Healthy,
    Unhealthy,
    Disabled,
    Connecting,
    /// `lazy`: not connected until a call needs it.
    Idle,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Unhealthy => "unhealthy",
            Status::Disabled => "disabled",
            Status::Connecting => "connecting",
            Status::Idle => "idle",
        }
    }
}

/// A snapshot of one environment, as `list_environments` and `health_check` report it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    /// The SSH tunnel the environment is reached through, once opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelStatus>,
}

/// An environment turned unhealthy (from healthy, or at its first attempt)
/// or healthy again: logged, counted, and sent to [`Fleet::health_changes`]
/// subscribers (the server's webhook alerts).
#[derive(Debug, Clone, Serialize)]
pub struct HealthChange {
    pub environment: String,
    pub from: Status,
    pub to: Status,
    /// RFC 3339, UTC.
    pub time: String,
    /// Why it is unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<DbError>,
}

impl HealthChange {
    pub(super) fn between(environment: &str, before: Status, after: &EnvState) -> Option<HealthChange> {
        let changed = matches!(
            (before, after.status),
            (Status::Healthy | Status::Connecting | Status::Idle, Status::Unhealthy)
                | (Status::Unhealthy, Status::Healthy)
        );
        changed.then(|| HealthChange {
            environment: environment.to_owned(),
            from: before,
            to: after.status,
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            error: after.last_error.clone().filter(|_| after.status == Status::Unhealthy),
        })
    }

    pub(super) fn announce(self, subscribers: &tokio::sync::broadcast::Sender<HealthChange>) {
        let error = self.error.as_ref().map(ToString::to_string).unwrap_or_default();
        if self.to == Status::Healthy {
            tracing::info!(target: "dbfleet::health", environment = %self.environment, from = self.from.as_str(), to = self.to.as_str(), "health changed");
        } else {
            tracing::warn!(target: "dbfleet::health", environment = %self.environment, from = self.from.as_str(), to = self.to.as_str(), %error, "health changed");
        }
        telemetry::health_change(&self.environment, self.to);
        // No subscriber is no error.
        let _ = subscribers.send(self);
    }
}

/// What a fresh connection attempt found (`test_connection`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ConnectionReport {
    pub environment: String,
    pub driver: String,
    /// Host, port and database (or file), without secrets.
    pub target: String,
    pub ok: bool,
    pub connect_time_ms: f64,
    pub server_version: Option<String>,
    pub error: Option<DbError>,
    /// On failure: `ssh` (the error's code tells what failed: `ssh_unreachable`,
    /// `ssh_host_key`, `ssh_auth`, `ssh_forward`, `ssh_config`), `dns`,
    /// `refused`, `timeout`, `auth`, `tls`, `database`, or `other`.
    pub failure_class: Option<&'static str>,
    /// The tunnel this test opened (a new one, like the connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelStatus>,
}

/// Sorts a connection failure into the classes an operator acts on.
fn failure_class(err: &DbError) -> &'static str {
    let message = err.message.to_lowercase();
    match err.kind {
        _ if is_ssh_error(err) => "ssh",
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

/// The live state of one environment.
#[derive(Clone)]
pub(super) struct EnvState {
    pub(super) status: Status,
    pub(super) pool: Option<Arc<dyn Pool>>,
    pub(super) last_error: Option<DbError>,
    pub(super) latency: Option<Duration>,
    pub(super) server_version: Option<String>,
    pub(super) consecutive_failures: u32,
    pub(super) warnings: Vec<String>,
}

impl EnvState {
    pub(super) fn new(status: Status) -> Self {
        EnvState {
            status,
            pool: None,
            last_error: None,
            latency: None,
            server_version: None,
            consecutive_failures: 0,
            warnings: Vec::new(),
        }
    }
}

impl Environment {
    pub(super) fn snapshot(&self, is_default: bool) -> EnvironmentStatus {
        let state = self.read_state();
        let config = self.config();
        EnvironmentStatus {
            name: config.name.clone(),
            driver: config.driver.clone(),
            description: config.description.clone(),
            default: is_default,
            enabled: config.enabled,
            read_only: config.read_only,
            status: state.status,
            target: self.target().to_owned(),
            latency_ms: state.latency.map(duration_ms),
            server_version: state.server_version,
            last_error: state.last_error,
            consecutive_failures: state.consecutive_failures,
            pool: state.pool.as_ref().map(|pool| pool.stats()),
            warnings: state.warnings,
            tunnel: self.opened_tunnel().map(Tunnel::status),
        }
    }

    /// Any answer from the engine: a connected environment is healthy.
    pub(super) fn mark_reachable(&self) {
        let mut connected = false;
        self.update_state(|state| {
            if state.pool.is_some() {
                state.status = Status::Healthy;
                state.consecutive_failures = 0;
                connected = true;
            }
        });
        if connected {
            telemetry::reachable(self.name(), true);
        }
    }

    pub(super) fn record_failure(&self, err: DbError) {
        telemetry::reachable(self.name(), false);
        self.update_state(|state| {
            state.status = Status::Unhealthy;
            state.last_error = Some(err);
            state.consecutive_failures += 1;
        });
    }

    /// One connection attempt: open the pool and ping it, both bounded by the
    /// connect timeout.
    pub(super) async fn connect_once(&self) -> Result<(), DbError> {
        let started = Instant::now();
        let config = match self.tunnel().await {
            Ok(tunnel) => self.connect_config(tunnel).await.map(|config| (config, tunnel)),
            Err(err) => Err(err),
        };
        let (config, tunnel) = match config {
            Ok(found) => found,
            Err(err) => {
                self.record_failure(err.clone());
                return Err(err);
            }
        };
        let attempt = async {
            let pool = self.driver().connect(&config).await?;
            let info = pool.ping().await?;
            Ok::<_, DbError>((pool, info))
        };
        match self.within(Limit::Connect, attempt).await {
            Ok((pool, info)) => {
                let latency = started.elapsed();
                let warnings = self.login_warnings(pool.as_ref()).await;
                let mut old_pool = None;
                self.update_state(|state| {
                    state.status = Status::Healthy;
                    state.last_error = None;
                    state.consecutive_failures = 0;
                    state.latency = Some(latency);
                    state.server_version = Some(info.version);
                    state.warnings = warnings;
                    old_pool = state.pool.replace(pool);
                });
                if let Some(old) = old_pool {
                    old.close().await;
                }
                telemetry::reachable(self.name(), true);
                tracing::info!(environment = %self.name(), "connected");
                Ok(())
            }
            Err(err) => {
                let err = self.scrub(tunnel.and_then(Tunnel::take_forward_error).unwrap_or(err));
                self.record_failure(err.clone());
                Err(err)
            }
        }
    }

    /// On a read-only environment, what its login may do beyond reading.
    async fn login_warnings(&self, pool: &dyn Pool) -> Vec<String> {
        if !self.config().read_only {
            return Vec::new();
        }
        let warnings = match self.within(Limit::Ping, pool.write_rights()).await {
            Ok(rights) => rights,
            Err(err) => {
                vec![format!("could not check what the login may write: {}", self.scrub(err).message)]
            }
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
        telemetry::reconnect_attempt(self.name());
        // With a password command, the pool's password may be the one that
        // expired: recovery opens a new pool with a fresh one.
        let pool = self.read_state().pool.filter(|_| self.config().password_command.is_none());
        let Some(pool) = pool else { return self.connect_once().await };
        // Sessions that dropped are opened again first, so that a failure
        // says what is wrong with the tunnel, not that the pool lost its
        // connections.
        let tunnel = match self.tunnel().await {
            Ok(Some(tunnel)) => match tunnel.connect().await {
                Ok(()) => Some(tunnel),
                Err(err) => {
                    let err = self.scrub(err);
                    self.record_failure(err.clone());
                    return Err(err);
                }
            },
            Ok(None) => None,
            Err(err) => {
                self.record_failure(err.clone());
                return Err(err);
            }
        };
        let started = Instant::now();
        let ping = self.within(Limit::Ping, pool.ping()).await;
        let ping = ping.map_err(|err| self.scrub(tunnel.and_then(Tunnel::take_forward_error).unwrap_or(err)));
        match ping {
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

    /// With `password_command_refresh_secs`: a new pool opened with a fresh
    /// password from the command takes the place of the current one, whose
    /// connections would otherwise be replaced with the password it was
    /// opened with, expired by then. A failure keeps the current pool; it
    /// serves until the server drops its connections, and then recovery
    /// takes over.
    pub(super) async fn renew_pool(&self) {
        if self.read_state().pool.is_none() {
            return;
        }
        let attempt = async {
            let config = self.connect_config(self.tunnel().await?).await?;
            self.within(Limit::Connect, async {
                let pool = self.driver().connect(&config).await?;
                pool.ping().await?;
                Ok(pool)
            })
            .await
        };
        let pool = match attempt.await {
            Ok(pool) => pool,
            Err(err) => {
                let err = self.scrub(err);
                tracing::warn!(environment = %self.name(), error = %err, "could not renew the pool; keeping the current one");
                return;
            }
        };
        let mut old = None;
        self.update_state(|state| old = state.pool.replace(pool));
        tracing::info!(environment = %self.name(), "pool renewed with a fresh password");
        if let Some(old) = old {
            // Calls that took the old pool before the swap finish on it: it
            // closes once the longest of them would have timed out.
            let linger = self.config().query_timeout + Duration::from_secs(1);
            tokio::spawn(async move {
                tokio::time::sleep(linger).await;
                old.close().await;
            });
        }
    }

    /// The live pool answered a ping: the environment is healthy.
    fn record_ping(&self, latency: Duration, version: String) {
        telemetry::reachable(self.name(), true);
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
    pub(super) async fn check(&self) {
        let Ok(pool) = self.pool() else { return };
        let started = Instant::now();
        if let Ok(info) = self.guarded(Limit::Ping, pool.ping()).await {
            self.record_ping(started.elapsed(), info.version);
        }
    }

    /// Opens a fresh connection (not from the pool), pings it and closes it.
    pub async fn test_connection(&self) -> ConnectionReport {
        let started = Instant::now();
        let tunnel = match &self.config().ssh {
            Some(ssh) => Some(self.open_tunnel(ssh).await),
            None => None,
        };
        let attempt = async {
            let tunnel = match &tunnel {
                Some(opened) => Some(opened.as_ref().map_err(Clone::clone)?),
                None => None,
            };
            let config = self.connect_config(tunnel).await?;
            let pool = self.driver().connect(&config).await?;
            let info = pool.ping().await;
            pool.close().await;
            info
        };
        let outcome = self.within(Limit::Connect, attempt).await;
        let tunnel = tunnel.and_then(Result::ok);
        let outcome = outcome
            .map_err(|err| self.scrub(tunnel.as_ref().and_then(Tunnel::take_forward_error).unwrap_or(err)));
        let tunnel_status = match &tunnel {
            Some(tunnel) => {
                let status = tunnel.status();
                tunnel.close().await;
                Some(status)
            }
            None => None,
        };
        let connect_time_ms = duration_ms(started.elapsed());
        let (server_version, error) = match outcome {
            Ok(info) => (Some(info.version), None),
            Err(err) => (None, Some(err)),
        };
        ConnectionReport {
            environment: self.name().to_owned(),
            driver: self.config().driver.clone(),
            target: self.target().to_owned(),
            ok: error.is_none(),
            connect_time_ms,
            server_version,
            failure_class: error.as_ref().map(failure_class),
            error,
            tunnel: tunnel_status,
        }
    }
}

/// Connects `env` for the first time, then keeps it connected: after a
/// failed start, and whenever a call finds its server lost, it is probed with
/// backoff until it answers.
pub(super) async fn keep_connected(env: Arc<Environment>, options: StartOptions, started: impl FnOnce()) {
    // A lazy environment's first connection is made by its first call
    // (`Environment::ready_pool`); from then on it lives like the others.
    let first = if env.status() == Status::Idle { Ok(()) } else { env.connect_once().await };
    started();
    if let Err(err) = &first {
        tracing::warn!(environment = %env.name(), error = %err, "could not connect");
    }
    if !options.reconnect {
        return;
    }
    if first.is_err() {
        reconnect(&env, options).await;
    }
    let refresh = env.config().password_command.as_ref().and_then(|command| command.refresh);
    loop {
        if let Some(every) = refresh {
            tokio::select! {
                () = env.lost.notified() => {}
                () = tokio::time::sleep(every) => {
                    env.renew_pool().await;
                    continue;
                }
            }
        } else {
            env.lost.notified().await;
        }
        // A signal left over from calls that failed while the last recovery
        // ran: nothing is lost any more.
        if env.status() == Status::Healthy {
            continue;
        }
        tracing::warn!(environment = %env.name(), "lost its server; probing until it answers");
        reconnect(&env, options).await;
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
