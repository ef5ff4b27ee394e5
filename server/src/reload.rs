//! Live reload: on SIGHUP, and when the configuration file changes
//! (`[server] watch_config`, on by default), the file is read and validated
//! again. A valid one is applied to the running fleet ([`Fleet::reload`]:
//! environments added, removed or changed, the others untouched); an invalid
//! one is logged problem by problem, and the running configuration stays.
//!
//! The file is polled (its modification time and length, every second)
//! rather than watched through inotify: editors that replace the file by a
//! rename, and mounted configuration volumes, are seen the same way.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dbfleet_core::Config;
use dbfleet_core::config::{ConfigError, load_config};
use dbfleet_core::fleet::Fleet;
use tokio::task::JoinHandle;

const WATCH_INTERVAL: Duration = Duration::from_secs(1);

pub fn spawn(fleet: Arc<Fleet>, path: PathBuf, running: &Config) -> JoinHandle<()> {
    let watch = running.server.watch_config;
    let mut applied_sections = restart_sections(running);
    tokio::spawn(async move {
        let mut hangups = hangups();
        let mut seen = stamp(&path);
        loop {
            let signalled = tokio::select! {
                Some(()) = next_hangup(&mut hangups) => true,
                () = tokio::time::sleep(WATCH_INTERVAL), if watch => false,
            };
            let now = stamp(&path);
            if !signalled && now == seen {
                continue;
            }
            seen = now;
            apply(&fleet, &path, &mut applied_sections);
        }
    })
}

fn apply(fleet: &Fleet, path: &std::path::Path, applied_sections: &mut String) {
    let config = match load_config(path) {
        Ok(config) => config,
        Err(ConfigError::Invalid { problems }) => {
            for problem in &problems {
                tracing::warn!(%problem, "configuration not reloaded");
            }
            tracing::error!(
                problems = problems.len(),
                file = %path.display(),
                "the configuration file has problems; the running configuration stays"
            );
            return;
        }
        Err(err) => {
            tracing::error!(error = %err, "configuration not reloaded; the running configuration stays");
            return;
        }
    };
    let sections = restart_sections(&config);
    if sections != *applied_sections {
        tracing::warn!(
            "changes to [server], [audit], [alerts] and [telemetry] take effect at the next start"
        );
        *applied_sections = sections;
    }
    match fleet.reload(&config) {
        Ok(reloaded) if reloaded.is_empty() => {
            tracing::info!("configuration reloaded: no environment or tool changed")
        }
        Ok(_) => {}
        Err(err) => {
            tracing::error!(error = %err, "configuration not reloaded; the running configuration stays")
        }
    }
}

/// What only a restart applies, in a comparable form.
fn restart_sections(config: &Config) -> String {
    format!("{:?} {:?} {:?} {:?}", config.server, config.audit, config.alerts, config.telemetry)
}

/// A change of modification time or length is a change of the file.
fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangups() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
#[cfg(not(unix))]
fn hangups() -> Hangups {}

#[cfg(unix)]
async fn next_hangup(hangups: &mut Hangups) -> Option<()> {
    match hangups {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}
#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) -> Option<()> {
    std::future::pending().await
}
