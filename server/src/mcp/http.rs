//! The streamable HTTP transport at `/mcp`, with `/health` and `/ready`.
//!
//! Every route is guarded the same way: the `Host` header must name the
//! listening address (against DNS rebinding), a browser's `Origin` must be a
//! local one or listed in `[server] allowed_origins`, headers must arrive
//! within [`HEADER_READ_TIMEOUT`] and bodies within [`BODY_READ_TIMEOUT`],
//! and a body may hold at most [`MAX_BODY_BYTES`]. `/mcp` also needs the
//! bearer token when one is configured, and opens at most `max_sessions`
//! sessions (idle ones close after rmcp's keep-alive, five minutes); with
//! `[server] stateless = true` it opens none, and every request stands
//! alone, which lets replicas behind a round-robin balancer share clients.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use dbfleet_core::config::ServerConfig;
use dbfleet_core::fleet::{Fleet, Status};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::PrometheusHandle;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use super::DbfleetTools;
use super::tokens::{Admission, Tokens};
use crate::audit_log::Recent;

/// A client must send its request headers within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// And its request body within this time.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request body: room for a statement of the largest
/// `max_statement_bytes` (16 MiB) written as JSON, with its parameters.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// How long open connections get to finish when the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Who may reach the server: the `Host` names it answers to (any, on an
/// unspecified address, where the machine's names are unknown and the bearer
/// token is the guard) and the browser origins it accepts.
struct Guard {
    hosts: Option<Vec<String>>,
    origins: Vec<String>,
}

impl Guard {
    fn new(listen: SocketAddr, origins: &[String]) -> Self {
        let hosts = (!listen.ip().is_unspecified()).then(|| {
            let mut hosts: Vec<String> = LOCAL_HOSTS.iter().map(|h| (*h).to_owned()).collect();
            hosts.push(listen.ip().to_string());
            hosts
        });
        Guard { hosts, origins: origins.to_vec() }
    }

    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(hosts) = &self.hosts else { return true };
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
        hosts.iter().any(|allowed| host_name(host).eq_ignore_ascii_case(allowed.trim_matches(['[', ']'])))
    }

    /// No `Origin` (not a browser) passes; `null` and unknown origins do not.
    fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else { return true };
        let Ok(origin) = origin.to_str() else { return false };
        let origin = origin.to_ascii_lowercase();
        if self.origins.contains(&origin) {
            return true;
        }
        match origin.split_once("://") {
            Some(("http" | "https", authority)) => LOCAL_HOSTS.contains(&host_name(authority)),
            _ => false,
        }
    }
}

const LOCAL_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// The host of a `Host` header or an origin's authority, without its port
/// or an IPv6 address's brackets.
fn host_name(authority: &str) -> &str {
    match authority.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or(rest, |(host, _)| host),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    }
}

/// Serves until interrupted.
pub async fn serve_http(
    fleet: Arc<Fleet>,
    listen: SocketAddr,
    server: &ServerConfig,
    tokens: Tokens,
    recent: Option<Arc<Recent>>,
) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() && tokens.is_empty() {
        tracing::warn!(%listen, "listening beyond loopback without [server] auth_token_env: anyone who can reach it can query every environment");
    }
    let shutdown = CancellationToken::new();
    // rmcp checks the Host of /mcp requests itself too; the guard below
    // covers every route.
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(shutdown.child_token())
        .with_legacy_session_mode(!server.stateless)
        .with_json_response(server.stateless);
    let config = if listen.ip().is_unspecified() {
        config.disable_allowed_hosts()
    } else {
        let mut hosts = config.allowed_hosts.clone();
        hosts.push(listen.ip().to_string());
        config.with_allowed_hosts(hosts)
    };
    let sessions = Arc::new(LocalSessionManager::default());
    let tools_fleet = fleet.clone();
    let tool_set = server.tools.clone();
    let stateless = server.stateless;
    let mcp = StreamableHttpService::new(
        move || {
            let tools = DbfleetTools::new(tools_fleet.clone()).with_tool_set(tool_set.as_deref());
            Ok(if stateless { tools.stateless() } else { tools })
        },
        sessions.clone(),
        config,
    );
    let tokens = Arc::new(tokens);
    let draining = Arc::new(AtomicBool::new(false));
    let console_fleet = fleet.clone();
    let limit = SessionLimit { sessions, max: server.max_sessions };
    let mut routes = Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(Arc::new(limit), limit_sessions))
        .layer(middleware::from_fn_with_state(tokens.clone(), require_token))
        .merge(metrics_routes(fleet.clone(), tokens.clone())?)
        .merge(
            Router::new()
                .route("/health", get(health))
                .route("/ready", get(ready))
                .with_state(Probes { fleet, draining: draining.clone() }),
        );
    // The console, when `serve` keeps recent records for it: its pages hold
    // no data and are served without the token; what they show comes from
    // /mcp and its own data routes, with it.
    if let Some(recent) = recent {
        let data = crate::console::data(console_fleet, recent)
            .layer(middleware::from_fn_with_state(tokens.clone(), require_token));
        routes = routes.merge(crate::console::pages()).merge(data);
        tracing::info!("the web console is at /ui/");
    }
    let app = routes
        .layer(middleware::from_fn_with_state(Arc::new(Guard::new(listen, &server.allowed_origins)), guard))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(RequestBodyTimeoutLayer::new(BODY_READ_TIMEOUT));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, "serving MCP over streamable HTTP at /mcp");

    // Sessions end first, so that their event streams do not hold the
    // connections open through the grace period. Without sessions there are
    // no such streams, and the requests under way finish first.
    let stop = async {
        stop_signal().await;
        if !server.drain.is_zero() {
            draining.store(true, Ordering::Relaxed);
            tracing::info!(
                seconds = server.drain.as_secs(),
                "draining: /ready answers 503, requests are still served"
            );
            tokio::select! {
                () = tokio::time::sleep(server.drain) => {}
                () = stop_signal() => tracing::info!("stopping before the end of the drain"),
            }
        }
        if !server.stateless {
            shutdown.cancel();
        }
    };
    serve_connections(listener, app, stop).await;
    shutdown.cancel();
    Ok(())
}

