//! The MCP logging capability through a real client over stdio: the
//! server's own events (a refused statement, an environment lost and back)
//! reach the client as `notifications/message`, from the level it sets.
#![expect(deprecated, reason = "MCP logging is deprecated by SEP-2577, and still what clients use")]

use std::time::Duration;

use dbfleet_tests::faults::Proxy;
use dbfleet_tests::services::{host_port, postgres_url};
use rmcp::model::{
    CallToolRequestParams, LoggingLevel, LoggingMessageNotificationParam, SetLevelRequestParams,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::json;
use tokio::sync::mpsc;

/// A client that keeps the log messages it receives.
struct Listener(mpsc::UnboundedSender<LoggingMessageNotificationParam>);

impl ClientHandler for Listener {
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(params);
    }
}

async fn next_message(
    messages: &mut mpsc::UnboundedReceiver<LoggingMessageNotificationParam>,
) -> LoggingMessageNotificationParam {
    tokio::time::timeout(Duration::from_secs(20), messages.recv())
        .await
        .expect("a log message within 20 s")
        .expect("the client is listening")
}

async fn query(client: &RunningService<RoleClient, Listener>, sql: &str) -> bool {
    let args = json!({"sql": sql}).as_object().cloned().unwrap();
    let result =
        client.call_tool(CallToolRequestParams::new("execute_query").with_arguments(args)).await.unwrap();
    result.is_error != Some(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_events_reach_the_client_from_its_level() {
    let Some(url) = postgres_url() else { return };
    let mut proxy = Proxy::start(&host_port(&url)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("logging.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.pg]\ndriver = \"postgres\"\nurl = \"{}\"\n[environments.pg.pool]\nconnect_timeout_secs = 2\n",
            proxy.url(&url)
        ),
    )
    .unwrap();
    let transport = TokioChildProcess::new(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dbfleet")).configure(|cmd| {
            cmd.arg("serve").arg("--config").arg(&config).env_remove("RUST_LOG");
        }),
    )
    .unwrap();
    let (sender, mut messages) = mpsc::unbounded_channel();
    let client = Listener(sender).serve(transport).await.expect("the server initializes");
    let capabilities = client.peer_info().unwrap().capabilities.clone();
    assert!(capabilities.logging.is_some(), "the server declares logging: {capabilities:?}");

    // The default level is info: a refused statement is reported.
    assert!(!query(&client, "DELETE FROM pg_class").await);
    let refused = next_message(&mut messages).await;
    assert_eq!(refused.level, LoggingLevel::Info);
    assert_eq!(refused.data["environment"], "pg");
    let text = refused.data["message"].as_str().unwrap();
    assert!(text.starts_with("refused a statement: environment is read-only"), "{refused:?}");
    assert!(refused.logger.as_deref().is_some_and(|l| l.starts_with("dbfleet")), "{refused:?}");

    // From warning up, the next refusal is not sent; losing the server is.
    client.set_level(SetLevelRequestParams::new(LoggingLevel::Warning)).await.unwrap();
    assert!(!query(&client, "DELETE FROM pg_class").await);
    proxy.cut().await;
    assert!(!query(&client, "SELECT 1").await);
    // The first message is a warning that pg lost its server: its health
    // change, "lost its server", or the reconnection's "still cannot connect".
    let lost = next_message(&mut messages).await;
    assert_eq!(lost.level, LoggingLevel::Warning, "{lost:?}");
    assert_eq!(lost.data["environment"], "pg");
    let text = lost.data["message"].as_str().unwrap();
    let health_change = text == "health changed" && lost.data["to"] == "unhealthy";
    assert!(health_change || text.contains("lost its server") || text.contains("cannot connect"), "{lost:?}");

    // Back at info, the return is reported too.
    client.set_level(SetLevelRequestParams::new(LoggingLevel::Info)).await.unwrap();
    proxy.restore().await;
    let mut back = Vec::new();
    while back.len() < 2 {
        let message = next_message(&mut messages).await;
        if message.level == LoggingLevel::Info {
            back.push(message.data);
        }
    }
    // The server sends them in this order, but rmcp's client hands each
    // notification to a task of its own, so they may arrive swapped.
    back.sort_by_key(|message| message["message"] != "health changed");
    assert_eq!(back[0]["message"], "health changed", "{back:?}");
    assert_eq!((&back[0]["from"], &back[0]["to"]), (&json!("unhealthy"), &json!("healthy")), "{back:?}");
    assert_eq!(back[1]["message"], "reconnected", "{back:?}");
    assert!(query(&client, "SELECT 1").await);
    client.cancel().await.unwrap();
}
