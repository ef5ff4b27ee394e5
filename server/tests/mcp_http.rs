//! The MCP server over streamable HTTP, through rmcp's client: bearer
//! tokens, `/health` and `/ready`, concurrent clients, and environments that
//! are down or slow to answer at start-up.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{call, error, ok};
use rmcp::ServiceExt;
use rmcp::model::ClientConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

const TOKEN: &str = "t0ken-for-tests";

/// The server process, stopped when dropped.
struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `dbfleet serve --transport http` on `environments` (TOML tables),
/// with a bearer token, and waits until it answers `/health`.
async fn start(environments: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("http.toml");
    std::fs::write(&config, environments).unwrap();
    start_with(dir, &config).await
}

/// Like [`start`], on a config file in `dir`.
async fn start_with(dir: tempfile::TempDir, config: &Path) -> Server {
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str("\n[server]\nauth_token_env = \"DBFLEET_TEST_TOKEN\"\n");
    std::fs::write(config, text).unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .args(["serve", "--transport", "http", "--listen", &format!("127.0.0.1:{port}"), "--config"])
        .arg(config)
        .env("DBFLEET_TEST_TOKEN", TOKEN)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, base: format!("http://127.0.0.1:{port}"), _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if reqwest::get(format!("{}/health", server.base)).await.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the HTTP server did not start");
}

async fn connect(
    server: &Server,
    token: Option<&str>,
) -> Result<rmcp::service::RunningService<rmcp::RoleClient, ClientConfig>, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", server.base));
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    ClientConfig::default()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .map_err(|e| e.to_string())
}

const SQLITE: &str = "[environments.local]\ndriver = \"sqlite\"\npath = \":memory:\"\n";

#[tokio::test]
async fn the_bearer_token_is_required_and_accepted() {
    let server = start(SQLITE).await;
    let http = reqwest::Client::new();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    for auth in [None, Some("Bearer wrong"), Some(TOKEN)] {
        let mut request = http
            .post(format!("{}/mcp", server.base))
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{auth:?}");
    }
    assert!(connect(&server, None).await.is_err());
    assert!(connect(&server, Some("wrong")).await.is_err());

    let client = connect(&server, Some(TOKEN)).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 10);
    let result = ok(call(&client, "execute_query", json!({"sql": "SELECT 'over http' AS how"})).await);
    assert_eq!(result["rows"], json!([["over http"]]));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn health_and_ready_report_the_environments() {
    let server = start(&format!(
        "{SQLITE}[environments.closed]\ndriver = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:1/postgres\"\n"
    ))
    .await;
    let ready = reqwest::get(format!("{}/ready", server.base)).await.unwrap();
    assert_eq!(ready.status(), 200);
    let health: Value = reqwest::get(format!("{}/health", server.base)).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "degraded");
    let statuses: Vec<(&str, &str)> = health["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [("local", "healthy"), ("closed", "unhealthy")]);

    // The closed port fails fast with kind connection; the other environment works.
    let client = connect(&server, Some(TOKEN)).await.unwrap();
    let down =
        error(call(&client, "execute_query", json!({"sql": "SELECT 1", "environment": "closed"})).await);
    assert_eq!(down["kind"], "connection");
    let up =
        ok(call(&client, "execute_query", json!({"sql": "SELECT 1 AS one", "environment": "local"})).await);
    assert_eq!(up["rows"], json!([[1]]));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn ready_is_503_until_start_up_attempts_finish() {
    // A server that accepts connections and never answers: the PostgreSQL
    // driver waits for it until its connect timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let _holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let server = start(&format!(
        "{SQLITE}[environments.slow]\ndriver = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:{port}/postgres\"\n\
         [environments.slow.pool]\nconnect_timeout_secs = 4\n"
    ))
    .await;
    let first = reqwest::get(format!("{}/ready", server.base)).await.unwrap();
    assert_eq!(first.status(), 503);
    let health = reqwest::get(format!("{}/health", server.base)).await.unwrap();
    assert_eq!(health.status(), 200, "/health answers while starting");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = reqwest::get(format!("{}/ready", server.base)).await.unwrap().status();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn concurrent_clients_over_http() {
    let server = start(SQLITE).await;
    let clients = futures::future::join_all((0..4).map(|_| connect(&server, Some(TOKEN)))).await;
    let clients: Vec<_> = clients.into_iter().map(Result::unwrap).collect();
    common::concurrent_calls(&clients.iter().map(|c| &**c).collect::<Vec<_>>()).await;
    for client in clients {
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn every_tool_answers_over_http() {
    let (dir, config) = common::config_dir();
    let server = start_with(dir, &config).await;
    let client = connect(&server, Some(TOKEN)).await.unwrap();
    common::every_tool_answers(&client).await;
    client.cancel().await.unwrap();
}
