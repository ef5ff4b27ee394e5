//! dbfleet side by side with other MCP database servers, on the same tables
//! of the local PostgreSQL, the local MariaDB and a SQLite file: DBHub and
//! MCP Toolbox (installed from npm into `target/peers` at the versions below),
//! and the floor, the same queries through sqlx with no MCP at all (and on
//! PostgreSQL through asyncpg, from PyPI, as well). Each
//! server runs over stdio; a call is timed from writing its `tools/call` line
//! to reading the whole answer line, without parsing it (`SELECT 1` after
//! [`WARM_UP_CALLS`] untimed ones); calls sent at once
//! (64 slow ones, then 200 `SELECT 1`) are timed until the last answer. Run
//! with `cargo bench -p dbfleet-server --bench peers`
//! (`DBFLEET_BENCH_ENGINES=postgres,mariadb,sqlite` chooses the engines); the
//! numbers in BENCHMARKS.md come from it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, Executor};

const POSTGRES_VAR: &str = "DBFLEET_TEST_POSTGRES_URL";
const MYSQL_VAR: &str = "DBFLEET_TEST_MYSQL_URL";
const ENGINES_VAR: &str = "DBFLEET_BENCH_ENGINES";
const DATABASE: &str = "dbfleet_peer_bench";
/// The MariaDB login every server uses: MCP Toolbox requires a password.
const MARIADB_USER: &str = "dbfleet_peer_bench";
const MARIADB_PASSWORD: &str = "peer-bench";
const DBHUB: &str = "@bytebase/dbhub@0.21.2";
const TOOLBOX: &str = "@toolbox-sdk/server-linux-x64@1.12.0";
const ASYNCPG: &str = "asyncpg==0.32.0";

const SELECT_ONE_CALLS: usize = 1_000;
/// `SELECT 1` calls each server answers before the timed ones: its first
/// calls open its pool's connections and prepare statements, which the
/// cold start does not cover, and which 300 timed calls let into the p99.
const WARM_UP_CALLS: usize = 100;
const SMALL_CALLS: usize = 20;
const LARGE_CALLS: usize = 5;
const LARGE_ROWS: usize = 200_000;
/// Calls sent at once, without waiting for answers, on one session.
const SLOW_AT_ONCE: usize = 64;
const BURST_AT_ONCE: usize = 200;

