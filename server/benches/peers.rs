//! dbfleet side by side with other MCP database servers, on the local
//! PostgreSQL server and the same tables: DBHub and MCP Toolbox (installed
//! from npm into `target/peers` at the versions below), and the floor, the
//! same queries through sqlx with no MCP at all. Each server runs over stdio;
//! a call is timed from writing its `tools/call` line to reading the whole
//! answer line, without parsing it; calls sent at once (64 slow ones, then
//! 200 `SELECT 1`) are timed until the last answer. Run with
//! `cargo bench -p dbfleet-server --bench peers`; the numbers in
//! BENCHMARKS.md come from it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

const URL_VAR: &str = "DBFLEET_TEST_POSTGRES_URL";
const DATABASE: &str = "dbfleet_peer_bench";
const DBHUB: &str = "@bytebase/dbhub@0.21.2";
const TOOLBOX: &str = "@toolbox-sdk/server-linux-x64@1.12.0";

const SELECT_ONE_CALLS: usize = 300;
const SMALL_CALLS: usize = 20;
const LARGE_CALLS: usize = 5;
/// Calls sent at once, without waiting for answers, on one session.
const SLOW_AT_ONCE: usize = 64;
const SLOW_SQL: &str = "SELECT pg_sleep(0.2)";
const BURST_AT_ONCE: usize = 200;

fn main() {
    let admin =
        std::env::var(URL_VAR).unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let host_port =
        admin.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("127.0.0.1:5432");
    if std::net::TcpStream::connect(host_port).is_err() {
        eprintln!("\n*** SKIPPED: PostgreSQL is not reachable at {host_port}; set {URL_VAR} ***\n");
        return;
    }
    let (user, _) =
        admin.split_once("://").and_then(|(_, rest)| rest.split_once('@')).unwrap_or(("postgres", ""));
    let url = format!("postgres://{user}@{host_port}/{DATABASE}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(create_tables(&admin, &url));

    let peers = install_peers();
    let mut servers = vec![dbfleet(&url)];
    if let Some(prefix) = &peers {
        servers.push(dbhub(prefix, &url));
        servers.push(toolbox(prefix, host_port, user));
    }
    println!(
        "| per call | {} | floor: sqlx, no MCP |",
        servers.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|{}---|", "---|".repeat(servers.len()));
    let floor = runtime.block_on(floor(&url));
    let measured: Vec<Measured> = servers.into_iter().map(measure).collect();
    let row = |label: &str, value: &dyn Fn(&Measured) -> String, floor: &str| {
        let values: Vec<String> = measured.iter().map(value).collect();
        println!("| {label} | {} | {floor} |", values.join(" | "));
    };
    row("cold start to `tools/list`", &|m| ms(m.cold_start), "–");
    row("idle RSS", &|m| mib(m.idle_kib), "–");
    row("`SELECT 1` p50", &|m| ms(m.select_one.0), &ms(floor.select_one.0));
    row("`SELECT 1` p99", &|m| ms(m.select_one.1), &ms(floor.select_one.1));
    row("10,000 rows, median", &|m| ms(m.small), &ms(floor.small));
    row("200,000 rows, median", &|m| ms(m.large), &ms(floor.large));
    row("200,000 rows, answer size", &|m| mib(m.large_bytes as u64 / 1024), "–");
    row("64 × `pg_sleep(0.2)` sent at once, all answered", &|m| ms(m.slow), "–");
    row("200 × `SELECT 1` sent at once, all answered", &|m| ms(m.burst), "–");
    row("peak RSS", &|m| mib(m.peak_kib), "–");
}

/// The two tables every server reads: id, text, numeric(12,2), timestamptz, boolean.
async fn create_tables(admin: &str, url: &str) {
    let mut conn = sqlx::PgConnection::connect(admin).await.expect("the admin connection");
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(DATABASE)
        .fetch_optional(&mut conn)
        .await
        .expect("the catalog answers");
    if exists.is_none() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
            .execute(&mut conn)
            .await
            .expect("created");
    }
    let mut conn = sqlx::PgConnection::connect(url).await.expect("the bench database");
    for (table, rows) in [("t10k", 10_000), ("t200k", 200_000)] {
        let statement = format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} AS SELECT g AS id, md5(g::text) AS label, \
             (g * 1.25)::numeric(12,2) AS amount, timestamptz '2026-01-01' + g * interval '1 minute' AS at, \
             g % 2 = 0 AS flag FROM generate_series(1, {rows}) AS g"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut conn).await.expect("the table is created");
    }
}

