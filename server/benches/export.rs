//! Export benchmark: time and peak memory of the `dbfleet` binary reading a
//! 1,000,000-row SQLite table in each output format, and of a query that a
//! row limit stops early; then CSV and NDJSON exports of a 1,000,000-row
//! table on PostgreSQL, MariaDB and SQLite against each engine's own bulk
//! export (`COPY … TO STDOUT`, `mariadb --batch --quick`, the `sqlite3`
//! shell). Run with `cargo bench -p dbfleet-server --bench export`; the
//! numbers in BENCHMARKS.md come from it.
//!
//! Peak memory is the child's maximum resident set size (getrusage), so it
//! includes the binary itself, not only the rows in flight.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROWS: u64 = 1_000_000;
const RUNS: usize = 3;

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("seed.sql"),
        format!(
            "CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT, amount DECIMAL(10,2), created TIMESTAMP);
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {ROWS})
             INSERT INTO big SELECT x, 'customer ' || x, x % 1000 + 0.5, datetime(1700000000 + x, 'unixepoch') FROM c;"
        ),
    )
    .expect("seed written");
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        "[environments.big]\ndriver = \"sqlite\"\npath = \"big.db\"\nmode = \"create\"\ninit_script = \"seed.sql\"\n\
         max_rows = 10000000\nmax_result_bytes = 1073741824\n",
    )
    .expect("config written");
    let config = config.to_str().expect("a UTF-8 path").to_owned();
    run(&["check", "-c", &config]);
    // Three environments on the file `check` just created, for the fan-out stream.
    let three = dir.path().join("three.toml");
    let environments: String = ["a", "b", "c"]
        .map(|name| {
            format!("[environments.{name}]\ndriver = \"sqlite\"\npath = \"big.db\"\nmax_rows = 10000000\n")
        })
        .concat();
    std::fs::write(&three, environments).expect("config written");
    let three = three.to_str().expect("a UTF-8 path").to_owned();

    let all = format!("SELECT * FROM big LIMIT {ROWS}");
    let scenarios: [(&str, Vec<&str>); 6] = [
        ("table, --max-rows 1000 (stops early)", vec!["query", "-c", &config, "--max-rows", "1000", &all]),
        (
            "json, --max-rows 1000 (stops early)",
            vec!["query", "-c", &config, "-f", "json", "--max-rows", "1000", &all],
        ),
        (
            "ndjson, all rows (streamed)",
            vec!["query", "-c", &config, "-f", "ndjson", "--max-rows", "10000000", &all],
        ),
        (
            "csv, all rows (streamed)",
            vec!["query", "-c", &config, "-f", "csv", "--max-rows", "10000000", &all],
        ),
        (
            "ndjson, all rows from 3 environments at once (streamed)",
            vec!["query", "-c", &three, "--all", "-f", "ndjson", "--max-rows", "10000000", &all],
        ),
        (
            "json, all rows (collected)",
            vec!["query", "-c", &config, "-f", "json", "--max-rows", "10000000", &all],
        ),
    ];
    println!("| scenario ({ROWS} rows in the table) | median time | peak RSS |");
    println!("|---|---|---|");
    for (name, args) in scenarios {
        let (time, peak_kib) = median_of_runs(|| dbfleet(&args));
        println!("| {name} | {:.2} s | {:.1} MiB |", time.as_secs_f64(), peak_kib as f64 / 1024.0);
    }
    against_the_engines(dir.path());
}

