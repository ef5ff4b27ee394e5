//! The MCP server through a real MCP client (rmcp) over stdio, starting the
//! built `dbfleet` binary: tools, schemas, results and every error case.

#[expect(dead_code, reason = "the shared helpers this file does not call")]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{call, config_dir, error, ok, stdio_client};
use dbfleet_core::QueryRequest;
use dbfleet_core::fleet::{Fleet, StartOptions};
use dbfleet_tests::estate::ShopEstate;
use serde_json::{Value, json};

#[tokio::test]
async fn tools_are_listed_with_their_schemas() {
    let (_dir, config) = config_dir();
    let client = stdio_client(&config).await;
    let info = client.peer_info().expect("server info");
    let instructions = info.instructions.clone().unwrap_or_default();
    assert!(instructions.contains("dev (sqlite; default, read-only)"), "{instructions}");
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "compare_schema",
            "describe_table",
            "diff_data",
            "execute_query",
            "execute_query_env",
            "execute_query_multi_env",
            "explain_query",
            "health_check",
            "list_databases",
            "list_environments",
            "list_tables",
            "search_objects",
            "test_connection",
        ]
    );
    let query = tools.iter().find(|t| t.name == "execute_query").unwrap();
    let schema = serde_json::to_value(&*query.input_schema).unwrap();
    assert_eq!(schema["required"], json!(["sql"]));
    for property in ["sql", "environment", "parameters", "max_rows"] {
        assert!(schema["properties"][property].is_object(), "{property}: {schema}");
    }
    assert!(query.description.as_deref().is_some_and(|d| d.len() > 80));
    for tool in &tools {
        let output = tool.output_schema.as_ref().unwrap_or_else(|| panic!("{}: no output schema", tool.name));
        assert_eq!(output.get("type"), Some(&json!("object")), "{}", tool.name);
        assert!(jsonschema::validator_for(&Value::Object(output.as_ref().clone())).is_ok(), "{}", tool.name);
    }
    let output = serde_json::to_string(&query.output_schema).unwrap();
    for field in ["columns", "rows", "row_count", "truncated", "execution_time_ms", "error"] {
        assert!(output.contains(&format!("\"{field}\"")), "execute_query's output schema names {field}");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn every_tool_answers() {
    let (_dir, config) = config_dir();
    let client = stdio_client(&config).await;
    common::every_tool_answers(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn failures_are_tool_errors_with_their_kind_and_the_server_keeps_serving() {
    let (_dir, config) = config_dir();
    let client = stdio_client(&config).await;
    let cases = [
        ("execute_query", json!({"sql": "SELECT 1", "environment": "staging"}), "unknown_environment"),
        ("execute_query", json!({"sql": "SELECT 1", "environment": "off"}), "disabled_environment"),
        ("execute_query", json!({"sql": "SELECT 1", "environment": "down"}), "connection"),
        ("execute_query", json!({"sql": "SELECT * FROM no_such_table"}), "query"),
        ("execute_query", json!({"sql": "DELETE FROM orders", "environment": "prod"}), "read_only"),
        ("execute_query", json!({"sql": 42}), "invalid_argument"),
        ("execute_query", json!({}), "invalid_argument"),
        ("execute_query_env", json!({"sql": "SELECT 1"}), "invalid_argument"),
        ("execute_query", json!({"sql": "SELECT 1", "max_rows": 0}), "invalid_argument"),
        ("describe_table", json!({"table": "nope"}), "query"),
        ("compare_schema", json!({"environments": ["dev"]}), "invalid_argument"),
        ("diff_data", json!({"environments": ["dev", "dev"], "table": "orders"}), "invalid_argument"),
        ("diff_data", json!({"environments": ["dev", "down"], "table": "orders"}), "connection"),
        (
            "diff_data",
            json!({"environments": ["dev", "prod"], "table": "orders", "where": "1 = 1; DELETE FROM orders"}),
            "invalid_argument",
        ),
        ("test_connection", json!({"environment": "staging"}), "unknown_environment"),
    ];
    for (tool, args, kind) in cases {
        let err = error(call(&client, tool, args.clone()).await);
        assert_eq!(err["kind"], kind, "{tool} {args}: {err}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let err = error(call(&client, "execute_query", json!({"sql": "SELECT 1", "environment": "down"})).await);
    assert_eq!(err["environment"], "down");
    // Still serving after all of them.
    let result = ok(call(&client, "execute_query", json!({"sql": "SELECT 1 AS one"})).await);
    assert_eq!(result["rows"], json!([[1]]));
    client.cancel().await.unwrap();
}

/// A query past the environment's `query_timeout_secs` is a tool error of kind
/// `timeout`, and the environment answers the next call.
#[tokio::test]
async fn a_timed_out_query_is_a_tool_error_and_the_environment_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("slow.toml");
    std::fs::write(
        &config,
        "[environments.slow]\ndriver = \"sqlite\"\npath = \":memory:\"\nquery_timeout_secs = 1\n",
    )
    .unwrap();
    let client = stdio_client(&config).await;
    let err = error(call(&client, "execute_query", json!({"sql": ENDLESS})).await);
    assert_eq!((err["kind"].clone(), err["environment"].clone()), (json!("timeout"), json!("slow")));
    let result = ok(call(&client, "execute_query", json!({"sql": "SELECT 2 AS two"})).await);
    assert_eq!(result["rows"], json!([[2]]));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn concurrent_clients_are_served() {
    let (_dir, config) = config_dir();
    let clients = futures::future::join_all((0..4).map(|_| stdio_client(&config))).await;
    common::concurrent_calls(&clients.iter().map(|c| &**c).collect::<Vec<_>>()).await;
    for client in clients {
        client.cancel().await.unwrap();
    }
}

/// The built server spoken to in raw JSON-RPC lines, for what a client
/// library hides: every byte of stdout, notifications, cancellation.
struct RawServer {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    /// Drains stderr as the server writes it, so that a full pipe never stops it.
    logs: Option<std::thread::JoinHandle<String>>,
}

impl RawServer {
    /// Starts `dbfleet [args] serve --config FILE` and completes the handshake.
    fn start(config: &Path, args: &[&str]) -> RawServer {
        RawServer::start_serving(config, args, &[])
    }

    /// Starts `dbfleet [args] serve --config FILE [serve_args]` and completes the handshake.
    fn start_serving(config: &Path, args: &[&str], serve_args: &[&str]) -> RawServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
            .args(args)
            .args(["serve", "--config"])
            .arg(config)
            .args(serve_args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = child.stderr.take().unwrap();
        let logs = Some(std::thread::spawn(move || {
            let mut logs = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut logs);
            logs
        }));
        let mut server = RawServer { child, stdin, lines, logs };
        server.send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}));
        assert_eq!(server.next()["id"], 0, "initialized");
        server.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        server
    }

    fn send(&mut self, message: Value) {
        self.send_line(&message.to_string());
    }

    fn send_line(&mut self, line: &str) {
        writeln!(self.stdin.as_mut().unwrap(), "{line}").unwrap();
    }

    fn call(&mut self, id: u64, tool: &str, arguments: Value) {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}}));
    }

    /// The next line of stdout, which must be one JSON-RPC message.
    fn next(&mut self) -> Value {
        let line = self.lines.next().expect("the server answers").unwrap();
        let message: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON-RPC message ({e}): {line}"));
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        message
    }

    /// The answer to request `id`, and the messages that came before it.
    fn answer(&mut self, id: u64) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let message = self.next();
            if message["id"] == id && message.get("method").is_none() {
                return (message, before);
            }
            before.push(message);
        }
    }

    /// Closes stdin, checks that what is left on stdout is protocol too, and
    /// returns everything the server wrote to stderr.
    fn finish(mut self) -> String {
        drop(self.stdin.take());
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            assert!(serde_json::from_str::<Value>(&line).is_ok(), "not a JSON-RPC message: {line}");
        }
        self.logs.take().unwrap().join().unwrap()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// With debug logging on, stdout still carries nothing but JSON-RPC messages.