/// One engine's bench: where its tables are, and how each server reaches them.
struct Bench {
    engine: &'static str,
    /// For the floor's sqlx connection.
    url: String,
    /// The `[environments.bench]` table of dbfleet's config, without `max_*`.
    dbfleet_env: String,
    dbhub_dsn: String,
    toolbox_prebuilt: &'static str,
    toolbox_env: Vec<(&'static str, String)>,
    /// A statement that waits 0.2 s, where the engine has one.
    slow_sql: Option<&'static str>,
    _dir: Option<tempfile::TempDir>,
}

fn main() {
    let engines = std::env::var(ENGINES_VAR).unwrap_or_else(|_| "postgres,mariadb,sqlite".into());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let peers = install_peers();
    for engine in engines.split(',').map(str::trim) {
        let bench = match engine {
            "postgres" => runtime.block_on(postgres()),
            "mariadb" => runtime.block_on(mariadb()),
            "sqlite" => Some(sqlite()),
            other => panic!("{ENGINES_VAR}: unknown engine {other:?} (postgres, mariadb, sqlite)"),
        };
        if let Some(bench) = bench {
            run(&runtime, &bench, peers.as_deref());
        }
    }
}

fn run(runtime: &tokio::runtime::Runtime, bench: &Bench, peers: Option<&Path>) {
    println!("\n{}\n", bench.engine);
    let mut servers = vec![dbfleet(bench)];
    if let Some(prefix) = peers {
        servers.push(dbhub(prefix, bench));
        servers.push(toolbox(prefix, bench));
    }
    let mut floors = vec![("floor: the Rust driver, no MCP", runtime.block_on(floor(&bench.url)))];
    if bench.engine == "PostgreSQL"
        && let Some(floor) = asyncpg_floor(&bench.url)
    {
        floors.push(("floor: asyncpg, no MCP", floor));
    }
    println!(
        "| per call | {} | {} |",
        servers.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" | "),
        floors.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|{}", "---|".repeat(servers.len() + floors.len()));
    let measured: Vec<Measured> = servers.into_iter().map(|server| measure(server, bench.slow_sql)).collect();
    let row = |label: &str, value: &dyn Fn(&Measured) -> String, floor: &dyn Fn(&Floor) -> String| {
        let values: Vec<String> = measured.iter().map(value).collect();
        let floors: Vec<String> = floors.iter().map(|(_, f)| floor(f)).collect();
        println!("| {label} | {} | {} |", values.join(" | "), floors.join(" | "));
    };
    let none = |_: &Floor| "–".to_owned();
    let bytes_per_row =
        |m: &Measured| format!("{:.0} B", (m.large_bytes - m.empty_bytes) as f64 / LARGE_ROWS as f64);
    row("cold start to `tools/list`", &|m| ms(m.cold_start), &none);
    row("idle RSS", &|m| mib(m.idle_kib), &none);
    row("`SELECT 1` p50", &|m| ms(m.select_one.0), &|f| ms(f.select_one.0));
    row("`SELECT 1` p99", &|m| ms(m.select_one.1), &|f| ms(f.select_one.1));
    row("10,000 rows, median", &|m| ms(m.small), &|f| ms(f.small));
    row("200,000 rows, median", &|m| ms(m.large), &|f| ms(f.large));
    row("200,000 rows, answer size", &|m| mib(m.large_bytes as u64 / 1024), &none);
    row("answer bytes per row", &bytes_per_row, &none);
    if let Some(sql) = bench.slow_sql {
        row(&format!("64 × `{sql}` sent at once, all answered"), &|m| ms(m.slow), &none);
    }
    row("200 × `SELECT 1` sent at once, all answered", &|m| ms(m.burst), &none);
    row("peak RSS", &|m| mib(m.peak_kib), &none);
}

/// The two tables every server reads on PostgreSQL: id, text,
/// numeric(12,2), timestamptz, boolean.
async fn postgres() -> Option<Bench> {
    let admin =
        std::env::var(POSTGRES_VAR).unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let host_port = admin
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("127.0.0.1:5432")
        .to_owned();
    if std::net::TcpStream::connect(&host_port).is_err() {
        eprintln!("\n*** SKIPPED: PostgreSQL is not reachable at {host_port}; set {POSTGRES_VAR} ***\n");
        return None;
    }
    let (user, _) =
        admin.split_once("://").and_then(|(_, rest)| rest.split_once('@')).unwrap_or(("postgres", ""));
    let url = format!("postgres://{user}@{host_port}/{DATABASE}");
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("the admin connection");
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(DATABASE)
        .fetch_optional(&mut conn)
        .await
        .expect("the catalog answers");
    if exists.is_none() {
        execute(&mut conn, format!("CREATE DATABASE {DATABASE}")).await;
    }
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("the bench database");
    for (table, rows) in [("t10k", 10_000), ("t200k", LARGE_ROWS)] {
        let statement = format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} AS SELECT g AS id, md5(g::text) AS label, \
             (g * 1.25)::numeric(12,2) AS amount, timestamptz '2026-01-01' + g * interval '1 minute' AS at, \
             g % 2 = 0 AS flag FROM generate_series(1, {rows}) AS g"
        );
        execute(&mut conn, statement).await;
    }
    let (host, port) = host_port.split_once(':').unwrap_or((&host_port, "5432"));
    Some(Bench {
        engine: "PostgreSQL",
        dbfleet_env: format!("driver = \"postgres\"\nurl = \"{url}\"\n"),
        dbhub_dsn: format!("{url}?sslmode=disable"),
        toolbox_prebuilt: "postgres",
        toolbox_env: vec![
            ("POSTGRES_HOST", host.to_owned()),
            ("POSTGRES_PORT", port.to_owned()),
            ("POSTGRES_DATABASE", DATABASE.to_owned()),
            ("POSTGRES_USER", user.to_owned()),
            // Toolbox requires a password; the local server's trust auth ignores it.
            ("POSTGRES_PASSWORD", "unused".to_owned()),
        ],
        slow_sql: Some("SELECT pg_sleep(0.2)"),
        url,
        _dir: None,
    })
}

