//! A new version of the configuration, applied to a running fleet: added
//! environments connect, removed ones are drained (calls already running
//! finish, then the pool closes), changed ones are replaced the same way,
//! and the others are not touched at all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::environment::Environment;
use super::{Fleet, Roster, driver_of, health};
use crate::config::Config;
use crate::error::DbError;

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reloaded {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// `[tools.NAME]` or `default_environment` changed.
    pub tools_changed: bool,
}

impl Reloaded {
    pub fn is_empty(&self) -> bool {
        *self == Reloaded::default()
    }
}

/// How often a drained environment looks whether its calls have finished.
const DRAIN_POLL: Duration = Duration::from_millis(100);

impl Fleet {
    /// Applies `config`, which must have been validated. Nothing changes
    /// when it fails (a driver missing from this binary).
    pub fn reload(&self, config: &Config) -> Result<Reloaded, DbError> {
        let old = self.roster();
        let mut reloaded = Reloaded::default();
        let mut environments = Vec::with_capacity(config.environments.len());
        let mut started = Vec::new();
        for wanted in &config.environments {
            let current = old.environments.iter().find(|env| env.name() == wanted.name);
            match current {
                Some(env) if env.config().same_as(wanted) => environments.push(env.clone()),
                _ => {
                    let env = Arc::new(Environment::new(
                        wanted.clone(),
                        driver_of(wanted)?,
                        self.health_changes.clone(),
                    ));
                    if current.is_some() { &mut reloaded.changed } else { &mut reloaded.added }
                        .push(wanted.name.clone());
                    environments.push(env.clone());
                    started.push(env);
                }
            }
        }
        let retired: Vec<Arc<Environment>> = old
            .environments
            .iter()
            .filter(|env| !environments.iter().any(|kept| Arc::ptr_eq(kept, env)))
            .cloned()
            .collect();
        reloaded.removed = retired
            .iter()
            .map(|env| env.name().to_owned())
            .filter(|name| !reloaded.changed.contains(name))
            .collect();
        reloaded.tools_changed =
            *old.tools != config.tools || old.default_environment != config.default_environment;
        if reloaded.is_empty() {
            return Ok(reloaded);
        }
        let roster = Roster {
            environments,
            default_environment: config.default_environment.clone(),
            tools: Arc::new(config.tools.clone()),
        };
        *self.roster.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(roster);

        let mut tasks = self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for env in &retired {
            tasks.retain(|(name, task)| {
                let stop = name == env.name();
                if stop {
                    task.abort();
                }
                !stop
            });
            tokio::spawn(drain(env.clone()));
        }
        for env in started.into_iter().filter(|env| env.config().enabled) {
            let name = env.name().to_owned();
            tasks.push((name, tokio::spawn(health::keep_connected(env, self.options, || {})).abort_handle()));
        }
        drop(tasks);
        tracing::info!(
            added = ?reloaded.added,
            removed = ?reloaded.removed,
            changed = ?reloaded.changed,
            tools_changed = reloaded.tools_changed,
            "configuration reloaded"
        );
        // No subscriber is no error.
        let _ = self.reloads.send(Arc::new(reloaded.clone()));
        Ok(reloaded)
    }

    /// Every later reload that changed something.
    pub fn reloads(&self) -> tokio::sync::broadcast::Receiver<Arc<Reloaded>> {
        self.reloads.subscribe()
    }
}

/// Closes a retired environment once the calls that hold it are done, or
/// when the longest of them would have timed out.
async fn drain(env: Arc<Environment>) {
    let deadline = Instant::now() + env.config().query_timeout + Duration::from_secs(1);
    // The retired environment is held here and by the calls still using it.
    while Arc::strong_count(&env) > 1 && Instant::now() < deadline {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    if let Some(pool) = env.read_state().pool {
        pool.close().await;
    }
    if let Some(tunnel) = env.opened_tunnel() {
        tunnel.close().await;
    }
    tracing::info!(environment = %env.name(), "retired environment closed");
}
