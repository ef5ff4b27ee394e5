//! A tool call that panics fails alone: the client gets an `internal` error
//! for it, and the session and the server go on serving.

use std::path::PathBuf;
use std::sync::Arc;

use dbfleet_core::config::load_config_str;
use dbfleet_core::fleet::{Fleet, StartOptions};
use dbfleet_core::{
    ConfigProblem, DatabaseDriver, DatabaseInfo, DbError, DriverRegistration, DriverSettings,
    EnvironmentConfig, ExecOutcome, Pool, PoolStats, Query, RowStream, ServerInfo, TableFilter, TableInfo,
    TableRef, TableSchema, async_trait, inventory,
};
use dbfleet_server::DbfleetTools;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::json;

/// A driver whose pool panics on `SELECT panic` and answers pings.
struct PanickingDriver;

struct PanickingPool;

#[async_trait]
impl DatabaseDriver for PanickingDriver {
    fn name(&self) -> &'static str {
        "panicking-test-driver"
    }
    fn description(&self) -> &'static str {
        "panics inside a call"
    }
    fn settings_keys(&self) -> &'static [&'static str] {
        &[]
    }
    fn validate(&self, _: &DriverSettings) -> Result<(), Vec<ConfigProblem>> {
        Ok(())
    }
    fn target(&self, _: &EnvironmentConfig) -> String {
        "nowhere".into()
    }
    async fn connect(&self, _: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError> {
        Ok(Arc::new(PanickingPool))
    }
}

#[async_trait]
impl Pool for PanickingPool {
    async fn query(&self, q: &Query) -> Result<RowStream, DbError> {
        if q.sql.contains("panic") {
            panic!("the driver lost its footing");
        }
        Ok(RowStream::empty(Vec::new()))
    }
    async fn execute(&self, _: &Query) -> Result<ExecOutcome, DbError> {
        Ok(ExecOutcome::new(0))
    }
    async fn list_databases(&self) -> Result<Vec<DatabaseInfo>, DbError> {
        Ok(Vec::new())
    }
    async fn list_tables(&self, _: &TableFilter) -> Result<Vec<TableInfo>, DbError> {
        Ok(Vec::new())
    }
    async fn describe_table(&self, _: &TableRef) -> Result<TableSchema, DbError> {
        Err(DbError::query("no tables here"))
    }
    async fn ping(&self) -> Result<ServerInfo, DbError> {
        Ok(ServerInfo::new("0"))
    }
    fn stats(&self) -> PoolStats {
        PoolStats::default()
    }
    async fn close(&self) {}
}

inventory::submit!(DriverRegistration(&PanickingDriver));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_call_is_an_internal_error_and_the_session_goes_on() {
    let toml = "[environments.shaky]\ndriver = \"panicking-test-driver\"\n";
    let config = load_config_str(toml, &PathBuf::from("."), &|_| None).unwrap();
    let fleet = Fleet::start(&config, StartOptions::default()).unwrap();
    fleet.wait_ready().await;
    let (server_side, client_side) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        let service = DbfleetTools::new(fleet).serve(server_side).await.unwrap();
        service.waiting().await.unwrap();
    });
    let client = ().serve(client_side).await.unwrap();
    let call = |sql: &str| {
        let args = json!({"sql": sql}).as_object().cloned().unwrap();
        CallToolRequestParams::new("execute_query").with_arguments(args)
    };
    let failed = client.call_tool(call("SELECT panic")).await.unwrap();
    assert_eq!(failed.is_error, Some(true));
    let error = &failed.structured_content.unwrap()["error"];
    assert_eq!(error["kind"], "internal");
    assert!(error["message"].as_str().unwrap().contains("the driver lost its footing"), "{error}");
    let next = client.call_tool(call("SELECT 1")).await.unwrap();
    assert_ne!(next.is_error, Some(true), "{next:?}");
    client.cancel().await.unwrap();
    server.await.unwrap();
}
