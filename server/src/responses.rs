//! One typed response per operation. The MCP tools return them as structured
//! content (their schemas are the tools' output schemas) and the CLI prints
//! the same documents with `-f json`, or renders them as tables: the two
//! front-ends cannot drift apart.
//!
//! `compare_schema` answers with core's [`SchemaReport`] and `test_connection`
//! with its [`ConnectionReport`], as they are.
//!
//! [`SchemaReport`]: dbfleet_core::fleet::SchemaReport
//! [`ConnectionReport`]: dbfleet_core::fleet::ConnectionReport

use std::collections::BTreeMap;

use dbfleet_core::compare::Comparison;
use dbfleet_core::explain::{PlanDifference, PlanSummary, compare_plans};
use dbfleet_core::fleet::{EnvironmentStatus, Explained, PerEnvironment};
use dbfleet_core::result::Summary;
use dbfleet_core::{Bound, DbError, JsonRows, MultiResult, QueryResult, ResultRows, Row, TableSchema, Value};
use schemars::JsonSchema;
use serde::Serialize;

/// `list_environments`, `health_check`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EnvironmentList {
    pub environments: Vec<EnvironmentStatus>,
}

/// `execute_query`, `execute_query_env`, `dbfleet query -f json`: the
/// result, with a hint when a bound cut it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(bound(serialize = "R: ResultRows"))]
#[schemars(rename = "QueryAnswer")]
pub struct QueryAnswer<R = Vec<Row>> {
    #[serde(flatten)]
    pub result: QueryResult<R>,
    /// What was left out of the result and how to get it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl<R: ResultRows> QueryAnswer<R> {
    pub fn new(result: QueryResult<R>) -> Self {
        let mut notes = Vec::new();
        match result.truncated_by {
            Some(Bound::MaxRows) => notes.push(format!(
                "Only the first {} rows are shown (max_rows). Narrow the query with WHERE, aggregate it, \
                 or add ORDER BY … LIMIT to get the rows that matter.",
                result.max_rows
            )),
            Some(Bound::MaxResultBytes) => notes.push(format!(
                "Only the first {} rows are shown: the next would pass the environment's max_result_bytes \
                 ({} bytes). Select fewer or shorter columns, or fewer rows.",
                result.row_count, result.max_result_bytes
            )),
            None => {}
        }
        if result.values_cut > 0 {
            notes.push(format!(
                "{} value(s) of the row were cut to fit max_result_bytes ({} bytes): select a part of them \
                 (substring, length) instead.",
                result.values_cut, result.max_result_bytes
            ));
        }
        if result.more_result_sets {
            notes.push(
                "The statement returned more than one result set; only the first is shown. Run the \
                 statements one at a time to see the others."
                    .to_owned(),
            );
        }
        let note = (!notes.is_empty()).then(|| notes.join(" "));
        QueryAnswer { result, note }
    }
}

impl QueryAnswer<JsonRows> {
    /// The answer's JSON text, its rows last, written around the rows'
    /// text without copying it.
    pub fn into_text(mut self) -> Result<String, DbError> {
        let rows = std::mem::take(&mut self.result.rows);
        rows.around(&self)
    }
}

impl QueryAnswer {
    /// The answer as a JSON tree, its rows moved into it rather than copied,
    /// so that a large result is not held twice while the tree is built.
    pub fn into_json(mut self) -> serde_json::Result<serde_json::Value> {
        let rows = std::mem::take(&mut self.result.rows);
        let mut json = serde_json::to_value(self)?;
        json["rows"] = rows_into_json(rows);
        Ok(json)
    }
}

/// Rows as JSON arrays, each row freed as soon as it is moved.
fn rows_into_json(rows: Vec<Row>) -> serde_json::Value {
    let rows =
        rows.into_iter().map(|row| serde_json::Value::Array(row.into_iter().map(Value::into_json).collect()));
    serde_json::Value::Array(rows.collect())
}

/// `execute_query_multi_env`, `dbfleet query -e A -e B -f json`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MultiQueryAnswer {
    pub results: BTreeMap<String, QueryResult>,
    pub errors: BTreeMap<String, DbError>,
    pub summary: Summary,
    /// How the results differ; absent when not asked for or fewer than two
    /// environments answered.
    pub comparison: Option<Comparison>,
}

