//! Two databases on each engine (PostgreSQL, MariaDB, SQLite) for comparing
//! tables: `pg` and `pg2`, `maria` and `maria2`, `lite` and `lite2`, every
//! pair same-engine or cross-engine.

use std::path::PathBuf;
use std::sync::Arc;

use dbfleet_core::Value;
use dbfleet_core::fleet::Fleet;

use crate::estate::{base_url, run, start};
use crate::services::{mysql_url, postgres_url};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Mariadb,
    Sqlite,
}

pub const ENVIRONMENTS: [&str; 6] = ["pg", "pg2", "maria", "maria2", "lite", "lite2"];

pub fn kind(env: &str) -> Kind {
    match env.trim_end_matches('2') {
        "pg" => Kind::Postgres,
        "maria" => Kind::Mariadb,
        _ => Kind::Sqlite,
    }
}

pub struct DiffEstate {
    dir: tempfile::TempDir,
    database: String,
    postgres_base: String,
    mysql_base: String,
    admin: Arc<Fleet>,
    /// Every environment, writable.
    pub fleet: Arc<Fleet>,
}

impl DiffEstate {
    /// `None` (after a loud skip message) when a server is unreachable outside CI.
    pub async fn create() -> Option<DiffEstate> {
        let (pg, my) = (postgres_url()?, mysql_url()?);
        let dir = tempfile::tempdir().unwrap();
        let database = format!("dbfleet_diff_{}_{}", std::process::id(), crate::unique());
        let admin = start(
            dir.path(),
            &format!(
                "[environments.pg]\ndriver = \"postgres\"\nurl = \"{pg}\"\nread_only = false\n\
                 [environments.my]\ndriver = \"mysql\"\nurl = \"{my}\"\nread_only = false\n"
            ),
        )
        .await;
        for suffix in ["", "2"] {
            run(&admin, "pg", &format!("CREATE DATABASE {database}{suffix}")).await;
            run(&admin, "my", &format!("CREATE DATABASE {database}{suffix}")).await;
        }
        let mut estate = DiffEstate {
            database,
            postgres_base: base_url(&pg).to_owned(),
            mysql_base: base_url(&my).to_owned(),
            fleet: admin.clone(),
            admin,
            dir,
        };
        estate.fleet = start(estate.dir.path(), &estate.environments(false, "")).await;
        Some(estate)
    }

    /// TOML for the six environments, each with `extra` lines.
    pub fn environments(&self, read_only: bool, extra: &str) -> String {
        let create = if read_only { "" } else { "mode = \"create\"\n" };
        let mut toml = String::new();
        for suffix in ["", "2"] {
            let db = format!("{}{suffix}", self.database);
            toml.push_str(&format!(
                "[environments.pg{suffix}]\ndriver = \"postgres\"\nurl = \"{}/{db}\"\nread_only = {read_only}\n{extra}\n\
                 [environments.maria{suffix}]\ndriver = \"mariadb\"\nurl = \"{}/{db}\"\nread_only = {read_only}\n{extra}\n\
                 [environments.lite{suffix}]\ndriver = \"sqlite\"\npath = \"lite{suffix}.db\"\n{create}\
                 read_only = {read_only}\n{extra}\n",
                self.postgres_base, self.mysql_base,
            ));
        }
        toml
    }

    /// Another fleet on the same databases.
    pub async fn fleet_with(&self, read_only: bool, extra: &str) -> Arc<Fleet> {
        start(self.dir.path(), &self.environments(read_only, extra)).await
    }

    /// The SQLite file of `lite` or `lite2`.
    pub fn sqlite_path(&self, env: &str) -> PathBuf {
        self.dir.path().join(format!("{env}.db"))
    }

    pub async fn run(&self, env: &str, sql: &str) -> Vec<Vec<Value>> {
        run(&self.fleet, env, sql).await
    }

    /// Runs the statements `sql` gives for each environment's engine, on
    /// every environment.
    pub async fn run_everywhere(&self, sql: impl Fn(Kind) -> Vec<String>) {
        for env in ENVIRONMENTS {
            for statement in sql(kind(env)) {
                self.run(env, &statement).await;
            }
        }
    }

    pub async fn drop(self) {
        self.fleet.shutdown().await;
        for suffix in ["", "2"] {
            let db = format!("{}{suffix}", self.database);
            run(&self.admin, "pg", &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
            run(&self.admin, "my", &format!("DROP DATABASE IF EXISTS {db}")).await;
        }
        self.admin.shutdown().await;
    }
}
