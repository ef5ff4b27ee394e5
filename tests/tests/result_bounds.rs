//! Results stop at `max_result_bytes` on real engines: wide rows end the
//! result early, and a single value too large for the bound is cut.

use dbfleet_core::Bound;
use dbfleet_core::QueryRequest;
use dbfleet_tests::scratch::{Engine, Scratch};

async fn bounded(engine: Engine, many_wide_rows: &str, one_huge_value: &str) {
    let Some(scratch) = Scratch::create(engine).await else { return };
    let fleet = scratch.fleet_with(&scratch.url, "max_result_bytes = 1048576", "").await;
    let db = fleet.environment(Some("db")).unwrap();
    let request = |sql: &str| QueryRequest { sql: sql.into(), ..Default::default() };

    let wide = db.query(&request(many_wide_rows)).await.unwrap();
    assert_eq!((wide.truncated, wide.truncated_by), (true, Some(Bound::MaxResultBytes)));
    assert_eq!(wide.row_count, 10, "ten rows of 100 kB fit in 1 MiB, the eleventh does not");
    assert_eq!(wide.values_cut, 0);

    let huge = db.query(&request(one_huge_value)).await.unwrap();
    assert_eq!((huge.row_count, huge.truncated, huge.values_cut), (1, false, 1));
    let kept = huge.rows[0][0].to_text().len();
    assert!(kept > 1_000_000 && kept <= 1_048_576, "the value was cut to the bound: {kept}");

    fleet.shutdown().await;
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_results_stop_at_max_result_bytes() {
    bounded(
        Engine::Postgres,
        "SELECT repeat('x', 100000) AS wide FROM generate_series(1, 1000)",
        "SELECT repeat('y', 5000000) AS huge",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_results_stop_at_max_result_bytes() {
    bounded(
        Engine::Mariadb,
        "SELECT REPEAT('x', 100000) AS wide FROM seq_1_to_1000",
        "SELECT REPEAT('y', 5000000) AS huge",
    )
    .await;
}

/// A connection that read a very large value is closed after the call, not
/// pooled with a read buffer that large.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_that_read_huge_values_are_not_kept() {
    let Some(scratch) = Scratch::create(Engine::Postgres).await else { return };
    let fleet = scratch.fleet(&scratch.url, "max_connections = 1").await;
    let db = fleet.environment(Some("db")).unwrap();
    let request = |sql: &str| QueryRequest { sql: sql.into(), ..Default::default() };
    db.query(&request("SELECT 1")).await.unwrap();
    assert_eq!(db.pool().unwrap().stats().size, 1, "an ordinary call keeps its connection");
    let huge = db.query(&request("SELECT repeat('y', 20000000) AS huge")).await.unwrap();
    assert_eq!(huge.values_cut, 1);
    let mut size = db.pool().unwrap().stats().size;
    for _ in 0..50 {
        if size == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        size = db.pool().unwrap().stats().size;
    }
    assert_eq!(size, 0, "the connection that read 20 MB was closed");
    db.query(&request("SELECT 1")).await.unwrap();
    fleet.shutdown().await;
    scratch.drop().await;
}
