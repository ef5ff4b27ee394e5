//! Streaming with bounded memory, and stopping SQLite when the client goes away.

use std::time::{Duration, Instant};

use futures::TryStreamExt;

use crate::common;

const MILLION: &str = "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT x FROM c OPTION (MAXRECURSION 0)";
const NEVER_ENDING: &str = "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT_BIG(*) FROM c OPTION (MAXRECURSION 0)";

/// Waits until the endpoint has no SQLite work left (the abandoned statement stopped).
async fn wait_until_idle(endpoint: &dbfleet_tds_endpoint::Endpoint) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while endpoint.active_sessions() > 0 {
        assert!(Instant::now() < deadline, "the abandoned statement is still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_rows_stream_completely() {
    let endpoint = common::start();
    let mut client = common::connect(&endpoint, None).await;
    let mut rows = client.query(MILLION, &[]).await.unwrap().into_row_stream();
    let (mut count, mut sum) = (0u64, 0i64);
    while let Some(row) = rows.try_next().await.unwrap() {
        count += 1;
        sum += row.get::<i64, _>(0).unwrap();
    }
    assert_eq!(count, 1_000_000);
    assert_eq!(sum, 500_000_500_000);
}

#[tokio::test]
async fn an_abandoned_large_result_stops_and_new_connections_work() {
    let endpoint = common::start();
    let mut client = common::connect(&endpoint, None).await;
    let mut rows = client.query(MILLION, &[]).await.unwrap().into_row_stream();
    for expected in 1..=26i64 {
        assert_eq!(rows.try_next().await.unwrap().unwrap().get::<i64, _>(0), Some(expected));
    }
    drop(rows);
    drop(client);
    wait_until_idle(&endpoint).await;

    let mut fresh = common::connect(&endpoint, None).await;
    let row = fresh.query("SELECT COUNT(*) FROM (SELECT 1 UNION ALL SELECT 2)", &[]).await.unwrap();
    assert_eq!(row.into_row().await.unwrap().unwrap().get::<i64, _>(0), Some(2));
}

#[tokio::test]
async fn a_never_ending_query_is_interrupted_when_the_client_drops() {
    let endpoint = common::start();
    let mut client = common::connect(&endpoint, None).await;
    let timed_out =
        tokio::time::timeout(Duration::from_millis(500), client.query(NEVER_ENDING, &[])).await.is_err();
    assert!(timed_out, "the query never ends on its own");
    assert_eq!(endpoint.active_sessions(), 1);
    drop(client);
    wait_until_idle(&endpoint).await;

    let started = Instant::now();
    let mut fresh = common::connect(&endpoint, None).await;
    let row = fresh.query("SELECT 1 AS one", &[]).await.unwrap().into_row().await.unwrap().unwrap();
    assert_eq!(row.get::<i64, _>("one"), Some(1));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_slow_reader_does_not_block_other_sessions() {
    let endpoint = common::start();
    let mut streaming = common::connect(&endpoint, None).await;
    let mut rows = streaming.query(MILLION, &[]).await.unwrap().into_row_stream();
    rows.try_next().await.unwrap().unwrap();

    let mut other = common::connect(&endpoint, None).await;
    let row = other.query("SELECT 42", &[]).await.unwrap().into_row().await.unwrap().unwrap();
    assert_eq!(row.get::<i64, _>(0), Some(42));
    assert_eq!(endpoint.active_sessions(), 2);
}