/// Installs the peers into `target/peers` unless they are there; `None`
/// (and the peers left out, loudly) when npm is not available.
fn install_peers() -> Option<PathBuf> {
    let prefix = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers");
    let toolbox = prefix.join("node_modules/@toolbox-sdk/server-linux-x64/bin/toolbox");
    if toolbox.exists() && prefix.join("node_modules/.bin/dbhub").exists() {
        return Some(prefix);
    }
    let installed = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .args([DBHUB, TOOLBOX])
        .stdout(Stdio::null())
        .status();
    match installed {
        Ok(status) if status.success() => Some(prefix),
        _ => {
            eprintln!("\n*** peers left out: `npm install {DBHUB} {TOOLBOX}` failed ***\n");
            None
        }
    }
}

struct Server {
    name: String,
    command: Command,
    /// The tool that runs SQL, and its SQL argument.
    tool: &'static str,
    _dir: Option<tempfile::TempDir>,
}

fn dbfleet(url: &str) -> Server {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.pg]\ndriver = \"postgres\"\nurl = \"{url}\"\nmax_rows = 1000000\n\
             max_result_bytes = 1073741824\nquery_timeout_secs = 300\n"
        ),
    )
    .expect("config written");
    let mut command = Command::new(env!("CARGO_BIN_EXE_dbfleet"));
    command.args(["serve", "--config"]).arg(&config);
    Server {
        name: format!("dbfleet {}", env!("CARGO_PKG_VERSION")),
        command,
        tool: "execute_query",
        _dir: Some(dir),
    }
}

fn dbhub(prefix: &Path, url: &str) -> Server {
    let mut command = Command::new(prefix.join("node_modules/.bin/dbhub"));
    command.args(["--transport", "stdio", "--dsn", &format!("{url}?sslmode=disable")]);
    Server { name: format!("DBHub {}", version_of(DBHUB)), command, tool: "execute_sql", _dir: None }
}

fn toolbox(prefix: &Path, host_port: &str, user: &str) -> Server {
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
    let mut command = Command::new(prefix.join("node_modules/@toolbox-sdk/server-linux-x64/bin/toolbox"));
    command
        .args(["--stdio", "--prebuilt", "postgres"])
        .env("POSTGRES_HOST", host)
        .env("POSTGRES_PORT", port)
        .env("POSTGRES_DATABASE", DATABASE)
        .env("POSTGRES_USER", user)
        // Toolbox requires a password; the local server's trust auth ignores it.
        .env("POSTGRES_PASSWORD", "unused");
    Server { name: format!("MCP Toolbox {}", version_of(TOOLBOX)), command, tool: "execute_sql", _dir: None }
}

fn version_of(package: &str) -> &str {
    package.rsplit_once('@').map_or("", |(_, version)| version)
}

struct Measured {
    cold_start: Duration,
    idle_kib: u64,
    select_one: (Duration, Duration),
    small: Duration,
    large: Duration,
    large_bytes: usize,
    slow: Duration,
    burst: Duration,
    peak_kib: u64,
}

/// A server on the other end of a pipe, spoken to in JSON-RPC lines.
struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    line: String,
}

impl Session {
    fn request(&mut self, method: &str, params: Value) -> &str {
        self.send(method, params);
        self.answer()
    }

