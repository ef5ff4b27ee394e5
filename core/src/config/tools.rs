//! `[tools.NAME]`: statements the configuration file turns into MCP tools,
//! with typed parameters, checked against every environment they may run on
//! when the file is loaded.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use toml::Table;

use super::EnvironmentConfig;
use super::load::{At, Checker};
use crate::error::DbError;
use crate::named_params::{Positional, to_positional};
use crate::readonly::Classifier;
use crate::registry;
use crate::result::QueryRequest;
use crate::value::Value;

/// The tools every server has (the MCP contract of DESIGN.md); a tool of
/// the configuration file cannot take one of these names.
pub const BUILT_IN_TOOLS: &[&str] = &[
    "list_environments",
    "execute_query",
    "execute_query_env",
    "execute_query_multi_env",
    "explain_query",
    "list_databases",
    "list_tables",
    "search_objects",
    "describe_table",
    "compare_schema",
    "diff_data",
    "health_check",
    "test_connection",
];

/// The arguments every configured tool takes besides its parameters.
pub const TOOL_CALL_ARGUMENTS: &[&str] = &[
    "environment",
    "environments",
    "all_environments",
    "max_rows",
    "compare",
    "key_columns",
    "max_differences",
];

const TOOL_KEYS: &[&str] = &["description", "sql", "environments", "writes", "parameters"];
const PARAMETER_KEYS: &[&str] = &["type", "description", "default", "values"];

/// One tool of the configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolConfig {
    pub name: String,
    pub description: String,
    /// In file order.
    pub parameters: Vec<ToolParameter>,
    /// The statement may change data: the tool is annotated as destructive,
    /// and read-only environments refuse it. A tool that does not declare it
    /// must pass the read-only check on every environment it runs on.
    pub writes: bool,
    /// Each environment the tool runs on, in file order, with the statement
    /// in that engine's positional form.
    pub statements: Vec<(String, Positional)>,
}

impl ToolConfig {
    pub fn statement(&self, environment: &str) -> Option<&Positional> {
        self.statements.iter().find(|(name, _)| name == environment).map(|(_, statement)| statement)
    }

    pub fn environments(&self) -> impl Iterator<Item = &str> {
        self.statements.iter().map(|(name, _)| name.as_str())
    }

    /// The value of every parameter for one call: those given, each checked
    /// against its type, and the defaults of the others. `null` is not
    /// given. Arguments that are neither parameters nor
    /// [`TOOL_CALL_ARGUMENTS`] are refused, so that a misspelt one is not
    /// silently replaced by its default.
    pub fn values(
        &self,
        arguments: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<BTreeMap<String, Value>, DbError> {
        let mut values = BTreeMap::new();
        for parameter in &self.parameters {
            let given = arguments.get(&parameter.name).filter(|v| !v.is_null());
            let value = match (given, &parameter.default) {
                (Some(json), _) | (None, Some(json)) => parameter.kind.value_of(json).map_err(|reason| {
                    DbError::invalid_argument(format!("parameter '{}': {reason}", parameter.name))
                })?,
                (None, None) => {
                    return Err(DbError::invalid_argument(format!(
                        "parameter '{}' is required ({})",
                        parameter.name,
                        parameter.kind.describe()
                    )));
                }
            };
            values.insert(parameter.name.clone(), value);
        }
        let unknown: Vec<&str> = arguments
            .keys()
            .map(String::as_str)
            .filter(|key| !values.contains_key(*key) && !TOOL_CALL_ARGUMENTS.contains(key))
            .collect();
        if !unknown.is_empty() {
            let expected: Vec<&str> = self
                .parameters
                .iter()
                .map(|p| p.name.as_str())
                .chain(TOOL_CALL_ARGUMENTS.iter().copied())
                .collect();
            return Err(DbError::invalid_argument(format!(
                "unknown argument{} {} (the tool takes {})",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", "),
                expected.join(", ")
            )));
        }
        Ok(values)
    }

    /// The statement of one call on `environment`, its values bound by position.
    pub fn request(
        &self,
        environment: &str,
        values: &BTreeMap<String, Value>,
        max_rows: Option<u64>,
    ) -> Result<QueryRequest, DbError> {
        let statement = self.statement(environment).ok_or_else(|| {
            let runs_on: Vec<&str> = self.environments().collect();
            DbError::invalid_argument(format!(
                "tool '{}' does not run on this environment (it runs on {})",
                self.name,
                runs_on.join(", ")
            ))
            .in_env(environment)
        })?;
        let params =
            statement.names.iter().map(|name| values.get(name).cloned().unwrap_or(Value::Null)).collect();
        Ok(QueryRequest { sql: statement.sql.clone(), params, max_rows })
    }
}

