//! An example of a driver added outside dbfleet's own crates: a directory of
//! CSV files served as one environment, one table per file, queried with SQL.
//!
//! It shows everything a driver does: it implements [`DatabaseDriver`] (its
//! name, its settings and their validation, connecting) and [`Pool`] (rows
//! as a chunked stream, catalog, ping), and registers itself with
//! `inventory::submit!`. Nothing in dbfleet's core or server names it: a
//! binary that links this crate (see `main.rs`) offers `driver = "csv"`.
//!
//! The files are loaded at connect time into an in-memory SQLite database,
//! which runs the SQL; column types are inferred from the values.

mod load;
mod pool;

use std::path::PathBuf;
use std::sync::Arc;

use dbfleet_core::driver_api::{
    ConfigProblem, DatabaseDriver, DbError, DriverRegistration, DriverSettings, EnvironmentConfig, Pool,
    SettingsReader, async_trait, dialect, inventory,
};

pub struct CsvDriver;

inventory::submit!(DriverRegistration(&CsvDriver));

const KEYS: &[&str] = &["directory"];

/// The one setting, read the same way to validate and to connect.
fn read_directory(settings: &DriverSettings) -> Result<&str, Vec<ConfigProblem>> {
    let mut r = SettingsReader::new(settings);
    let directory = r.string("directory");
    if directory.is_none() && !r.contains("directory") {
        r.problem("directory", "required: the folder of CSV files");
    }
    r.finish()?;
    directory.ok_or_else(Vec::new)
}

fn directory(env: &EnvironmentConfig) -> Result<PathBuf, DbError> {
    read_directory(&env.settings)
        .map(|directory| env.resolve_path(directory))
        .map_err(|_| DbError::invalid_argument("`directory` must name the folder of CSV files"))
}

#[async_trait]
impl DatabaseDriver for CsvDriver {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn description(&self) -> &'static str {
        "a directory of CSV files, one table per file (an example driver)"
    }

    fn settings_keys(&self) -> &'static [&'static str] {
        KEYS
    }

    fn validate(&self, settings: &DriverSettings) -> Result<(), Vec<ConfigProblem>> {
        read_directory(settings).map(drop)
    }

    fn sql_dialect(&self) -> Box<dyn dialect::Dialect + Send + Sync> {
        Box::new(dialect::SQLiteDialect {})
    }

    fn target(&self, env: &EnvironmentConfig) -> String {
        match directory(env) {
            Ok(path) => format!("csv:{}", path.display()),
            Err(_) => "csv:<invalid settings>".into(),
        }
    }

    async fn connect(&self, env: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError> {
        let directory = directory(env)?;
        let pool = tokio::task::spawn_blocking(move || pool::CsvPool::open(directory))
            .await
            .map_err(|err| DbError::internal(format!("loading the CSV files stopped: {err}")))??;
        Ok(Arc::new(pool))
    }
}
