//! Live reload through the built server: a configuration file rewritten
//! under a running server (watched), and SIGHUP (with watching off), with a
//! call in flight on an environment that the new file removes.

#[expect(dead_code, reason = "the shared helpers this file does not call")]
mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{call, error, ok};
use rmcp::model::ClientConfig;
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

/// A client that counts `notifications/tools/list_changed`.
#[derive(Clone, Default)]
struct ToolWatcher(Arc<AtomicUsize>);

impl ClientHandler for ToolWatcher {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::default()
    }
}

async fn serve(config: &Path, watcher: ToolWatcher) -> (RunningService<RoleClient, ToolWatcher>, u32) {
    let transport = TokioChildProcess::new(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dbfleet")).configure(|cmd| {
            cmd.arg("serve").arg("--config").arg(config).env_remove("RUST_LOG");
        }),
    )
    .unwrap();
    let pid = transport.id().expect("the server's process id");
    (watcher.serve(transport).await.expect("the server initializes"), pid)
}

async fn names(client: &RunningService<RoleClient, ToolWatcher>) -> Vec<String> {
    let listed = ok(call(client, "list_environments", json!({})).await);
    listed["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn tool_names(client: &RunningService<RoleClient, ToolWatcher>) -> Vec<String> {
    client.list_all_tools().await.unwrap().into_iter().map(|tool| tool.name.into_owned()).collect()
}

/// Waits until `check` holds, for at most 15 s.
async fn eventually<F: AsyncFn() -> bool>(what: &str, check: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const MEMORY: &str = "driver = \"sqlite\"\npath = \":memory:\"\nread_only = false\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_is_applied_without_dropping_calls_or_untouched_environments() {
    let Some(pg) = dbfleet_tests::services::postgres_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dbfleet.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.keep]\n{MEMORY}[environments.slow]\ndriver = \"postgres\"\nurl = \"{pg}\"\n\
             [environments.change]\n{MEMORY}max_rows = 5\n\
             [tools.one]\ndescription = \"the first tool\"\nsql = \"SELECT 1 AS one\"\n"
        ),
    )
    .unwrap();
    let watcher = ToolWatcher::default();
    let (client, _) = serve(&config, watcher.clone()).await;
    ok(call(
        &client,
        "execute_query",
        json!({"environment": "keep", "sql": "CREATE TABLE kept (id INTEGER)"}),
    )
    .await);
    assert!(tool_names(&client).await.contains(&"one".to_owned()));

    // A call in flight on the environment the new file removes.
    let in_flight = {
        let peer = client.peer().clone();
        tokio::spawn(async move {
            call(
                &peer,
                "execute_query",
                json!({"environment": "slow", "sql": "SELECT pg_sleep(2) IS NULL AS slept"}),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::write(
        &config,
        format!(
            "[environments.keep]\n{MEMORY}[environments.change]\n{MEMORY}max_rows = 7\n\
             [environments.added]\n{MEMORY}\
             [tools.two]\ndescription = \"the second tool\"\nsql = \"SELECT 2 AS two\"\n"
        ),
    )
    .unwrap();
    eventually("tools/list_changed", async || watcher.0.load(Ordering::SeqCst) >= 1).await;
    let answer = ok(in_flight.await.unwrap());
    assert_eq!(answer["rows"], json!([[false]]), "the call in flight finished on the removed environment");

    assert_eq!(names(&client).await, ["keep", "change", "added"]);
    let tools = tool_names(&client).await;
    assert!(tools.contains(&"two".to_owned()) && !tools.contains(&"one".to_owned()), "{tools:?}");
    let gone = error(call(&client, "execute_query", json!({"environment": "slow", "sql": "SELECT 1"})).await);
    assert_eq!(gone["kind"], "unknown_environment", "{gone}");
    let changed =
        ok(call(&client, "execute_query", json!({"environment": "change", "sql": "SELECT 1"})).await);
    assert_eq!(changed["max_rows"], 7, "{changed}");
    // The untouched environment kept its connection, and the table in it.
    ok(call(&client, "execute_query", json!({"environment": "keep", "sql": "SELECT COUNT(*) FROM kept"}))
        .await);
    ok(call(&client, "execute_query", json!({"environment": "added", "sql": "SELECT 1"})).await);
    ok(call(&client, "two", json!({"environment": "added"})).await);

    // An invalid file changes nothing.
    std::fs::write(&config, "[environments.keep]\ndriver = \"nosuchdriver\"\n").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(names(&client).await, ["keep", "change", "added"]);
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_when_watching_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dbfleet.toml");
    std::fs::write(&config, format!("[server]\nwatch_config = false\n[environments.first]\n{MEMORY}"))
        .unwrap();
    let (client, pid) = serve(&config, ToolWatcher::default()).await;
    std::fs::write(
        &config,
        format!(
            "[server]\nwatch_config = false\n[environments.first]\n{MEMORY}[environments.second]\n{MEMORY}"
        ),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(names(&client).await, ["first"], "not watched");
    let status = std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    eventually("the reload", async || names(&client).await == ["first", "second"]).await;
    let _: Value =
        ok(call(&client, "execute_query", json!({"environment": "second", "sql": "SELECT 1"})).await);
    client.cancel().await.unwrap();
}
