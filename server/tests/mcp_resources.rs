//! Resources (every table as `dbfleet://ENV/SCHEMA/TABLE`), prompts and
//! completions through a real MCP client over stdio, on the shop seeded on
//! SQLite, PostgreSQL and MariaDB, plus a SQLite environment of 150 tables
//! for the pagination of `resources/list`.

#[expect(dead_code, reason = "the shared helpers this file does not call")]
mod common;

use std::collections::{BTreeSet, HashMap};

use common::stdio_client;
use dbfleet_tests::estate::ShopEstate;
use rmcp::model::{
    CompletionContext, GetPromptRequestParams, PaginatedRequestParams, ReadResourceRequestParams,
    ResourceContents,
};
use serde_json::{Value, json};

const MANY_TABLES: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_are_resources_and_prompts_complete_their_arguments() {
    let Some(estate) = ShopEstate::create().await else { return };
    let seed: String =
        (0..MANY_TABLES).map(|i| format!("CREATE TABLE t{i:03} (id INTEGER PRIMARY KEY);\n")).collect();
    std::fs::write(estate.dir().join("many.sql"), seed).unwrap();
    let config = estate.dir().join("resources.toml");
    std::fs::write(
        &config,
        format!(
            "default_environment = \"staging\"\n{}\
             [environments.many]\ndriver = \"sqlite\"\npath = \"many.db\"\nmode = \"create\"\ninit_script = \"many.sql\"\n",
            estate.environments(true)
        ),
    )
    .unwrap();
    let client = stdio_client(&config).await;
    let capabilities = client.peer_info().unwrap().capabilities.clone();
    assert!(
        capabilities.resources.is_some()
            && capabilities.prompts.is_some()
            && capabilities.completions.is_some()
    );

    // Every table of every environment, over pages of at most 100.
    let first = client.list_resources(None).await.unwrap();
    assert_eq!(first.resources.len(), 100);
    let cursor = first.next_cursor.clone().expect("a second page");
    let second = client
        .list_resources(Some(PaginatedRequestParams::default().with_cursor(Some(cursor))))
        .await
        .unwrap();
    assert!(!second.resources.is_empty());
    let all = client.list_all_resources().await.unwrap();
    let uris: BTreeSet<&str> = all.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris.len(), all.len(), "each resource once");
    assert_eq!(all.len(), 3 * 2 + MANY_TABLES, "{uris:#?}");
    for uri in ["dbfleet://dev/main/orders", "dbfleet://staging/public/orders", "dbfleet://many/main/t149"] {
        assert!(uris.contains(uri), "{uri} in {uris:#?}");
    }
    let legacy = all.iter().find(|r| r.uri.starts_with("dbfleet://legacy/") && r.name == "orders").unwrap();
    assert_eq!(legacy.mime_type.as_deref(), Some("application/json"));
    assert!(legacy.title.as_deref().unwrap().starts_with("legacy: "), "{legacy:?}");

    // A table read as its definition.
    let read = client
        .read_resource(ReadResourceRequestParams::new("dbfleet://staging/public/orders"))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, mime_type, .. } = &read.contents[0] else {
        panic!("text contents: {read:?}")
    };
    assert_eq!(mime_type.as_deref(), Some("application/json"));
    let table: Value = serde_json::from_str(text).unwrap();
    assert_eq!(table["environment"], "staging");
    assert_eq!(table["table"]["primary_key"], json!(["id"]));
    let legacy_table =
        client.read_resource(ReadResourceRequestParams::new(legacy.uri.clone())).await.unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &legacy_table.contents[0] else { panic!() };
    assert!(text.contains("\"note\""), "legacy's orders have a note column: {text}");
    for missing in ["dbfleet://staging/public/no_such_table", "dbfleet://nowhere/-/t", "https://example.com/"]
    {
        let err = client.read_resource(ReadResourceRequestParams::new(missing)).await.unwrap_err();
        assert!(
            err.to_string().contains("-32002") || err.to_string().contains("no such resource"),
            "{missing}: {err}"
        );
    }
    let templates = client.list_resource_templates(None).await.unwrap();
    assert_eq!(templates.resource_templates[0].uri_template, "dbfleet://{environment}/{schema}/{table}");

    // Prompts, their arguments checked.
    let prompts = client.list_prompts(None).await.unwrap();
    let names: Vec<&str> = prompts.prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["compare_environments", "migration_applied", "find_column"]);
    let args = |pairs: &[(&str, &str)]| {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), Value::from(*v))).collect::<serde_json::Map<_, _>>()
    };
    let compare = client
        .get_prompt(GetPromptRequestParams::new("compare_environments").with_arguments(args(&[
            ("left", "dev"),
            ("right", "staging"),
            ("table", "orders"),
        ])))
        .await
        .unwrap();
    let text = serde_json::to_string(&compare.messages[0]).unwrap();
    assert!(
        text.contains(r#"compare_schema with environments [\"dev\", \"staging\"] and table \"orders\""#),
        "{text}"
    );
    let find = client
        .get_prompt(
            GetPromptRequestParams::new("find_column").with_arguments(args(&[("column", "customer%")])),
        )
        .await
        .unwrap();
    let text = serde_json::to_string(&find.messages[0]).unwrap();
    assert!(text.contains("dev (sqlite): SELECT m.name AS table_name"), "{text}");
    assert!(text.contains("staging (postgres): SELECT table_schema"), "{text}");
    for (name, arguments, message) in [
        ("compare_environments", args(&[("left", "dev")]), "argument 'right' is required"),
        ("compare_environments", args(&[("left", "dev"), ("right", "qa")]), "no environment named 'qa'"),
        ("migration_applied", args(&[("change", "x"), ("environments", "dev, nope")]), "nope"),
        ("find_column", args(&[("column", "x"), ("colour", "red")]), "has no argument 'colour'"),
        ("no_such_prompt", args(&[]), "no prompt named"),
    ] {
        let err =
            client.get_prompt(GetPromptRequestParams::new(name).with_arguments(arguments)).await.unwrap_err();
        assert!(err.to_string().to_lowercase().contains(&message.to_lowercase()), "{name}: {err}");
    }

    // Completions from the environments themselves.
    let completed = client.complete_prompt_simple("compare_environments", "left", "St").await.unwrap();
    assert_eq!(completed, ["staging"]);
    let completed =
        client.complete_prompt_simple("migration_applied", "environments", "dev,le").await.unwrap();
    assert_eq!(completed, ["dev,legacy"]);
    let context = |env: &str| {
        Some(CompletionContext::with_arguments(HashMap::from([("environment".to_owned(), env.to_owned())])))
    };
    let tables = client
        .complete_resource_argument(
            "dbfleet://{environment}/{schema}/{table}",
            "table",
            "",
            context("legacy"),
        )
        .await
        .unwrap();
    assert_eq!(tables.values, ["customers", "orders"]);
    let schemas = client
        .complete_resource_argument(
            "dbfleet://{environment}/{schema}/{table}",
            "schema",
            "pub",
            context("staging"),
        )
        .await
        .unwrap();
    assert_eq!(schemas.values, ["public"]);
    let many = client
        .complete_resource_argument("dbfleet://{environment}/{schema}/{table}", "table", "t", context("many"))
        .await
        .unwrap();
    assert_eq!((many.values.len(), many.total, many.has_more), (100, Some(MANY_TABLES as u32), Some(true)));
    let nothing = client.complete_prompt_simple("find_column", "column", "cust").await.unwrap();
    assert!(nothing.is_empty());
    assert!(client.complete_prompt_simple("no_such_prompt", "x", "").await.is_err());

    client.cancel().await.unwrap();
    estate.drop().await;
}