#[test]
fn stdout_carries_only_protocol_messages() {
    let (_dir, config) = config_dir();
    let mut server = RawServer::start(&config, &["--log-level", "debug"]);
    server.call(1, "execute_query", json!({"sql": "SELECT * FROM customers"}));
    server.call(2, "execute_query", json!({"sql": "SELECT 1", "environment": "down"}));
    server.send(json!({"jsonrpc": "2.0", "id": 3, "method": "no/such/method"}));
    // Answers may come in any order.
    let mut answered = Vec::new();
    while answered.len() < 3 {
        answered.extend(server.next()["id"].as_u64());
    }
    answered.sort();
    assert_eq!(answered, [1, 2, 3]);
    let logs = server.finish();
    assert!(logs.contains("DEBUG"), "debug logs went to stderr: {logs}");
}

/// A multi-environment call that carries a progress token gets one progress
/// notification per environment, before its result.
#[test]
fn a_fan_out_reports_progress_per_environment() {
    let (_dir, config) = config_dir();
    let mut server = RawServer::start(&config, &[]);
    server.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "execute_query_multi_env", "arguments": {"sql": "SELECT 1 AS one"},
        "_meta": {"progressToken": "fan-out"}}}));
    let (answer, before) = server.answer(1);
    assert_eq!(answer["result"]["structuredContent"]["summary"]["requested"], 3);
    let progress: Vec<&Value> =
        before.iter().filter(|m| m["method"] == "notifications/progress").map(|m| &m["params"]).collect();
    let steps: Vec<(f64, f64)> =
        progress.iter().map(|p| (p["progress"].as_f64().unwrap(), p["total"].as_f64().unwrap())).collect();
    assert_eq!(steps, [(1.0, 3.0), (2.0, 3.0), (3.0, 3.0)], "{progress:?}");
    assert!(progress.iter().all(|p| p["progressToken"] == "fan-out"));
    let mut named: Vec<String> = progress.iter().map(|p| p["message"].as_str().unwrap().to_owned()).collect();
    named.sort();
    assert!(named[0].starts_with("dev answered") && named[1].starts_with("down failed"), "{named:?}");
    assert!(named[2].starts_with("prod answered"), "{named:?}");
}

/// A table comparison that carries a progress token reports the rows
/// compared out of the rows counted, before its result.
#[test]
fn a_table_comparison_reports_progress() {
    let (_dir, config) = config_dir();
    let mut server = RawServer::start(&config, &[]);
    server.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "diff_data", "arguments": {"environments": ["dev", "prod"], "table": "orders"},
        "_meta": {"progressToken": "diff"}}}));
    let (answer, before) = server.answer(1);
    assert_eq!(answer["result"]["structuredContent"]["total_differences"], 2, "{answer}");
    let progress: Vec<&Value> =
        before.iter().filter(|m| m["method"] == "notifications/progress").map(|m| &m["params"]).collect();
    assert!(!progress.is_empty(), "no progress before the result");
    for report in progress {
        assert_eq!((report["progressToken"].as_str(), report["total"].as_f64()), (Some("diff"), Some(5.0)));
        assert!(report["progress"].as_f64().unwrap() <= 5.0, "{report}");
        assert!(report["message"].as_str().unwrap().contains("rows compared"), "{report}");
    }
}

/// Starts a statement that would run for a minute on an environment whose
/// pool has one connection, cancels it, and returns the answer to the next
/// call on that environment (it gets the connection only if the cancelled
/// call gave it back; else it fails after its 2 s connect timeout), with the
/// server still running.
fn cancel_then_query(environment: &str, endless: &str) -> Serving {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("one.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.one]\n{environment}query_timeout_secs = 60\n\
             [environments.one.pool]\nmax_connections = 1\nconnect_timeout_secs = 2\n"
        ),
    )
    .unwrap();
    let mut server = RawServer::start(&config, &[]);
    server.call(1, "execute_query", json!({"sql": endless}));
    // Lets the statement reach the engine before it is cancelled.
    std::thread::sleep(std::time::Duration::from_millis(300));
    server.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}));
    server.call(2, "execute_query", json!({"sql": "SELECT 3 AS three"}));
    let answer = server.answer(2).0;
    Serving { answer, _server: server, _dir: dir }
}

struct Serving {
    answer: Value,
    _server: RawServer,
    _dir: tempfile::TempDir,
}

#[test]
fn a_cancelled_call_gives_its_connection_back_on_sqlite() {
    let served = cancel_then_query(
        "driver = \"sqlite\"\npath = \":memory:\"\n",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    );
    assert_eq!(served.answer["result"]["isError"], false, "{}", served.answer);
    assert_eq!(served.answer["result"]["structuredContent"]["rows"], json!([[3]]));
}

