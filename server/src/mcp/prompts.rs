//! MCP prompts for the estate's common investigations, and the completions
//! of their arguments and of the table resource template's (environment,
//! schema and table names, from the environments themselves).

use std::collections::HashMap;

use dbfleet_core::TableFilter;
use dbfleet_core::fleet::Fleet;
use rmcp::ErrorData;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptResult, Prompt, PromptArgument,
    PromptMessage, Reference, Role,
};

use super::resources::TABLE_TEMPLATE;

/// What an argument holds, for its completion and its check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holds {
    Environment,
    /// Names of environments, separated by commas.
    Environments,
    /// A table of the environment named by the argument `of`.
    Table {
        of: &'static str,
    },
    Text,
}

struct Argument {
    name: &'static str,
    description: &'static str,
    required: bool,
    holds: Holds,
}

struct PromptSpec {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    arguments: &'static [Argument],
}

const PROMPTS: &[PromptSpec] = &[
    PromptSpec {
        name: "compare_environments",
        title: "Why do these two environments differ?",
        description: "Compare two environments' schemas and data, for one table or all, and explain the differences.",
        arguments: &[
            Argument {
                name: "left",
                description: "The first environment",
                required: true,
                holds: Holds::Environment,
            },
            Argument {
                name: "right",
                description: "The second environment",
                required: true,
                holds: Holds::Environment,
            },
            Argument {
                name: "table",
                description: "Only this table (all tables when omitted)",
                required: false,
                holds: Holds::Table { of: "left" },
            },
        ],
    },
    PromptSpec {
        name: "migration_applied",
        title: "Is this migration applied everywhere?",
        description: "Check on every environment (or those named) whether a schema change is present.",
        arguments: &[
            Argument {
                name: "change",
                description: "The change to look for, e.g. 'column orders.note' or 'index orders(customer_id)'",
                required: true,
                holds: Holds::Text,
            },
            Argument {
                name: "environments",
                description: "Environments to check, separated by commas (every enabled one when omitted)",
                required: false,
                holds: Holds::Environments,
            },
        ],
    },
    PromptSpec {
        name: "find_column",
        title: "Where is this column used?",
        description: "Find the tables and views that have a column of this name, on one environment or all.",
        arguments: &[
            Argument {
                name: "column",
                description: "The column name, or a LIKE pattern",
                required: true,
                holds: Holds::Text,
            },
            Argument {
                name: "environment",
                description: "Only this environment (every enabled one when omitted)",
                required: false,
                holds: Holds::Environment,
            },
        ],
    },
];

pub fn list() -> Vec<Prompt> {
    PROMPTS
        .iter()
        .map(|spec| {
            let arguments = spec
                .arguments
                .iter()
                .map(|a| {
                    PromptArgument::new(a.name).with_description(a.description).with_required(a.required)
                })
                .collect();
            Prompt::new(spec.name, Some(spec.description), Some(arguments)).with_title(spec.title)
        })
        .collect()
}

fn spec(name: &str) -> Result<&'static PromptSpec, ErrorData> {
    PROMPTS.iter().find(|spec| spec.name == name).ok_or_else(|| {
        let names: Vec<&str> = PROMPTS.iter().map(|spec| spec.name).collect();
        ErrorData::invalid_params(format!("no prompt named '{name}' (prompts: {})", names.join(", ")), None)
    })
}

