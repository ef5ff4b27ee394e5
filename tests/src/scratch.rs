//! A scratch database of its own on PostgreSQL or MariaDB for each test,
//! with an admin environment to set it up and watch it from outside.

use std::sync::Arc;
use std::time::Duration;

use dbfleet_core::QueryRequest;
use dbfleet_core::Value;
use dbfleet_core::fleet::{Fleet, StartOptions};

use crate::services::{mysql_url, postgres_url};
use crate::{config_in, unique};

#[derive(Clone, Copy, PartialEq)]
pub enum Engine {
    Postgres,
    Mariadb,
}

impl Engine {
    pub fn admin_url(self) -> Option<String> {
        match self {
            Engine::Postgres => postgres_url(),
            Engine::Mariadb => mysql_url(),
        }
    }

    pub fn driver(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mariadb => "mariadb",
        }
    }

    pub fn sleep(self, seconds: f64) -> String {
        match self {
            Engine::Postgres => format!("SELECT pg_sleep({seconds})"),
            Engine::Mariadb => format!("SELECT SLEEP({seconds})"),
        }
    }

    /// The sessions the server has open on `database`, other than the asking one.
    pub fn sessions_sql(self, database: &str) -> String {
        match self {
            Engine::Postgres => format!(
                "SELECT pid FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
            ),
            Engine::Mariadb => format!(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{database}' AND ID <> CONNECTION_ID()"
            ),
        }
    }

    pub fn kill_sql(self, session: &str) -> String {
        match self {
            Engine::Postgres => format!("SELECT pg_terminate_backend({session})"),
            Engine::Mariadb => format!("KILL {session}"),
        }
    }
}

/// A scratch database on one server, with an admin environment to watch it.
pub struct Scratch {
    pub engine: Engine,
    pub admin: Arc<Fleet>,
    pub database: String,
    /// The scratch database's URL, with the admin's credentials.
    pub url: String,
    dir: tempfile::TempDir,
}

/// Reconnection attempts every 100 to 500 ms, so that recovery tests are quick.
pub fn fast_retry() -> StartOptions {
    StartOptions {
        reconnect: true,
        min_retry_delay: Duration::from_millis(100),
        max_retry_delay: Duration::from_millis(500),
    }
}

async fn start(dir: &std::path::Path, toml: &str) -> Arc<Fleet> {
    let fleet = Fleet::start(&config_in(dir, toml, &[]), fast_retry()).unwrap();
    fleet.wait_ready().await;
    fleet
}

impl Scratch {
    pub async fn create(engine: Engine) -> Option<Scratch> {
        let admin_url = engine.admin_url()?;
        let dir = tempfile::tempdir().unwrap();
        let admin = start(
            dir.path(),
            &format!(
                "[environments.admin]\ndriver = \"{}\"\nurl = \"{admin_url}\"\nread_only = false\n",
                engine.driver()
            ),
        )
        .await;
        let database = format!("dbfleet_faults_{}_{}", std::process::id(), unique());
        let scratch = Scratch {
            engine,
            url: format!("{}/{database}", admin_url.rsplit_once('/').unwrap().0),
            admin,
            database,
            dir,
        };
        scratch.admin_run(&format!("CREATE DATABASE {}", scratch.database)).await;
        Some(scratch)
    }

    pub async fn admin_run(&self, sql: &str) -> Vec<Vec<Value>> {
        let request = QueryRequest { sql: sql.into(), ..Default::default() };
        let env = self.admin.environment(Some("admin")).unwrap();
        env.query(&request).await.unwrap_or_else(|e| panic!("{sql}: {e}")).rows
    }

    pub async fn sessions(&self) -> Vec<String> {
        let rows = self.admin_run(&self.engine.sessions_sql(&self.database)).await;
        rows.iter().map(|row| row[0].to_text()).collect()
    }

    /// An environment `db` on the scratch database (at `url`), plus a SQLite
    /// one that has nothing to do with it.
    pub async fn fleet(&self, url: &str, pool: &str) -> Arc<Fleet> {
        self.fleet_with(url, "", pool).await
    }

    /// As [`Scratch::fleet`], with more keys (`settings`) in `db`'s table.
    pub async fn fleet_with(&self, url: &str, settings: &str, pool: &str) -> Arc<Fleet> {
        start(
            self.dir.path(),
            &format!(
                "[environments.db]\ndriver = \"{}\"\nurl = \"{url}\"\n{settings}\n[environments.db.pool]\n{pool}\n\
                 [environments.local]\ndriver = \"sqlite\"\npath = \":memory:\"\n",
                self.engine.driver()
            ),
        )
        .await
    }

    pub async fn drop(self) {
        let drop = match self.engine {
            Engine::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
            Engine::Mariadb => format!("DROP DATABASE IF EXISTS {}", self.database),
        };
        self.admin_run(&drop).await;
        self.admin.shutdown().await;
    }
}
