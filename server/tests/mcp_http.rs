//! The MCP server over streamable HTTP, through rmcp's client: bearer
//! tokens, `/health` and `/ready`, concurrent clients, and environments that
//! are down or slow to answer at start-up.

#[expect(dead_code, reason = "the shared helpers this file does not call")]
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
    start_with_server(dir, config, "").await
}

/// Like [`start_with`], with more keys in `[server]`.
async fn start_with_server(dir: tempfile::TempDir, config: &Path, server: &str) -> Server {
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str(&format!("\n[server]\nauth_token_env = \"DBFLEET_TEST_TOKEN\"\n{server}\n"));
    std::fs::write(config, text).unwrap();
    let port = free_port();
    let child = common::spawn_http(config, port, TOKEN);
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

/// Waits until every environment has had its first connection attempt
/// (`/ready`): the server answers `/health` before that.
async fn wait_ready(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if reqwest::get(format!("{}/ready", server.base)).await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the environments' first connection attempts did not finish");
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
    assert_eq!(tools.len(), dbfleet_core::config::BUILT_IN_TOOLS.len());
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
    // `dbfleet ping`, the container's health check, says the same.
    assert_eq!(ping(&format!("{}/health", server.base)).code(), Some(0));
    assert_eq!(ping(&format!("{}/ready", server.base)).code(), Some(1));
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

fn ping(url: &str) -> std::process::ExitStatus {
    Command::new(env!("CARGO_BIN_EXE_dbfleet")).args(["ping", url]).stdout(Stdio::null()).status().unwrap()
}

#[tokio::test]
async fn ping_fails_when_nothing_answers() {
    let output = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .args(["ping", &format!("http://127.0.0.1:{}/health", free_port()), "--timeout-secs", "2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("did not answer"), "{output:?}");
}

#[tokio::test]
async fn sigterm_drains_before_the_listener_closes() {
    let (dir, config) = common::config_dir();
    std::fs::write(&config, SQLITE).unwrap();
    let mut server = start_with_server(dir, &config, "drain_secs = 2").await;
    wait_ready(&server).await;
    let client = connect(&server, Some(TOKEN)).await.unwrap();
    let stopped_at = Instant::now();
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    // /ready turns 503 at once; calls are still answered meanwhile.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let ready = reqwest::get(format!("{}/ready", server.base)).await.unwrap();
        if ready.status() == 503 {
            let body: Value = ready.json().await.unwrap();
            assert_eq!(body["draining"], true);
            break;
        }
        assert!(Instant::now() < deadline, "/ready did not turn 503 on SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let health: Value = reqwest::get(format!("{}/health", server.base)).await.unwrap().json().await.unwrap();
    assert_eq!((health["ready"].as_bool(), health["draining"].as_bool()), (Some(false), Some(true)));
    let result = ok(call(&client, "execute_query", json!({"sql": "SELECT 'still here' AS s"})).await);
    assert_eq!(result["rows"], json!([["still here"]]));
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(stopped_at.elapsed() >= Duration::from_secs(2), "stopped before the drain ended");
}

#[tokio::test]
async fn the_console_is_served_on_loopback_behind_the_same_guard_unless_turned_off() {
    let server = start(SQLITE).await;
    let http = reqwest::Client::new();
    let page = http.get(format!("{}/ui/", server.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(page.text().await.unwrap().contains("/ui/console.js"));
    let script = http.get(format!("{}/ui/console.js", server.base)).send().await.unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    // The pages hold no data; /mcp, where the data is, still wants the token.
    let foreign =
        http.get(format!("{}/ui/", server.base)).header("origin", "https://evil.example").send().await;
    assert_eq!(foreign.unwrap().status(), 403);

    let (dir, config) = common::config_dir();
    std::fs::write(&config, SQLITE).unwrap();
    let off = start_with_server(dir, &config, "ui = false").await;
    assert_eq!(http.get(format!("{}/ui/", off.base)).send().await.unwrap().status(), 404);
}

/// GET `url` with `token` as the bearer, or with none.
async fn get_as(http: &reqwest::Client, url: String, token: Option<&str>) -> reqwest::Response {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_console_estate_is_one_shared_sample_scoped_to_the_token() {
    let (dir, config) = common::config_dir();
    std::fs::write(
        &config,
        format!("{SQLITE}[environments.other]\ndriver = \"sqlite\"\npath = \":memory:\"\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("local.token"), "local-secret-0123456789\n").unwrap();
    let tokens = "[[server.tokens]]\nname = \"local-only\"\ntoken_file = \"local.token\"\nenvironments = [\"local\"]\n";
    let server = start_with_server(dir, &config, tokens).await;
    wait_ready(&server).await;
    let http = reqwest::Client::new();
    let estate = |token| get_as(&http, format!("{}/ui/estate", server.base), token);
    assert_eq!(estate(None).await.status(), 401);
    let first: Value = estate(Some(TOKEN)).await.json().await.unwrap();
    let names: Vec<&str> =
        first["environments"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["local", "other"]);
    assert!(first["environments"].as_array().unwrap().iter().all(|e| e["status"] == "healthy"), "{first}");
    for name in ["local", "other"] {
        let samples = first["history"][name].as_array().unwrap();
        assert_eq!(samples.len(), 1, "{first}");
        assert!(samples[0][0].as_u64().unwrap() > 0 && samples[0][1].as_f64().is_some(), "{first}");
    }
    // A second page within the period reads the same sample: no new check.
    let second: Value = estate(Some(TOKEN)).await.json().await.unwrap();
    assert_eq!(second["history"], first["history"]);
    let scoped: Value = estate(Some("local-secret-0123456789")).await.json().await.unwrap();
    assert_eq!(scoped["environments"].as_array().unwrap().len(), 1, "{scoped}");
    assert_eq!(scoped["environments"][0]["name"], "local");
    assert!(scoped["history"].get("other").is_none(), "{scoped}");
}

#[tokio::test]
async fn console_exports_stream_behind_the_token_scoped_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("init.sql"),
        "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3);",
    )
    .unwrap();
    std::fs::write(dir.path().join("limited.token"), "limited-secret-0123456789\n").unwrap();
    std::fs::write(dir.path().join("reader.token"), "reader-secret-0123456789\n").unwrap();
    let config = dir.path().join("http.toml");
    std::fs::write(
        &config,
        "[environments.dev]\ndriver = \"sqlite\"\npath = \"dev.db\"\nmode = \"create\"\ninit_script = \"init.sql\"\n\
         [environments.other]\ndriver = \"sqlite\"\npath = \":memory:\"\n\
         [audit]\npath = \"audit.jsonl\"\n",
    )
    .unwrap();
    let tokens = "[[server.tokens]]\nname = \"limited\"\ntoken_file = \"limited.token\"\nenvironments = [\"dev\"]\n\
                  tools = [\"execute_query_multi_env\"]\n\
                  [[server.tokens]]\nname = \"reader\"\ntoken_file = \"reader.token\"\ntools = [\"execute_query\"]\n";
    let audit = dir.path().join("audit.jsonl");
    let server = start_with_server(dir, &config, tokens).await;
    wait_ready(&server).await;
    let http = reqwest::Client::new();
    let url = format!("{}/ui/export", server.base);
    let export = |token: Option<&str>, body: Value| {
        let mut request = http.post(&url).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let select = |environments: &[&str], format: &str| json!({"sql": "SELECT id FROM t ORDER BY id", "environments": environments, "format": format});

    assert_eq!(export(None, select(&["dev"], "ndjson")).await.unwrap().status(), 401);
    // Not JSON, as a form on another site would send: refused before anything runs.
    let form = http.post(&url).bearer_auth(TOKEN).header("content-type", "text/plain").body("{}").send();
    assert_eq!(form.await.unwrap().status(), 415);

    let answer = export(Some(TOKEN), select(&["dev", "other"], "ndjson")).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<Value> =
        answer.text().await.unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let rows: Vec<&Value> =
        lines.iter().filter(|l| l["environment"] == "dev").filter_map(|l| l.get("row")).collect();
    assert_eq!(rows, [&json!({"id": 1}), &json!({"id": 2}), &json!({"id": 3})]);
    let other = lines.iter().find(|l| l["environment"] == "other").unwrap();
    assert_eq!(other["error"]["kind"], "query", "{other}");

    let csv = export(Some(TOKEN), select(&["dev"], "csv")).await.unwrap();
    assert_eq!(csv.headers()["content-disposition"], "attachment; filename=\"dbfleet-dev.csv\"");
    assert_eq!(csv.text().await.unwrap(), "id\n1\n2\n3\n");
    let write = json!({"sql": "DELETE FROM t", "environments": ["dev"], "format": "csv"});
    let refused = export(Some(TOKEN), write).await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["kind"], "read_only");
    let two = export(Some(TOKEN), select(&["dev", "other"], "csv")).await.unwrap();
    assert_eq!(two.status(), 400);
    // Writes dressed as reads take the same read-only check as a query, in
    // either format, and leave the table as it was.
    let dressed = [
        ("SELECT 1; DELETE FROM t", "invalid_argument", 400),
        ("WITH gone AS (DELETE FROM t RETURNING id) SELECT id FROM gone", "read_only", 403),
    ];
    for (sql, expected, status) in dressed {
        for format in ["csv", "ndjson"] {
            let answer = export(Some(TOKEN), json!({"sql": sql, "environments": ["dev"], "format": format}));
            let answer = answer.await.unwrap();
            let error = if format == "csv" {
                assert_eq!(answer.status(), status, "{sql}");
                answer.json::<Value>().await.unwrap()["error"].clone()
            } else {
                let line: Value = serde_json::from_str(answer.text().await.unwrap().trim()).unwrap();
                line["error"].clone()
            };
            assert_eq!(error["kind"], expected, "{sql} as {format}: {error}");
        }
    }
    let still = export(Some(TOKEN), select(&["dev"], "csv")).await.unwrap();
    assert_eq!(still.text().await.unwrap(), "id\n1\n2\n3\n");

    // A named token exports from its environments only, and only with the
    // query tool an export stands for.
    let scoped =
        export(Some("limited-secret-0123456789"), select(&["dev", "other"], "ndjson")).await.unwrap();
    let lines: Vec<Value> =
        scoped.text().await.unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.iter().filter(|l| l["environment"] == "dev" && l.get("row").is_some()).count(), 3);
    let other = lines.iter().find(|l| l["environment"] == "other").unwrap();
    assert_eq!(other["error"]["kind"], "forbidden", "{other}");
    let reader = export(Some("reader-secret-0123456789"), select(&["dev"], "ndjson")).await.unwrap();
    assert_eq!(reader.status(), 403);

    let records: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .filter(|record: &Value| record["tool"] == "export")
        .collect();
    let seen = |client: &str, outcome: &str| {
        records.iter().any(|r| r["client"] == client && r["environment"] == "dev" && r["outcome"] == outcome)
    };
    assert!(seen("http", "ok") && seen("http", "refused") && seen("limited", "ok"), "{records:?}");
    assert!(records.iter().any(|r| r["client"] == "limited" && r["rows"] == 3), "{records:?}");

    // The console's Activity: the same records, newest first; a named token
    // sees its environments' and its own.
    let activity = |token| get_as(&http, format!("{}/ui/activity", server.base), token);
    assert_eq!(activity(None).await.status(), 401);
    let all: Value = activity(Some(TOKEN)).await.json().await.unwrap();
    let all = all["records"].as_array().unwrap();
    assert!(all.iter().any(|r| r["environment"] == "other" && r["client"] == "http"), "{all:?}");
    assert_eq!(
        (&all[0]["client"], &all[0]["outcome"]),
        (&json!("reader"), &json!("forbidden")),
        "newest first: {all:?}"
    );
    let limited: Value = activity(Some("limited-secret-0123456789")).await.json().await.unwrap();
    let limited = limited["records"].as_array().unwrap();
    assert!(!limited.is_empty());
    assert!(limited.iter().all(|r| r["environment"] == "dev" || r["client"] == "limited"), "{limited:?}");
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
    wait_ready(&server).await;
    let client = connect(&server, Some(TOKEN)).await.unwrap();
    common::every_tool_answers(&client).await;
    client.cancel().await.unwrap();
}

const ONE_SQLITE: &str = "[environments.a]\ndriver = \"sqlite\"\npath = \":memory:\"\n";

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
}

async fn post_initialize(server: &Server, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/mcp", server.base))
        .bearer_auth(TOKEN)
        .header("Accept", "application/json, text/event-stream")
        .json(&initialize());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// Browser pages from other origins, and names other than the server's
/// own, are refused on every route: what a DNS-rebinding page would need.
#[tokio::test]
async fn foreign_origins_and_hosts_are_refused_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("http.toml");
    std::fs::write(&config, ONE_SQLITE).unwrap();
    let server = start_with_server(dir, &config, "allowed_origins = [\"https://console.example.com\"]").await;
    for origin in ["http://evil.example", "null", "http://localhost.evil.example", "file://"] {
        let response = post_initialize(&server, &[("Origin", origin)]).await;
        assert_eq!(response.status(), 403, "Origin: {origin}");
    }
    for origin in
        ["http://localhost:3000", "http://127.0.0.1", "http://[::1]:8080", "https://console.example.com"]
    {
        let response = post_initialize(&server, &[("Origin", origin)]).await;
        assert_eq!(response.status(), 200, "Origin: {origin}");
    }
    let client = reqwest::Client::new();
    for route in ["/health", "/ready", "/mcp"] {
        let response = client
            .get(format!("{}{route}", server.base))
            .header("Host", "attacker.example")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{route} with a foreign Host");
    }
    let health =
        client.get(format!("{}/health", server.base)).header("Host", "localhost:1").send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// Sessions beyond `max_sessions` are refused until one closes; a request
/// body past the limit is refused before it is read.
#[tokio::test]
async fn sessions_and_bodies_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("http.toml");
    std::fs::write(&config, ONE_SQLITE).unwrap();
    let server = start_with_server(dir, &config, "max_sessions = 2").await;
    let mut opened = Vec::new();
    for _ in 0..2 {
        let response = post_initialize(&server, &[]).await;
        assert_eq!(response.status(), 200);
        opened.push(response.headers()["mcp-session-id"].to_str().unwrap().to_owned());
    }
    let refused = post_initialize(&server, &[]).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.text().await.unwrap().contains("max_sessions"));
    let closed = reqwest::Client::new()
        .delete(format!("{}/mcp", server.base))
        .bearer_auth(TOKEN)
        .header("mcp-session-id", &opened[0])
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success(), "{}", closed.status());
    assert_eq!(post_initialize(&server, &[]).await.status(), 200, "a closed session frees its place");

    // Announced, not sent: the server refuses the body from its length alone.
    let address = server.base.trim_start_matches("http://");
    let mut raw = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        64 * 1024 * 1024 + 1
    );
    tokio::io::AsyncWriteExt::write_all(&mut raw, request.as_bytes()).await.unwrap();
    let mut answer = vec![0; 64];
    let read = tokio::io::AsyncReadExt::read(&mut raw, &mut answer).await.unwrap();
    let status_line = String::from_utf8_lossy(&answer[..read]).lines().next().unwrap_or_default().to_owned();
    assert_eq!(status_line, "HTTP/1.1 413 Payload Too Large");
}

/// A client that sends its headers slowly is disconnected instead of
/// holding its connection.
#[tokio::test]
async fn slow_headers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("http.toml");
    std::fs::write(&config, ONE_SQLITE).unwrap();
    let server = start_with(dir, &config).await;
    let address = server.base.trim_start_matches("http://");
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server still held the connection after 30 s");
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "no request was served");
}

/// `GET /metrics` behind the token, read with a Prometheus text parser:
/// tool calls by outcome, statements and refusals per environment, health
/// and pool gauges, sessions; and the audit log of the same calls; on the
/// local PostgreSQL and SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_statements_refusals_and_health() {
    let Some(pg) = dbfleet_tests::services::postgres_url() else { return };
    let server = start(&format!(
        "[environments.pg]\ndriver = \"postgres\"\nurl = \"{pg}\"\n\
         [environments.lite]\ndriver = \"sqlite\"\npath = \":memory:\"\n\
         [audit]\npath = \"audit/statements.jsonl\"\n"
    ))
    .await;
    wait_ready(&server).await;
    let client = connect(&server, Some(TOKEN)).await.unwrap();
    for _ in 0..3 {
        ok(call(&client, "execute_query", json!({"sql": "SELECT 1 AS one", "environment": "pg"})).await);
    }
    error(call(&client, "execute_query", json!({"sql": "DELETE FROM pg_class", "environment": "pg"})).await);
    error(
        call(&client, "execute_query", json!({"sql": "SELECT * FROM nowhere", "environment": "lite"})).await,
    );

    let http = reqwest::Client::new();
    let url = format!("{}/metrics", server.base);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let page = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let value = |metric: &str, labels: &[(&str, &str)]| -> f64 {
        let found: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
                prometheus_parse::Value::Summary(_) => f64::NAN,
            })
            .collect();
        assert_eq!(found.len(), 1, "{metric} {labels:?} in\n{text}");
        found[0]
    };
    let tool = [("tool", "execute_query")];
    assert_eq!(value("dbfleet_tool_calls_total", &[tool[0], ("outcome", "ok")]), 3.0);
    assert_eq!(value("dbfleet_tool_calls_total", &[tool[0], ("error_kind", "read_only")]), 1.0);
    assert_eq!(value("dbfleet_tool_calls_total", &[tool[0], ("error_kind", "query")]), 1.0);
    assert_eq!(value("dbfleet_statements_total", &[("environment", "pg"), ("outcome", "ok")]), 3.0);
    assert_eq!(value("dbfleet_statements_total", &[("environment", "lite"), ("error_kind", "query")]), 1.0);
    assert_eq!(value("dbfleet_rows_returned_total", &[("environment", "pg")]), 3.0);
    assert_eq!(value("dbfleet_read_only_refusals_total", &[("environment", "pg")]), 1.0);
    assert!(value("dbfleet_tool_result_bytes_total", &tool) > 100.0);
    assert_eq!(value("dbfleet_environment_up", &[("environment", "pg")]), 1.0);
    assert_eq!(value("dbfleet_pool_max_connections", &[("environment", "pg")]), 5.0);
    assert!(value("dbfleet_pool_connections", &[("environment", "pg"), ("state", "idle")]) >= 1.0);
    assert!(value("dbfleet_last_success_timestamp_seconds", &[("environment", "lite")]) > 1.7e9);
    assert_eq!(value("dbfleet_mcp_sessions", &[]), 1.0);
    // Histograms, with their buckets: every statement asked is timed, the
    // refused one included.
    assert!(
        text.contains("dbfleet_tool_call_duration_seconds_bucket{tool=\"execute_query\",le=\"0.001\"}"),
        "{text}"
    );
    assert_eq!(value("dbfleet_statements_total", &[("environment", "pg"), ("error_kind", "read_only")]), 1.0);
    assert_eq!(value("dbfleet_statement_duration_seconds", &[("environment", "pg")]), 4.0);

    // The audit log: one line per statement, with the HTTP session.
    let audit = std::fs::read_to_string(server._dir.path().join("audit/statements.jsonl")).unwrap();
    let records: Vec<Value> = audit.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(records.len(), 5, "{audit}");
    let outcomes: Vec<&str> = records.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["ok", "ok", "ok", "refused", "error"]);
    for record in &records {
        assert_eq!(
            (record["client"].as_str(), record["tool"].as_str()),
            (Some("http"), Some("execute_query"))
        );
        assert!(record["session"].as_str().is_some_and(|s| !s.is_empty()), "{record}");
    }
    assert_eq!(records[0]["statement"], "SELECT ? AS one");
    assert_eq!(records[0]["rows"], 1);
    assert_eq!(
        (records[3]["environment"].as_str(), records[3]["error_kind"].as_str()),
        (Some("pg"), Some("read_only"))
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn named_tokens_reach_only_their_environments_and_tools() {
    let (Some(pg), Some(maria)) =
        (dbfleet_tests::services::postgres_url(), dbfleet_tests::services::mysql_url())
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let assistant_secret = "assistant-secret-0123456789";
    std::fs::write(dir.path().join("assistant.token"), format!("{assistant_secret}\n")).unwrap();
    std::fs::write(dir.path().join("init.sql"), "CREATE TABLE t (id INTEGER PRIMARY KEY);").unwrap();
    let config = dir.path().join("http.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.dev]\ndriver = \"sqlite\"\npath = \"dev.db\"\nmode = \"create\"\n\
             init_script = \"init.sql\"\n\
             [environments.staging]\ndriver = \"postgres\"\nurl = \"{pg}\"\n\
             [environments.prod]\ndriver = \"mysql\"\nurl = \"{maria}\"\n\
             [audit]\npath = \"audit.jsonl\"\n"
        ),
    )
    .unwrap();
    let tokens = "[[server.tokens]]\nname = \"assistant\"\ntoken_file = \"assistant.token\"\n\
                  environments = [\"dev\", \"staging\"]\n\
                  tools = [\"list_environments\", \"execute_query\", \"execute_query_multi_env\", \"health_check\"]\n";
    let audit = dir.path().join("audit.jsonl");
    let server = start_with_server(dir, &config, tokens).await;
    wait_ready(&server).await;

    let assistant = connect(&server, Some(assistant_secret)).await.unwrap();
    let listed = ok(call(&assistant, "list_environments", json!({})).await);
    let names: Vec<&str> =
        listed["environments"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dev", "staging"], "a token sees only its environments");
    ok(call(&assistant, "execute_query", json!({"environment": "dev", "sql": "SELECT 1 AS one"})).await);
    ok(call(&assistant, "execute_query", json!({"environment": "staging", "sql": "SELECT 1 AS one"})).await);
    let refused =
        error(call(&assistant, "execute_query", json!({"environment": "prod", "sql": "SELECT 1"})).await);
    assert_eq!(refused["kind"], "forbidden", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("token 'assistant' may not use environment 'prod'"),
        "{refused}"
    );
    let all = ok(call(&assistant, "execute_query_multi_env", json!({"sql": "SELECT 1 AS one"})).await);
    assert_eq!(all["summary"]["requested"], 2, "all environments are the token's: {all}");
    let health = ok(call(&assistant, "health_check", json!({})).await);
    assert_eq!(health["environments"].as_array().unwrap().len(), 2, "{health}");
    let refused =
        error(call(&assistant, "describe_table", json!({"environment": "dev", "table": "t"})).await);
    assert_eq!(refused["kind"], "forbidden", "{refused}");
    let resources = assistant.list_all_resources().await.unwrap();
    assert!(!resources.is_empty() && resources.iter().all(|r| !r.uri.contains("prod")), "{resources:?}");
    let dev_table = resources.iter().find(|r| r.uri.starts_with("dbfleet://dev/")).expect("a table of dev");
    let elsewhere = dev_table.uri.replacen("dbfleet://dev/", "dbfleet://prod/", 1);
    let refused = assistant.read_resource(rmcp::model::ReadResourceRequestParams::new(elsewhere)).await;
    assert!(refused.unwrap_err().to_string().contains("may not use environment 'prod'"));
    assistant.cancel().await.unwrap();

    // The unnamed token still reaches everything.
    let admin = connect(&server, Some(TOKEN)).await.unwrap();
    ok(call(&admin, "execute_query", json!({"environment": "prod", "sql": "SELECT 1 AS one"})).await);
    admin.cancel().await.unwrap();

    let lines = std::fs::read_to_string(&audit).unwrap();
    let records: Vec<Value> = lines.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert!(
        records
            .iter()
            .any(|r| r["client"] == "assistant" && r["environment"] == "dev" && r["outcome"] == "ok"),
        "{lines}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["client"] == "assistant" && r["environment"] == "prod" && r["outcome"] == "forbidden"),
        "{lines}"
    );
    assert!(
        records.iter().any(|r| r["client"] == "assistant"
            && r["tool"] == "describe_table"
            && r["outcome"] == "forbidden"),
        "{lines}"
    );
}