/// Serves `app` on `listener` until `stop`, then gives open connections
/// [`SHUTDOWN_GRACE`] to finish. axum::serve sets no header read timeout, so
/// connections are served here with hyper's own, which a slow client cannot
/// hold open.
pub async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: impl Future<Output = ()>,
) {
    let connections = GracefulShutdown::new();
    let mut stop = pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(error = %err, "could not accept a connection");
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.shutdown()).await.is_err() {
        tracing::warn!("connections still open after {} s; stopping anyway", SHUTDOWN_GRACE.as_secs());
    }
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

async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if !guard.host_allowed(request.headers()) {
        return (StatusCode::FORBIDDEN, "the Host header does not name this server").into_response();
    }
    if !guard.origin_allowed(request.headers()) {
        return (
            StatusCode::FORBIDDEN,
            "requests from this Origin are not allowed (see [server] allowed_origins)",
        )
            .into_response();
    }
    next.run(request).await
}

/// A request needs a configured token when there is one; a named token's
/// [`Caller`] goes with the request to the calls it makes.
async fn require_token(State(tokens): State<Arc<Tokens>>, mut request: Request, next: Next) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match tokens.admit(bearer) {
        Admission::Anyone => {}
        Admission::Named(caller) => {
            request.extensions_mut().insert(caller);
        }
        Admission::Refused => {
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

struct SessionLimit {
    sessions: Arc<LocalSessionManager>,
    max: usize,
}

/// A request without a session id opens a session: refused while
/// `max_sessions` are open.
async fn limit_sessions(State(limit): State<Arc<SessionLimit>>, request: Request, next: Next) -> Response {
    let opens = request.method() == Method::POST && !request.headers().contains_key("mcp-session-id");
    if opens && limit.sessions.sessions.read().await.len() >= limit.max {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "30")],
            format!("{} MCP sessions are open, the most this server allows (max_sessions)", limit.max),
        )
            .into_response();
    }
    next.run(request).await
}

/// `GET /metrics` (Prometheus text), behind the bearer tokens when there are some.
pub fn metrics_routes(fleet: Arc<Fleet>, tokens: Arc<Tokens>) -> anyhow::Result<Router> {
    let handle = crate::metrics::handle()?;
    Ok(Router::new()
        .route("/metrics", get(metrics_page))
        .with_state((handle, fleet))
        .layer(middleware::from_fn_with_state(tokens, require_token)))
}

async fn metrics_page(State((handle, fleet)): State<(PrometheusHandle, Arc<Fleet>)>) -> Response {
    let page = crate::metrics::render(&handle, &fleet);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], page).into_response()
}

/// What `/health` and `/ready` look at.
#[derive(Clone)]
struct Probes {
    fleet: Arc<Fleet>,
    /// Set on SIGTERM during `[server] drain_secs`.
    draining: Arc<AtomicBool>,
}

/// 200 while the process serves, whatever the environments' state.
async fn health(State(probes): State<Probes>) -> Json<serde_json::Value> {
    let statuses = probes.fleet.statuses();
    let all_healthy =
        statuses.iter().all(|s| matches!(s.status, Status::Healthy | Status::Disabled | Status::Idle));
    Json(json!({
        "status": if all_healthy { "ok" } else { "degraded" },
        "ready": probes.fleet.is_ready() && !probes.draining.load(Ordering::Relaxed),
        "draining": probes.draining.load(Ordering::Relaxed),
        "environments": statuses,
    }))
}

/// 503 until every enabled environment has had its first connection
/// attempt, and again while the server drains before it stops.
async fn ready(State(probes): State<Probes>) -> Response {
    let draining = probes.draining.load(Ordering::Relaxed);
    if probes.fleet.is_ready() && !draining {
        (StatusCode::OK, Json(json!({ "ready": true }))).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "ready": false, "draining": draining })))
            .into_response()
    }
}
