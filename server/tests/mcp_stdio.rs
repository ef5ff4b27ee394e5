//! The MCP server through a real MCP client (rmcp) over stdio, starting the
//! built `dbfleet` binary: tools, schemas, results and every error case.

use std::path::{Path, PathBuf};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// The quickstart demo plus an environment that is down and one disabled.
fn config_dir() -> (tempfile::TempDir, PathBuf) {
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

async fn client(config: &Path) -> RunningService<RoleClient, ()> {
    let transport = TokioChildProcess::new(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dbfleet")).configure(|cmd| {
            cmd.arg("serve").arg("--config").arg(config).env_remove("RUST_LOG");
        }),
    )
    .unwrap();
    ().serve(transport).await.expect("the server initializes")
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> CallToolResult {
    let args = args.as_object().cloned().unwrap_or_default();
    client.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args)).await.unwrap()
}

fn ok(result: CallToolResult) -> Value {
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let structured = result.structured_content.clone().expect("structuredContent");
    let text = result.content[0].as_text().expect("text content").text.clone();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        structured,
        "text and structured content agree"
    );
    structured
}

fn error(result: CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(true), "{result:?}");
    result.structured_content.expect("structuredContent")["error"].clone()
}

#[tokio::test]
async fn tools_are_listed_with_their_schemas() {
    let (_dir, config) = config_dir();
    let client = client(&config).await;
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
            "execute_query",
            "execute_query_env",
            "execute_query_multi_env",
            "health_check",
            "list_databases",
            "list_environments",
            "list_tables",
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
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn every_tool_answers() {
    let (_dir, config) = config_dir();
    let client = client(&config).await;

    let envs = ok(call(&client, "list_environments", json!({})).await);
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
        &client,
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
        &client,
        "execute_query_env",
        json!({"sql": "SELECT count(*) AS n FROM orders", "environment": "prod"}),
    )
    .await);
    assert_eq!(result["rows"], json!([[5]]));

    let multi = ok(call(
        &client,
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

    let databases = ok(call(&client, "list_databases", json!({"all_environments": true})).await);
    assert_eq!(databases["results"]["dev"][0]["name"], "main");
    assert_eq!(databases["errors"]["down"]["kind"], "connection");

    let tables = ok(call(&client, "list_tables", json!({"environment": "prod", "pattern": "ord%"})).await);
    let names: Vec<&str> =
        tables["result"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["order_totals", "orders"]);

    let described = ok(call(&client, "describe_table", json!({"table": "orders"})).await);
    assert_eq!(described["table"]["primary_key"], json!(["id"]));
    assert_eq!(described["table"]["foreign_keys"].as_array().unwrap().len(), 2);

    let schema = ok(call(&client, "compare_schema", json!({"environments": ["dev", "prod"]})).await);
    assert_eq!(
        schema["comparison"]["tables"],
        json!([{"table": "products", "differences": [
            {"kind": "missing_column", "column": "weight_grams", "present_in": ["dev"], "missing_from": ["prod"]}
        ]}])
    );

    let health = ok(call(&client, "health_check", json!({"environment": "prod"})).await);
    assert_eq!(health["environments"][0]["status"], "healthy");
    assert!(health["environments"][0]["pool"]["max"].as_u64().unwrap() >= 1);

    let test = ok(call(&client, "test_connection", json!({"environment": "prod"})).await);
    assert_eq!(test["ok"], true);
    assert!(test["server_version"].as_str().unwrap().starts_with("SQLite"));
    let failed = ok(call(&client, "test_connection", json!({"environment": "down"})).await);
    assert_eq!((failed["ok"].clone(), failed["failure_class"].clone()), (json!(false), json!("database")));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn failures_are_tool_errors_with_their_kind_and_the_server_keeps_serving() {
    let (_dir, config) = config_dir();
    let client = client(&config).await;
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

#[tokio::test]
async fn concurrent_clients_are_served() {
    let (_dir, config) = config_dir();
    let clients = futures::future::join_all((0..4).map(|_| client(&config))).await;
    let calls = clients.iter().enumerate().flat_map(|(c, client)| {
        (0..5).map(move |i| async move {
            let n = c * 10 + i;
            let result = ok(call(client, "execute_query", json!({"sql": format!("SELECT {n} AS n")})).await);
            assert_eq!(result["rows"], json!([[n]]));
        })
    });
    futures::future::join_all(calls).await;
    for client in clients {
        client.cancel().await.unwrap();
    }
}