/// The prompt's message, its arguments checked: required ones given, and
/// environment names that exist.
pub fn get(
    fleet: &Fleet,
    name: &str,
    arguments: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<GetPromptResult, ErrorData> {
    let spec = spec(name)?;
    let arguments = arguments.unwrap_or_default();
    let mut given: HashMap<&str, String> = HashMap::new();
    for (key, value) in &arguments {
        let Some(argument) = spec.arguments.iter().find(|a| a.name == key) else {
            return Err(ErrorData::invalid_params(format!("prompt '{name}' has no argument '{key}'"), None));
        };
        let text = match value {
            serde_json::Value::String(s) => s.trim().to_owned(),
            other => other.to_string(),
        };
        if !text.is_empty() {
            given.insert(argument.name, text);
        }
    }
    for argument in spec.arguments {
        let value = given.get(argument.name);
        if argument.required && value.is_none() {
            return Err(ErrorData::invalid_params(format!("argument '{}' is required", argument.name), None));
        }
        let names: Vec<&str> = match (argument.holds, value) {
            (Holds::Environment, Some(value)) => vec![value.as_str()],
            (Holds::Environments, Some(value)) => value.split(',').map(str::trim).collect(),
            _ => Vec::new(),
        };
        for environment in names {
            fleet
                .environment(Some(environment))
                .map_err(|err| ErrorData::invalid_params(err.message, None))?;
        }
    }
    let text = match spec.name {
        "compare_environments" => compare_text(&given),
        "migration_applied" => migration_text(&given),
        _ => find_column_text(fleet, &given),
    };
    let mut result = GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]);
    result.description = Some(spec.description.to_owned());
    Ok(result)
}

fn compare_text(given: &HashMap<&str, String>) -> String {
    let (left, right) = (&given["left"], &given["right"]);
    let scope = given.get("table").map_or_else(|| "all tables".to_owned(), |t| format!("the table {t}"));
    format!(
        "Find out why the environments {left} and {right} differ, for {scope}.\n\n\
         1. Call compare_schema with environments [\"{left}\", \"{right}\"]{table_arg}: tables present in only \
         one of them, and per table the columns, types, nullability, defaults, keys and indexes that differ.\n\
         2. For each table present in both, call execute_query_multi_env with environments [\"{left}\", \
         \"{right}\"] and SELECT COUNT(*) FROM the table; where the counts differ, or for a table named here, \
         select its rows (narrowed with WHERE when large) with key_columns set to its primary key, so that \
         the comparison lists the missing and changed rows.\n\
         3. Summarise: what differs in schema, what differs in data, and the likely cause (a migration not \
         applied, data not copied, diverging writes). Quote the rows and columns that show it.",
        table_arg = given.get("table").map(|t| format!(" and table \"{t}\"")).unwrap_or_default()
    )
}

fn migration_text(given: &HashMap<&str, String>) -> String {
    let change = &given["change"];
    let environments = given.get("environments").map_or_else(
        || "every enabled environment (list_environments names them)".to_owned(),
        |list| format!("the environments {list}"),
    );
    format!(
        "Check whether this schema change is applied on {environments}: {change}.\n\n\
         1. Call describe_table for the table concerned on each environment (or compare_schema with the \
         table, which describes it everywhere at once and lists what differs).\n\
         2. Decide per environment whether the change is present: the column with its type and nullability, \
         the index or key, the table itself.\n\
         3. Answer with one line per environment, applied or not applied, and for those not applied what is \
         missing or different. An environment that cannot be reached is reported as unknown, with its error."
    )
}

/// The statement that finds columns named like `pattern` on one engine.
fn columns_sql(driver: &str, pattern: &str) -> String {
    let pattern = pattern.replace('\'', "''");
    match driver {
        "sqlite" => format!(
            "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p WHERE m.type IN ('table', 'view') AND p.name LIKE '{pattern}' \
             ORDER BY 1, 2"
        ),
        _ => format!(
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns \
             WHERE column_name LIKE '{pattern}' ORDER BY 1, 2, 3"
        ),
    }
}

fn find_column_text(fleet: &Fleet, given: &HashMap<&str, String>) -> String {
    let column = &given["column"];
    let mut text = format!(
        "Find the tables and views that have a column named like '{column}', and say how it is used.\n\n\
         1. Run on each environment below, with execute_query_env, the statement given for it:\n"
    );
    for env in fleet.environments() {
        let wanted = given.get("environment").is_none_or(|name| name == env.name());
        if wanted && env.config().enabled {
            text.push_str(&format!(
                "   - {} ({}): {}\n",
                env.name(),
                env.config().driver,
                columns_sql(&env.config().driver, column)
            ));
        }
    }
    text.push_str(
        "2. For the tables found, call describe_table to see the column's type, nullability, default, and the \
         keys, indexes and foreign keys it takes part in.\n\
         3. Answer with a list per environment: table, column, type, and its role (key, foreign key to \
         which table, indexed or not); note where environments disagree.",
    );
    text
}

