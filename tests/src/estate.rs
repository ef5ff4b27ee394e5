//! The same small shop on SQLite, PostgreSQL and MariaDB, with known
//! differences: order 3 is missing in `dev`, order 2 has another amount in
//! `staging`, and `legacy` has an extra column `note` and keeps amounts in a
//! DOUBLE. Fan-out, comparison and schema tests (core, CLI, MCP) read it.

use std::path::Path;
use std::sync::Arc;

use dbfleet_core::fleet::{Fleet, StartOptions};
use dbfleet_core::{QueryRequest, Value};

use crate::config_in;
use crate::services::{mysql_url, postgres_url};

/// The shop, loaded into a SQLite file and a scratch database on each server.
pub struct ShopEstate {
    dir: tempfile::TempDir,
    database: String,
    postgres_base: String,
    mysql_base: String,
    admin: Arc<Fleet>,
}

/// A server URL without its database part.
pub(crate) fn base_url(url: &str) -> &str {
    url.rsplit_once('/').map_or(url, |(base, _)| base)
}

/// A fleet on `toml`, without reconnection, once every environment has
/// answered or failed.
pub(crate) async fn start(dir: &Path, toml: &str) -> Arc<Fleet> {
    let fleet =
        Fleet::start(&config_in(dir, toml, &[]), StartOptions { reconnect: false, ..Default::default() })
            .unwrap();
    fleet.wait_ready().await;
    fleet
}

/// Runs `sql` on `env`, which must succeed; its rows.
pub(crate) async fn run(fleet: &Fleet, env: &str, sql: &str) -> Vec<Vec<Value>> {
    let request = QueryRequest { sql: sql.into(), ..Default::default() };
    let env = fleet.environment(Some(env)).unwrap();
    env.query(&request).await.unwrap_or_else(|e| panic!("{sql}: {e}")).rows
}

impl ShopEstate {
    /// Creates and seeds the shop; `None` (after a loud skip message) when a
    /// server is unreachable outside CI.
    pub async fn create() -> Option<ShopEstate> {
        let (pg, my) = (postgres_url()?, mysql_url()?);
        let dir = tempfile::tempdir().unwrap();
        // Unique per test, as several tests of one process may build a shop.
        let database = format!("dbfleet_shop_{}_{}", std::process::id(), crate::unique());
        let admin = start(
            dir.path(),
            &format!(
                "[environments.pg]\ndriver = \"postgres\"\nurl = \"{pg}\"\nread_only = false\n\
                 [environments.my]\ndriver = \"mysql\"\nurl = \"{my}\"\nread_only = false\n"
            ),
        )
        .await;
        run(&admin, "pg", &format!("CREATE DATABASE {database}")).await;
        run(&admin, "my", &format!("CREATE DATABASE {database}")).await;
        let estate = ShopEstate {
            dir,
            database,
            postgres_base: base_url(&pg).to_owned(),
            mysql_base: base_url(&my).to_owned(),
            admin,
        };
        estate.seed().await;
        Some(estate)
    }

    async fn seed(&self) {
        let writable = start(self.dir.path(), &self.environments(false)).await;
        for env in ["dev", "staging", "legacy"] {
            run(
                &writable,
                env,
                "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)",
            )
            .await;
            let (amount, extra) =
                if env == "legacy" { ("DOUBLE", ", note VARCHAR(50)") } else { ("DECIMAL(10,2)", "") };
            run(
                &writable,
                env,
                &format!(
                    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, \
                     amount {amount} NOT NULL{extra})"
                ),
            )
            .await;
            run(&writable, env, "INSERT INTO customers (id, name) VALUES (1, 'Ada'), (2, 'Grace')").await;
            let staging_amount = if env == "staging" { "20.00" } else { "15.50" };
            run(
                &writable,
                env,
                &format!(
                    "INSERT INTO orders (id, customer_id, amount) VALUES (1, 1, 9.99), (2, 2, {staging_amount})"
                ),
            )
            .await;
            if env != "dev" {
                run(&writable, env, "INSERT INTO orders (id, customer_id, amount) VALUES (3, 1, 100)").await;
            }
        }
        writable.shutdown().await;
    }

    /// The directory the SQLite file lives in; a config file written here
    /// finds it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// TOML for the three environments `dev` (SQLite), `staging` (PostgreSQL)
    /// and `legacy` (MariaDB), read-only unless `read_only` is false.
    pub fn environments(&self, read_only: bool) -> String {
        let create = if read_only { "" } else { "mode = \"create\"\n" };
        format!(
            "[environments.dev]\ndriver = \"sqlite\"\npath = \"dev.db\"\n{create}read_only = {read_only}\n\
             [environments.staging]\ndriver = \"postgres\"\nurl = \"{}/{db}\"\nread_only = {read_only}\n\
             [environments.legacy]\ndriver = \"mariadb\"\nurl = \"{}/{db}\"\nread_only = {read_only}\n",
            self.postgres_base,
            self.mysql_base,
            db = self.database
        )
    }

    /// A started fleet on the three read-only environments.
    pub async fn fleet(&self) -> Arc<Fleet> {
        start(self.dir.path(), &self.environments(true)).await
    }

    /// Drops the scratch databases.
    pub async fn drop(self) {
        run(&self.admin, "pg", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database)).await;
        run(&self.admin, "my", &format!("DROP DATABASE IF EXISTS {}", self.database)).await;
        self.admin.shutdown().await;
    }
}
