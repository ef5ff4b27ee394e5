//! The web console at `/ui`: plain HTML, CSS and JavaScript modules built
//! into the binary. The pages hold no data: the browser asks `/mcp` for it,
//! as any MCP client, with the same bearer token, Host and Origin checks and
//! the same tools, scopes and audit records; exports stream from
//! `/ui/export` ([`export`]), the estate with its latency history from
//! `/ui/estate` ([`estate`]) and the recent statements from `/ui/activity`,
//! behind the same token.

mod estate;
mod export;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use dbfleet_core::fleet::Fleet;
use serde_json::json;

use crate::audit_log::Recent;
use crate::mcp::tokens::Caller;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

/// Scripts, styles and connections from this server only; no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The pages, served to anyone who passes the Host and Origin checks.
pub fn pages() -> Router {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| async { asset(INDEX, "text/html; charset=utf-8") }))
        .route("/ui/console.js", get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/ui/console.css", get(|| async { asset(STYLE, "text/css; charset=utf-8") }))
}

/// What needs the bearer token, as `/mcp` does: the estate's statuses and
/// latency history, exports, and the recent statements.
pub fn data(fleet: Arc<Fleet>, recent: Arc<Recent>) -> Router {
    let sampler = estate::Sampler::new(fleet.clone());
    Router::new()
        .route("/ui/export", post(export::export))
        .with_state(fleet)
        .merge(Router::new().route("/ui/estate", get(estate::estate)).with_state(sampler))
        .merge(Router::new().route("/ui/activity", get(activity)).with_state(recent))
}

/// The last statements run or refused, newest first; a named token sees
/// those on its environments and its own.
async fn activity(State(recent): State<Arc<Recent>>, caller: Option<Extension<Arc<Caller>>>) -> Response {
    let mut records = recent.newest_first();
    if let Some(Extension(caller)) = caller {
        records.retain(|record| {
            record.client == caller.name
                || caller
                    .environments
                    .as_ref()
                    .is_none_or(|names| record.environment.as_ref().is_some_and(|env| names.contains(env)))
        });
    }
    Json(json!({ "records": records })).into_response()
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