/// The same tables on MariaDB (DECIMAL(12,2), DATETIME, BOOLEAN), read by a
/// login with a password.
async fn mariadb() -> Option<Bench> {
    let admin = std::env::var(MYSQL_VAR).unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into());
    let host_port = admin
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("127.0.0.1:3306")
        .to_owned();
    if std::net::TcpStream::connect(&host_port).is_err() {
        eprintln!("\n*** SKIPPED: MariaDB is not reachable at {host_port}; set {MYSQL_VAR} ***\n");
        return None;
    }
    let mut conn = sqlx::MySqlConnection::connect(&admin).await.expect("the admin connection");
    for statement in [
        format!("CREATE DATABASE IF NOT EXISTS {DATABASE}"),
        format!("CREATE USER IF NOT EXISTS '{MARIADB_USER}'@'%' IDENTIFIED BY '{MARIADB_PASSWORD}'"),
        format!("GRANT ALL ON {DATABASE}.* TO '{MARIADB_USER}'@'%'"),
    ] {
        execute(&mut conn, statement).await;
    }
    let url = format!("mysql://{MARIADB_USER}:{MARIADB_PASSWORD}@{host_port}/{DATABASE}");
    let mut conn = sqlx::MySqlConnection::connect(&url).await.expect("the bench database");
    for (table, rows) in [("t10k", 10_000), ("t200k", LARGE_ROWS)] {
        execute(&mut conn, format!("DROP TABLE IF EXISTS {table}")).await;
        execute(
            &mut conn,
            format!(
                "CREATE TABLE {table} AS SELECT seq AS id, md5(seq) AS label, \
                 CAST(seq * 1.25 AS DECIMAL(12,2)) AS amount, \
                 TIMESTAMP '2026-01-01 00:00:00' + INTERVAL seq MINUTE AS at, seq % 2 = 0 AS flag \
                 FROM seq_1_to_{rows}"
            ),
        )
        .await;
    }
    let (host, port) = host_port.split_once(':').unwrap_or((&host_port, "3306"));
    Some(Bench {
        engine: "MariaDB",
        dbfleet_env: format!(
            "driver = \"mysql\"\nurl = \"mysql://{MARIADB_USER}@{host_port}/{DATABASE}\"\n\
             password = \"{MARIADB_PASSWORD}\"\n"
        ),
        dbhub_dsn: format!("mariadb://{MARIADB_USER}:{MARIADB_PASSWORD}@{host_port}/{DATABASE}"),
        toolbox_prebuilt: "mysql",
        toolbox_env: vec![
            ("MYSQL_HOST", host.to_owned()),
            ("MYSQL_PORT", port.to_owned()),
            ("MYSQL_DATABASE", DATABASE.to_owned()),
            ("MYSQL_USER", MARIADB_USER.to_owned()),
            ("MYSQL_PASSWORD", MARIADB_PASSWORD.to_owned()),
        ],
        slow_sql: Some("SELECT SLEEP(0.2)"),
        url,
        _dir: None,
    })
}

