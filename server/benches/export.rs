//! Export benchmark: time and peak memory of the `dbfleet` binary reading a
//! 1,000,000-row SQLite table in each output format, and of a query that a
//! row limit stops early. Run with `cargo bench -p dbfleet-server`; the
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
        let mut times: Vec<Duration> = Vec::new();
        let mut peak_kib = 0;
        for _ in 0..RUNS {
            let (elapsed, kib) = measure(&args);
            times.push(elapsed);
            peak_kib = peak_kib.max(kib);
        }
        times.sort();
        println!("| {name} | {:.2} s | {:.1} MiB |", times[RUNS / 2].as_secs_f64(), peak_kib as f64 / 1024.0);
    }
}

fn run(args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_dbfleet")).args(args).stdout(Stdio::null()).status();
    assert!(status.expect("dbfleet runs").success(), "dbfleet {args:?} failed");
}

/// Wall time and the child's peak resident set in KiB.
#[allow(unsafe_code, reason = "wait4 has no safe binding in std")]
fn measure(args: &[&str]) -> (Duration, i64) {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("dbfleet runs");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4 reports this child's own peak RSS (getrusage(RUSAGE_CHILDREN)
    // would report the largest of all children so far).
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "dbfleet {args:?} failed");
    // Reaped by wait4 above; dropping a `Child` neither waits nor kills.
    drop(child);
    (elapsed, usage.ru_maxrss)
}
