//! dbfleet driver for SQL Server, on tiberius (tokio, TLS with rustls).
//! Registers itself as `sqlserver` (aliases `mssql`, `tsql`).

mod address;
mod catalog;
mod connection_string;
mod diff;
mod errors;
mod params;
mod pool;
mod read_only;
mod settings;
mod types;
mod url;

use std::sync::Arc;

use dbfleet_core::driver_api::{
    ConfigProblem, DatabaseDriver, DbError, DiffDialect, DriverRegistration, DriverSettings, EngineRules,
    EnvironmentConfig, Pool, async_trait, dialect, inventory,
};

pub struct SqlServerDriver;

inventory::submit!(DriverRegistration(&SqlServerDriver));

#[async_trait]
impl DatabaseDriver for SqlServerDriver {
    fn name(&self) -> &'static str {
        "sqlserver"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["mssql", "tsql"]
    }

    fn description(&self) -> &'static str {
        "Microsoft SQL Server and Azure SQL (tiberius, TLS with rustls)"
    }

    fn settings_keys(&self) -> &'static [&'static str] {
        settings::KEYS
    }

    fn validate(&self, settings: &DriverSettings) -> Result<(), Vec<ConfigProblem>> {
        settings::validate(settings)
    }

    fn placeholder(&self, position: usize) -> String {
        format!("@P{position}")
    }

    fn sql_dialect(&self) -> Box<dyn dialect::Dialect + Send + Sync> {
        Box::new(dialect::MsSqlDialect {})
    }

    fn engine_rules(&self) -> EngineRules {
        read_only::RULES
    }

    fn diff_dialect(&self) -> &'static dyn DiffDialect {
        &diff::SqlServerDiff
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