/// The same tables in a SQLite file (amounts as REAL, times as ISO text,
/// flags as 0/1: SQLite's own types).
fn sqlite() -> Bench {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bench.sqlite");
    let conn = rusqlite::Connection::open(&path).expect("the bench file");
    for (table, rows) in [("t10k", 10_000), ("t200k", LARGE_ROWS)] {
        conn.execute_batch(&format!(
            "CREATE TABLE {table} AS WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g \
             WHERE n < {rows}) SELECT n AS id, printf('%08x%08x%08x%08x', n * 7919, n * 104729, n * 31, n) \
             AS label, round(n * 1.25, 2) AS amount, strftime('%Y-%m-%dT%H:%M:%SZ', '2026-01-01', \
             '+' || n || ' minutes') AS at, n % 2 = 0 AS flag FROM g"
        ))
        .expect("the table is created");
    }
    let file = path.display().to_string();
    Bench {
        engine: "SQLite",
        url: format!("sqlite://{file}"),
        dbfleet_env: format!("driver = \"sqlite\"\npath = \"{file}\"\n"),
        dbhub_dsn: format!("sqlite://{file}"),
        toolbox_prebuilt: "sqlite",
        toolbox_env: vec![("SQLITE_DATABASE", file)],
        slow_sql: None,
        _dir: Some(dir),
    }
}

async fn execute<C>(conn: &mut C, statement: String)
where
    for<'c> &'c mut C: Executor<'c>,
{
    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone())))
        .await
        .unwrap_or_else(|err| panic!("{statement}: {err}"));
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

fn dbfleet(bench: &Bench) -> Server {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.bench]\n{}max_rows = 1000000\nmax_result_bytes = 1073741824\nquery_timeout_secs = 300\n",
            bench.dbfleet_env
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

fn dbhub(prefix: &Path, bench: &Bench) -> Server {
    let mut command = Command::new(prefix.join("node_modules/.bin/dbhub"));
    command.args(["--transport", "stdio", "--dsn", &bench.dbhub_dsn]);
    Server { name: format!("DBHub {}", version_of(DBHUB)), command, tool: "execute_sql", _dir: None }
}

fn toolbox(prefix: &Path, bench: &Bench) -> Server {
    let mut command = Command::new(prefix.join("node_modules/@toolbox-sdk/server-linux-x64/bin/toolbox"));
    command.args(["--stdio", "--prebuilt", bench.toolbox_prebuilt]).envs(bench.toolbox_env.iter().cloned());
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
    /// The answer to the same query with no rows: what a row costs is the difference.
    empty_bytes: usize,
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

fn measure(mut server: Server, slow_sql: Option<&str>) -> Measured {
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
    for _ in 0..WARM_UP_CALLS {
        call(&mut session, "SELECT 1");
    }
    let mut times: Vec<Duration> = (0..SELECT_ONE_CALLS).map(|_| call(&mut session, "SELECT 1").0).collect();
    times.sort();
    let select_one = (times[times.len() / 2], times[times.len() * 99 / 100]);
    let small = median((0..SMALL_CALLS).map(|_| call(&mut session, "SELECT * FROM t10k").0).collect());
    let slow = slow_sql.map_or(Duration::ZERO, |sql| session.at_once(tool, sql, SLOW_AT_ONCE));
    let burst = session.at_once(tool, "SELECT 1", BURST_AT_ONCE);
    let large_calls: Vec<(Duration, usize)> =
        (0..LARGE_CALLS).map(|_| call(&mut session, "SELECT * FROM t200k")).collect();
    let large_bytes = large_calls[0].1;
    let large = median(large_calls.into_iter().map(|(time, _)| time).collect());
    let empty_bytes = call(&mut session, "SELECT * FROM t200k WHERE id < 0").1;
    let peak_kib = session.memory("VmHWM:");
    drop(session.stdin);
    let _ = session.child.kill();
    let _ = session.child.wait();
    Measured {
        cold_start,
        idle_kib,
        select_one,
        small,
        large,
        large_bytes,
        empty_bytes,
        slow,
        burst,
        peak_kib,
    }
}

struct Floor {
    select_one: (Duration, Duration),
    small: Duration,
    large: Duration,
}

/// The same queries on one connection of the engine's Rust driver (sqlx;
/// rusqlite for SQLite): rows read, not decoded, no MCP.
async fn floor(url: &str) -> Floor {
    if url.starts_with("postgres") {
        floor_on(sqlx::PgConnection::connect(url).await.expect("the floor's connection")).await
    } else if url.starts_with("mysql") {
        floor_on(sqlx::MySqlConnection::connect(url).await.expect("the floor's connection")).await
    } else {
        let conn = rusqlite::Connection::open(url.trim_start_matches("sqlite://")).expect("the floor's file");
        timed_floor(|sql| {
            let mut statement = conn.prepare_cached(sql).expect("the floor's statement");
            let columns = statement.column_count();
            let mut rows = statement.query([]).expect("the floor's query");
            while let Some(row) = rows.next().expect("a row") {
                for i in 0..columns {
                    std::hint::black_box(row.get_ref(i).expect("a value"));
                }
            }
        })
    }
}

/// The floor the issue that set the targets measured against: asyncpg,
/// which decodes every value into a Python object, on one connection, over
/// the same TLS setting as dbfleet (`sslmode` unset: prefer). Installed
/// into a virtual environment in `target/peers` unless it is there; `None`
/// (loudly) when that fails.
fn asyncpg_floor(url: &str) -> Option<Floor> {
    const SCRIPT: &str = r#"
import asyncio, json, sys, time, asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1])
    out = []
    for sql, count in json.loads(sys.argv[2]):
        times = []
        for _ in range(count):
            started = time.perf_counter()
            await conn.fetch(sql)
            times.append(time.perf_counter() - started)
        out.append(times)
    print(json.dumps(out))
