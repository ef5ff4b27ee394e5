//! Tool arguments, with the JSON schemas clients see.

use dbfleet_core::DbError;
use dbfleet_core::diff::DiffMethod;
use dbfleet_core::fleet::{Detail, ObjectKind};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// Arguments that always deserialise, keeping the reason when they do not
/// fit, so that a missing or mistyped argument becomes a tool error with
/// kind `invalid_argument` (rmcp would otherwise answer with a protocol
/// error). The schema is the inner type's.
pub struct Lenient<T>(pub Result<T, String>);

impl<T: JsonSchema> JsonSchema for Lenient<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

impl<T> Lenient<T> {
    /// The arguments, or an `invalid_argument` error saying what is wrong
    /// with them.
    pub fn decoded(self) -> Result<T, DbError> {
        self.0.map_err(|reason| DbError::invalid_argument(format!("invalid arguments: {reason}")))
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(Lenient(serde_json::from_value(value).map_err(|e| e.to_string())))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryArgs {
    /// One SQL statement.
    pub sql: String,
    /// Environment name; the default environment when absent.
    pub environment: Option<String>,
    /// Positional parameters, bound in order ($1… in PostgreSQL, ? elsewhere).
    pub parameters: Option<Vec<serde_json::Value>>,
    /// Row limit; defaults to and is capped by the environment's max_rows.
    pub max_rows: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryEnvArgs {
    /// One SQL statement.
    pub sql: String,
    /// Environment name.
    pub environment: String,
    /// Positional parameters, bound in order ($1… in PostgreSQL, ? elsewhere).
    pub parameters: Option<Vec<serde_json::Value>>,
    /// Row limit; defaults to and is capped by the environment's max_rows.
    pub max_rows: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultiQueryArgs {
    /// One SQL statement, run on every environment.
    pub sql: String,
    /// Environment names; every enabled environment when absent.
    pub environments: Option<Vec<String>>,
    /// Positional parameters, the same for every environment.
    pub parameters: Option<Vec<serde_json::Value>>,
    /// Row limit per environment, capped by each environment's max_rows.
    pub max_rows: Option<u64>,
    /// Compare the results (default true).
    pub compare: Option<bool>,
    /// Columns that identify a row; without them rows compare as multisets.
    pub key_columns: Option<Vec<String>>,
    /// How many row differences to list (default 100); all are counted.
    pub max_differences: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffDataArgs {
    /// The environments to compare, at least two.
    pub environments: Vec<String>,
    /// The table to compare (give `table` or `query`).
    pub table: Option<String>,
    /// The table's schema; the connection's own when absent.
    pub schema: Option<String>,
    /// One SELECT whose rows are compared instead of a table's; needs `key_columns`.
    pub query: Option<String>,
    /// Columns that identify a row; the table's primary key when absent.
    pub key_columns: Option<Vec<String>>,
    /// Columns to compare besides the keys; every column when absent.
    pub columns: Option<Vec<String>>,
    /// A SQL condition the compared rows meet, e.g. `created_at >= '2024-01-01'`.
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// How many differences to list (default 100); all are counted.
    pub max_differences: Option<usize>,
    /// `auto` (default): checksum bisection where every engine can checksum
    /// the columns, else `merge`, which streams every row.
    pub method: Option<DiffMethod>,
    /// After a bisection, checksum the whole table again on every
    /// environment to rule out changes made while it ran (default false).
    pub verify: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDatabasesArgs {
    /// Environment name; the default environment when absent.
    pub environment: Option<String>,
    /// List every enabled environment's databases.
    pub all_environments: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTablesArgs {
    /// Environment name; the default environment when absent.
    pub environment: Option<String>,
    /// List every enabled environment's tables.
    pub all_environments: Option<bool>,
    /// Only this schema (PostgreSQL schema, MySQL database, SQLite attached name).
    pub schema: Option<String>,
    /// SQL LIKE pattern on table names, case-insensitive (`ord%`).
    pub pattern: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribeTableArgs {
    /// Table name.
    pub table: String,
    /// Environment name; the default environment when absent.
    pub environment: Option<String>,
    /// Schema; the environment's default schema when absent.
    pub schema: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareSchemaArgs {
    /// At least two environment names; every enabled environment when absent.
    pub environments: Option<Vec<String>>,
    /// Only this table; every table when absent.
    pub table: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthArgs {
    /// Environment name; every environment when absent.
    pub environment: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestConnectionArgs {
    /// Environment name.
    pub environment: String,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// Any JSON up to the nesting serde_json accepts on the wire (128).
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            "\\PC{0,40}".prop_map(Value::from),
        ];
        leaf.prop_recursive(120, 2_000, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,12}", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
        serde_json::from_value::<Lenient<T>>(value.clone()).map_err(|e| e.to_string())?.0
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever a client sends as arguments, decoding answers (the
        /// arguments or a reason) and never panics.
        #[test]
        fn arbitrary_arguments_decode_or_are_refused(args in any_json()) {
            let _ = decode::<QueryArgs>(&args);
            let _ = decode::<MultiQueryArgs>(&args);
            let _ = decode::<ListTablesArgs>(&args);
            let _ = decode::<CompareSchemaArgs>(&args);
            let _ = decode::<DiffDataArgs>(&args);
            let _ = decode::<NoArgs>(&args);
        }

        /// Long SQL and deeply nested parameters arrive intact.
        #[test]
        fn long_sql_and_nested_parameters_arrive_intact(
            sql in "\\PC{0,4000}",
            parameters in prop::collection::vec(any_json(), 0..4),
        ) {
            let args = json!({"sql": sql, "parameters": parameters});
            let decoded = decode::<QueryArgs>(&args).unwrap();
            prop_assert_eq!(decoded.sql, sql);
            prop_assert_eq!(decoded.parameters.unwrap(), parameters);
        }
    }

    #[test]
    fn unknown_and_mistyped_arguments_are_named() {
        let err = decode::<QueryArgs>(&json!({"sql": "SELECT 1", "enviroment": "prod"})).unwrap_err();
        assert!(err.contains("enviroment"), "{err}");
        let err = decode::<QueryArgs>(&json!({"sql": 5})).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
    }
}

/// The arguments every tool of the configuration file takes besides its own
/// parameters (`TOOL_CALL_ARGUMENTS` in core): where it runs, and how the
/// results of several environments are compared.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ToolRouting {
    /// Run on this environment; without any of environment, environments and
    /// all_environments, on the tool's only environment or the default one.
    pub environment: Option<String>,
    /// Run on these environments at once and compare the results.
    pub environments: Option<Vec<String>>,
    /// Run on every enabled environment the tool is configured for, and compare.
    pub all_environments: Option<bool>,
    /// Row limit per environment, capped by each environment's max_rows.
    pub max_rows: Option<u64>,
    /// On several environments, compare the results (default true).
    pub compare: Option<bool>,
    /// Columns that identify a row when comparing; without them rows compare as multisets.
    pub key_columns: Option<Vec<String>>,
    /// How many row differences to list (default 100); all are counted.
    pub max_differences: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchObjectsArgs {
    /// Name pattern: SQL LIKE (`%` any run, `_` one character), any case;
    /// without `%` or `_`, names containing it.
    pub pattern: String,
    /// Kinds of objects: table, view, column, index, routine (all when omitted).
    pub kinds: Option<Vec<ObjectKind>>,
    /// Only in this schema.
    pub schema: Option<String>,
    /// Only in tables whose name matches this LIKE pattern.
    pub table: Option<String>,
    /// names (default), summary (comments, types, index columns, column
    /// counts, a routine's kind, arguments and result) or full (nullability,
    /// defaults, uniqueness, a table's columns and primary key).
    pub detail: Option<Detail>,
    /// Objects per environment (default 100, at most 1000).
    pub limit: Option<usize>,
    /// Environment name; the default environment when absent.
    pub environment: Option<String>,
    /// Search every enabled environment.
    pub all_environments: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainArgs {
    /// One SQL statement; it is not run.
    pub sql: String,
    /// Positional parameters, as for execute_query.
    pub parameters: Option<Vec<serde_json::Value>>,
    /// Environment name; the default environment when none of environment,
    /// environments and all_environments is given.
    pub environment: Option<String>,
    /// Explain on these environments and say which tables they read differently.
    pub environments: Option<Vec<String>>,
    /// Explain on every enabled environment.
    pub all_environments: Option<bool>,
}
