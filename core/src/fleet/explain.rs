//! `explain_query`: a statement's plan on one environment, without running
//! the statement, as the engine gives it and in common terms.

use std::time::Instant;

use serde::Serialize;

use super::Environment;
use crate::error::DbError;
use crate::explain::PlanSummary;
use crate::result::{QueryRequest, duration_ms};
use crate::value::Value;

/// One environment's plan of a statement.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Explained {
    pub environment: String,
    pub driver: String,
    /// The plan as the engine gives it (PostgreSQL's and MySQL's JSON plan,
    /// SQLite's query plan rows).
    pub plan: serde_json::Value,
    pub summary: PlanSummary,
    pub execution_time_ms: f64,
}

impl Environment {
    /// Asks the engine for the plan of `sql`: the driver's `EXPLAIN`
    /// statement, run as any other (read-only check, timeout); the
    /// statement itself does not run.
    pub async fn explain(&self, sql: &str, params: Vec<Value>) -> Result<Explained, DbError> {
        let driver = self.driver();
        let statement = driver.explain_statement(sql).ok_or_else(|| {
            DbError::invalid_argument(format!("the {} driver cannot explain statements", driver.name()))
                .in_env(self.name())
        })?;
        let started = Instant::now();
        let result = self.query(&QueryRequest { sql: statement, params, max_rows: None }).await?;
        let (plan, summary) = driver.read_plan(&result.rows).map_err(|err| self.scrub(err))?;
        Ok(Explained {
            environment: self.name().to_owned(),
            driver: driver.name().to_owned(),
            plan,
            summary,
            execution_time_ms: duration_ms(started.elapsed()),
        })
    }
}
