//! `diff_data` on a large table held by PostgreSQL and by MariaDB, with ten
//! rows that differ (four updated, three missing, three extra): checksum
//! bisection against the streaming merge. Each method runs in a fresh
//! `dbfleet serve` over stdio, reached through a TCP proxy per engine that
//! counts the bytes the engine sends; the numbers are the call's time, those
//! bytes, and the server's peak RSS. Run with
//! `cargo bench -p dbfleet-server --bench diff_data` (`DBFLEET_BENCH_DIFF_ROWS`
//! sets the table size, 10,000,000 by default); the tables are built once
//! and kept in the database `dbfleet_bench_diff` for later runs. The numbers
//! in BENCHMARKS.md come from it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, Executor, Row};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const POSTGRES_VAR: &str = "DBFLEET_TEST_POSTGRES_URL";
const MYSQL_VAR: &str = "DBFLEET_TEST_MYSQL_URL";
const ROWS_VAR: &str = "DBFLEET_BENCH_DIFF_ROWS";
const DATABASE: &str = "dbfleet_bench_diff";

fn main() {
    let rows: u64 = std::env::var(ROWS_VAR).ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let pg_admin =
        std::env::var(POSTGRES_VAR).unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let my_admin = std::env::var(MYSQL_VAR).unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into());
    let (pg_url, my_url) = (database_url(&pg_admin), database_url(&my_admin));
    runtime.block_on(prepare(&pg_admin, &pg_url, &my_admin, &my_url, rows));
    let pg_proxy = runtime.block_on(Proxy::start(host_port(&pg_url)));
    let my_proxy = runtime.block_on(Proxy::start(host_port(&my_url)));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nquery_timeout_secs = 3600\nread_only = true\n\
             [environments.pg]\ndriver = \"postgres\"\nurl = \"{}\"\n\
             [environments.maria]\ndriver = \"mariadb\"\nurl = \"{}\"\n",
            via(&pg_url, pg_proxy.port),
            via(&my_url, my_proxy.port)
        ),
    )
    .expect("config written");
    println!("\n{rows} rows on PostgreSQL and on MariaDB, 10 of them differing\n");
    println!(
        "| method | time | bytes from PostgreSQL | bytes from MariaDB | rows fetched | statements | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|");
    for method in ["bisect", "merge"] {
        let (pg_before, my_before) = (pg_proxy.received(), my_proxy.received());
        let run = call(&config, method);
        let answer = &run.answer;
        assert_eq!(answer["total_differences"], 10, "{method}: {answer:#}");
        assert_eq!((answer["rows_missing"].as_u64(), answer["rows_changed"].as_u64()), (Some(6), Some(4)));
        let sum = |field: &str| -> u64 {
            answer["stats"][field].as_object().map_or(0, |o| o.values().filter_map(Value::as_u64).sum())
        };
        println!(
            "| {method} | {:.2} s | {} | {} | {} | {} | {} MiB |",
            run.time.as_secs_f64(),
            bytes(pg_proxy.received() - pg_before),
            bytes(my_proxy.received() - my_before),
            sum("rows_fetched"),
            sum("statements"),
            run.peak_kib / 1024
        );
    }
}

/// One `diff_data` call on a fresh server.
struct Run {
    time: Duration,
    answer: Value,
    peak_kib: u64,
}

fn call(config: &std::path::Path, method: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .args(["serve", "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbfleet serve starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut send = |id: u64, method: &str, params: Value| {
        writeln!(stdin, "{}", json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .expect("sent");
    };
    let answer = |stdout: &mut BufReader<_>| -> Value {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(stdout.read_line(&mut line).expect("read") > 0, "the server closed its output");
            if line.contains("\"id\"") {
                return serde_json::from_str(&line).expect("JSON");
            }
        }
    };
    send(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
    );
    answer(&mut stdout);
    send(2, "tools/call", json!({"name": "health_check", "arguments": {}}));
    answer(&mut stdout);
    let started = Instant::now();
    send(
        3,
        "tools/call",
        json!({"name": "diff_data", "arguments": {"environments": ["pg", "maria"], "table": "big", "method": method}}),
    );
    let reply = answer(&mut stdout);
    let time = started.elapsed();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let peak_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let answer = reply["result"]["structuredContent"].clone();
    assert!(reply["result"]["isError"] != true, "{method}: {reply:#}");
    Run { time, answer, peak_kib }
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// A TCP proxy that counts the bytes the server sends back.
struct Proxy {
    port: u16,
    received: Arc<AtomicU64>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, counter) = (target.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else { return };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let up = tokio::io::copy(&mut client_read, &mut server_write);
                    let down = async {
                        let mut buffer = vec![0u8; 64 * 1024];
                        loop {
                            let n = server_read.read(&mut buffer).await?;
                            if n == 0 {
                                return client_write.shutdown().await;
                            }
                            counter.fetch_add(n as u64, Ordering::Relaxed);
                            client_write.write_all(&buffer[..n]).await?;
                        }
                    };
                    let _ = tokio::join!(up, down);
                });
            }
        });
        Proxy { port, received }
    }

    fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

