//! Fan-out benchmark: one query on 1, 2, 4 and 8 environments at once, each
//! taking 0.5 s on the server (`pg_sleep`), through the `dbfleet` binary.
//! Environments run concurrently, so the fan-out should take about as long as
//! the slowest environment, not the sum. Run with
//! `cargo bench -p dbfleet-server --bench fanout`; the numbers in
//! BENCHMARKS.md come from it. Needs the PostgreSQL server of
//! `DBFLEET_TEST_POSTGRES_URL` (default: the local one).

use std::process::Command;

const SLEEP_SECS: f64 = 0.5;
const RUNS: usize = 3;

fn main() {
    let Some(url) = dbfleet_tests::services::postgres_url() else { return };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sql = format!("SELECT pg_sleep({SLEEP_SECS}) AS slept");
    println!("| environments | sum of the environments' times | fan-out time (median of {RUNS}) |");
    println!("|---|---|---|");
    for count in [1, 2, 4, 8] {
        let config = dir.path().join(format!("fanout{count}.toml"));
        let environments: String = (0..count)
            .map(|i| format!("[environments.pg{i}]\ndriver = \"postgres\"\nurl = \"{url}\"\n"))
            .collect();
        std::fs::write(&config, environments).expect("config written");
        let mut times: Vec<(f64, f64)> = (0..RUNS).map(|_| fan_out(config.to_str().unwrap(), &sql)).collect();
        times.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (sum, total) = times[RUNS / 2];
        println!("| {count} | {:.2} s | {:.2} s |", sum / 1000.0, total / 1000.0);
    }
}

/// The summed per-environment execution time and the fan-out's total time,
/// in milliseconds, as the JSON output reports them.
fn fan_out(config: &str, sql: &str) -> (f64, f64) {
    let output = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .args(["query", "-c", config, "--all", "-f", "json", sql])
        .output()
        .expect("dbfleet runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    let results = doc["results"].as_object().expect("results");
    let sum = results.values().map(|r| r["execution_time_ms"].as_f64().expect("a time")).sum();
    (sum, doc["summary"]["total_time_ms"].as_f64().expect("the total time"))
}
