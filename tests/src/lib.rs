//! Helpers shared by the workspace integration tests.

pub mod diff_estate;
pub mod estate;
pub mod faults;
pub mod pgbouncer;
pub mod scratch;
pub mod services;
pub mod sqlserver;
pub mod sshd;

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dbfleet_core::Config;
use dbfleet_core::config::load_config_str;
use dbfleet_core::fleet::{Environment, Status};

// Links the built-in drivers so that they register.
use dbfleet_mysql as _;
use dbfleet_postgres as _;
use dbfleet_sqlite as _;
use dbfleet_sqlserver as _;

/// Loads a configuration from TOML text whose relative paths resolve in `dir`.
/// `${VAR}` references resolve against `vars`.
pub fn config_in(dir: &Path, toml: &str, vars: &[(&str, &str)]) -> Config {
    let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    load_config_str(toml, dir, &lookup).unwrap_or_else(|err| panic!("test config is invalid: {err}"))
}

/// Waits until the environment reaches `status`, for at most `limit`.
pub async fn wait_for_status(env: &Environment, status: Status, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if env.status() == status {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.status() == status
}

/// A number no other call in this process gets, for naming scratch databases.
pub fn unique() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
