//! dbfleet driver for MySQL and MariaDB, on sqlx (tokio, rustls). Registers itself
//! as `mysql` (alias `mariadb`).

mod catalog;
mod diff;
mod errors;
mod explain;
mod pool;
mod read_only;
mod settings;
mod types;

use std::sync::Arc;

use dbfleet_core::driver_api::{
    ConfigProblem, DatabaseDriver, DbError, DiffDialect, DriverRegistration, DriverSettings, EngineRules,
    EnvironmentConfig, PlanSummary, Pool, Row, async_trait, dialect, inventory,
};

pub struct MySqlDriver;

inventory::submit!(DriverRegistration(&MySqlDriver));

#[async_trait]
impl DatabaseDriver for MySqlDriver {
    fn name(&self) -> &'static str {
        "mysql"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["mariadb"]
    }

    fn description(&self) -> &'static str {
        "MySQL and MariaDB servers (sqlx, TLS with rustls)"
    }
    /// The legacy single-database files were written for MySQL.
    fn reads_legacy_database_section(&self) -> bool {
        true
    }

    fn settings_keys(&self) -> &'static [&'static str] {
        settings::KEYS
    }

    fn validate(&self, settings: &DriverSettings) -> Result<(), Vec<ConfigProblem>> {
        settings::read(settings).map(drop)
    }

    fn explain_statement(&self, sql: &str) -> Option<String> {
        Some(explain::statement(sql))
    }

    fn read_plan(&self, rows: &[Row]) -> Result<(serde_json::Value, PlanSummary), DbError> {
        explain::read(rows)
    }

    fn sql_dialect(&self) -> Box<dyn dialect::Dialect + Send + Sync> {
        Box::new(dialect::MySqlDialect {})
    }

    fn engine_rules(&self) -> EngineRules {
        read_only::RULES
    }

    fn diff_dialect(&self) -> &'static dyn DiffDialect {
        &diff::MySqlDiff
    }

    fn target(&self, env: &EnvironmentConfig) -> String {
        settings::target(env)
    }

    fn server_address(&self, env: &EnvironmentConfig) -> Option<(String, u16)> {
        settings::server_address(env)
    }

    async fn connect(&self, env: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError> {
        pool::connect(env).await
    }
}
