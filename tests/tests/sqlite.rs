//! SQLite-specific behaviour beyond the conformance suite: engine-level
//! read-only refusal of every kind of write, database creation and seeding,
//! streaming without read-ahead, and the pool under concurrency.

use std::sync::Arc;

use dbfleet_core::QueryRequest;
use dbfleet_core::fleet::{Fleet, StartOptions, Status};
use dbfleet_core::{ErrorKind, Query, collect_limited};
use dbfleet_tests::config_in;

const SEED: &str = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO t (id, v) VALUES (1, 'a'), (2, 'b');";

async fn fleet(dir: &std::path::Path, toml: &str) -> Arc<Fleet> {
    let fleet =
        Fleet::start(&config_in(dir, toml, &[]), StartOptions { reconnect: false, ..Default::default() })
            .unwrap();
    fleet.wait_ready().await;
    fleet
}

#[tokio::test]
async fn a_read_only_environment_is_refused_by_sqlite_itself() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("seed.sql"), SEED).unwrap();
    std::fs::write(dir.path().join("other.db"), b"").unwrap();
    let fleet = fleet(
        dir.path(),
        "[environments.ro]\ndriver = \"sqlite\"\npath = \"ro.db\"\nmode = \"create\"\ninit_script = \"seed.sql\"\n",
    )
    .await;
    // Straight to the pool, past the classifier.
    let pool = fleet.environment(Some("ro")).unwrap().pool().unwrap();
    for sql in [
        "INSERT INTO t (id, v) VALUES (3, 'c')",
        "UPDATE t SET v = 'x'",
        "DELETE FROM t",
        "CREATE TABLE u (a INT)",
        "DROP TABLE t",
        "PRAGMA user_version = 5",
        "ATTACH DATABASE 'other.db' AS other",
    ] {
        let err = pool.execute(&Query::new(sql)).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::ReadOnly, "{sql}: {err}");
    }
    let count =
        collect_limited(pool.query(&Query::new("SELECT count(*) FROM t")).await.unwrap(), 10).await.unwrap();
    assert_eq!(count.rows[0][0].to_text(), "2");
}

#[tokio::test]
async fn create_mode_seeds_once_and_a_failed_seed_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("seed.sql"), SEED).unwrap();
    std::fs::write(dir.path().join("bad.sql"), "CREATE TABLE x (a INT); INSERT INTO nowhere VALUES (1);")
        .unwrap();
    let toml = "[environments.w]\ndriver = \"sqlite\"\npath = \"sub/dir/w.db\"\nmode = \"create\"\n\
                init_script = \"seed.sql\"\nread_only = false\n\
                [environments.bad]\ndriver = \"sqlite\"\npath = \"bad.db\"\nmode = \"create\"\ninit_script = \"bad.sql\"\n";
    let first = fleet(dir.path(), toml).await;
    let w = first.environment(Some("w")).unwrap();
    let insert = QueryRequest { sql: "INSERT INTO t (id, v) VALUES (3, 'c')".into(), ..Default::default() };
    assert_eq!(w.query(&insert).await.unwrap().affected_rows, Some(1));
    let bad = first.statuses().into_iter().find(|s| s.name == "bad").unwrap();
    assert_eq!(bad.status, Status::Unhealthy);
    assert!(bad.last_error.unwrap().message.contains("nowhere"));
    assert!(!dir.path().join("bad.db").exists(), "a failed seed leaves no database behind");
    first.shutdown().await;

    // Opening again does not seed again: the row inserted above is still there.
    let second = fleet(dir.path(), toml).await;
    let count = QueryRequest { sql: "SELECT count(*) FROM t".into(), ..Default::default() };
    let result = second.environment(Some("w")).unwrap().query(&count).await.unwrap();
    assert_eq!(result.rows[0][0].to_text(), "3");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("creating"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn rows_are_read_only_as_the_consumer_pulls_them() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet(dir.path(), "[environments.m]\ndriver = \"sqlite\"\npath = \":memory:\"\n").await;
    let pool = fleet.environment(Some("m")).unwrap().pool().unwrap();
    let million =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT x FROM c";

    // With a fetch limit of 10 the driver hands over 10 rows per pull, and no
    // pull happens until the consumer asks: after one chunk, 10 rows exist.
    let mut stream = pool.query(&Query::new(million).with_fetch_limit(10)).await.unwrap();
    let first = stream.next_chunk().await.unwrap().unwrap();
    assert_eq!(first.len(), 10);
    assert_eq!(stream.rows_pulled(), 10);
    let second = stream.next_chunk().await.unwrap().unwrap();
    assert_eq!(second[0][0].to_text(), "11");
    assert_eq!(stream.rows_pulled(), 20);
    drop(stream);

    // The pool of one connection (":memory:") is free again at once: the
    // dropped stream ended its statement instead of reading on.
    let again = collect_limited(pool.query(&Query::new("SELECT 7")).await.unwrap(), 5).await.unwrap();
    assert_eq!(again.rows[0][0].to_text(), "7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_queries_share_a_small_pool() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("seed.sql"), SEED).unwrap();
    let fleet = fleet(
        dir.path(),
        "[environments.p]\ndriver = \"sqlite\"\npath = \"p.db\"\nmode = \"create\"\ninit_script = \"seed.sql\"\n\
         [environments.p.pool]\nmax_connections = 2\n",
    )
    .await;
    let env = fleet.environment(Some("p")).unwrap();
    let queries = (0..50).map(|i| {
        let env = env.clone();
        async move {
            let request =
                QueryRequest { sql: format!("SELECT v, {i} FROM t WHERE id = 1"), ..Default::default() };
            env.query(&request).await
        }
    });
    let results = futures::future::join_all(queries).await;
    for (i, result) in results.into_iter().enumerate() {
        let result = result.unwrap();
        assert_eq!(result.rows[0][1].to_text(), i.to_string());
    }
    let stats = fleet.statuses().remove(0).pool.unwrap();
    assert!(stats.size <= 2 && stats.max == 2, "{stats:?}");
}
