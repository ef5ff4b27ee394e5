//! Streaming one statement from SQLite, PostgreSQL and MariaDB at once:
//! every environment's rows arrive whole and in order, in chunks, with its
//! own end or error, and an abandoned stream leaves every pool usable.

use std::collections::BTreeMap;
use std::sync::Arc;

use dbfleet_core::QueryRequest;
use dbfleet_core::fleet::StreamEvent;
use dbfleet_core::fleet::{Fleet, StartOptions};
use dbfleet_core::{ErrorKind, Value};
use dbfleet_tests::config_in;
use dbfleet_tests::estate::ShopEstate;
use futures::StreamExt;

const ROWS: i64 = 50_000;

/// The same SQL text counts to `ROWS` on all three engines (without
/// recursion: MariaDB stops a recursive CTE at 1,000 iterations by default).
fn counting_sql() -> String {
    let digits = (0..10).map(|d| format!("SELECT {d}")).collect::<Vec<_>>().join(" UNION ALL ");
    format!(
        "WITH d(n) AS ({digits}) \
         SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n + 1 AS n \
         FROM d a, d b, d c, d e, d f WHERE f.n < {} ORDER BY n",
        ROWS / 10_000
    )
}

/// The estate's three environments plus one on a closed port.
async fn fleet(estate: &ShopEstate) -> Arc<Fleet> {
    let toml = format!(
        "[defaults]\nmax_rows = 1000000\n{}\
         [environments.down]\ndriver = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:1/none\"\n",
        estate.environments(true)
    );
    let fleet = Fleet::start(
        &config_in(estate.dir(), &toml, &[]),
        StartOptions { reconnect: false, ..Default::default() },
    )
    .unwrap();
    fleet.wait_ready().await;
    fleet
}

/// What one environment's part of the stream held.
#[derive(Debug, Default)]
struct Seen {
    columns: usize,
    chunks: usize,
    rows: Vec<Value>,
    end: Option<(u64, bool)>,
    error: Option<ErrorKind>,
    after_last: usize,
}

async fn collect(fleet: &Fleet, names: &[&str], sql: &str, max_rows: Option<u64>) -> BTreeMap<String, Seen> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut events = fleet.stream_many(Some(&names), sql, &[], max_rows);
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    while let Some(event) = events.next().await {
        let entry = seen.entry(event.environment().to_owned()).or_default();
        if entry.end.is_some() || entry.error.is_some() {
            entry.after_last += 1;
        }
        match event {
            StreamEvent::Columns { columns, .. } => {
                assert_eq!(columns.len(), 1);
                assert!(entry.chunks == 0, "columns come first");
                entry.columns += 1;
            }
            StreamEvent::Rows { rows, .. } => {
                entry.chunks += 1;
                entry.rows.extend(rows.into_iter().map(|mut row| row.remove(0)));
            }
            StreamEvent::End { summary, .. } => entry.end = Some((summary.row_count, summary.truncated)),
            StreamEvent::Error { error, .. } => entry.error = Some(error.kind),
        }
    }
    seen
}

fn counted(to: i64) -> Vec<Value> {
    (1..=to).map(Value::Int).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_environment_streams_its_rows_whole_and_in_order() {
    let Some(estate) = ShopEstate::create().await else { return };
    let fleet = fleet(&estate).await;
    let seen = collect(&fleet, &["dev", "staging", "legacy", "down", "nowhere"], &counting_sql(), None).await;

    assert_eq!(seen.len(), 5, "every environment asked for appears: {seen:?}");
    for env in ["dev", "staging", "legacy"] {
        let s = &seen[env];
        assert_eq!((s.columns, s.error, s.after_last), (1, None, 0), "{env}");
        assert_eq!(s.end, Some((ROWS as u64, false)), "{env}");
        assert!(s.rows == counted(ROWS), "{env}: {} rows, not 1..={ROWS} in order", s.rows.len());
        assert!(s.chunks > 1, "{env}: rows arrive in chunks, not all at once");
    }
    assert_eq!(seen["down"].error, Some(ErrorKind::Connection));
    assert_eq!(seen["nowhere"].error, Some(ErrorKind::UnknownEnvironment));
    for env in ["down", "nowhere"] {
        assert_eq!((seen[env].columns, seen[env].end, seen[env].after_last), (0, None, 0), "{env}");
    }
    fleet.shutdown().await;
    estate.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_environment_stops_at_its_row_limit() {
    let Some(estate) = ShopEstate::create().await else { return };
    let fleet = fleet(&estate).await;
    let seen = collect(&fleet, &["dev", "staging", "legacy"], &counting_sql(), Some(10)).await;
    for env in ["dev", "staging", "legacy"] {
        assert_eq!(seen[env].rows, counted(10), "{env}");
        assert_eq!(seen[env].end, Some((10, true)), "{env}");
    }
    // A limit the result does not reach is not a truncation.
    let seen = collect(&fleet, &["dev", "staging", "legacy"], &counting_sql(), Some(ROWS as u64)).await;
    for env in ["dev", "staging", "legacy"] {
        assert_eq!(seen[env].end, Some((ROWS as u64, false)), "{env}");
    }
    fleet.shutdown().await;
    estate.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_failing_half_way_ends_that_environment_with_its_error() {
    let Some(estate) = ShopEstate::create().await else { return };
    let fleet = fleet(&estate).await;
    // Division by zero at row 30,000 is an error in PostgreSQL (SQLite and
    // MariaDB give NULL), after rows have already been sent.
    let sql = format!("SELECT 1 / (n - 30000) AS n FROM ({}) AS counted", counting_sql());
    let seen = collect(&fleet, &["staging", "dev"], &sql, None).await;
    assert_eq!((seen["staging"].error, seen["staging"].end), (Some(ErrorKind::Query), None));
    assert!(seen["staging"].rows.len() < 30_000);
    assert_eq!(seen["dev"].end, Some((ROWS as u64, false)), "the other environment is unaffected");
    fleet.shutdown().await;
    estate.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_stream_leaves_every_environment_usable() {
    let Some(estate) = ShopEstate::create().await else { return };
    let fleet = fleet(&estate).await;
    let names: Vec<String> = ["dev", "staging", "legacy"].map(String::from).to_vec();
    // More abandoned streams than a pool has connections (5 by default).
    for _ in 0..6 {
        let mut events = fleet.stream_many(Some(&names), &counting_sql(), &[], None);
        let mut rows_seen = 0;
        while rows_seen < 3 {
            if let Some(StreamEvent::Rows { .. }) = events.next().await {
                rows_seen += 1;
            }
        }
        drop(events);
    }
    for env in ["dev", "staging", "legacy"] {
        let request = QueryRequest { sql: "SELECT COUNT(*) AS n FROM orders".into(), ..Default::default() };
        let result = fleet.environment(Some(env)).unwrap().query(&request).await;
        let result = result.unwrap_or_else(|e| panic!("{env}: {e}"));
        assert_eq!(result.rows[0][0].to_text(), if env == "dev" { "2" } else { "3" }, "{env}");
    }
    fleet.shutdown().await;
    estate.drop().await;
}