/// On PostgreSQL the cancelled statement also stops on the server (which
/// checks for a vanished client every second), long before its timeout, while
/// dbfleet goes on serving.
#[tokio::test]
async fn a_cancelled_call_gives_its_connection_back_and_stops_on_postgres() {
    let Some(url) = dbfleet_tests::services::postgres_url() else { return };
    let marker = format!("cancel_{}_{}", std::process::id(), dbfleet_tests::unique());
    let endless = format!("SELECT pg_sleep(60) AS {marker}");
    let served = cancel_then_query(&format!("driver = \"postgres\"\nurl = \"{url}\"\n"), &endless);
    assert_eq!(served.answer["result"]["isError"], false, "{}", served.answer);
    assert_eq!(served.answer["result"]["structuredContent"]["rows"], json!([[3]]));

    let dir = tempfile::tempdir().unwrap();
    let admin = format!("[environments.admin]\ndriver = \"postgres\"\nurl = \"{url}\"\n");
    let fleet =
        Fleet::start(&dbfleet_tests::config_in(dir.path(), &admin, &[]), StartOptions::default()).unwrap();
    fleet.wait_ready().await;
    let watch = QueryRequest {
        sql: format!(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE state = 'active' AND query LIKE '%{marker}%' AND pid <> pg_backend_pid()"
        ),
        ..Default::default()
    };
    let env = fleet.environment(Some("admin")).unwrap();
    let mut running = Vec::new();
    for _ in 0..100 {
        running = env.query(&watch).await.unwrap().rows;
        if running == [[dbfleet_core::Value::Int(0)]] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(running, [[dbfleet_core::Value::Int(0)]], "the statement still runs on the server");
    fleet.shutdown().await;
    drop(served);
}

#[test]
fn a_cancelled_call_gives_its_connection_back_on_mariadb() {
    let Some(url) = dbfleet_tests::services::mysql_url() else { return };
    let served = cancel_then_query(&format!("driver = \"mariadb\"\nurl = \"{url}\"\n"), "SELECT SLEEP(60)");
    assert_eq!(served.answer["result"]["isError"], false, "{}", served.answer);
    assert_eq!(served.answer["result"]["structuredContent"]["rows"], json!([[3]]));
}

#[test]
fn a_cancelled_call_gives_its_connection_back_on_sql_server() {
    let Some(server) = dbfleet_tests::sqlserver::sqlserver() else { return };
    let endless = if server.real {
        "SELECT COUNT_BIG(*) FROM sys.all_objects a CROSS JOIN sys.all_objects b CROSS JOIN sys.all_objects c"
    } else {
        "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT_BIG(*) FROM c"
    };
    let environment = format!("driver = \"sqlserver\"\n{}", server.settings("master"));
    let served = cancel_then_query(&environment, endless);
    assert_eq!(served.answer["result"]["isError"], false, "{}", served.answer);
    assert_eq!(served.answer["result"]["structuredContent"]["rows"], json!([[3]]));
}

/// Every tool on an estate of SQLite, PostgreSQL and MariaDB, and the exact
/// differences of the shop seeded on all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tools_work_across_sqlite_postgres_and_mariadb() {
    let Some(estate) = ShopEstate::create().await else { return };
    let config = estate.dir().join("estate.toml");
    std::fs::write(&config, format!("default_environment = \"staging\"\n{}", estate.environments(true)))
        .unwrap();
    let client = stdio_client(&config).await;

    let envs = ok(call(&client, "list_environments", json!({})).await);
    let versions: Vec<(&str, &str, &str)> = envs["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["status"].as_str().unwrap(),
                e["server_version"].as_str().unwrap(),
            )
        })
        .collect();
    for ((name, status, version), (want, engine)) in
        versions.iter().zip([("dev", "SQLite"), ("staging", "PostgreSQL"), ("legacy", "MariaDB")])
    {
        assert_eq!((*name, *status), (want, "healthy"));
        assert!(version.contains(engine), "{name}: {version}");
    }

    for env in ["dev", "staging", "legacy"] {
        let result = ok(call(
            &client,
            "execute_query_env",
            json!({"sql": "SELECT name FROM customers ORDER BY id", "environment": env}),
        )
        .await);
        assert_eq!(result["rows"], json!([["Ada"], ["Grace"]]), "{env}");
        let tables = ok(call(&client, "list_tables", json!({"environment": env})).await);
        let names: Vec<&str> =
            tables["result"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["customers", "orders"], "{env}");
        let orders =
            ok(call(&client, "describe_table", json!({"table": "orders", "environment": env})).await);
        assert_eq!(orders["table"]["primary_key"], json!(["id"]), "{env}");
        let test = ok(call(&client, "test_connection", json!({"environment": env})).await);
        assert_eq!(test["ok"], true, "{env}: {test}");
    }
    let default =
        ok(call(&client, "execute_query", json!({"sql": "SELECT COUNT(*) AS n FROM orders"})).await);
    assert_eq!((default["environment"].clone(), default["rows"].clone()), (json!("staging"), json!([[3]])));
    let databases = ok(call(&client, "list_databases", json!({"all_environments": true})).await);
    assert_eq!(databases["results"].as_object().unwrap().len(), 3, "{databases}");
    let health = ok(call(&client, "health_check", json!({})).await);
    assert!(health["environments"].as_array().unwrap().iter().all(|e| e["status"] == "healthy"), "{health}");

    let multi = ok(call(
        &client,
        "execute_query_multi_env",
        json!({"sql": "SELECT id, customer_id, amount FROM orders ORDER BY id", "key_columns": ["id"]}),
    )
    .await);
    assert_eq!(multi["summary"]["succeeded"], 3);
    let comparison = &multi["comparison"];
    assert_eq!(comparison["identical"], false);
    assert_eq!(comparison["row_counts"], json!({"dev": 2, "staging": 3, "legacy": 3}));
    assert_eq!(
        comparison["column_differences"],
        json!([{"kind": "logical_type", "column": "amount",
                "logical_types": {"dev": "decimal", "legacy": "float", "staging": "decimal"}}])
    );
    assert_eq!(
        comparison["differences"],
        json!([
            {"kind": "changed", "key": {"id": 2}, "column": "amount",
             "values": {"dev": "15.5", "legacy": 15.5, "staging": "20.00"}},
            {"kind": "missing", "key": {"id": 3}, "present_in": ["staging", "legacy"], "missing_from": ["dev"]}
        ])
    );

    let schema = ok(call(&client, "compare_schema", json!({"table": "orders"})).await);
    let differences = &schema["comparison"]["tables"][0]["differences"];
    let differences = differences.as_array().unwrap();
    assert!(
        differences.contains(&json!({"kind": "missing_column", "column": "note",
            "present_in": ["legacy"], "missing_from": ["dev", "staging"]})),
        "{differences:?}"
    );
    assert!(
        differences.contains(&json!({"kind": "logical_type", "column": "amount",
            "values": {"dev": "decimal", "legacy": "float", "staging": "decimal"}})),
        "{differences:?}"
    );

    // Objects found by name on every engine, with the detail asked for.
    let columns = ok(call(
        &client,
        "search_objects",
        json!({"pattern": "CUSTOMER", "kinds": ["column"], "detail": "summary", "all_environments": true}),
    )
    .await);
    for env in ["dev", "staging", "legacy"] {
        let found = &columns["results"][env];
        assert_eq!(found["truncated"], false, "{env}: {found}");
        let objects = found["objects"].as_array().unwrap();
        assert_eq!(objects.len(), 1, "{env}: {found}");
        assert_eq!(
            (objects[0]["kind"].clone(), objects[0]["table"].clone()),
            (json!("column"), json!("orders"))
        );
        assert_eq!(
            (objects[0]["name"].clone(), objects[0]["logical_type"].clone()),
            (json!("customer_id"), json!("int"))
        );
        assert!(objects[0]["type"].is_string() && objects[0].get("nullable").is_none(), "{env}: {found}");
    }
    let tables =
        ok(call(&client, "search_objects", json!({"pattern": "ord%", "environment": "legacy"})).await);
    let names: Vec<(&str, &str)> = tables["result"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["kind"].as_str().unwrap(), o["name"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("table", "orders")], "{tables}");
    let full = ok(call(
        &client,
        "search_objects",
        json!({"pattern": "%", "kinds": ["table"], "table": "customers", "detail": "full"}),
    )
    .await);
    let customers = &full["result"]["objects"][0];
    assert_eq!(full["environment"], "staging");
    assert_eq!(
        (customers["column_count"].clone(), customers["columns"].clone(), customers["primary_key"].clone()),
        (json!(2), json!(["id", "name"]), json!(["id"]))
    );
    let cut =
        ok(call(&client, "search_objects", json!({"pattern": "%", "limit": 1, "environment": "dev"})).await);
    assert_eq!(
        (cut["result"]["objects"].as_array().unwrap().len(), cut["result"]["truncated"].clone()),
        (1, json!(true))
    );
    let refused = error(call(&client, "search_objects", json!({"pattern": "%", "limit": 0})).await);
    assert_eq!(refused["kind"], "invalid_argument");

    // Plans, in each engine's form and in common terms, and what differs.
    let plans = ok(call(
        &client,
        "explain_query",
        json!({"sql": "SELECT * FROM orders WHERE id = 2", "all_environments": true}),
    )
    .await);
    let access = |env: &str| {
        let scans = plans["results"][env]["summary"]["scans"].as_array().unwrap().clone();
        assert_eq!(scans.len(), 1, "{env}: {plans}");
        assert_eq!(scans[0]["table"], "orders", "{env}: {plans}");
        (scans[0]["method"].as_str().unwrap().to_owned(), scans[0]["index"].as_str().map(str::to_owned))
    };
    assert_eq!(access("dev"), ("index_lookup".to_owned(), Some("INTEGER PRIMARY KEY".to_owned())));
    assert_eq!(access("legacy"), ("index_lookup".to_owned(), Some("PRIMARY".to_owned())));
    assert!(plans["results"]["staging"]["summary"]["estimated_cost"].is_number(), "{plans}");
    assert!(plans["results"]["staging"]["plan"][0]["Plan"]["Node Type"].is_string(), "{plans}");
    assert!(plans["results"]["dev"]["plan"][0]["detail"].as_str().unwrap().starts_with("SEARCH"), "{plans}");
    // The index names differ on every engine, so orders is read differently.
    let differences = plans["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "{plans}");
    assert_eq!(differences[0]["table"], "orders");
    let summary = differences[0]["summary"].as_str().unwrap();
    assert!(summary.starts_with("orders: index lookup (INTEGER PRIMARY KEY) on dev, "), "{summary}");
    assert!(summary.ends_with("index lookup (PRIMARY) on legacy"), "{summary}");
    // The read-only check applies to the statement explained.
    let delete = error(
        call(&client, "explain_query", json!({"sql": "DELETE FROM orders", "environment": "staging"})).await,
    );
    assert_eq!(delete["kind"], "read_only", "{delete}");
    // Nor can a statement turn the EXPLAIN into one that runs it.
    for (env, sql) in [
        ("staging", "ANALYZE DELETE FROM orders"),
        ("staging", "(ANALYZE) DELETE FROM orders"),
        ("legacy", "ANALYZE DELETE FROM orders"),
        ("dev", "DELETE FROM orders; SELECT 1"),
    ] {
        let refused = call(&client, "explain_query", json!({"sql": sql, "environment": env})).await;
        assert_eq!(refused.is_error, Some(true), "{env}: {sql}: {refused:?}");
    }
    let count = ok(call(&client, "execute_query", json!({"sql": "SELECT COUNT(*) FROM orders"})).await);
    assert_eq!(count["rows"], json!([[3]]));
    let both = error(
        call(
            &client,
            "explain_query",
            json!({"sql": "SELECT 1", "environment": "dev", "all_environments": true}),
        )
        .await,
    );
    assert_eq!(both["kind"], "invalid_argument");

    client.cancel().await.unwrap();
    estate.drop().await;
}

