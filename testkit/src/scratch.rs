//! A scratch database with the fixture loaded, and fleets of environments on it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use dbfleet_core::config::load_config_str;
use dbfleet_core::{Config, Fleet, QueryRequest, QueryResult, StartOptions};

use crate::Target;

/// A scratch database on one engine, with the fixture loaded.
pub struct Scratch {
    dir: tempfile::TempDir,
    name: String,
    driver: &'static str,
    /// The settings lines of an environment on the scratch database.
    settings: String,
}

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

impl Scratch {
    /// Creates the database and loads the fixture; `None` when the target's
    /// engine cannot be reached here.
    pub(crate) async fn new<T: Target>(target: &T) -> Option<Scratch> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let name = format!("dbfleet_conf_{}_{}", std::process::id(), SEQUENCE.fetch_add(1, Ordering::SeqCst));
        let settings = target.create(dir.path(), &name).await?;
        let scratch = Scratch { dir, name, driver: target.driver(), settings };
        target.load_fixture(&scratch).await;
        Some(scratch)
    }

    /// The scratch database's name, as [`Target::create`] was given it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory the scratch database's files, if any, live in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A fleet with the given environments (name, read-only) on the scratch
    /// database, each with `extra` settings lines.
    pub async fn fleet(&self, envs: &[(&str, bool)], extra: &str) -> Arc<Fleet> {
        let mut toml = String::new();
        for (name, read_only) in envs {
            toml.push_str(&format!(
                "[environments.{name}]\ndriver = \"{}\"\nread_only = {read_only}\nmax_rows = 100000\n{}{extra}\n",
                self.driver, self.settings
            ));
        }
        start(&config(self.dir.path(), &toml, &[])).await
    }

    pub(crate) async fn drop<T: Target>(self, target: &T) {
        target.destroy(&self.name).await;
    }
}

/// The default [`Target::load_fixture`]: the fixture's statements on a
/// writable environment.
pub(crate) async fn load_with_statements<T: Target + ?Sized>(target: &T, scratch: &Scratch) {
    let fleet = scratch.fleet(&[("setup", false)], "").await;
    for statement in fixture_statements(target) {
        run(&fleet, "setup", &statement).await;
    }
    fleet.shutdown().await;
}

/// Every fixture statement, in order.
pub(crate) fn fixture_statements<T: Target + ?Sized>(target: &T) -> Vec<String> {
    let fixture = target.fixture();
    let mut statements =
        vec![fixture.all_types, fixture.all_types_row, "INSERT INTO all_types (id) VALUES (2)".into()];
    statements.extend([
        fixture.customers,
        fixture.orders,
        "CREATE INDEX orders_by_customer ON orders (customer_id)".into(),
        "CREATE VIEW order_totals AS SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id"
            .into(),
        "INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace')".into(),
        "INSERT INTO orders VALUES (10, 1, 5.00), (11, 1, 7.25), (12, 2, 3.10)".into(),
    ]);
    statements
}

/// A configuration from TOML text whose relative paths resolve in `dir`,
/// and whose `${VAR}`s and `password_env`s resolve against `vars`.
pub(crate) fn config(dir: &Path, toml: &str, vars: &[(&str, &str)]) -> Config {
    let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
    load_config_str(toml, dir, &lookup).unwrap_or_else(|err| panic!("the test config is invalid: {err}"))
}

pub(crate) async fn start(config: &Config) -> Arc<Fleet> {
    let fleet = Fleet::start(config, StartOptions { reconnect: false, ..StartOptions::default() })
        .expect("the fleet starts");
    fleet.wait_ready().await;
    fleet
}

/// Runs `sql` on the environment `env`, which must answer.
pub async fn run(fleet: &Fleet, env: &str, sql: &str) -> QueryResult {
    let request = QueryRequest { sql: sql.into(), ..QueryRequest::default() };
    let environment = fleet.environment(Some(env)).expect("the environment is configured");
    environment.query(&request).await.unwrap_or_else(|err| panic!("{sql}: {err}"))
}
