//! Tools defined in the configuration file (`[tools.NAME]`), through a real
//! MCP client over stdio against the built binary: on SQLite, PostgreSQL
//! and MariaDB at once, with their parameters bound on every engine.

#[expect(dead_code, reason = "the shared helpers this file does not call")]
mod common;

use common::{call, error, ok, stdio_client};
use dbfleet_tests::estate::ShopEstate;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

const TOOLS: &str = r#"
[tools.orders_of]
description = "The orders of one customer, by id"
sql = "SELECT id, amount FROM orders WHERE customer_id = :customer AND id >= :from_id ORDER BY id"
[tools.orders_of.parameters.customer]
type = "integer"
description = "The customer's id"
[tools.orders_of.parameters.from_id]
type = "integer"
default = 1

[tools.shout]
description = "A customer's name, shouted"
[tools.shout.sql]
mysql = "SELECT CONCAT(name, '!') AS shout FROM customers WHERE name = :name"
default = "SELECT name || '!' AS shout FROM customers WHERE name = :name"
[tools.shout.parameters.name]
type = "enum"
values = ["Ada", "Grace"]

[tools.find_customer]
description = "Customers by exact name"
sql = "SELECT id FROM customers WHERE name = :name ORDER BY id"
[tools.find_customer.parameters.name]
type = "string"

[tools.order_note]
description = "The note of an order (only the legacy database keeps notes)"
sql = "SELECT note FROM orders WHERE id = :id"
environments = ["legacy"]
[tools.order_note.parameters.id]
type = "integer"

[tools.bump]
description = "Adds one to an order's amount"
sql = "UPDATE orders SET amount = amount + 1 WHERE id = :id"
writes = true
[tools.bump.parameters.id]
type = "integer"
"#;

