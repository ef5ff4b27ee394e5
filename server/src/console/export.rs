//! `POST /ui/export`: one statement's rows streamed to the browser as NDJSON
//! (several environments, each line tagged) or CSV (one environment), with
//! the memory of a stream, not of a result. It answers what
//! `execute_query_multi_env` would: the caller's token must reach the
//! environments and that tool, read-only environments refuse writes, and
//! each statement gets its audit record (tool `export`).
//!
//! The body must be JSON: a form on another site cannot send it without the
//! browser asking first (and the Origin check refuses it anyway).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use dbfleet_core::audit::{self, CallContext};
use dbfleet_core::fleet::{Fleet, StreamEvent};
use dbfleet_core::{DbError, ErrorKind, Value};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

use crate::mcp::tokens::Caller;
use crate::output::TaggedLines;

/// The tool an export stands for, for tokens restricted to some tools.
const AS_TOOL: &str = "execute_query_multi_env";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    sql: String,
    environments: Vec<String>,
    #[serde(default)]
    parameters: Vec<serde_json::Value>,
    max_rows: Option<u64>,
    format: ExportFormat,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum ExportFormat {
    Ndjson,
    Csv,
}

pub async fn export(
    State(fleet): State<Arc<Fleet>>,
    caller: Option<Extension<Arc<Caller>>>,
    Json(request): Json<ExportRequest>,
) -> Response {
    let caller = caller.map(|Extension(caller)| caller);
    let context = CallContext {
        client: caller.as_ref().map_or_else(|| "http".to_owned(), |caller| caller.name.clone()),
        session: None,
        tool: "export".to_owned(),
    };
    if let Some(caller) = caller.as_ref().filter(|caller| !caller.may_use_tool(AS_TOOL)) {
        audit::within(context, async { audit::forbidden(None) }).await;
        let message = format!("token '{}' may not use {AS_TOOL}, which an export is", caller.name);
        return refused(DbError::new(ErrorKind::Forbidden, message));
    }
    if request.environments.is_empty() {
        return refused(DbError::invalid_argument("name at least one environment"));
    }
    if request.format == ExportFormat::Csv && request.environments.len() != 1 {
        return refused(DbError::invalid_argument(
            "CSV takes one environment; NDJSON tags each line with its environment",
        ));
    }
    let fleet = match &caller {
        Some(caller) => fleet.scoped(&caller.name, caller.environments.as_deref()),
        None => fleet,
    };
    let params: Vec<Value> = request.parameters.iter().map(Value::from_json_param).collect();
    let events = audit::within(context, async {
        fleet.stream_many(Some(&request.environments), &request.sql, &params, request.max_rows)
    })
    .await;

    match request.format {
        ExportFormat::Ndjson => {
            let mut lines = TaggedLines::default();
            let body = events.map(move |event| {
                let mut buffer = Vec::new();
                lines.write(&mut buffer, &event).map(|()| Bytes::from(buffer)).map_err(std::io::Error::other)
            });
            attachment("application/x-ndjson", "dbfleet-export.ndjson", Body::from_stream(body))
        }
        ExportFormat::Csv => {
            // A CSV file has no place for an error: one before the first row
            // is the answer instead, and one after cuts the download short
            // rather than leave a file that looks complete.
            let mut events = events.peekable();
            if let Some(StreamEvent::Error { error, .. }) = std::pin::Pin::new(&mut events).peek().await {
                return refused(error.clone());
            }
            let body = events.map(|event| match event {
                StreamEvent::Columns { columns, .. } => csv_record(columns.iter().map(|c| c.name.clone())),
                StreamEvent::Rows { rows, .. } => {
                    let mut bytes = Vec::new();
                    for row in rows {
                        bytes.extend(csv_record(row.iter().map(|value| value.text().into_owned()))?);
                    }
                    Ok(Bytes::from(bytes))
                }
                StreamEvent::End { .. } => Ok(Bytes::new()),
                StreamEvent::Error { error, .. } => Err(std::io::Error::other(error.to_string())),
            });
            let file = format!("dbfleet-{}.csv", request.environments[0]);
            attachment("text/csv; charset=utf-8", &file, Body::from_stream(body))
        }
    }
}

fn csv_record(fields: impl Iterator<Item = String>) -> Result<Bytes, std::io::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(fields)?;
    writer.into_inner().map(Bytes::from).map_err(|e| std::io::Error::other(e.to_string()))
}

fn attachment(content_type: &'static str, file: &str, body: Body) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", file.replace(['"', '\\'], "_"));
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response()
}

/// The error as the answer, with the status its kind calls for.
fn refused(error: DbError) -> Response {
    let status = match error.kind {
        ErrorKind::InvalidArgument | ErrorKind::UnknownEnvironment | ErrorKind::DisabledEnvironment => {
            StatusCode::BAD_REQUEST
        }
        ErrorKind::ReadOnly | ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Connection | ErrorKind::Auth | ErrorKind::Timeout => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    (status, Json(json!({ "error": error }))).into_response()
}
