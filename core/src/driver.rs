//! The driver contract: what every engine implements.

// Drivers outside this workspace build and match these types: a field or
// variant added later must not break them.
#![warn(clippy::exhaustive_structs, clippy::exhaustive_enums)]

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::catalog::{DatabaseInfo, RoutineInfo, TableFilter, TableInfo, TableRef, TableSchema};
use crate::config::{ConfigProblem, DriverSettings, EnvironmentConfig};
use crate::diff::{AnsiDialect, DiffDialect};
use crate::error::DbError;
use crate::explain::PlanSummary;
use crate::readonly::EngineRules;
use crate::stream::RowStream;
use crate::value::{Row, Value};

/// One engine. Stateless; registered once per process through `inventory`
/// (see [`crate::registry`]).
#[async_trait]
pub trait DatabaseDriver: Send + Sync + 'static {
    /// Canonical name used in `driver = "..."`, e.g. `"postgres"`.
    fn name(&self) -> &'static str;
    /// Other names accepted in `driver = "..."`.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// One line for `dbfleet drivers`.
    fn description(&self) -> &'static str;
    /// Whether this driver reads the legacy single-database file: a
    /// `[database]` section without a `driver` key, which another tool
    /// wrote for its engine. The loader asks the registry which driver does.
    fn reads_legacy_database_section(&self) -> bool {
        false
    }
    /// Every driver-specific key this driver accepts; any other key in an
    /// environment's table is reported as unknown.
    fn settings_keys(&self) -> &'static [&'static str];
    /// Checks an environment's driver-specific settings before connecting;
    /// every problem names the setting.
    fn validate(&self, settings: &DriverSettings) -> Result<(), Vec<ConfigProblem>>;
    /// The SQL dialect used to classify statements as read-only or not.
    fn sql_dialect(&self) -> Box<dyn sqlparser::dialect::Dialect + Send + Sync> {
        Box::new(sqlparser::dialect::GenericDialect {})
    }
    /// The placeholder of the `position`-th (1-based) bound parameter in
    /// this engine's SQL: `?` by default, `$1` on PostgreSQL, `@P1` on SQL
    /// Server. Tools of the configuration file are written with names
    /// (`:customer_id`) and rewritten with it.
    fn placeholder(&self, _position: usize) -> String {
        "?".to_owned()
    }
    /// What the read-only check must know about the engine beyond its
    /// grammar: its functions with side effects, its executable comments.
    fn engine_rules(&self) -> EngineRules {
        EngineRules::default()
    }
    /// The statement that asks the engine for the plan of `sql` without
    /// running it (`EXPLAIN (FORMAT JSON) …`), or `None` when this driver
    /// cannot explain statements. It is run like any other statement, read-only
    /// check included.
    fn explain_statement(&self, _sql: &str) -> Option<String> {
        None
    }
    /// The plan in the engine's own form and in common terms, from the rows
    /// [`DatabaseDriver::explain_statement`]'s statement returned.
    fn read_plan(&self, _rows: &[Row]) -> Result<(serde_json::Value, PlanSummary), DbError> {
        Err(DbError::internal(format!("the {} driver does not read plans", self.name())))
    }
    /// This engine's SQL for comparing tables across environments: quoting,
    /// key order, and checksums of rows computed in the engine. Without
    /// checksums, tables are compared by streaming their rows.
    fn diff_dialect(&self) -> &'static dyn DiffDialect {
        &AnsiDialect
    }
    /// Where the environment points, without secrets (`host:port/db`, a file path).
    fn target(&self, env: &EnvironmentConfig) -> String;
    /// The host and port the engine listens on, for a driver that connects
    /// over TCP: where an SSH tunnel leads. `None` (the default) for a file,
    /// a local socket, or an address only known when connecting; such an
    /// environment cannot have a tunnel.
    fn server_address(&self, _env: &EnvironmentConfig) -> Option<(String, u16)> {
        None
    }
    /// Opens a pool for the environment. On a read-only environment every
    /// statement must run where the engine itself refuses writes (a
    /// read-only transaction that is always rolled back, a read-only
    /// connection), and no session state a statement sets may outlive its
    /// call: connections are reset before reuse, or closed.
    async fn connect(&self, env: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError>;
}

