//! The tools of the configuration file (`[tools.NAME]`): their MCP
//! definitions (input schema from the declared parameters, annotations from
//! `writes`) and their calls, on one environment or several at once.

use std::sync::Arc;

use dbfleet_core::DbError;
use dbfleet_core::config::ToolConfig;
use dbfleet_core::fleet::Fleet;
use rmcp::RoleServer;
use rmcp::handler::server::router::tool::ToolRoute;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolResult, JsonObject, Tool, ToolAnnotations};
use rmcp::service::RequestContext;
use schemars::JsonSchema;

use super::args::ToolRouting;
use super::tools::{Comparing, DbfleetTools, answer_schema, failure, reporting_progress};
use crate::responses::{MultiQueryAnswer, QueryAnswer};

/// What a configured tool answers: one environment's result, or several
/// environments' results and their comparison.
#[derive(JsonSchema)]
#[serde(untagged)]
#[expect(dead_code, reason = "only its schema is used: the call writes the answers")]
enum ToolAnswer {
    One(QueryAnswer),
    Several(MultiQueryAnswer),
}

/// The route of one configured tool.
pub(super) fn route(tool: &ToolConfig) -> ToolRoute<DbfleetTools> {
    let name = tool.name.clone();
    ToolRoute::new_dyn(definition(tool), move |context: ToolCallContext<'_, DbfleetTools>| {
        let name = name.clone();
        Box::pin(async move {
            let arguments = context.arguments.unwrap_or_default();
            let tools = context.service;
            let fleet = tools.fleet();
            let result = match fleet.tools().iter().find(|tool| tool.name == name) {
                Some(tool) => call(tools, tool, arguments, &context.request_context).await,
                None => failure(DbError::internal(format!("tool '{name}' is not configured"))),
            };
            Ok(result.into())
        })
    })
}

fn definition(tool: &ToolConfig) -> Tool {
    let mut input = match serde_json::to_value(schemars::schema_for!(ToolRouting)) {
        Ok(serde_json::Value::Object(object)) => object,
        _ => JsonObject::new(),
    };
    input.remove("title");
    input.remove("$schema");
    let properties = input
        .entry("properties")
        .or_insert_with(|| serde_json::Value::Object(JsonObject::new()))
        .as_object_mut()
        .expect("schemars writes properties as an object");
    let mut required = Vec::new();
    for parameter in &tool.parameters {
        let mut schema = parameter.kind.json_schema();
        if let Some(description) = &parameter.description {
            schema["description"] = description.clone().into();
        }
        match &parameter.default {
            Some(default) => schema["default"] = default.clone(),
            None => required.push(serde_json::Value::from(parameter.name.clone())),
        }
        properties.insert(parameter.name.clone(), schema);
    }
    input.insert("required".into(), required.into());
    input.insert("additionalProperties".into(), false.into());
    let environments: Vec<&str> = tool.environments().collect();
    let description = format!("{} (runs on: {})", tool.description.trim_end(), environments.join(", "));
    let annotations = if tool.writes {
        ToolAnnotations::new().read_only(false).destructive(true).idempotent(false).open_world(false)
    } else {
        ToolAnnotations::new().read_only(true).destructive(false).idempotent(true).open_world(false)
    };
    let mut definition =
        Tool::new(tool.name.clone(), description, Arc::new(input)).with_annotations(annotations);
    definition.output_schema = Some(answer_schema::<ToolAnswer>());
    definition
}

/// Where a call runs.
enum Targets {
    One(String),
    Several(Vec<String>),
}

fn targets(fleet: &Fleet, tool: &ToolConfig, routing: &ToolRouting) -> Result<Targets, DbError> {
    let runs_on: Vec<&str> = tool.environments().collect();
    match (&routing.environment, &routing.environments, routing.all_environments.unwrap_or(false)) {
        (Some(one), None, false) => Ok(Targets::One(one.clone())),
        (None, Some(several), false) => Ok(Targets::Several(several.clone())),
        (None, None, true) => Ok(Targets::Several(
            fleet
                .environments()
                .iter()
                .filter(|env| env.config().enabled && runs_on.contains(&env.name()))
                .map(|env| env.name().to_owned())
                .collect(),
        )),
        (None, None, false) => match (runs_on.as_slice(), fleet.default_environment()) {
            ([only], _) => Ok(Targets::One((*only).to_owned())),
            (_, Some(default)) if runs_on.contains(&default.as_str()) => Ok(Targets::One(default)),
            _ => Err(DbError::invalid_argument(format!(
                "name environment, environments or all_environments: tool '{}' runs on {}",
                tool.name,
                runs_on.join(", ")
            ))),
        },
        _ => Err(DbError::invalid_argument("give one of environment, environments and all_environments")),
    }
}

async fn call(
    tools: &DbfleetTools,
    tool: &ToolConfig,
    arguments: JsonObject,
    context: &RequestContext<RoleServer>,
) -> CallToolResult {
    let fleet = tools.fleet();
    let routing: ToolRouting = match serde_json::from_value(serde_json::Value::Object(arguments.clone())) {
        Ok(routing) => routing,
        Err(err) => return failure(DbError::invalid_argument(format!("invalid arguments: {err}"))),
    };
    let values = match tool.values(&arguments) {
        Ok(values) => values,
        Err(err) => return failure(err),
    };
    let targets = match targets(fleet, tool, &routing) {
        Ok(targets) => targets,
        Err(err) => return failure(err),
    };
    let max_rows = routing.max_rows;
    match targets {
        Targets::One(name) => tools.answer_query(Some(&name), tool.request(&name, &values, max_rows)).await,
        Targets::Several(names) => {
            let request_for = |env: &dbfleet_core::Environment| tool.request(env.name(), &values, max_rows);
            let outcome = reporting_progress(context, |on_answer| {
                fleet.query_each_observed(Some(&names), request_for, on_answer)
            })
            .await;
            let sql = tool.statements.first().map_or("", |(_, statement)| statement.sql.as_str());
            let comparing = Comparing {
                compare: routing.compare,
                key_columns: routing.key_columns,
                max_differences: routing.max_differences,
            };
            comparing.answer(tools, outcome, sql)
        }
    }
}
