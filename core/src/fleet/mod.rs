//! The fleet: every configured environment, and work across several of them.
//!
//! - [`environment`]: one environment, and every call made on it (checked
//!   against its read-only rules and limits, bounded by its timeouts).
//! - [`health`]: its connection state, start-up, recovery with backoff, and
//!   the status reports.
//! - [`fanout`]: one piece of work on many environments at once — queries,
//!   listings, schema comparison — each environment under its own limits, one
//!   failing environment never failing the others.
//! - [`stream`]: one statement streamed from many environments at once, in
//!   bounded memory.
//!
//! What the fan-out returns is compared by the pure functions of
//! [`crate::compare`].

mod environment;
mod explain;
mod fanout;
mod health;
mod reload;
mod search;
mod stream;
mod telemetry;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;

pub use environment::Environment;
pub use explain::Explained;
pub use fanout::{Answered, PerEnvironment, SchemaReport};
pub use health::{ConnectionReport, EnvironmentStatus, HealthChange, Status};
pub use reload::Reloaded;
pub use search::{
    DEFAULT_SEARCH_LIMIT, Detail, FoundObject, MAX_SEARCH_LIMIT, ObjectKind, ObjectSearch, SearchResult,
};
pub use stream::{StreamEnd, StreamEvent};
pub use telemetry::TRACE_TARGET;

use crate::config::{Config, EnvironmentConfig, ToolConfig};
use crate::error::{DbError, ErrorKind};
use crate::registry;

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

/// Every configured environment, by name.
pub struct Fleet {
    /// What the configuration gives; replaced whole by [`Fleet::reload`].
    roster: RwLock<Arc<Roster>>,
    options: StartOptions,
    /// Environments one fan-out works on at once (`[server] max_parallel`).
    max_parallel: usize,
    /// How many enabled environments have not finished their first attempt.
    pending: watch::Receiver<usize>,
    /// Each environment's background task (connection, recovery).
    tasks: Mutex<Vec<(String, AbortHandle)>>,
    /// In a view for one caller ([`Fleet::scoped`]): its name, and the
    /// environments it may not use, which are left out of everything.
    caller: Option<String>,
    forbidden: Vec<String>,
    health_changes: broadcast::Sender<HealthChange>,
    /// Subscribed before any environment started, for the first caller of
    /// [`Fleet::health_changes`].
    first_subscriber: Mutex<Option<broadcast::Receiver<HealthChange>>>,
    reloads: broadcast::Sender<Arc<Reloaded>>,
}

/// The environments, default and tools of one version of the configuration.
pub(super) struct Roster {
    pub(super) environments: Vec<Arc<Environment>>,
    pub(super) default_environment: Option<String>,
    /// `[tools.NAME]` of the configuration.
    pub(super) tools: Arc<Vec<ToolConfig>>,
}

/// Health changes a slow subscriber may fall behind by before it misses some.
const HEALTH_CHANGES_KEPT: usize = 256;
/// Reloads a session may fall behind by (it only needs the last).
const RELOADS_KEPT: usize = 16;

/// The driver an environment names, which a validated configuration has.
fn driver_of(env: &EnvironmentConfig) -> Result<&'static dyn crate::driver::DatabaseDriver, DbError> {
    registry::find_driver(&env.driver).ok_or_else(|| {
        DbError::internal(format!(
            "no driver named '{}' is linked into this binary (available: {})",
            env.driver,
            registry::driver_names().join(", ")
        ))
        .in_env(&env.name)
    })
}

impl Fleet {
    /// Builds the fleet and starts connecting every enabled environment in the
    /// background. Returns at once; see [`Fleet::wait_ready`].
    ///
    /// The configuration must have been validated (every driver exists).
    pub fn start(config: &Config, options: StartOptions) -> Result<Arc<Fleet>, DbError> {
        let (health_changes, first_subscriber) = broadcast::channel(HEALTH_CHANGES_KEPT);
        let environments = config
            .environments
            .iter()
            .map(|env| Ok(Arc::new(Environment::new(env.clone(), driver_of(env)?, health_changes.clone()))))
            .collect::<Result<Vec<_>, DbError>>()?;
        let enabled: Vec<_> = environments.iter().filter(|env| env.config().enabled).cloned().collect();
        let (pending_tx, pending) = watch::channel(enabled.len());
        let pending_tx = Arc::new(pending_tx);
        let tasks = enabled
            .into_iter()
            .map(|env| {
                let pending_tx = pending_tx.clone();
                let started = move || pending_tx.send_modify(|n| *n -= 1);
                (
                    env.name().to_owned(),
                    tokio::spawn(health::keep_connected(env, options, started)).abort_handle(),
                )
            })
            .collect();
        let roster = Roster {
            environments,
            default_environment: config.default_environment.clone(),
            tools: Arc::new(config.tools.clone()),
        };
        Ok(Arc::new(Fleet {
            roster: RwLock::new(Arc::new(roster)),
            options,
            max_parallel: config.server.max_parallel,
            pending,
            tasks: Mutex::new(tasks),
            caller: None,
            forbidden: Vec::new(),
            health_changes,
            first_subscriber: Mutex::new(Some(first_subscriber)),
            reloads: broadcast::channel(RELOADS_KEPT).0,
        }))
    }

