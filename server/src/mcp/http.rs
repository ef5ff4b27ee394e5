//! The streamable HTTP transport at `/mcp`, with `/health` and `/ready`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use dbfleet_core::fleet::{Fleet, Status};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use super::DbfleetTools;

/// Serves until interrupted. Requests to `/mcp` must carry
/// `Authorization: Bearer <token>` when a token is configured.
pub async fn serve_http(fleet: Arc<Fleet>, listen: SocketAddr, token: Option<String>) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() && token.is_none() {
        tracing::warn!(%listen, "listening beyond loopback without [server] auth_token_env: anyone who can reach it can query every environment");
    }
    let shutdown = CancellationToken::new();
    let config = StreamableHttpServerConfig::default().with_cancellation_token(shutdown.child_token());
    // The Host check guards loopback servers against DNS rebinding from a
    // browser. On an unspecified address (0.0.0.0, ::) the names the machine
    // is reached by are unknown, so the check cannot hold; the bearer token is
    // the guard there.
    let config = if listen.ip().is_unspecified() {
        config.disable_allowed_hosts()
    } else {
        let mut hosts = config.allowed_hosts.clone();
        hosts.push(listen.ip().to_string());
        config.with_allowed_hosts(hosts)
    };
    let tools_fleet = fleet.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(DbfleetTools::new(tools_fleet.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let token: Option<Arc<str>> = token.map(Arc::from);
    let app = Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(token, require_token))
        .merge(Router::new().route("/health", get(health)).route("/ready", get(ready)).with_state(fleet));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, "serving MCP over streamable HTTP at /mcp");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop_signal().await;
            shutdown.cancel();
        })
        .await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Compares tokens in constant time, so a wrong token's timing tells nothing.
async fn require_token(State(token): State<Option<Arc<str>>>, request: Request, next: Next) -> Response {
    if let Some(token) = token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let accepted = given.is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.as_bytes())));
        if !accepted {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a valid Authorization: Bearer token is required",
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// 200 while the process serves, whatever the environments' state.
async fn health(State(fleet): State<Arc<Fleet>>) -> Json<serde_json::Value> {
    let statuses = fleet.statuses();
    let all_healthy = statuses.iter().all(|s| matches!(s.status, Status::Healthy | Status::Disabled));
    Json(json!({
        "status": if all_healthy { "ok" } else { "degraded" },
        "ready": fleet.is_ready(),
        "environments": statuses,
    }))
}

/// 503 until every enabled environment has had its first connection attempt.
async fn ready(State(fleet): State<Arc<Fleet>>) -> Response {
    if fleet.is_ready() {
        (StatusCode::OK, Json(json!({ "ready": true }))).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "ready": false }))).into_response()
    }
}
