//! What a statement gives: on one environment ([`QueryResult`]) and on
//! several at once ([`MultiResult`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::compare::{CompareOptions, Comparison, compare};
use crate::error::DbError;
use crate::readonly::classify;
use crate::stream::Bound;
use crate::value::{Column, Row, Value};

/// One statement to run on one environment.
#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    pub sql: String,
    pub params: Vec<Value>,
    /// Defaults to the environment's `max_rows`, and is capped by it.
    pub max_rows: Option<u64>,
}

/// The result of one statement on one environment.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct QueryResult {
    pub environment: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    pub row_count: usize,
    pub truncated: bool,
    /// The bound that stopped the result, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_by: Option<Bound>,
    /// Values of the first row cut to fit `max_result_bytes`.
    #[serde(skip_serializing_if = "is_zero")]
    pub values_cut: usize,
    /// The row limit that applied.
    pub max_rows: u64,
    /// The byte bound that applied.
    pub max_result_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affected_rows: Option<u64>,
    /// The statement returned more than one result set; only the first is here.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub more_result_sets: bool,
    pub execution_time_ms: f64,
}

/// The outcome of one statement on several environments.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MultiResult {
    pub results: BTreeMap<String, QueryResult>,
    pub errors: BTreeMap<String, DbError>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub requested: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub total_time_ms: f64,
    /// The environments in the order they were asked for.
    pub environments: Vec<String>,
}

impl MultiResult {
    /// Compares the successful results, in the order the environments were
    /// asked for. Rows are also compared by position when the SQL orders them.
    pub fn compare(&self, sql: &str, options: &CompareOptions) -> Result<Comparison, DbError> {
        let results: Vec<(&str, &QueryResult)> = self
            .summary
            .environments
            .iter()
            .filter_map(|name| self.results.get(name).map(|result| (name.as_str(), result)))
            .collect();
        let ordered = classify(sql, &sqlparser::dialect::GenericDialect {}).is_ok_and(|c| c.ordered);
        compare(&results, &CompareOptions { ordered: options.ordered || ordered, ..options.clone() })
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Milliseconds with microsecond precision, as every result reports times.
pub(crate) fn duration_ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}