/// search_objects finds stored routines, and shows table and column
/// comments, where the engine keeps them; describe_table shows the comments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_objects_finds_routines_and_comments() {
    let Some(estate) = ShopEstate::create().await else { return };
    let config = dbfleet_tests::config_in(estate.dir(), &estate.environments(false), &[]);
    let writable =
        Fleet::start(&config, StartOptions { reconnect: false, ..StartOptions::default() }).unwrap();
    writable.wait_ready().await;
    for (env, sql) in [
        ("staging", "COMMENT ON TABLE orders IS 'One row per order'"),
        ("staging", "COMMENT ON COLUMN orders.amount IS 'In euros'"),
        (
            "staging",
            "CREATE FUNCTION order_total(customer integer) RETURNS numeric LANGUAGE sql \
             AS 'SELECT sum(amount) FROM orders WHERE customer_id = customer'",
        ),
        ("staging", "COMMENT ON FUNCTION order_total(integer) IS 'What a customer ordered'"),
        ("legacy", "ALTER TABLE orders COMMENT = 'One row per order'"),
        ("legacy", "ALTER TABLE orders MODIFY amount DOUBLE NOT NULL COMMENT 'In euros'"),
        (
            "legacy",
            "CREATE FUNCTION order_total(customer INT) RETURNS DOUBLE READS SQL DATA \
             COMMENT 'What a customer ordered' RETURN (SELECT SUM(amount) FROM orders WHERE customer_id = customer)",
        ),
    ] {
        let request = QueryRequest { sql: sql.into(), ..QueryRequest::default() };
        writable
            .environment(Some(env))
            .unwrap()
            .query(&request)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    writable.shutdown().await;
    let config = estate.dir().join("search.toml");
    std::fs::write(&config, estate.environments(true)).unwrap();
    let client = stdio_client(&config).await;

    let routines = ok(call(
        &client,
        "search_objects",
        json!({"pattern": "order_t%", "kinds": ["routine"], "detail": "summary", "all_environments": true}),
    )
    .await);
    let routine = |env: &str| routines["results"][env]["objects"].clone();
    assert_eq!(routine("dev"), json!([]), "SQLite stores no routines");
    let staging = &routine("staging")[0];
    assert_eq!(
        (&staging["kind"], &staging["name"], &staging["routine_kind"]),
        (&json!("routine"), &json!("order_total"), &json!("function"))
    );
    assert_eq!((&staging["arguments"], &staging["returns"]), (&json!("customer integer"), &json!("numeric")));
    assert_eq!(staging["comment"], "What a customer ordered");
    let legacy = &routine("legacy")[0];
    assert_eq!((&legacy["routine_kind"], &legacy["returns"]), (&json!("function"), &json!("double")));
    assert_eq!(legacy["comment"], "What a customer ordered");

    for env in ["staging", "legacy"] {
        let columns = ok(call(
            &client,
            "search_objects",
            json!({"pattern": "amount", "kinds": ["column"], "detail": "summary", "environment": env}),
        )
        .await);
        assert_eq!(columns["result"]["objects"][0]["comment"], "In euros", "{env}: {columns}");
        let described =
            ok(call(&client, "describe_table", json!({"table": "orders", "environment": env})).await);
        assert_eq!(described["table"]["comment"], "One row per order", "{env}: {described}");
    }
    let dev = ok(call(&client, "describe_table", json!({"table": "orders", "environment": "dev"})).await);
    assert!(dev["table"].get("comment").is_none(), "{dev}");
    client.cancel().await.unwrap();
    estate.drop().await;
}