    /// The configuration as it stands.
    pub(super) fn roster(&self) -> Arc<Roster> {
        self.roster.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The fleet as `caller` sees it: only the environments it may use
    /// (every one when `environments` is `None`). Naming another is a
    /// `forbidden` error, recorded in the audit log. The environments are
    /// shared with this fleet; the view starts and stops nothing, and keeps
    /// the configuration of the moment it was made.
    pub fn scoped(&self, caller: &str, environments: Option<&[String]>) -> Arc<Fleet> {
        let roster = self.roster();
        let allowed =
            |env: &Arc<Environment>| environments.is_none_or(|names| names.iter().any(|n| n == env.name()));
        let (visible, hidden): (Vec<_>, Vec<_>) = roster.environments.iter().cloned().partition(allowed);
        let view = Roster {
            environments: visible,
            default_environment: roster.default_environment.clone(),
            tools: roster.tools.clone(),
        };
        Arc::new(Fleet {
            roster: RwLock::new(Arc::new(view)),
            options: self.options,
            max_parallel: self.max_parallel,
            pending: self.pending.clone(),
            tasks: Mutex::new(Vec::new()),
            caller: Some(caller.to_owned()),
            health_changes: self.health_changes.clone(),
            first_subscriber: Mutex::new(None),
            reloads: self.reloads.clone(),
            forbidden: hidden
                .iter()
                .map(|env| env.name().to_owned())
                .chain(self.forbidden.iter().cloned())
                .collect(),
        })
    }

    /// The changes of environments between healthy and unhealthy: the first
    /// call gets every change since start-up, later calls those from then on.
    pub fn health_changes(&self) -> broadcast::Receiver<HealthChange> {
        let first = self.first_subscriber.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        first.unwrap_or_else(|| self.health_changes.subscribe())
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

    pub fn default_environment(&self) -> Option<String> {
        self.roster().default_environment.clone()
    }

    /// The environments, in configuration order.
    pub fn environments(&self) -> Vec<Arc<Environment>> {
        self.roster().environments.clone()
    }

    /// The tools of the configuration file, in file order.
    pub fn tools(&self) -> Arc<Vec<ToolConfig>> {
        self.roster().tools.clone()
    }

    /// The named environment, or the default one when no name is given.
    pub fn environment(&self, name: Option<&str>) -> Result<Arc<Environment>, DbError> {
        let roster = self.roster();
        let name = match name.or(roster.default_environment.as_deref()) {
            Some(name) => name,
            None => {
                return Err(DbError::invalid_argument(format!(
                    "no environment named and no default_environment configured; choose one of: {}",
                    self.names().join(", ")
                )));
            }
        };
        if self.forbidden.iter().any(|hidden| hidden == name) {
            crate::audit::forbidden(Some(name));
            let caller = self.caller.as_deref().unwrap_or_default();
            return Err(DbError::new(
                ErrorKind::Forbidden,
                format!(
                    "token '{caller}' may not use environment '{name}'; it may use: {}",
                    self.names().join(", ")
                ),
            )
            .in_env(name));
        }
        roster.environments.iter().find(|env| env.name() == name).cloned().ok_or_else(|| {
            DbError::new(
                ErrorKind::UnknownEnvironment,
                format!("no environment named '{name}'; configured: {}", self.names().join(", ")),
            )
            .in_env(name)
        })
    }

    fn names(&self) -> Vec<String> {
        self.roster().environments.iter().map(|env| env.name().to_owned()).collect()
    }

    /// The last known state of every environment, enabled or not, in
    /// configuration order. Does not touch the network.
    pub fn statuses(&self) -> Vec<EnvironmentStatus> {
        let roster = self.roster();
        let default = roster.default_environment.as_deref();
        roster.environments.iter().map(|env| env.snapshot(default == Some(env.name()))).collect()
    }

    /// Pings the named environment (or all, concurrently) and reports its state.
    pub async fn health_check(&self, name: Option<&str>) -> Result<Vec<EnvironmentStatus>, DbError> {
        let targets = match name {
            Some(name) => vec![self.environment(Some(name))?],
            None => self.environments(),
        };
        for batch in targets.chunks(self.max_parallel) {
            futures::future::join_all(batch.iter().map(|env| env.check())).await;
        }
        let default = self.default_environment();
        Ok(targets.iter().map(|env| env.snapshot(default.as_deref() == Some(env.name()))).collect())
    }

    /// Stops reconnection attempts and closes every pool.
    pub async fn shutdown(&self) {
        for (_, task) in self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).drain(..) {
            task.abort();
        }
        for env in self.environments() {
            let pool = env.read_state().pool;
            if let Some(pool) = pool {
                pool.close().await;
            }
            if let Some(tunnel) = env.opened_tunnel() {
                tunnel.close().await;
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for (_, task) in self.tasks.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).drain(..) {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests;
