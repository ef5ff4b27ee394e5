//! dbfleet driver for SQLite, on rusqlite with the bundled SQLite: nothing to
//! install. Registers itself as `sqlite` (alias `sqlite3`).

mod catalog;
mod connections;
mod diff;
mod errors;
mod explain;
mod interrupt;
mod pool;
mod read_only;
mod rows;
mod settings;
mod types;

use std::sync::Arc;

use dbfleet_core::driver_api::{
    ConfigProblem, DatabaseDriver, DbError, DiffDialect, DriverRegistration, DriverSettings, EngineRules,
    EnvironmentConfig, PlanSummary, Pool, Row, async_trait, dialect, inventory,
};

use crate::settings::{Location, SqliteSettings};

pub struct SqliteDriver;

inventory::submit!(DriverRegistration(&SqliteDriver));

#[async_trait]
impl DatabaseDriver for SqliteDriver {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["sqlite3"]
    }

    fn description(&self) -> &'static str {
        "SQLite database files (bundled SQLite, nothing to install)"
    }

    fn settings_keys(&self) -> &'static [&'static str] {
        settings::KEYS
    }

    fn validate(&self, settings: &DriverSettings) -> Result<(), Vec<ConfigProblem>> {
        settings::validate(settings)
    }

    fn explain_statement(&self, sql: &str) -> Option<String> {
        Some(explain::statement(sql))
    }

    fn read_plan(&self, rows: &[Row]) -> Result<(serde_json::Value, PlanSummary), DbError> {
        explain::read(rows)
    }

    fn sql_dialect(&self) -> Box<dyn dialect::Dialect + Send + Sync> {
        Box::new(dialect::SQLiteDialect {})
    }

    fn engine_rules(&self) -> EngineRules {
        read_only::RULES
    }

    fn diff_dialect(&self) -> &'static dyn DiffDialect {
        &diff::SqliteDiff
    }

    fn target(&self, env: &EnvironmentConfig) -> String {
        match SqliteSettings::from_env(env).map(|s| s.location) {
            Ok(Location::Memory) => "sqlite::memory:".into(),
            Ok(Location::File(path)) => format!("sqlite:{}", path.display()),
            Err(_) => "sqlite:<invalid settings>".into(),
        }
    }

    async fn connect(&self, env: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError> {
        let settings = SqliteSettings::from_env(env).map_err(|problems| {
            let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
            DbError::invalid_argument(text.join("; "))
        })?;
        pool::connect(env, settings).await
    }
}
