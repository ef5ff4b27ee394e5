//! An estate of hundreds: 500 environments in one `dbfleet serve` process
//! (450 SQLite files and 50 PostgreSQL databases, each with one table), over
//! MCP stdio. For eager and for `lazy = true` start-up: the time until every
//! environment has had its first attempt (`list_environments` shows none
//! `connecting`), the process's resident memory then, `list_environments`,
//! and `list_tables` on every environment (`all_environments`, bounded by
//! `max_parallel`). Run with `cargo bench -p dbfleet-server --bench estate`;
//! the numbers in BENCHMARKS.md come from it. The PostgreSQL databases
//! (`dbfleet_bench_estate_N`) are kept between runs.

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, Executor};

const SQLITE: usize = 450;
const POSTGRES: usize = 50;

fn main() {
    let Some(pg) = dbfleet_tests::services::postgres_url() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let databases = runtime.block_on(postgres_databases(&pg));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut environments = String::new();
    for n in 0..SQLITE {
        let file = dir.path().join(format!("db{n}.sqlite"));
        let conn = rusqlite::Connection::open(&file).expect("a SQLite file");
        conn.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)").expect("a table");
        environments.push_str(&format!(
            "[environments.lite{n}]\ndriver = \"sqlite\"\npath = \"{}\"\n",
            file.display()
        ));
    }
    for (n, url) in databases.iter().enumerate() {
        environments.push_str(&format!("[environments.pg{n}]\ndriver = \"postgres\"\nurl = \"{url}\"\n"));
    }
    println!(
        "| {} environments ({SQLITE} SQLite, {POSTGRES} PostgreSQL) | eager | `lazy = true` |",
        SQLITE + POSTGRES
    );
    println!("|---|---|---|");
    let eager = measure(dir.path(), "eager", &environments);
    let lazy = measure(dir.path(), "lazy", &format!("[defaults]\nlazy = true\n{environments}"));
    for ((label, a), (_, b)) in eager.iter().zip(&lazy) {
        println!("| {label} | {a} | {b} |");
    }
}

/// The PostgreSQL databases, made once and kept.
async fn postgres_databases(admin: &str) -> Vec<String> {
    let mut conn = sqlx::PgConnection::connect(admin).await.expect("the admin connection");
    let mut urls = Vec::with_capacity(POSTGRES);
    for n in 0..POSTGRES {
        let name = format!("dbfleet_bench_estate_{n}");
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_optional(&mut conn)
            .await
            .expect("the catalog answers");
        let url = admin.rsplit_once('/').map(|(base, _)| format!("{base}/{name}")).expect("a database URL");
        if exists.is_none() {
            conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))))
                .await
                .expect("created");
            let mut db = sqlx::PgConnection::connect(&url).await.expect("the new database");
            db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)").await.expect("a table");
        }
        urls.push(url);
    }
    urls
}

/// Start-up, memory, and the two listings, for one configuration.
fn measure(dir: &Path, name: &str, environments: &str) -> Vec<(&'static str, String)> {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, environments).expect("config written");
    let started = Instant::now();
    let mut session = Session::start(&config);
    let statuses = loop {
        let listed = session.call("list_environments", json!({}));
        let statuses: Vec<String> = listed["environments"]
            .as_array()
            .expect("environments")
            .iter()
            .map(|env| env["status"].as_str().unwrap_or_default().to_owned())
            .collect();
        if statuses.iter().all(|status| status != "connecting") {
            break statuses;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ready = started.elapsed();
    let healthy = statuses.iter().filter(|status| *status == "healthy").count();
    let rss = resident_mib(session.child.id());
    let listing = timed(|| session.call("list_environments", json!({})));
    let (tables, answer) = timed_with(|| session.call("list_tables", json!({"all_environments": true})));
    let answered = answer["results"].as_object().map_or(0, |results| results.len());
    assert_eq!(answered, SQLITE + POSTGRES, "every environment listed its tables: {}", answer["errors"]);
    let rss_after = resident_mib(session.child.id());
    drop(session);
    vec![
        (
            "start-up until every environment had its first attempt",
            format!("{:.2} s ({healthy} connected)", ready.as_secs_f64()),
        ),
        ("resident memory then", format!("{rss:.1} MiB")),
        ("`list_environments`", format!("{:.1} ms", listing.as_secs_f64() * 1000.0)),
        ("`list_tables` on every environment (`max_parallel` 32)", format!("{:.2} s", tables.as_secs_f64())),
        ("resident memory after it", format!("{rss_after:.1} MiB")),
    ]
}

fn timed<T>(work: impl FnOnce() -> T) -> Duration {
    timed_with(work).0
}

fn timed_with<T>(work: impl FnOnce() -> T) -> (Duration, T) {
    let started = Instant::now();
    let out = work();
    (started.elapsed(), out)
}

fn resident_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

/// `dbfleet serve` over stdio, one call at a time.
struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    next_id: u64,
}

impl Session {
    fn start(config: &Path) -> Session {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
            .args(["serve", "--config"])
            .arg(config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbfleet serve runs");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}});
        writeln!(stdin, "{initialize}").expect("written");
        lines.next().expect("initialized").expect("a line");
        writeln!(stdin, "{}", json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .expect("written");
        Session { child, stdin, lines, next_id: 1 }
    }

    /// The structured content of the tool's answer.
    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}});
        writeln!(self.stdin, "{call}").expect("written");
        loop {
            let line = self.lines.next().expect("an answer").expect("a line");
            let message: Value = serde_json::from_str(&line).expect("JSON-RPC");
            if message["id"] == id {
                return message["result"]["structuredContent"].clone();
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