/// A live pool for one environment.
#[async_trait]
pub trait Pool: Send + Sync {
    /// Runs a statement that returns rows. Rows arrive as a stream of chunks;
    /// nothing is read from the engine beyond what the consumer pulls, and
    /// dropping the stream ends the query.
    async fn query(&self, q: &Query) -> Result<RowStream, DbError>;
    /// Runs a statement that returns no rows.
    async fn execute(&self, q: &Query) -> Result<ExecOutcome, DbError>;
    async fn list_databases(&self) -> Result<Vec<DatabaseInfo>, DbError>;
    async fn list_tables(&self, filter: &TableFilter) -> Result<Vec<TableInfo>, DbError>;
    async fn describe_table(&self, table: &TableRef) -> Result<TableSchema, DbError>;
    /// The stored functions and procedures of `schema` (of the connection's
    /// schema or database when `None`), or `None` when this driver cannot
    /// list them.
    async fn list_routines(&self, _schema: Option<&str>) -> Result<Option<Vec<RoutineInfo>>, DbError> {
        Ok(None)
    }
    async fn ping(&self) -> Result<ServerInfo, DbError>;
    /// What the login may do beyond reading, as far as the engine tells: one
    /// line each (a superuser, rights to write tables, files or programs).
    /// A read-only environment's guard does not depend on it, but its login's
    /// rights are the last line, so they are shown as warnings.
    async fn write_rights(&self) -> Result<Vec<String>, DbError> {
        Ok(Vec::new())
    }
    fn stats(&self) -> PoolStats;
    async fn close(&self);
}

/// A statement with its positional parameters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Query {
    pub sql: String,
    pub params: Vec<Value>,
    /// The consumer will pull at most this many rows: a driver sizes its
    /// chunks so that it never reads further from the engine.
    pub fetch_limit: Option<u64>,
}

impl Query {
    pub fn new(sql: impl Into<String>) -> Self {
        Query { sql: sql.into(), params: Vec::new(), fetch_limit: None }
    }

    pub fn with_params(mut self, params: Vec<Value>) -> Self {
        self.params = params;
        self
    }

    pub fn with_fetch_limit(mut self, limit: u64) -> Self {
        self.fetch_limit = Some(limit);
        self
    }

    /// The chunk size a driver should use given its preferred size.
    pub fn chunk_size(&self, preferred: usize) -> usize {
        match self.fetch_limit {
            Some(limit) => preferred.min(usize::try_from(limit).unwrap_or(usize::MAX)).max(1),
            None => preferred.max(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct ExecOutcome {
    pub affected_rows: u64,
}

impl ExecOutcome {
    pub fn new(affected_rows: u64) -> Self {
        ExecOutcome { affected_rows }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The engine's version string, e.g. `"SQLite 3.46.0"`.
    pub version: String,
}

impl ServerInfo {
    pub fn new(version: impl Into<String>) -> Self {
        ServerInfo { version: version.into() }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub in_use: u32,
    pub max: u32,
}

impl PoolStats {
    /// `size` connections open, `idle` of them waiting, at most `max`.
    pub fn new(size: u32, idle: u32, max: u32) -> Self {
        PoolStats { size, idle, in_use: size.saturating_sub(idle), max }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_respects_fetch_limit() {
        assert_eq!(Query::new("x").chunk_size(512), 512);
        assert_eq!(Query::new("x").with_fetch_limit(11).chunk_size(512), 11);
        assert_eq!(Query::new("x").with_fetch_limit(0).chunk_size(512), 1);
    }
}