/// The tools on a SQL Server environment (the TDS test endpoint, or the real
/// server of `DBFLEET_TEST_MSSQL_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tools_work_on_sql_server() {
    let Some(server) = dbfleet_tests::sqlserver::sqlserver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mssql.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.warehouse]\ndriver = \"sqlserver\"\n{}read_only = false\n",
            server.settings("master")
        ),
    )
    .unwrap();
    let client = stdio_client(&config).await;
    let table = format!("mcp_orders_{}", std::process::id());
    let run = |sql: String| {
        let client = &client;
        async move { ok(call(client, "execute_query", json!({"sql": sql})).await) }
    };
    run(format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, amount DECIMAL(10,2) NOT NULL, note NVARCHAR(40))"
    ))
    .await;
    let inserted = run(format!("INSERT INTO {table} VALUES (1, 9.99, N'héllo'), (2, 15.50, NULL)")).await;
    assert_eq!(inserted["affected_rows"], 2);

    let result = ok(call(
        &client,
        "execute_query",
        json!({"sql": format!("SELECT id, amount, note FROM {table} WHERE id > @P1 ORDER BY id"), "parameters": [0]}),
    )
    .await);
    assert_eq!(result["rows"], json!([[1, "9.99", "héllo"], [2, "15.50", null]]));
    assert_eq!(result["columns"][1], json!({"name": "amount", "type": "decimal", "logical_type": "decimal"}));
    let tables = ok(call(&client, "list_tables", json!({"pattern": table})).await);
    assert_eq!(tables["result"], json!([{"schema": "dbo", "name": table, "kind": "table"}]));
    let described = ok(call(&client, "describe_table", json!({"table": table})).await);
    assert_eq!(described["table"]["primary_key"], json!(["id"]));
    assert_eq!(described["table"]["columns"][1]["type"], "decimal(10,2)");
    let health = ok(call(&client, "health_check", json!({})).await);
    assert_eq!(health["environments"][0]["status"], "healthy");
    let searched = ok(call(&client, "search_objects", json!({"pattern": table})).await);
    assert_eq!(searched["result"]["objects"][0]["name"], json!(table));
    assert!(searched["result"]["note"].as_str().unwrap().contains("routines not searched"), "{searched}");
    let routines =
        error(call(&client, "search_objects", json!({"pattern": "%", "kinds": ["routine"]})).await);
    assert_eq!(routines["kind"], "invalid_argument");
    let unexplained = error(call(&client, "explain_query", json!({"sql": "SELECT 1"})).await);
    assert_eq!(unexplained["kind"], "invalid_argument");
    assert!(unexplained["message"].as_str().unwrap().contains("cannot explain"), "{unexplained}");
    let test = ok(call(&client, "test_connection", json!({"environment": "warehouse"})).await);
    assert!(test["server_version"].as_str().unwrap().contains("SQL Server"), "{test}");
    let missing = error(call(&client, "execute_query", json!({"sql": "SELECT * FROM no_such_table"})).await);
    assert_eq!((missing["kind"].clone(), missing["code"].clone()), (json!("query"), json!("208")));

    run(format!("DROP TABLE {table}")).await;
    client.cancel().await.unwrap();
}

