//! What an SSH tunnel costs: the same PostgreSQL environment reached
//! directly and through OpenSSH's `sshd` on loopback (so the numbers are the
//! tunnel's own work, encryption and forwarding, not a network's). For each:
//! `dbfleet check` (start-up: SSH handshake and login, then the engine's),
//! 300 sequential `SELECT 1` calls over MCP stdio on one session, and an
//! NDJSON export of 200,000 generated rows. Run with
//! `cargo bench -p dbfleet-server --bench ssh_tunnel`; the numbers in
//! BENCHMARKS.md come from it. Needs `sshd` (Debian's openssh-server).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dbfleet_tests::sshd::{self, Sshd};
use serde_json::json;

const RUNS: usize = 5;
const SELECT_ONE_CALLS: usize = 300;
const EXPORT_ROWS: usize = 200_000;

fn main() {
    let (Some(()), Some(pg)) = (sshd::available(), dbfleet_tests::services::postgres_url()) else {
        eprintln!("ssh_tunnel bench skipped: it needs sshd and PostgreSQL");
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let key = sshd::keygen(dir.path(), "client", None);
    let bastion = Sshd::start(dir.path(), "bastion", &[&key]);
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, bastion.known_host(bastion.port()) + "\n").expect("known_hosts written");
    let environment =
        format!("[environments.pg]\ndriver = \"postgres\"\nurl = \"{pg}\"\nmax_rows = 10000000\n");
    let direct = dir.path().join("direct.toml");
    std::fs::write(&direct, &environment).expect("config written");
    let tunnelled = dir.path().join("tunnel.toml");
    std::fs::write(
        &tunnelled,
        format!(
            "{environment}[environments.pg.ssh]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\nkey_file = \"{}\"\n\
             known_hosts_file = \"{}\"\nconfig_file = \"none\"\nagent = false\n",
            bastion.port(),
            sshd::user(),
            key.display(),
            known_hosts.display()
        ),
    )
    .expect("config written");

    let export = format!(
        "SELECT g AS id, 'customer ' || g AS name, g * 1.5 AS amount FROM generate_series(1, {EXPORT_ROWS}) g"
    );
    println!("| PostgreSQL on loopback | direct | through sshd on loopback |");
    println!("|---|---|---|");
    let row = |label: &str, measure: &dyn Fn(&Path) -> String| {
        println!("| {label} | {} | {} |", measure(&direct), measure(&tunnelled));
    };
    row("`dbfleet check` (median of 5)", &|config| {
        format!("{:.1} ms", ms(median((0..RUNS).map(|_| timed(&["check", "-c", path(config)])).collect())))
    });
    row(&format!("`SELECT 1` over MCP stdio, {SELECT_ONE_CALLS} calls: p50 / p95"), &|config| {
        let mut times = select_ones(config);
        times.sort();
        format!("{:.2} ms / {:.2} ms", ms(times[times.len() / 2]), ms(times[times.len() * 95 / 100]))
    });
    row(&format!("NDJSON export of {EXPORT_ROWS} rows (median of 5)"), &|config| {
        let args =
            ["query", "-c", path(config), "-e", "pg", "-f", "ndjson", "--max-rows", "10000000", &export];
        format!("{:.2} s", median((0..RUNS).map(|_| timed(&args)).collect()).as_secs_f64())
    });
}

fn path(config: &Path) -> &str {
    config.to_str().expect("a UTF-8 path")
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_dbfleet")
}

/// The wall time of one run of the binary, which must succeed.
fn timed(args: &[&str]) -> Duration {
    let started = Instant::now();
    let status = Command::new(binary()).args(args).stdout(Stdio::null()).status().expect("dbfleet runs");
    let elapsed = started.elapsed();
    assert!(status.success(), "dbfleet {args:?} failed");
    elapsed
}

/// Each `SELECT 1` call on one MCP session, timed from writing the request
/// line to reading its answer line.
fn select_ones(config: &Path) -> Vec<Duration> {
    let mut child = Command::new(binary())
        .args(["serve", "--config", path(config)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbfleet serve runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}});
    writeln!(stdin, "{initialize}").expect("written");
    lines.next().expect("initialized").expect("a line");
    writeln!(stdin, "{}", json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).expect("written");
    let mut times = Vec::with_capacity(SELECT_ONE_CALLS);
    for id in 1..=SELECT_ONE_CALLS {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "execute_query", "arguments": {"environment": "pg", "sql": "SELECT 1"}}});
        let started = Instant::now();
        writeln!(stdin, "{call}").expect("written");
        let answer = lines.next().expect("an answer").expect("a line");
        times.push(started.elapsed());
        assert!(answer.contains("\"isError\":false"), "{answer}");
    }
    drop(stdin);
    let _ = child.wait();
    times
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