/// Completes an argument of a prompt or of the table resource template
/// from the environments: names starting with what was typed (any case),
/// at most 100 of them, with the total.
pub async fn complete(fleet: &Fleet, request: &CompleteRequestParams) -> Result<CompleteResult, ErrorData> {
    let argument = request.argument.name.as_str();
    let context = |name: &str| request.context.as_ref().and_then(|c| c.get_argument(name)).cloned();
    let holds = match &request.r#ref {
        Reference::Prompt(prompt) => {
            let spec = spec(&prompt.name)?;
            spec.arguments.iter().find(|a| a.name == argument).map(|a| a.holds).ok_or_else(|| {
                ErrorData::invalid_params(
                    format!("prompt '{}' has no argument '{argument}'", spec.name),
                    None,
                )
            })?
        }
        Reference::Resource(template) if template.uri == TABLE_TEMPLATE => match argument {
            "environment" => Holds::Environment,
            "schema" | "table" => Holds::Table { of: "environment" },
            other => {
                return Err(ErrorData::invalid_params(
                    format!("{TABLE_TEMPLATE} has no argument '{other}'"),
                    None,
                ));
            }
        },
        Reference::Resource(template) => {
            return Err(ErrorData::invalid_params(
                format!("no resource template '{}' (templates: {TABLE_TEMPLATE})", template.uri),
                None,
            ));
        }
        _ => {
            return Err(ErrorData::invalid_params("only prompts and resource templates are completed", None));
        }
    };
    let typed = request.argument.value.as_str();
    let candidates: Vec<String> = match holds {
        Holds::Text => Vec::new(),
        Holds::Environment => fleet.environments().iter().map(|env| env.name().to_owned()).collect(),
        Holds::Environments => {
            // Complete the last name of the list, keeping the ones before it.
            let (before, _) = typed.rsplit_once(',').unwrap_or(("", typed));
            let prefix = if before.is_empty() { String::new() } else { format!("{before},") };
            fleet.environments().iter().map(|env| format!("{prefix}{}", env.name())).collect()
        }
        Holds::Table { of } => {
            let environment = context(of).or_else(|| fleet.default_environment());
            table_names(fleet, environment.as_deref(), argument, context("schema").as_deref()).await
        }
    };
    let typed_lower = typed.trim_start().to_lowercase();
    let matching: Vec<String> =
        candidates.into_iter().filter(|c| c.to_lowercase().starts_with(&typed_lower)).collect();
    let total = matching.len();
    let values: Vec<String> = matching.into_iter().take(CompletionInfo::MAX_VALUES).collect();
    let has_more = total > values.len();
    let completion = CompletionInfo::with_pagination(values, Some(total as u32), has_more)
        .map_err(|err| ErrorData::internal_error(err, None))?;
    Ok(CompleteResult::new(completion))
}

/// Schema names (for `schema`) or table names (otherwise) of an
/// environment, each once; none when the environment is unknown or down.
async fn table_names(
    fleet: &Fleet,
    environment: Option<&str>,
    argument: &str,
    schema: Option<&str>,
) -> Vec<String> {
    let Ok(env) = fleet.environment(environment) else { return Vec::new() };
    let Ok(tables) = env.list_tables(&TableFilter::default()).await else { return Vec::new() };
    let mut names: Vec<String> = tables
        .into_iter()
        .filter(|t| argument == "schema" || schema.is_none_or(|s| s == "-" || t.schema.as_deref() == Some(s)))
        .map(|t| if argument == "schema" { t.schema.unwrap_or_else(|| "-".to_owned()) } else { t.name })
        .collect();
    names.sort();
    names.dedup();
    names
}