/// Input that used to stop the server, or to go unanswered, gets an answer,
/// and the server goes on serving.
#[test]
fn hostile_input_is_answered_and_the_server_goes_on() {
    let (_dir, config) = config_dir();
    let mut server = RawServer::start(&config, &[]);

    let nested = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
    server.send_line(&format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"execute_query","arguments":{{"sql":"SELECT 1","parameters":{nested}}}}}}}"#
    ));
    let (answer, _) = server.answer(7);
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("recursion limit"), "{answer}");

    server.send_line(r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":"#);
    server.call(9, "execute_query", json!({"sql": format!("SELECT 1{}", "+1".repeat(50_000))}));
    let (answer, _) = server.answer(9);
    assert_eq!(answer["result"]["isError"], true, "SQLite refuses so deep an expression: {answer}");
    assert_eq!(answer["result"]["structuredContent"]["error"]["kind"], "query");

    server.call(10, "execute_query", json!({"sql": format!("SELECT '{}'", "x".repeat(2 << 20))}));
    let (answer, _) = server.answer(10);
    let error = &answer["result"]["structuredContent"]["error"];
    assert_eq!(error["kind"], "invalid_argument", "{answer}");
    assert!(error["message"].as_str().unwrap().contains("max_statement_bytes"), "{error}");

    server.call(11, "execute_query", json!({"sql": "SELECT 2 AS two"}));
    let (answer, before) = server.answer(11);
    assert!(before.is_empty(), "the broken line got no answer: {before:?}");
    assert_eq!(answer["result"]["structuredContent"]["rows"], json!([[2]]));
    let logs = server.finish();
    assert!(!logs.contains("panicked"), "{logs}");
}

/// Every tool says what it may do; with every environment read-only, the
/// query tools are read-only too.
#[test]
fn tools_carry_truthful_annotations() {
    let annotations = |config: &Path| {
        let mut server = RawServer::start(config, &[]);
        server.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
        let (answer, _) = server.answer(1);
        let tools = answer["result"]["tools"].as_array().unwrap().clone();
        tools
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_owned(), t["annotations"].clone()))
            .collect::<Vec<_>>()
    };
    let listing = json!({"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false});
    let writing = json!({"readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": false});

    let (_dir, config) = config_dir();
    let read_only = annotations(&config);
    assert_eq!(read_only.len(), dbfleet_core::config::BUILT_IN_TOOLS.len());
    for (name, annotation) in read_only {
        assert_eq!(annotation, listing, "{name} (every environment is read-only)");
    }

    let dir = tempfile::tempdir().unwrap();
    let mixed = dir.path().join("mixed.toml");
    std::fs::write(
        &mixed,
        "[environments.a]\ndriver = \"sqlite\"\npath = \":memory:\"\n\
         [environments.b]\ndriver = \"sqlite\"\npath = \":memory:\"\nread_only = false\n",
    )
    .unwrap();
    for (name, annotation) in annotations(&mixed) {
        let expected = if name.starts_with("execute_query") { &writing } else { &listing };
        assert_eq!(&annotation, expected, "{name} (b is writable)");
    }
}

/// A statement that runs until it is cancelled (or for the 60 s timeout).
const ENDLESS: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

/// A session on a SQLite environment whose calls may wait and run for a
/// minute, with a connection for every call that has a turn and one more
/// (a file: an in-memory database has one connection), so that a call that
/// has its turn never waits for a connection.
fn patient_session() -> (tempfile::TempDir, RawServer) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("one.toml");
    std::fs::write(
        &config,
        "[environments.one]\ndriver = \"sqlite\"\npath = \"one.db\"\nmode = \"create\"\nquery_timeout_secs = 60\n\
         [environments.one.pool]\nconnect_timeout_secs = 60\nmax_connections = 17\n",
    )
    .unwrap();
    let server = RawServer::start(&config, &[]);
    (dir, server)
}

/// A call with more than 64 KiB of arguments does not wait for a turn:
/// waiting calls keep their arguments in memory. With every turn taken by a
/// call that never ends, it is refused at once.
#[test]
fn a_large_call_does_not_wait_for_a_turn() {
    let (_dir, mut server) = patient_session();
    for id in 1..=16 {
        server.call(id, "execute_query", json!({"sql": ENDLESS}));
    }
    let large = format!("SELECT '{}' AS big", "x".repeat(100 * 1024));
    // Until the endless calls have all started, a large call may still find a turn.
    let refused = (100..200).find_map(|id| {
        server.call(id, "execute_query", json!({"sql": large}));
        let (answer, _) = server.answer(id);
        if answer["result"]["isError"] == true {
            return Some(answer);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        None
    });
    let answer = refused.expect("a large call is refused once every turn is taken");
    let error = &answer["result"]["structuredContent"]["error"];
    assert_eq!(error["kind"], "invalid_argument", "{answer}");
    assert!(error["message"].as_str().unwrap().contains("does not wait for a turn"), "{error}");
}

/// One session runs at most 16 calls at once and keeps up to 1024 more
/// waiting for their turn: of 1041 calls that never end, exactly one is
/// refused, at once, and no other is answered. Cancelled, they make room,
/// and a burst of calls is then answered in full.
#[test]
fn a_session_runs_a_bounded_number_of_calls_at_once() {
    let (_dir, mut server) = patient_session();
    let flood = 1..=1041_u64;
    for id in flood.clone() {
        server.call(id, "execute_query", json!({"sql": ENDLESS}));
    }
    let refused = loop {
        let message = server.next();
        if let Some(id) = message["id"].as_u64() {
            let error = &message["result"]["structuredContent"]["error"];
            assert_eq!(error["kind"], "invalid_argument", "{message}");
            assert!(
                error["message"].as_str().unwrap().contains("16 calls running and 1024 waiting"),
                "{error}"
            );
            break id;
        }
    };
    server.send(json!({"jsonrpc": "2.0", "id": 5000, "method": "ping"}));
    let (answer, before) = server.answer(5000);
    assert_eq!(answer["result"], json!({}), "{answer}");
    assert!(before.iter().all(|m| m["id"].is_null()), "only one call was answered: {before:?}");
    for id in flood.filter(|id| *id != refused) {
        server.send(
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id}}),
        );
    }
    let burst = 6000..6100_u64;
    for id in burst.clone() {
        server.call(id, "execute_query", json!({"sql": "SELECT 2 AS two"}));
    }
    let mut left = burst.end - burst.start;
    while left > 0 {
        let message = server.next();
        if message["id"].as_u64().is_some_and(|id| burst.contains(&id)) {
            assert_eq!(message["result"]["structuredContent"]["rows"], json!([[2]]), "{message}");
            left -= 1;
        }
    }
}

