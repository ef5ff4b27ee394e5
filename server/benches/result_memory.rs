//! Result memory benchmark: the peak and the after-call resident memory of
//! `dbfleet serve` (stdio) answering `execute_query` calls whose results are
//! far larger than the default bounds, on the local PostgreSQL server:
//! 1,000 rows of 1 MB, and one value of 300 MB. Each scenario runs in a new
//! server process, once with the default `max_result_bytes` (4 MiB) and once
//! with the largest (1 GiB), which lets the whole result through. Run with
//! `cargo bench -p dbfleet-server --bench result_memory`; the numbers in
//! BENCHMARKS.md come from it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const URL_VAR: &str = "DBFLEET_TEST_POSTGRES_URL";

fn main() {
    let url = std::env::var(URL_VAR).unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let host = url.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("127.0.0.1:5432");
    if std::net::TcpStream::connect(host).is_err() {
        eprintln!("\n*** SKIPPED: PostgreSQL is not reachable at {host}; set {URL_VAR} ***\n");
        return;
    }
    let scenarios = [
        ("1,000 rows of 1 MB", "SELECT repeat('x', 1000000) AS wide FROM generate_series(1, 1000)"),
        ("one value of 300 MB", "SELECT repeat('y', 300000000) AS huge"),
    ];
    println!("| scenario | max_result_bytes | rows answered | answer size | peak RSS | RSS after the call |");
    println!("|---|---|---|---|---|---|");
    for (name, sql) in scenarios {
        for (bound_name, bound) in [("4 MiB (default)", 4 << 20), ("1 GiB", 1 << 30)] {
            let measured = measure(&url, sql, bound);
            println!(
                "| {name} | {bound_name} | {} | {:.1} MiB | {:.0} MiB | {:.0} MiB |",
                measured.rows,
                measured.answer_bytes as f64 / 1048576.0,
                measured.peak_kib as f64 / 1024.0,
                measured.after_kib as f64 / 1024.0
            );
        }
    }
}

struct Measured {
    rows: usize,
    answer_bytes: usize,
    peak_kib: u64,
    after_kib: u64,
}

fn measure(url: &str, sql: &str, max_result_bytes: u64) -> Measured {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.pg]\ndriver = \"postgres\"\nurl = \"{url}\"\nmax_result_bytes = {max_result_bytes}\n\
             query_timeout_secs = 300\n"
        ),
    )
    .expect("config written");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbfleet starts");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut send = |message: Value| writeln!(stdin, "{message}").expect("written");
    send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("initialized");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "execute_query", "arguments": {"sql": sql}}}));
    line.clear();
    let started = Instant::now();
    stdout.read_line(&mut line).expect("answered");
    let answer: Value = serde_json::from_str(&line).expect("a JSON-RPC answer");
    let rows = answer["result"]["structuredContent"]["row_count"].as_u64().unwrap_or(0) as usize;
    eprintln!("{sql} with {max_result_bytes}: {} rows in {:?}", rows, started.elapsed());
    // Lets the server finish writing and free what the call held.
    std::thread::sleep(Duration::from_secs(1));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let measured =
        Measured { rows, answer_bytes: line.len(), peak_kib: field("VmHWM:"), after_kib: field("VmRSS:") };
    drop(stdin);
    let _ = child.wait();
    measured
}