/// A value the caller gives; bound, never spliced into the SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolParameter {
    pub name: String,
    pub description: Option<String>,
    pub kind: ParameterKind,
    /// Makes the parameter optional; already checked against `kind`.
    pub default: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterKind {
    String,
    Integer,
    Number,
    Boolean,
    /// `YYYY-MM-DD`, bound as a date.
    Date,
    /// One of the listed strings.
    Enum(Vec<String>),
}

impl ParameterKind {
    /// The value to bind for `json`, or why it does not fit. Numbers and
    /// booleans written as strings (as some clients send every argument)
    /// are accepted.
    pub fn value_of(&self, json: &serde_json::Value) -> Result<Value, String> {
        use serde_json::Value as J;
        match (self, json) {
            (ParameterKind::String, J::String(s)) => Ok(Value::Text(s.clone())),
            (ParameterKind::Integer, J::Number(n)) if n.is_i64() => {
                Ok(Value::Int(n.as_i64().unwrap_or_default()))
            }
            (ParameterKind::Integer, J::String(s)) if s.trim().parse::<i64>().is_ok() => {
                Ok(Value::Int(s.trim().parse().unwrap_or_default()))
            }
            (ParameterKind::Number, J::Number(n)) => Ok(Value::Float(n.as_f64().unwrap_or(f64::NAN))),
            (ParameterKind::Number, J::String(s)) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
                Ok(Value::Float(s.trim().parse().unwrap_or_default()))
            }
            (ParameterKind::Boolean, J::Bool(b)) => Ok(Value::Bool(*b)),
            (ParameterKind::Boolean, J::String(s)) if matches!(s.as_str(), "true" | "false") => {
                Ok(Value::Bool(s == "true"))
            }
            (ParameterKind::Date, J::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Value::Date)
                .map_err(|_| format!("'{s}' is not a date such as 2026-12-31")),
            (ParameterKind::Enum(values), J::String(s)) if values.contains(s) => Ok(Value::Text(s.clone())),
            (ParameterKind::Enum(values), _) => Err(format!("expected one of {}", values.join(", "))),
            (kind, other) => Err(format!("expected {}, found {}", kind.describe(), json_type(other))),
        }
    }

    /// The JSON Schema of the parameter's values.
    pub fn json_schema(&self) -> serde_json::Value {
        match self {
            ParameterKind::String => serde_json::json!({"type": "string"}),
            ParameterKind::Integer => serde_json::json!({"type": "integer"}),
            ParameterKind::Number => serde_json::json!({"type": "number"}),
            ParameterKind::Boolean => serde_json::json!({"type": "boolean"}),
            ParameterKind::Date => serde_json::json!({"type": "string", "format": "date"}),
            ParameterKind::Enum(values) => serde_json::json!({"type": "string", "enum": values}),
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            ParameterKind::String => "a string",
            ParameterKind::Integer => "an integer",
            ParameterKind::Number => "a number",
            ParameterKind::Boolean => "true or false",
            ParameterKind::Date => "a date (YYYY-MM-DD)",
            ParameterKind::Enum(_) => "one of the listed values",
        }
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Names of tools and parameters: what MCP clients accept everywhere.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

impl Checker<'_> {
    /// Every `[tools.NAME]`, checked against the valid environments.
    pub(super) fn tools(
        &mut self,
        value: Option<&toml::Value>,
        environments: &[EnvironmentConfig],
    ) -> Vec<ToolConfig> {
        let Some(table) = self.table(&At::root(), "tools", value) else { return Vec::new() };
        let mut tools = Vec::new();
        for (name, value) in table {
            let at = At::root().child("tools").child(name);
            if !is_identifier(name) {
                self.problem(
                    &at,
                    None,
                    format!("invalid tool name '{name}': use letters, digits and '_' (at most 64)"),
                );
                continue;
            }
            if BUILT_IN_TOOLS.contains(&name.as_str()) {
                self.problem(&at, None, format!("'{name}' is a built-in tool; choose another name"));
                continue;
            }
            let Some(table) = value.as_table() else {
                self.problem(&at, None, "expected a table with description, sql and parameters");
                continue;
            };
            if let Some(tool) = self.tool(&at, name, table, environments) {
                tools.push(tool);
            }
        }
        tools
    }

    fn tool(
        &mut self,
        at: &At<'_>,
        name: &str,
        table: &Table,
        environments: &[EnvironmentConfig],
    ) -> Option<ToolConfig> {
        let before = self.problems.len();
        self.unknown_keys(at, table, TOOL_KEYS);
        let description = match self.string(at, table, "description") {
            Some(d) if !d.trim().is_empty() => Some(d),
            Some(_) => {
                self.problem(
                    at,
                    Some("description"),
                    "must say what the tool does, for the assistant to choose it",
                );
                None
            }
            None => {
                if !table.contains_key("description") {
                    self.problem(
                        at,
                        Some("description"),
                        "required: what the tool does, for the assistant to choose it",
                    );
                }
                None
            }
        };
        let writes = self.boolean(at, table, "writes").unwrap_or(false);
        let parameters = self.parameters(at, table.get("parameters"));
        let sql = self.tool_sql(at, table);
        let chosen = self.tool_environments(at, table, environments);
        let (Some(description), Some(parameters), Some(sql), Some(chosen)) =
            (description, parameters, sql, chosen)
        else {
            return None;
        };

        let explicit = table.contains_key("environments");
        let mut statements = Vec::new();
        let mut used: Vec<String> = Vec::new();
        for env in chosen {
            let Some(driver) = registry::find_driver(&env.driver) else { continue };
            let Some(text) = sql
                .iter()
                .find(|(d, _)| d.as_deref() == Some(driver.name()))
                .or_else(|| sql.iter().find(|(d, _)| d.is_none()))
            else {
                if explicit {
                    self.problem(
                        at,
                        Some("sql"),
                        format!("no statement for environment '{}' (driver {})", env.name, driver.name()),
                    );
                }
                continue;
            };
            let text = &text.1;
            let dialect = driver.sql_dialect();
            let positional = match to_positional(text, dialect.as_ref(), &|n| driver.placeholder(n)) {
                Ok(positional) => positional,
                Err(err) => {
                    self.problem(at, Some("sql"), format!("on environment '{}': {err}", env.name));
                    continue;
                }
            };
            for used_name in &positional.names {
                if !parameters.iter().any(|p| &p.name == used_name) {
                    self.problem(
                        at,
                        Some("sql"),
                        format!(":{used_name} is not a parameter of the tool; declare [tools.{name}.parameters.{used_name}]"),
                    );
                } else if !used.contains(used_name) {
                    used.push(used_name.clone());
                }
            }
            if env.read_only && writes && explicit {
                self.problem(
                    at,
                    Some("environments"),
                    format!("the tool writes, and environment '{}' is read-only", env.name),
                );
            }
            if !writes {
                let classifier = Classifier::new(dialect, driver.engine_rules(), &env.side_effect_functions);
                match classifier.classify(&positional.sql) {
                    Ok(c) if c.read_only => {}
                    Ok(c) => self.problem(
                        at,
                        Some("sql"),
                        format!(
                            "on environment '{}' the statement may write ({}): set writes = true if it must",
                            env.name,
                            c.write_reason.unwrap_or_default()
                        ),
                    ),
                    Err(err) => {
                        self.problem(at, Some("sql"), format!("on environment '{}': {err}", env.name))
                    }
                }
            }
            statements.push((env.name.clone(), positional));
        }
        for parameter in &parameters {
            if !statements.is_empty() && !used.contains(&parameter.name) {
                self.problem(
                    &at.child("parameters"),
                    Some(&parameter.name),
                    format!("the statement does not use :{}", parameter.name),
                );
            }
        }
        if statements.is_empty() && !self.has_problem_since(before) {
            self.problem(
                at,
                Some("environments"),
                "the tool runs on no environment: none has a driver its SQL is given for",
            );
        }
        if self.has_problem_since(before) {
            return None;
        }
        Some(ToolConfig { name: name.to_owned(), description, parameters, writes, statements })
    }

    fn has_problem_since(&self, before: usize) -> bool {
        self.problems.len() > before
    }

    /// `sql = "…"` for every engine, or `sql = { postgres = "…", mysql = "…" }`
    /// per driver (`default` for the others): `(driver, statement)` pairs.
    fn tool_sql(&mut self, at: &At<'_>, table: &Table) -> Option<Vec<(Option<String>, String)>> {
        match table.get("sql") {
            None => {
                self.problem(at, Some("sql"), "required: one statement, or a table of statements by driver");
                None
            }
            Some(toml::Value::String(sql)) => Some(vec![(None, sql.clone())]),
            Some(toml::Value::Table(by_driver)) => {
                let at = at.child("sql");
                let mut statements = Vec::new();
                for (driver, sql) in by_driver {
                    let Some(sql) = sql.as_str() else {
                        self.problem(&at, Some(driver), "expected a statement");
                        continue;
                    };
                    if driver == "default" {
                        statements.push((None, sql.to_owned()));
                        continue;
                    }
                    match registry::find_driver(driver) {
                        Some(found) => statements.push((Some(found.name().to_owned()), sql.to_owned())),
                        None => self.problem(
                            &at,
                            Some(driver),
                            format!(
                                "unknown driver; registered drivers: {} (or default)",
                                registry::driver_names().join(", ")
                            ),
                        ),
                    }
                }
                Some(statements)
            }
            Some(other) => {
                self.problem(
                    at,
                    Some("sql"),
                    format!("expected a string or a table, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// The environments named (each must exist), or every one.
    fn tool_environments<'e>(
        &mut self,
        at: &At<'_>,
        table: &Table,
        environments: &'e [EnvironmentConfig],
    ) -> Option<Vec<&'e EnvironmentConfig>> {
        let Some(names) = self.strings(at, table, "environments") else {
            return (!table.contains_key("environments")).then(|| environments.iter().collect());
        };
        let mut chosen = Vec::new();
        for name in names {
            match environments.iter().find(|env| env.name == name) {
                Some(env) if !chosen.iter().any(|c: &&EnvironmentConfig| c.name == name) => chosen.push(env),
                Some(_) => {}
                None => self.problem(at, Some("environments"), format!("no environment named '{name}'")),
            }
        }
        Some(chosen)
    }

    fn parameters(&mut self, at: &At<'_>, value: Option<&toml::Value>) -> Option<Vec<ToolParameter>> {
        let Some(table) = self.table(at, "parameters", value) else {
            return value.is_none().then(Vec::new);
        };
        let at = at.child("parameters");
        let mut parameters = Vec::new();
        let before = self.problems.len();
        for (name, value) in table {
            if !is_identifier(name) {
                self.problem(&at, Some(name), "invalid parameter name: use letters, digits and '_'");
                continue;
            }
            if TOOL_CALL_ARGUMENTS.contains(&name.as_str()) {
                self.problem(
                    &at,
                    Some(name),
                    format!("'{name}' is an argument of every tool; choose another name"),
                );
                continue;
            }
            let Some(table) = value.as_table() else {
                self.problem(&at, Some(name), "expected a table with type, description and default");
                continue;
            };
            let at = at.child(name);
            self.unknown_keys(&at, table, PARAMETER_KEYS);
            let description = self.string(&at, table, "description");
            let kind = match self.string(&at, table, "type").as_deref() {
                Some("string") => Some(ParameterKind::String),
                Some("integer") => Some(ParameterKind::Integer),
                Some("number") => Some(ParameterKind::Number),
                Some("boolean") => Some(ParameterKind::Boolean),
                Some("date") => Some(ParameterKind::Date),
                Some("enum") => match self.strings(&at, table, "values") {
                    Some(values) if !values.is_empty() => Some(ParameterKind::Enum(values)),
                    Some(_) | None => {
                        self.problem(&at, Some("values"), "an enum parameter lists its values");
                        None
                    }
                },
                Some(other) => {
                    self.problem(
                        &at,
                        Some("type"),
                        format!("'{other}' is not one of string, integer, number, boolean, date, enum"),
                    );
                    None
                }
                None => {
                    self.problem(
                        &at,
                        Some("type"),
                        "required: string, integer, number, boolean, date or enum",
                    );
                    None
                }
            };
            if table.contains_key("values") && !matches!(kind, Some(ParameterKind::Enum(_))) {
                self.problem(&at, Some("values"), "only an enum parameter has values");
            }
            let Some(kind) = kind else { continue };
            let default = table.get("default").and_then(|default| {
                let json = serde_json::to_value(default).ok()?;
                match kind.value_of(&json) {
                    Ok(_) => Some(json),
                    Err(reason) => {
                        self.problem(&at, Some("default"), reason);
                        None
                    }
                }
            });
            parameters.push(ToolParameter { name: name.clone(), description, kind, default });
        }
        (self.problems.len() == before).then_some(parameters)
    }
}