/// In stdio mode, `--metrics-listen` serves the same metrics over HTTP.
#[test]
fn stdio_serves_metrics_on_request() {
    let (_dir, config) = config_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let mut server = RawServer::start_serving(&config, &[], &["--metrics-listen", &address]);
    server.call(1, "execute_query", json!({"sql": "SELECT 1"}));
    let (answer, _) = server.answer(1);
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let page = runtime.block_on(async {
        reqwest::get(format!("http://{address}/metrics")).await.unwrap().text().await.unwrap()
    });
    assert!(
        page.contains(r#"dbfleet_tool_calls_total{tool="execute_query",outcome="ok",error_kind=""} 1"#),
        "{page}"
    );
    assert!(page.contains("dbfleet_mcp_sessions 1"), "{page}");

    // A client that never finishes its headers is cut off, as on the HTTP transport.
    use std::io::Read;
    let mut slow = std::net::TcpStream::connect(&address).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut answer = Vec::new();
    assert!(slow.read_to_end(&mut answer).is_ok(), "the listener still held the connection after 30 s");
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "no request was served");
}

/// The audit log over stdio: literals masked by default, and kept with
/// `include_literals`; never a password.
#[test]
fn the_audit_log_masks_literals_unless_asked() {
    for include_literals in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("audit.toml");
        std::fs::write(
            &config,
            format!(
                "[environments.one]\ndriver = \"sqlite\"\npath = \"one.db\"\nmode = \"create\"\nread_only = false\n\
                 password = \"hunter2-secret\"\n\
                 [audit]\npath = \"audit.jsonl\"\ninclude_literals = {include_literals}\n"
            ),
        )
        .unwrap();
        let mut server = RawServer::start(&config, &[]);
        server.call(1, "execute_query", json!({"sql": "CREATE TABLE t (name TEXT)"}));
        server.answer(1);
        server.call(2, "execute_query", json!({"sql": "INSERT INTO t VALUES ('ada@example.com')"}));
        server.answer(2);
        server.call(3, "execute_query", json!({"sql": "SELECT name FROM t WHERE name <> 'x' -- note"}));
        server.answer(3);
        drop(server);
        let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
        let records: Vec<Value> = audit.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(records.len(), 3, "{audit}");
        assert_eq!(records[1]["affected_rows"], 1);
        assert_eq!(records[2]["rows"], 1);
        assert_eq!(records[2]["client"], "stdio");
        assert!(records[2].get("session").is_none());
        assert!(!audit.contains("hunter2"), "{audit}");
        if include_literals {
            assert_eq!(records[1]["statement"], "INSERT INTO t VALUES ('ada@example.com')");
        } else {
            assert_eq!(records[1]["statement"], "INSERT INTO t VALUES (?)");
            assert_eq!(records[2]["statement"], "SELECT name FROM t WHERE name <> ?  ");
            assert!(!audit.contains("ada@example.com"), "{audit}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_check_and_test_connection_show_the_ssh_tunnel() {
    use dbfleet_tests::sshd::{self, Sshd};
    let Some(()) = sshd::available() else { return };
    let Some(pg) = dbfleet_tests::services::postgres_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = sshd::keygen(dir.path(), "client", None);
    let bastion = Sshd::start(dir.path(), "bastion", &[&key]);
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, bastion.known_host(bastion.port()) + "\n").unwrap();
    let impostor = dir.path().join("impostor_hosts");
    std::fs::write(&impostor, bastion.known_host(bastion.port()).replace("[127.0.0.1]", "[elsewhere]"))
        .unwrap();
    let env = |name: &str, known: &Path| {
        format!(
            "[environments.{name}]\ndriver = \"postgres\"\nurl = \"{pg}\"\n[environments.{name}.ssh]\n\
             host = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\nkey_file = \"{}\"\nknown_hosts_file = \"{}\"\n\
             config_file = \"none\"\nagent = false\n",
            bastion.port(),
            sshd::user(),
            key.display(),
            known.display()
        )
    };
    let config = dir.path().join("tunnel.toml");
    std::fs::write(&config, env("pg", &known_hosts) + &env("unknown_host", &impostor)).unwrap();
    let client = stdio_client(&config).await;

    let health = ok(call(&client, "health_check", json!({"environment": "pg"})).await);
    let tunnel = &health["environments"][0]["tunnel"];
    let route = format!(
        "{}@127.0.0.1:{} -> {}",
        sshd::user(),
        bastion.port(),
        dbfleet_tests::services::host_port(&pg)
    );
    assert_eq!(tunnel["route"], route.as_str(), "{health}");
    assert_eq!(tunnel["connected"], true, "{health}");

    let report = ok(call(&client, "test_connection", json!({"environment": "unknown_host"})).await);
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["failure_class"], "ssh", "{report}");
    assert_eq!(report["error"]["code"], "ssh_host_key", "{report}");
    assert!(report["error"]["message"].as_str().unwrap().contains("is not in"), "{report}");
    assert_eq!(report["tunnel"]["connected"], false, "{report}");
    client.cancel().await.unwrap();
}

/// `[alerts] webhook_url`: an environment down at start-up, one that loses
/// its server (a proxy cut) and gets it back: each change is one POST, in
/// order, retried when the receiver fails, and the URL's credential is
/// never logged.
#[test]
fn health_changes_are_posted_to_the_webhook() {
    use std::sync::{Arc, Mutex};
    let Some(pg) = dbfleet_tests::services::postgres_url() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let posts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let receiver = {
        let (received, posts) = (received.clone(), posts.clone());
        axum::Router::new().route(
            "/hook/{secret}",
            axum::routing::post(move |axum::Json(alert): axum::Json<Value>| async move {
                // The first delivery fails, to be retried.
                if posts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                received.lock().unwrap().push(alert);
                axum::http::StatusCode::OK
            }),
        )
    };
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let hook = format!("http://{}/hook/T0-webhook-credential", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, receiver).await });
    let mut proxy =
        runtime.block_on(dbfleet_tests::faults::Proxy::start(&dbfleet_tests::services::host_port(&pg)));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alerts.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.db]\ndriver = \"postgres\"\nurl = \"{}\"\n[environments.db.pool]\nconnect_timeout_secs = 2\n\
             [environments.down]\ndriver = \"sqlite\"\npath = \"missing.db\"\n\
             [alerts]\nwebhook_url = \"{hook}\"\nmax_attempts = 3\n",
            proxy.url(&pg)
        ),
    )
    .unwrap();
    let wait_for = |environment: &str, to: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let alerts = received.lock().unwrap().clone();
            if let Some(alert) = alerts.iter().find(|a| a["environment"] == environment && a["to"] == to) {
                return alert.clone();
            }
            assert!(std::time::Instant::now() < deadline, "no alert for {environment} {to}: {alerts:?}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let mut server = RawServer::start(&config, &[]);
    let down = wait_for("down", "unhealthy");
    assert_eq!(down["event"], "environment_health_changed");
    assert_eq!(down["from"], "connecting", "{down}");
    assert_eq!(down["error"]["kind"], "connection", "{down}");
    assert!(down["text"].as_str().unwrap().starts_with("dbfleet: environment down is unhealthy: "), "{down}");
    assert!(posts.load(std::sync::atomic::Ordering::SeqCst) >= 2, "the failed first delivery was retried");

    runtime.block_on(proxy.cut());
    server.call(1, "execute_query", json!({"environment": "db", "sql": "SELECT 1"}));
    assert_eq!(server.answer(1).0["result"]["isError"], true);
    let lost = wait_for("db", "unhealthy");
    assert_eq!(lost["from"], "healthy", "{lost}");
    runtime.block_on(proxy.restore());
    let back = wait_for("db", "healthy");
    assert_eq!(back["from"], "unhealthy", "{back}");
    assert!(back.get("error").is_none(), "{back}");
    assert_eq!(back["text"], "dbfleet: environment db is healthy again");
    let logs = server.finish();
    assert!(!logs.contains("T0-webhook-credential"), "{logs}");
}