/// The same 1,000,000 rows (id, text, decimal, timestamp, boolean) exported
/// by dbfleet and by each engine's own tool, both writing to /dev/null.
fn against_the_engines(dir: &std::path::Path) {
    let sqlite_file = dir.join("native.db");
    let sqlite_path = sqlite_file.to_str().expect("a UTF-8 path");
    let shape = |g: &str| {
        format!(
            "{g} AS id, concat('customer ', {g}) AS name, ({g} % 100000) * 1.25 AS amount, \
             {g} % 2 = 0 AS flag"
        )
    };
    let engines = [
        Engine {
            name: "PostgreSQL",
            driver: "postgres",
            reachable: reachable("127.0.0.1:5432"),
            setup: tool(
                "psql",
                &["-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c"],
                &format!(
                    "DROP TABLE IF EXISTS dbfleet_export_bench; CREATE TABLE dbfleet_export_bench AS SELECT {}, \
                     timestamptz '2026-01-01' + g * interval '1 second' AS at FROM generate_series(1, {ROWS}) AS g",
                    shape("g")
                ),
            ),
            target: "url = \"postgres://postgres@127.0.0.1:5432/postgres\"".into(),
            native: tool(
                "psql",
                &["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c"],
                "COPY dbfleet_export_bench TO STDOUT WITH CSV",
            ),
            native_name: "`COPY … TO STDOUT WITH CSV` (psql)",
        },
        Engine {
            name: "MariaDB",
            driver: "mysql",
            reachable: reachable("127.0.0.1:3306"),
            setup: tool(
                "mariadb",
                &["-h", "127.0.0.1", "-u", "root", "-e"],
                &format!(
                    "CREATE DATABASE IF NOT EXISTS dbfleet_export_bench; USE dbfleet_export_bench; \
                     DROP TABLE IF EXISTS t; CREATE TABLE t AS SELECT {}, \
                     TIMESTAMP '2026-01-01 00:00:00' + INTERVAL seq SECOND AS at FROM seq_1_to_{ROWS}",
                    shape("seq")
                ),
            ),
            target: "url = \"mysql://root@127.0.0.1:3306/dbfleet_export_bench\"".into(),
            native: tool(
                "mariadb",
                &["--batch", "--quick", "-h", "127.0.0.1", "-u", "root", "dbfleet_export_bench", "-e"],
                "SELECT * FROM t",
            ),
            native_name: "`mariadb --batch --quick`",
        },
        Engine {
            name: "SQLite",
            driver: "sqlite",
            reachable: true,
            setup: tool(
                "sqlite3",
                &[sqlite_path],
                &format!(
                    "DROP TABLE IF EXISTS t; CREATE TABLE t AS WITH RECURSIVE c(g) AS (SELECT 1 UNION ALL \
                     SELECT g + 1 FROM c WHERE g < {ROWS}) SELECT {}, datetime(1767225600 + g, 'unixepoch') AS at \
                     FROM c",
                    shape("g").replace("concat('customer ', g)", "'customer ' || g")
                ),
            ),
            target: format!("path = \"{sqlite_path}\""),
            native: tool("sqlite3", &["-csv", sqlite_path], "SELECT * FROM t"),
            native_name: "`sqlite3 -csv`",
        },
    ];
    println!();
    println!(
        "| engine, {ROWS} rows | the engine's own export | time | dbfleet `-f csv` | dbfleet `-f ndjson` | dbfleet peak RSS |"
    );
    println!("|---|---|---|---|---|---|");
    for mut engine in engines {
        if !engine.reachable {
            eprintln!("\n*** {} left out: its server is not reachable ***\n", engine.name);
            continue;
        }
        let status = engine.setup.stdout(Stdio::null()).status().expect("the engine's shell runs");
        assert!(status.success(), "{}: the table could not be created", engine.name);
        let table = if engine.driver == "postgres" { "dbfleet_export_bench" } else { "t" };
        let config = dir.join(format!("{}.toml", engine.driver));
        std::fs::write(
            &config,
            format!(
                "[environments.e]\ndriver = \"{}\"\n{}\nmax_rows = 10000000\nquery_timeout_secs = 600\n",
                engine.driver, engine.target
            ),
        )
        .expect("config written");
        let config = config.to_str().expect("a UTF-8 path").to_owned();
        let sql = format!("SELECT * FROM {table}");
        let export = |format: &'static str| {
            let args = ["query", "-c", &config, "-f", format, "--max-rows", "10000000", &sql];
            median_of_runs(|| dbfleet(&args))
        };
        let (native, _) = median_of_runs(|| measure(&mut engine.native));
        let (csv, csv_kib) = export("csv");
        let (ndjson, ndjson_kib) = export("ndjson");
        let share = |time: Duration| {
            format!(
                "{:.2} s ({:.0} %)",
                time.as_secs_f64(),
                100.0 * native.as_secs_f64() / time.as_secs_f64()
            )
        };
        println!(
            "| {} | {} | {:.2} s | {} | {} | {:.1} MiB |",
            engine.name,
            engine.native_name,
            native.as_secs_f64(),
            share(csv),
            share(ndjson),
            csv_kib.max(ndjson_kib) as f64 / 1024.0
        );
    }
}

struct Engine {
    name: &'static str,
    driver: &'static str,
    reachable: bool,
    setup: Command,
    target: String,
    native: Command,
    native_name: &'static str,
}

fn tool(program: &str, args: &[&str], sql: &str) -> Command {
    let mut command = Command::new(program);
    command.args(args).arg(sql);
    command
}

fn reachable(address: &str) -> bool {
    std::net::TcpStream::connect(address).is_ok()
}

/// The median time of [`RUNS`] runs, and the largest peak RSS among them.
fn median_of_runs(mut once: impl FnMut() -> (Duration, i64)) -> (Duration, i64) {
    let mut times = Vec::new();
    let mut peak_kib = 0;
    for _ in 0..RUNS {
        let (elapsed, kib) = once();
        times.push(elapsed);
        peak_kib = peak_kib.max(kib);
    }
    times.sort();
    (times[RUNS / 2], peak_kib)
}

fn dbfleet(args: &[&str]) -> (Duration, i64) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dbfleet"));
    command.args(args);
    measure(&mut command)
}

fn run(args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_dbfleet")).args(args).stdout(Stdio::null()).status();
    assert!(status.expect("dbfleet runs").success(), "dbfleet {args:?} failed");
}

/// Wall time and the child's peak resident set in KiB.
#[allow(unsafe_code, reason = "wait4 has no safe binding in std")]
fn measure(command: &mut Command) -> (Duration, i64) {
    let started = Instant::now();
    let child = command.stdout(Stdio::null()).spawn().expect("the command runs");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4 reports this child's own peak RSS (getrusage(RUSAGE_CHILDREN)
    // would report the largest of all children so far).
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{command:?} failed");
    // Reaped by wait4 above; dropping a `Child` neither waits nor kills.
    drop(child);
    (elapsed, usage.ru_maxrss)
}