    fn send(&mut self, method: &str, params: Value) {
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params});
        writeln!(self.stdin, "{message}").expect("written");
        self.stdin.flush().expect("flushed");
    }

    /// Sends `count` calls of `sql` without waiting, then reads every answer:
    /// the time until the last one, which must not be an error.
    fn at_once(&mut self, tool: &str, sql: &str, count: usize) -> Duration {
        let started = Instant::now();
        for _ in 0..count {
            self.send("tools/call", json!({"name": tool, "arguments": {"sql": sql}}));
        }
        for _ in 0..count {
            let answer = self.answer();
            assert!(!answer.contains("\"isError\":true"), "{sql}: {}", &answer[..answer.len().min(300)]);
        }
        started.elapsed()
    }

    /// The next line that answers a request (notifications and logs skipped).
    fn answer(&mut self) -> &str {
        loop {
            self.line.clear();
            let read = self.stdout.read_line(&mut self.line).expect("the server answers");
            assert!(read > 0, "the server closed its output");
            if self.line.contains("\"id\"") {
                return &self.line;
            }
        }
    }

    fn memory(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

fn measure(mut server: Server) -> Measured {
    eprintln!("measuring {}", server.name);
    let started = Instant::now();
    let mut child = server
        .command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("{} starts: {err}", server.name));
    let stdin = child.stdin.take().expect("stdin");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut session = Session { child, stdin, stdout, next_id: 0, line: String::new() };
    session.request(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
    );
    writeln!(session.stdin, "{}", json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .expect("sent");
    let tools = session.request("tools/list", json!({})).to_owned();
    let cold_start = started.elapsed();
    assert!(tools.contains(server.tool), "{} has no {} tool: {tools}", server.name, server.tool);
    std::thread::sleep(Duration::from_millis(500));
    let idle_kib = session.memory("VmRSS:");

    let tool = server.tool;
    let call = |session: &mut Session, sql: &str| {
        let started = Instant::now();
        let answer = session.request("tools/call", json!({"name": tool, "arguments": {"sql": sql}}));
        let elapsed = started.elapsed();
        assert!(!answer.contains("\"isError\":true"), "{sql}: {}", &answer[..answer.len().min(300)]);
        (elapsed, answer.len())
    };
    let mut times: Vec<Duration> = (0..SELECT_ONE_CALLS).map(|_| call(&mut session, "SELECT 1").0).collect();
    times.sort();
    let select_one = (times[times.len() / 2], times[times.len() * 99 / 100]);
    let small = median((0..SMALL_CALLS).map(|_| call(&mut session, "SELECT * FROM t10k").0).collect());
    let slow = session.at_once(tool, SLOW_SQL, SLOW_AT_ONCE);
    let burst = session.at_once(tool, "SELECT 1", BURST_AT_ONCE);
    let large_calls: Vec<(Duration, usize)> =
        (0..LARGE_CALLS).map(|_| call(&mut session, "SELECT * FROM t200k")).collect();
    let large_bytes = large_calls[0].1;
    let large = median(large_calls.into_iter().map(|(time, _)| time).collect());
    let peak_kib = session.memory("VmHWM:");
    drop(session.stdin);
    let _ = session.child.kill();
    let _ = session.child.wait();
    Measured { cold_start, idle_kib, select_one, small, large, large_bytes, slow, burst, peak_kib }
}

struct Floor {
    select_one: (Duration, Duration),
    small: Duration,
    large: Duration,
}

/// The same queries on one sqlx connection: rows read, not decoded, no MCP.
async fn floor(url: &str) -> Floor {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("the floor's connection");
    let mut run = async |sql: &str| {
        let started = Instant::now();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(&mut conn)
            .await
            .expect("the floor's query");
        started.elapsed()
    };
    let mut times = Vec::new();
    for _ in 0..SELECT_ONE_CALLS {
        times.push(run("SELECT 1").await);
    }
    times.sort();
    let select_one = (times[times.len() / 2], times[times.len() * 99 / 100]);
    let mut small = Vec::new();
    for _ in 0..SMALL_CALLS {
        small.push(run("SELECT * FROM t10k").await);
    }
    let mut large = Vec::new();
    for _ in 0..LARGE_CALLS {
        large.push(run("SELECT * FROM t200k").await);
    }
    Floor { select_one, small: median(small), large: median(large) }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}