impl MultiQueryAnswer {
    pub fn new(outcome: MultiResult, comparison: Option<Comparison>) -> Self {
        let MultiResult { results, errors, summary } = outcome;
        MultiQueryAnswer { results, errors, summary, comparison }
    }

    /// As [`QueryAnswer::into_json`], for every environment's rows.
    pub fn into_json(mut self) -> serde_json::Result<serde_json::Value> {
        let rows: Vec<(String, Vec<Row>)> = self
            .results
            .iter_mut()
            .map(|(env, result)| (env.clone(), std::mem::take(&mut result.rows)))
            .collect();
        let mut json = serde_json::to_value(self)?;
        for (env, rows) in rows {
            json["results"][env.as_str()]["rows"] = rows_into_json(rows);
        }
        Ok(json)
    }
}

/// `list_databases`, `list_tables`, `dbfleet databases|tables -f json`: one
/// environment's list, or every environment's with the failures apart.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Listing<T> {
    One { environment: String, result: T },
    Several(PerEnvironment<T>),
}

impl<T> Listing<T> {
    /// The document for `names`: a single environment that answered is shown
    /// alone, anything else environment by environment.
    pub fn new(names: &[String], several: bool, mut answer: PerEnvironment<T>) -> Self {
        if let [name] = names
            && !several
            && let Some(result) = answer.results.remove(name)
        {
            return Listing::One { environment: name.clone(), result };
        }
        Listing::Several(answer)
    }
}

/// `describe_table`, `dbfleet describe -f json`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TableDescription {
    pub environment: String,
    pub table: TableSchema,
}

/// What a tool that failed returns, with `isError` set.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ToolError {
    pub error: DbError,
}

/// `explain_query`: one environment's plan, or several environments' plans
/// and the tables they read differently.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ExplainAnswer {
    One(Explained),
    Several {
        results: BTreeMap<String, Explained>,
        errors: BTreeMap<String, DbError>,
        /// Tables the environments read differently (index lookup on one,
        /// full scan on another), in table order.
        differences: Vec<PlanDifference>,
    },
}

impl ExplainAnswer {
    /// Several environments' plans, compared in the order they were named.
    pub fn several(order: &[String], plans: PerEnvironment<Explained>) -> Self {
        let PerEnvironment { results, errors } = plans;
        let compared: Vec<(&str, &PlanSummary)> = order
            .iter()
            .filter_map(|name| results.get(name).map(|plan| (name.as_str(), &plan.summary)))
            .collect();
        let differences = compare_plans(&compared);
        ExplainAnswer::Several { results, errors, differences }
    }
}

#[cfg(test)]
mod tests {
    use dbfleet_core::{Column, LogicalType, RowSink};

    use super::*;

    fn result<R: RowSink>(mut rows: R, values: Vec<Row>, truncated_by: Option<Bound>) -> QueryResult<R> {
        for row in values {
            rows.push(row).unwrap();
        }
        QueryResult {
            environment: "prod \"eu\"".into(),
            columns: vec![
                Column::new("id", "BIGINT", LogicalType::Int),
                Column::new("v", "TEXT", LogicalType::Text),
            ],
            row_count: rows.len(),
            rows,
            truncated: truncated_by.is_some(),
            truncated_by,
            values_cut: 0,
            max_rows: 2,
            max_result_bytes: 1 << 20,
            affected_rows: None,
            more_result_sets: false,
            execution_time_ms: 1.5,
        }
    }

    fn rows() -> Vec<Row> {
        vec![
            vec![Value::Int(1), Value::Text("a \"quoted\" \\ line\n".into())],
            vec![Value::Int(1 << 60), Value::Json(serde_json::json!({"rows": [1, null]}))],
            vec![Value::Null, Value::Decimal("12.50".into())],
        ]
    }

    #[test]
    fn rows_written_as_they_arrive_give_the_same_answer_as_values() {
        for (values, bound) in [(rows(), Some(Bound::MaxRows)), (rows(), None), (Vec::new(), None)] {
            let tree = QueryAnswer::new(result(Vec::new(), values.clone(), bound)).into_json().unwrap();
            let text = QueryAnswer::new(result(JsonRows::default(), values, bound)).into_text().unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed, tree, "{text}");
            assert!(text.ends_with("]]}") || text.ends_with("[]}"), "rows come last: {text}");
        }
    }
}
