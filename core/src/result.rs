//! What a statement gives: on one environment ([`QueryResult`]) and on
//! several at once ([`MultiResult`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::ser::Error as _;
use serde::{Serialize, Serializer};

use crate::compare::{CompareOptions, Comparison, compare};
use crate::error::DbError;
use crate::readonly::classify;
use crate::stream::{Bound, RowSink};
use crate::value::{Column, Row, Value};

/// One statement to run on one environment.
#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    pub sql: String,
    pub params: Vec<Value>,
    /// Defaults to the environment's `max_rows`, and is capped by it.
    pub max_rows: Option<u64>,
}

/// The result of one statement on one environment, its rows as decoded
/// values, or as JSON written as they arrived ([`JsonRows`]).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(bound(serialize = "R: ResultRows"))]
#[schemars(rename = "QueryResult")]
pub struct QueryResult<R = Vec<Row>> {
    pub environment: String,
    pub columns: Vec<Column>,
    #[serde(
        skip_serializing_if = "ResultRows::written_apart",
        serialize_with = "ResultRows::serialize_rows"
    )]
    pub rows: R,
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

/// What a [`QueryResult`] holds as its rows.
pub trait ResultRows: RowSink {
    /// The rows are left out of the result's serialization, to be put in
    /// by [`JsonRows::around`].
    fn written_apart(&self) -> bool;
    fn serialize_rows<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;
}

impl ResultRows for Vec<Row> {
    fn written_apart(&self) -> bool {
        false
    }

    fn serialize_rows<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize(serializer)
    }
}

/// Rows written as JSON arrays as they arrive, so that a large result is
/// held once, as the text of its answer, never as decoded values next to it.
#[derive(Debug, Default)]
pub struct JsonRows {
    json: Vec<u8>,
    count: usize,
}

impl RowSink for JsonRows {
    fn push(&mut self, row: Row) -> Result<(), DbError> {
        self.json.push(if self.count == 0 { b'[' } else { b',' });
        serde_json::to_writer(&mut self.json, &row)
            .map_err(|err| DbError::internal(format!("cannot encode a row: {err}")))?;
        self.count += 1;
        Ok(())
    }

    fn len(&self) -> usize {
        self.count
    }
}

impl ResultRows for JsonRows {
    fn written_apart(&self) -> bool {
        true
    }

    fn serialize_rows<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(S::Error::custom("rows written as JSON are put in by JsonRows::around"))
    }
}

impl JsonRows {
    /// The JSON text of `document` (an object that leaves these rows out)
    /// with the rows as its last member, `rows`. The rows' text is not
    /// copied: the document goes in front of it.
    pub fn around(self, document: &impl Serialize) -> Result<String, DbError> {
        let encoding = |err: serde_json::Error| DbError::internal(format!("cannot encode the result: {err}"));
        let mut head = serde_json::to_vec(document).map_err(encoding)?;
        if head.pop() != Some(b'}') {
            return Err(DbError::internal("the rows' document is not a JSON object"));
        }
        if head.len() > 1 {
            head.push(b',');
        }
        head.extend_from_slice(b"\"rows\":");
        let mut json = self.json;
        if self.count == 0 {
            json.push(b'[');
        }
        json.push(b']');
        json.push(b'}');
        json.splice(0..0, head);
        String::from_utf8(json).map_err(|err| DbError::internal(format!("a row is not UTF-8: {err}")))
    }
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
