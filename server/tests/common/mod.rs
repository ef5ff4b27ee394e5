//! What the MCP tests share, whatever the transport: the demo config, calls
//! through a real client, and the check of every tool's answer.

use std::path::{Path, PathBuf};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{Peer, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// A client of the built `dbfleet serve --config FILE` over stdio.
pub async fn stdio_client(config: &Path) -> RunningService<RoleClient, ()> {
    let transport = TokioChildProcess::new(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dbfleet")).configure(|cmd| {
            cmd.arg("serve").arg("--config").arg(config).env_remove("RUST_LOG");
        }),
    )
    .unwrap();
    ().serve(transport).await.expect("the server initializes")
}

/// The quickstart demo plus an environment that is down and one disabled.
pub fn config_dir() -> (tempfile::TempDir, PathBuf) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("seed")).unwrap();
    for file in ["shop-dev.sql", "shop-prod.sql"] {
        std::fs::copy(examples.join("seed").join(file), dir.path().join("seed").join(file)).unwrap();
    }
    let mut config = std::fs::read_to_string(examples.join("quickstart.toml")).unwrap();
    config.push_str(
        "\n[environments.down]\ndriver = \"sqlite\"\npath = \"missing.db\"\n\
         [environments.off]\ndriver = \"sqlite\"\npath = \":memory:\"\nenabled = false\n",
    );
    let path = dir.path().join("mcp.toml");
    std::fs::write(&path, config).unwrap();
    (dir, path)
}

/// Calls `tool`, and checks that its structured content, success or failure,
/// is what the tool's output schema in `tools/list` promises.
pub async fn call(client: &Peer<RoleClient>, tool: &str, args: Value) -> CallToolResult {
    let args = args.as_object().cloned().unwrap_or_default();
    let result =
        client.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args)).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let schema = tools
        .iter()
        .find(|t| t.name == tool)
        .and_then(|t| t.output_schema.clone())
        .unwrap_or_else(|| panic!("{tool} has no output schema"));
    let schema = Value::Object(schema.as_ref().clone());
    let structured = result.structured_content.clone().expect("structuredContent");
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{tool}: bad schema: {e}"));
    let problems: Vec<String> =
        validator.iter_errors(&structured).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(
        problems.is_empty(),
        "{tool}: the answer does not fit the output schema: {problems:?}\n{structured}"
    );
    result
}

pub fn ok(result: CallToolResult) -> Value {
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let marks =
        result.meta.as_ref().map_or(0, |meta| meta.0.keys().filter(|k| k.starts_with("io.dbfleet/")).count());
    assert_eq!(marks, 0, "a transport mark reached the client: {:?}", result.meta);
    let structured = result.structured_content.clone().expect("structuredContent");
    let text = result.content[0].as_text().expect("text content").text.clone();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        structured,
        "text and structured content agree"
    );
    structured
}

pub fn error(result: CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(true), "{result:?}");
    result.structured_content.expect("structuredContent")["error"].clone()
}