fn database_url(admin: &str) -> String {
    format!("{}/{DATABASE}", admin.rsplit_once('/').map_or(admin, |(base, _)| base))
}

fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    authority.rsplit_once('@').map_or(authority, |(_, h)| h).to_owned()
}

/// The URL with its host and port replaced by the proxy's.
fn via(url: &str, port: u16) -> String {
    url.replacen(&host_port(url), &format!("127.0.0.1:{port}"), 1)
}

/// The ten changes MariaDB's copy has, at ids spread over the table.
fn changes(rows: u64) -> Vec<String> {
    let at = |fraction: f64| ((rows as f64 * fraction) as u64).max(1);
    vec![
        format!("UPDATE big SET amount = amount + 1 WHERE id = {}", at(0.1234567)),
        format!("UPDATE big SET name = 'renamed' WHERE id = {}", at(0.5)),
        format!("UPDATE big SET active = NOT active WHERE id = {}", at(0.7777777)),
        format!("UPDATE big SET created = created + INTERVAL 1 SECOND WHERE id = {}", at(0.9999999)),
        "DELETE FROM big WHERE id = 42".into(),
        format!("DELETE FROM big WHERE id = {}", at(0.3333333)),
        format!("DELETE FROM big WHERE id = {}", at(0.8888888)),
        format!("INSERT INTO big VALUES ({}, 'extra', 1.00, '2030-01-01 00:00:00', 1)", rows + 1),
        format!("INSERT INTO big VALUES ({}, 'extra', 2.00, '2030-01-01 00:00:00', 0)", rows + 2),
        format!("INSERT INTO big VALUES ({}, 'extra', 3.00, '2030-01-01 00:00:00', 1)", rows * 2),
    ]
}

/// Builds both tables unless a previous run left them at this size.
async fn prepare(pg_admin: &str, pg_url: &str, my_admin: &str, my_url: &str, rows: u64) {
    let ready = "SELECT rows_loaded FROM bench_state";
    if let Ok(mut pg) = sqlx::PgConnection::connect(pg_url).await
        && let Ok(mut my) = sqlx::MySqlConnection::connect(my_url).await
        && let (Ok(a), Ok(b)) = (pg.fetch_one(ready).await, my.fetch_one(ready).await)
        && a.get::<i64, _>(0) == rows as i64
        && b.get::<i64, _>(0) == rows as i64
    {
        return;
    }
    eprintln!("building the {rows}-row tables (once)");
    let mut pg = sqlx::PgConnection::connect(pg_admin).await.expect("PostgreSQL");
    execute(&mut pg, format!("DROP DATABASE IF EXISTS {DATABASE}")).await;
    execute(&mut pg, format!("CREATE DATABASE {DATABASE}")).await;
    let mut pg = sqlx::PgConnection::connect(pg_url).await.expect("PostgreSQL");
    for statement in [
        "CREATE TABLE big (id BIGINT NOT NULL, name VARCHAR(40) NOT NULL, amount NUMERIC(12,2) NOT NULL, \
         created TIMESTAMP NOT NULL, active BOOLEAN NOT NULL)"
            .to_owned(),
        format!(
            "INSERT INTO big SELECT g, 'row ' || g, (g % 100000) / 100.0, \
             TIMESTAMP '2024-01-01' + g * INTERVAL '1 second', g % 2 = 0 FROM generate_series(1, {rows}) g"
        ),
        "ALTER TABLE big ADD PRIMARY KEY (id)".into(),
        "VACUUM ANALYZE big".into(),
        "CREATE TABLE bench_state (rows_loaded BIGINT NOT NULL)".into(),
        format!("INSERT INTO bench_state VALUES ({rows})"),
    ] {
        execute(&mut pg, statement).await;
    }
    let mut my = sqlx::MySqlConnection::connect(my_admin).await.expect("MariaDB");
    execute(&mut my, format!("DROP DATABASE IF EXISTS {DATABASE}")).await;
    execute(&mut my, format!("CREATE DATABASE {DATABASE}")).await;
    let mut my = sqlx::MySqlConnection::connect(my_url).await.expect("MariaDB");
    let mut statements = vec![
        "CREATE TABLE big (id BIGINT NOT NULL, name VARCHAR(40) NOT NULL, amount DECIMAL(12,2) NOT NULL, \
         created DATETIME(6) NOT NULL, active BOOLEAN NOT NULL, PRIMARY KEY (id)) CHARACTER SET utf8mb4"
            .to_owned(),
        format!(
            "INSERT INTO big SELECT seq, CONCAT('row ', seq), (seq % 100000) / 100, \
             TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND, seq % 2 = 0 FROM seq_1_to_{rows}"
        ),
    ];
    statements.extend(changes(rows));
    statements.push("CREATE TABLE bench_state (rows_loaded BIGINT NOT NULL)".into());
    statements.push(format!("INSERT INTO bench_state VALUES ({rows})"));
    for statement in statements {
        execute(&mut my, statement).await;
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