/// `[telemetry]`: a span per tool call and, inside it, one per statement,
/// exported over OTLP/HTTP to a receiver the test runs; statements with
/// their literals masked; failures marked.
#[test]
fn tool_calls_and_their_statements_are_traced_over_otlp() {
    use std::sync::{Arc, Mutex};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let receiver = {
        let received = received.clone();
        axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |axum::Json(export): axum::Json<Value>| async move {
                received.lock().unwrap().push(export);
                axum::http::StatusCode::OK
            }),
        )
    };
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, receiver).await });
    let (Some(pg), Some(maria)) =
        (dbfleet_tests::services::postgres_url(), dbfleet_tests::services::mysql_url())
    else {
        return;
    };
    let (_dir, config) = config_dir();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[environments.pg]\ndriver = \"postgres\"\nurl = \"{pg}\"\n[environments.maria]\ndriver = \"mysql\"\nurl = \"{maria}\"\n\
         [telemetry]\notlp_endpoint = \"{endpoint}\"\nservice_name = \"dbfleet-under-test\"\n"
    ));
    std::fs::write(&config, text).unwrap();

    let mut server = RawServer::start(&config, &[]);
    server.call(
        3,
        "execute_query_multi_env",
        json!({"environments": ["pg", "maria"], "sql": "SELECT 'x' AS letter"}),
    );
    assert_eq!(server.answer(3).0["result"]["isError"], false);
    server.call(
        1,
        "execute_query",
        json!({"environment": "dev", "sql": "SELECT COUNT(*) AS n FROM customers WHERE id > 0"}),
    );
    assert_eq!(server.answer(1).0["result"]["isError"], false);
    server.call(2, "execute_query", json!({"environment": "dev", "sql": "SELECT * FROM nowhere"}));
    assert_eq!(server.answer(2).0["result"]["isError"], true);
    // The process flushes its spans as it ends.
    server.finish();

    let exports = received.lock().unwrap().clone();
    let mut spans: Vec<(Value, std::collections::BTreeMap<String, Value>)> = Vec::new();
    for export in &exports {
        for resource in export["resourceSpans"].as_array().into_iter().flatten() {
            let service = attributes(&resource["resource"])["service.name"].clone();
            assert_eq!(service["stringValue"], "dbfleet-under-test", "{resource}");
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    spans.push((span.clone(), attributes(span)));
                }
            }
        }
    }
    let named = |name: &str| -> Vec<&(Value, std::collections::BTreeMap<String, Value>)> {
        spans.iter().filter(|(span, _)| span["name"] == name).collect()
    };
    for (environment, system) in [("pg", "postgres"), ("maria", "mysql")] {
        let found = named(&format!("statement {environment}"));
        assert_eq!(found.len(), 1, "{exports:?}");
        assert_eq!(found[0].1["db.system.name"]["stringValue"], system);
        assert_eq!(found[0].1["db.query.text"]["stringValue"], "SELECT ? AS letter");
        let fan_out = &named("tools/call execute_query_multi_env")[0].0;
        assert_eq!(
            found[0].0["traceId"], fan_out["traceId"],
            "both engines' statements are in the fan-out's trace"
        );
    }
    let calls = named("tools/call execute_query");
    let statements = named("statement dev");
    assert_eq!((calls.len(), statements.len()), (2, 2), "{exports:?}");
    for ((call, call_attributes), (statement, attributes)) in calls.iter().zip(&statements) {
        assert_eq!(call_attributes["gen_ai.tool.name"]["stringValue"], "execute_query");
        assert_eq!(call_attributes["dbfleet.client"]["stringValue"], "stdio");
        assert_eq!(statement["traceId"], call["traceId"], "one trace per call");
        assert_eq!(statement["parentSpanId"], call["spanId"], "the statement runs inside its call");
        assert_eq!(attributes["db.system.name"]["stringValue"], "sqlite");
        assert_eq!(attributes["dbfleet.environment"]["stringValue"], "dev");
    }
    let (ok, failed) = if statements[0].1.contains_key("error.type") {
        (&statements[1].1, &statements[0].1)
    } else {
        (&statements[0].1, &statements[1].1)
    };
    assert_eq!(ok["db.query.text"]["stringValue"], "SELECT COUNT(*) AS n FROM customers WHERE id > ?");
    assert!(ok["db.response.returned_rows"]["intValue"].to_string().contains('1'), "{ok:?}");
    assert_eq!(failed["error.type"]["stringValue"], "query", "{failed:?}");
    assert!(
        calls.iter().any(|(call, attributes)| attributes
            .get("error.type")
            .is_some_and(|t| t["stringValue"] == "query")
            && call["status"]["code"].to_string().contains('2')),
        "the failed call is marked as an error: {calls:?}"
    );
}

/// An OTLP/JSON object's `attributes`, by key.
fn attributes(item: &Value) -> std::collections::BTreeMap<String, Value> {
    item["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|attribute| (attribute["key"].as_str().unwrap().to_owned(), attribute["value"].clone()))
        .collect()
}