/// Calls every tool once on the config of [`config_dir`] and checks its answer.
pub async fn every_tool_answers(client: &Peer<RoleClient>) {
    let envs = ok(call(client, "list_environments", json!({})).await);
    let statuses: Vec<(String, String)> = envs["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("dev".to_owned(), "healthy".to_owned()),
            ("prod".to_owned(), "healthy".to_owned()),
            ("down".to_owned(), "unhealthy".to_owned()),
            ("off".to_owned(), "disabled".to_owned())
        ]
    );
    assert!(envs["environments"][2]["last_error"]["message"].as_str().unwrap().contains("missing.db"));

    let result = ok(call(
        client,
        "execute_query",
        json!({"sql": "SELECT id FROM orders WHERE id > ? ORDER BY id", "parameters": [1002], "max_rows": 1}),
    )
    .await);
    assert_eq!(result["environment"], "dev");
    assert_eq!(result["rows"], json!([[1003]]));
    assert_eq!(result["truncated"], true);
    assert!(result["note"].as_str().unwrap().contains("max_rows"));
    assert_eq!(result["columns"][0], json!({"name": "id", "type": "INTEGER", "logical_type": "int"}));

    let result = ok(call(
        client,
        "execute_query_env",
        json!({"sql": "SELECT count(*) AS n FROM orders", "environment": "prod"}),
    )
    .await);
    assert_eq!(result["rows"], json!([[5]]));

    let multi = ok(call(
        client,
        "execute_query_multi_env",
        json!({"sql": "SELECT id, amount FROM orders", "key_columns": ["id"]}),
    )
    .await);
    assert_eq!(multi["summary"]["requested"], 3);
    assert_eq!(multi["errors"]["down"]["kind"], "connection");
    assert_eq!(multi["comparison"]["identical"], false);
    assert_eq!(
        multi["comparison"]["differences"],
        json!([
            {"kind": "changed", "key": {"id": 1002}, "column": "amount", "values": {"dev": "59.8", "prod": "64.9"}},
            {"kind": "missing", "key": {"id": 1005}, "present_in": ["prod"], "missing_from": ["dev"]}
        ])
    );

    let diff =
        ok(call(client, "diff_data", json!({"environments": ["dev", "prod"], "table": "orders"})).await);
    assert_eq!((diff["method"].as_str(), diff["identical"].as_bool()), (Some("bisect"), Some(false)));
    assert_eq!(diff["row_counts"], json!({"dev": 4, "prod": 5}));
    assert_eq!(
        diff["differences"],
        json!([
            {"kind": "changed", "key": {"id": 1002}, "column": "amount", "values": {"dev": "59.8", "prod": "64.9"}},
            {"kind": "missing", "key": {"id": 1005}, "present_in": ["prod"], "missing_from": ["dev"]}
        ])
    );
    let refused = error(call(client, "diff_data", json!({"environments": ["dev", "prod"]})).await);
    assert_eq!(refused["kind"], "invalid_argument");
    assert!(refused["message"].as_str().unwrap().contains("table or query"), "{refused}");

    let databases = ok(call(client, "list_databases", json!({"all_environments": true})).await);
    assert_eq!(databases["results"]["dev"][0]["name"], "main");
    assert_eq!(databases["errors"]["down"]["kind"], "connection");

    let tables = ok(call(client, "list_tables", json!({"environment": "prod", "pattern": "ord%"})).await);
    let names: Vec<&str> =
        tables["result"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["order_totals", "orders"]);

    let described = ok(call(client, "describe_table", json!({"table": "orders"})).await);
    assert_eq!(described["table"]["primary_key"], json!(["id"]));
    assert_eq!(described["table"]["foreign_keys"].as_array().unwrap().len(), 2);

    let schema = ok(call(client, "compare_schema", json!({"environments": ["dev", "prod"]})).await);
    assert_eq!(
        schema["comparison"]["tables"],
        json!([{"table": "products", "differences": [
            {"kind": "missing_column", "column": "weight_grams", "present_in": ["dev"], "missing_from": ["prod"]}
        ]}])
    );

    let health = ok(call(client, "health_check", json!({"environment": "prod"})).await);
    assert_eq!(health["environments"][0]["status"], "healthy");
    assert!(health["environments"][0]["pool"]["max"].as_u64().unwrap() >= 1);

    let test = ok(call(client, "test_connection", json!({"environment": "prod"})).await);
    assert_eq!(test["ok"], true);
    assert!(test["server_version"].as_str().unwrap().starts_with("SQLite"));
    let failed = ok(call(client, "test_connection", json!({"environment": "down"})).await);
    assert_eq!((failed["ok"].clone(), failed["failure_class"].clone()), (json!(false), json!("database")));
}

/// Five queries from each client at once; every answer is its own.
pub async fn concurrent_calls(clients: &[&Peer<RoleClient>]) {
    let calls = clients.iter().enumerate().flat_map(|(c, client)| {
        (0..5).map(move |i| async move {
            let n = c * 10 + i;
            let result = ok(call(client, "execute_query", json!({"sql": format!("SELECT {n} AS n")})).await);
            assert_eq!(result["rows"], json!([[n]]));
        })
    });
    futures::future::join_all(calls).await;
}

/// `dbfleet serve --transport http` on 127.0.0.1:`port` with `config`, whose
/// `[server] auth_token_env` is `DBFLEET_TEST_TOKEN`, set to `token`.
pub fn spawn_http(config: &Path, port: u16, token: &str) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .args(["serve", "--transport", "http", "--listen", &format!("127.0.0.1:{port}"), "--config"])
        .arg(config)
        .env("DBFLEET_TEST_TOKEN", token)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}
