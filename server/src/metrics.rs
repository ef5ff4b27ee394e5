//! Prometheus metrics: the recorder that the fleet's metrics (statements,
//! refusals, health) and the tools' (calls, durations, bytes, sessions) go
//! to, and the text page `GET /metrics` serves.

use std::sync::OnceLock;

use dbfleet_core::fleet::Fleet;
use metrics::{describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Seconds; from a fast `SELECT 1` to a long export.
const DURATION_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0];

/// Installs the process's recorder on first use; the handle renders the page.
pub fn handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new().set_buckets(DURATION_BUCKETS)?.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

fn describe() {
    describe_counter!("dbfleet_tool_calls_total", "MCP tool calls, by tool, outcome and error kind");
    describe_histogram!("dbfleet_tool_call_duration_seconds", "Time from a tool call's start to its answer");
    describe_counter!("dbfleet_tool_result_bytes_total", "Bytes of the tools' text answers");
    describe_gauge!("dbfleet_mcp_sessions", "MCP sessions open");
    describe_counter!(
        "dbfleet_statements_total",
        "Statements run on an environment, by outcome and error kind"
    );
    describe_histogram!("dbfleet_statement_duration_seconds", "Time a statement took on an environment");
    describe_counter!("dbfleet_rows_returned_total", "Rows returned by an environment's statements");
    describe_counter!("dbfleet_read_only_refusals_total", "Statements refused by a read-only environment");
    describe_gauge!(
        "dbfleet_environment_up",
        "1 when the environment answered last, 0 when it is unreachable"
    );
    describe_gauge!(
        "dbfleet_last_success_timestamp_seconds",
        "When the environment last answered (Unix time)"
    );
    describe_counter!("dbfleet_reconnect_attempts_total", "Attempts to reach a lost environment again");
    describe_gauge!("dbfleet_pool_connections", "Pooled connections, by state (idle, in_use)");
    describe_gauge!("dbfleet_pool_max_connections", "The pool's max_connections");
}

/// The page, with the pools' gauges read from the fleet at this moment.
pub fn render(handle: &PrometheusHandle, fleet: &Fleet) -> String {
    for status in fleet.statuses() {
        let Some(pool) = status.pool else { continue };
        let environment = status.name;
        gauge!("dbfleet_pool_connections", "environment" => environment.clone(), "state" => "idle")
            .set(f64::from(pool.idle));
        gauge!("dbfleet_pool_connections", "environment" => environment.clone(), "state" => "in_use")
            .set(f64::from(pool.in_use));
        gauge!("dbfleet_pool_max_connections", "environment" => environment).set(f64::from(pool.max));
    }
    handle.render()
}