asyncio.run(main())
"#;
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers/python");
    let python = venv.join("bin/python");
    let installed = python.exists()
        || Command::new("python3").arg("-m").arg("venv").arg(&venv).status().is_ok_and(|s| s.success())
            && Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", ASYNCPG])
                .status()
                .is_ok_and(|s| s.success());
    let output = installed
        .then(|| {
            let calls = serde_json::to_string(&floor_calls()).expect("the calls as JSON");
            Command::new(&python).args(["-c", SCRIPT, url, &calls]).output().ok()
        })
        .flatten()
        .filter(|output| output.status.success());
    let Some(output) = output else {
        eprintln!("\n*** asyncpg floor left out: a virtual environment with {ASYNCPG} could not run ***\n");
        return None;
    };
    let seconds: Vec<Vec<f64>> = serde_json::from_slice(&output.stdout).expect("the times as JSON");
    Some(Floor::from(
        seconds
            .into_iter()
            .map(|times| times.into_iter().map(Duration::from_secs_f64).collect())
            .collect::<Vec<_>>(),
    ))
}

async fn floor_on<C>(mut conn: C) -> Floor
where
    for<'c> &'c mut C: Executor<'c>,
{
    let mut queries = Vec::new();
    for (sql, count) in floor_calls() {
        let mut times = Vec::with_capacity(count);
        for _ in 0..count {
            let started = Instant::now();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_all(&mut conn).await.expect("the floor's query");
            times.push(started.elapsed());
        }
        queries.push(times);
    }
    Floor::from(queries)
}

fn timed_floor(mut run: impl FnMut(&str)) -> Floor {
    let queries: Vec<Vec<Duration>> = floor_calls()
        .into_iter()
        .map(|(sql, count)| {
            (0..count)
                .map(|_| {
                    let started = Instant::now();
                    run(sql);
                    started.elapsed()
                })
                .collect()
        })
        .collect();
    Floor::from(queries)
}

fn floor_calls() -> [(&'static str, usize); 3] {
    [
        ("SELECT 1", SELECT_ONE_CALLS),
        ("SELECT * FROM t10k", SMALL_CALLS),
        ("SELECT * FROM t200k", LARGE_CALLS),
    ]
}

impl From<Vec<Vec<Duration>>> for Floor {
    /// The times of [`floor_calls`], in its order.
    fn from(queries: Vec<Vec<Duration>>) -> Self {
        let [mut one, small, large] = <[Vec<Duration>; 3]>::try_from(queries).expect("three queries");
        one.sort();
        Floor {
            select_one: (one[one.len() / 2], one[one.len() * 99 / 100]),
            small: median(small),
            large: median(large),
        }
    }
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