/// Every kind of call of configured tools on the shop seeded on SQLite
/// (`dev`), PostgreSQL (`staging`) and MariaDB (`legacy`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_tools_run_on_one_several_or_all_environments() {
    let Some(estate) = ShopEstate::create().await else { return };
    let config = estate.dir().join("tools.toml");
    std::fs::write(
        &config,
        format!("default_environment = \"staging\"\n{}{TOOLS}", estate.environments(true)),
    )
    .unwrap();
    let client = stdio_client(&config).await;

    let tools = client.list_all_tools().await.unwrap();
    let orders_of = tools.iter().find(|t| t.name == "orders_of").expect("orders_of is listed");
    let schema = serde_json::to_value(&*orders_of.input_schema).unwrap();
    assert_eq!(schema["required"], json!(["customer"]));
    assert_eq!(
        schema["properties"]["customer"],
        json!({"type": "integer", "description": "The customer's id"})
    );
    assert_eq!(schema["properties"]["from_id"], json!({"type": "integer", "default": 1}));
    assert_eq!(schema["additionalProperties"], json!(false));
    for argument in dbfleet_core::config::TOOL_CALL_ARGUMENTS {
        assert!(schema["properties"][argument].is_object(), "{argument}: {schema}");
    }
    assert!(jsonschema::validator_for(&schema).is_ok());
    let description = orders_of.description.as_deref().unwrap_or_default();
    assert_eq!(description, "The orders of one customer, by id (runs on: dev, staging, legacy)");
    let hints = |name: &str| {
        let annotations = tools.iter().find(|t| t.name == name).unwrap().annotations.clone().unwrap();
        (annotations.read_only_hint, annotations.destructive_hint)
    };
    assert_eq!(hints("orders_of"), (Some(true), Some(false)));
    assert_eq!(hints("bump"), (Some(false), Some(true)));
    let shout = tools.iter().find(|t| t.name == "shout").unwrap();
    assert_eq!(shout.input_schema["properties"]["name"]["enum"], json!(["Ada", "Grace"]));

    // No environment named: the default one; values bound on PostgreSQL.
    let one = ok(call(&client, "orders_of", json!({"customer": 2})).await);
    assert_eq!((one["environment"].clone(), one["rows"].clone()), (json!("staging"), json!([[2, "20.00"]])));
    // A default overridden; the value given as a string, as some clients send it.
    let one =
        ok(call(&client, "orders_of", json!({"customer": 1, "from_id": "2", "environment": "legacy"})).await);
    assert_eq!(one["rows"], json!([[3, 100.0]]));

    // Several environments: results tagged by environment, and compared.
    let several =
        ok(call(&client, "orders_of", json!({"customer": 1, "environments": ["dev", "staging"]})).await);
    assert_eq!(several["summary"]["succeeded"], 2);
    assert_eq!(several["results"]["dev"]["rows"], json!([[1, "9.99"]]));
    assert_eq!(several["results"]["staging"]["rows"], json!([[1, "9.99"], [3, "100.00"]]));
    assert_eq!(several["comparison"]["identical"], false);
    assert_eq!(several["comparison"]["row_counts"], json!({"dev": 1, "staging": 2}));

    // Every environment, each with its engine's statement.
    let all = ok(call(&client, "shout", json!({"name": "Ada", "all_environments": true})).await);
    assert_eq!(all["summary"]["environments"], json!(["dev", "staging", "legacy"]));
    for env in ["dev", "staging", "legacy"] {
        assert_eq!(all["results"][env]["rows"], json!([["Ada!"]]), "{env}: {all}");
    }
    assert_eq!(all["comparison"]["identical"], true);

    // Values are bound, never spliced: a quote is just a character.
    let injected = ok(call(
        &client,
        "find_customer",
        json!({"name": "Ada' OR '1'='1", "all_environments": true, "compare": false}),
    )
    .await);
    for env in ["dev", "staging", "legacy"] {
        assert_eq!(injected["results"][env]["rows"], json!([]), "{env}: {injected}");
    }
    assert!(injected.get("comparison").is_none_or(Value::is_null), "{injected}");

    // A tool of one environment needs no environment argument.
    let note = ok(call(&client, "order_note", json!({"id": 1})).await);
    assert_eq!((note["environment"].clone(), note["rows"].clone()), (json!("legacy"), json!([[null]])));

    // Bad calls: clear errors, nothing run.
    let missing = error(call(&client, "orders_of", json!({})).await);
    assert_eq!(missing["kind"], "invalid_argument");
    assert!(missing["message"].as_str().unwrap().contains("parameter 'customer' is required"), "{missing}");
    let mistyped = error(call(&client, "orders_of", json!({"customer": "one"})).await);
    assert!(
        mistyped["message"].as_str().unwrap().contains("expected an integer, found a string"),
        "{mistyped}"
    );
    let not_listed = error(call(&client, "shout", json!({"name": "Linus"})).await);
    assert!(not_listed["message"].as_str().unwrap().contains("expected one of Ada, Grace"), "{not_listed}");
    let elsewhere = error(call(&client, "order_note", json!({"id": 1, "environment": "dev"})).await);
    assert_eq!(
        (elsewhere["kind"].clone(), elsewhere["environment"].clone()),
        (json!("invalid_argument"), json!("dev"))
    );
    assert!(elsewhere["message"].as_str().unwrap().contains("runs on legacy"), "{elsewhere}");
    let both = error(
        call(&client, "orders_of", json!({"customer": 1, "environment": "dev", "all_environments": true}))
            .await,
    );
    assert!(
        both["message"].as_str().unwrap().contains("one of environment, environments and all_environments")
    );

    // A writing tool on read-only environments: refused by each, not run.
    let refused = ok(call(&client, "bump", json!({"id": 1, "all_environments": true})).await);
    for env in ["dev", "staging", "legacy"] {
        assert_eq!(refused["errors"][env]["kind"], "read_only", "{env}: {refused}");
    }
    let amounts = ok(call(&client, "orders_of", json!({"customer": 1, "environment": "staging"})).await);
    assert_eq!(amounts["rows"][0], json!([1, "9.99"]));

    client.cancel().await.unwrap();
    estate.drop().await;
}

/// `[server] tools` chooses the tools a client sees and may call.
#[tokio::test]
async fn a_tool_set_hides_the_other_tools() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("set.toml");
    std::fs::write(
        &config,
        "[server]\ntools = [\"list_environments\", \"answer\"]\n\
         [environments.dev]\ndriver = \"sqlite\"\npath = \"dev.db\"\nmode = \"create\"\n\
         [tools.answer]\ndescription = \"The answer\"\nsql = \"SELECT :n * 2 AS answer\"\n\
         [tools.answer.parameters.n]\ntype = \"integer\"\ndefault = 21\n",
    )
    .unwrap();
    let client = stdio_client(&config).await;
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(names, ["answer", "list_environments"]);
    let answer = ok(call(&client, "answer", json!({})).await);
    assert_eq!(answer["rows"], json!([[42]]));
    let hidden = client
        .call_tool(
            CallToolRequestParams::new("execute_query")
                .with_arguments(json!({"sql": "SELECT 1"}).as_object().cloned().unwrap()),
        )
        .await;
    assert!(hidden.is_err(), "a tool outside the set answered: {hidden:?}");
    client.cancel().await.unwrap();
}
