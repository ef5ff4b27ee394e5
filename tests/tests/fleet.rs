//! The environment manager over real SQLite databases: routing, health,
//! reconnection, read-only enforcement and row limits.

use std::time::Duration;

use dbfleet_core::ErrorKind;
use dbfleet_core::QueryRequest;
use dbfleet_core::fleet::{Fleet, StartOptions, Status};
use dbfleet_tests::{config_in, wait_for_status};

fn fast_retry() -> StartOptions {
    StartOptions {
        reconnect: true,
        min_retry_delay: Duration::from_millis(20),
        max_retry_delay: Duration::from_millis(100),
    }
}

fn query(sql: &str) -> QueryRequest {
    QueryRequest { sql: sql.into(), ..QueryRequest::default() }
}

const SEED: &str = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO items (id, name) VALUES (1, 'one'), (2, 'two'), (3, 'three');";

fn write_seed(dir: &std::path::Path) {
    std::fs::write(dir.join("seed.sql"), SEED).unwrap();
}

#[tokio::test]
async fn an_environment_that_is_down_at_start_reconnects_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    write_seed(dir.path());
    let config = config_in(
        dir.path(),
        r#"
        default_environment = "up"
        [environments.up]
        driver = "sqlite"
        path = "up.db"
        mode = "create"
        init_script = "seed.sql"
        [environments.late]
        driver = "sqlite"
        path = "late.db"
        mode = "read_write"
        "#,
        &[],
    );
    let fleet = Fleet::start(&config, fast_retry()).unwrap();
    fleet.wait_ready().await;

    let late = fleet.environment(Some("late")).unwrap();
    assert_eq!(late.status(), Status::Unhealthy);
    let status = fleet.statuses().into_iter().find(|s| s.name == "late").unwrap();
    let last_error = status.last_error.expect("an unhealthy environment reports its error");
    assert_eq!(last_error.kind, ErrorKind::Connection);
    assert!(last_error.message.contains("late.db"), "{}", last_error.message);
    let refused = late.query(&query("SELECT 1")).await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Connection);
    assert_eq!(refused.environment.as_deref(), Some("late"));

    // The healthy environment works meanwhile.
    let up = fleet.environment(None).unwrap();
    assert_eq!(up.query(&query("SELECT count(*) FROM items")).await.unwrap().rows[0][0].to_text(), "3");

    // The database appears; the background retry picks it up.
    std::fs::copy(dir.path().join("up.db"), dir.path().join("late.db")).unwrap();
    assert!(wait_for_status(&late, Status::Healthy, Duration::from_secs(10)).await, "never reconnected");
    let rows = late.query(&query("SELECT name FROM items ORDER BY id")).await.unwrap();
    assert_eq!(rows.row_count, 3);
    let status = fleet.statuses().into_iter().find(|s| s.name == "late").unwrap();
    assert!(status.last_error.is_none());
    assert_eq!(status.consecutive_failures, 0);
    assert!(status.server_version.unwrap().starts_with("SQLite 3."));
    fleet.shutdown().await;
}

#[tokio::test]
async fn read_only_environments_refuse_writes_before_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    write_seed(dir.path());
    let config = config_in(
        dir.path(),
        r#"
        [environments.ro]
        driver = "sqlite"
        path = "ro.db"
        mode = "create"
        init_script = "seed.sql"
        read_only = true
        "#,
        &[],
    );
    let fleet = Fleet::start(&config, StartOptions::default()).unwrap();
    fleet.wait_ready().await;
    let env = fleet.environment(Some("ro")).unwrap();
    for sql in [
        "INSERT INTO items (id, name) VALUES (9, 'nine')",
        "UPDATE items SET name = 'x'",
        "DELETE FROM items",
        "CREATE TABLE t (a INT)",
        "DROP TABLE items",
        "ALTER TABLE items ADD COLUMN b INT",
        "ATTACH DATABASE 'other.db' AS other",
        "PRAGMA user_version = 7",
        "WITH d AS (SELECT 1) DELETE FROM items",
    ] {
        let err = env.query(&query(sql)).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::ReadOnly, "{sql}: {err}");
        assert_eq!(err.environment.as_deref(), Some("ro"), "{sql}");
    }
    let count = env.query(&query("SELECT count(*) FROM items")).await.unwrap();
    assert_eq!(count.rows[0][0].to_text(), "3", "nothing was written");
    assert!(!dir.path().join("other.db").exists(), "ATTACH created no file");
    let version = env.query(&query("PRAGMA user_version")).await.unwrap();
    assert_eq!(version.rows[0][0].to_text(), "0");
}

#[tokio::test]
async fn writable_environments_report_affected_rows() {
    let dir = tempfile::tempdir().unwrap();
    write_seed(dir.path());
    let config = config_in(
        dir.path(),
        r#"
        [environments.rw]
        driver = "sqlite"
        path = "rw.db"
        mode = "create"
        init_script = "seed.sql"
        read_only = false
        "#,
        &[],
    );
    let fleet = Fleet::start(&config, StartOptions::default()).unwrap();
    fleet.wait_ready().await;
    let env = fleet.environment(Some("rw")).unwrap();
    let updated = env.query(&query("UPDATE items SET name = upper(name) WHERE id < 3")).await.unwrap();
    assert_eq!(updated.affected_rows, Some(2));
    assert!(updated.columns.is_empty());
    let request = QueryRequest {
        sql: "INSERT INTO items (id, name) VALUES (?, ?)".into(),
        params: vec![dbfleet_core::Value::Int(4), dbfleet_core::Value::Text("four".into())],
        max_rows: None,
    };
    assert_eq!(env.query(&request).await.unwrap().affected_rows, Some(1));
    let names = env.query(&query("SELECT name FROM items ORDER BY id")).await.unwrap();
    let names: Vec<String> = names.rows.iter().map(|r| r[0].to_text()).collect();
    assert_eq!(names, ["ONE", "TWO", "three", "four"]);

    // Explaining a write, even where writes are allowed, does not run it.
    let explained =
        env.explain("DELETE FROM items WHERE id > ?", vec![dbfleet_core::Value::Int(0)]).await.unwrap();
    assert_eq!(explained.summary.scans[0].table, "items");
    let count = env.query(&query("SELECT COUNT(*) FROM items")).await.unwrap();
    assert_eq!(count.rows, [[dbfleet_core::Value::Int(4)]]);
}

#[tokio::test]
async fn max_rows_defaults_to_the_environment_setting_and_is_capped_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(
        dir.path(),
        r#"
        [defaults]
        max_rows = 5
        [environments.mem]
        driver = "sqlite"
        path = ":memory:"
        "#,
        &[],
    );
    let fleet = Fleet::start(&config, StartOptions::default()).unwrap();
    fleet.wait_ready().await;
    let env = fleet.environment(Some("mem")).unwrap();
    let series =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT x FROM c";
    for (requested, expected) in [(None, 5), (Some(100), 5), (Some(2), 2)] {
        let result =
            env.query(&QueryRequest { sql: series.into(), params: vec![], max_rows: requested }).await;
        let result = result.unwrap();
        assert_eq!(result.row_count, expected, "{requested:?}");
        assert_eq!(result.max_rows, expected as u64);
        assert!(result.truncated);
    }
    let zero = env.query(&QueryRequest { sql: "SELECT 1".into(), params: vec![], max_rows: Some(0) }).await;
    assert_eq!(zero.unwrap_err().kind, ErrorKind::InvalidArgument);
    let small = env.query(&query("SELECT 1 UNION ALL SELECT 2")).await.unwrap();
    assert!(!small.truncated);
}

#[tokio::test]
async fn a_query_past_its_timeout_fails_and_the_environment_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(
        dir.path(),
        r#"
        [environments.slow]
        driver = "sqlite"
        path = ":memory:"
        query_timeout_secs = 1
        "#,
        &[],
    );
    let fleet = Fleet::start(&config, StartOptions::default()).unwrap();
    fleet.wait_ready().await;
    let env = fleet.environment(Some("slow")).unwrap();
    let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let err = env.query(&query(endless)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert_eq!(env.query(&query("SELECT 42")).await.unwrap().rows[0][0].to_text(), "42");
}

#[tokio::test]
async fn unknown_disabled_and_default_environments() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(
        dir.path(),
        r#"
        default_environment = "a"
        [environments.a]
        driver = "sqlite"
        path = ":memory:"
        [environments.off]
        driver = "sqlite"
        path = "missing.db"
        enabled = false
        "#,
        &[],
    );
    let fleet = Fleet::start(&config, StartOptions::default()).unwrap();
    fleet.wait_ready().await;
    assert_eq!(fleet.environment(None).unwrap().name(), "a");

    let unknown = fleet.environment(Some("nope")).err().unwrap();
    assert_eq!(unknown.kind, ErrorKind::UnknownEnvironment);
    assert!(unknown.message.contains("a, off"), "{}", unknown.message);

    let off = fleet.environment(Some("off")).unwrap();
    assert_eq!(off.status(), Status::Disabled);
    assert_eq!(off.query(&query("SELECT 1")).await.unwrap_err().kind, ErrorKind::DisabledEnvironment);

    let statuses = fleet.health_check(None).await.unwrap();
    let summary: Vec<(String, Status, bool)> =
        statuses.into_iter().map(|s| (s.name, s.status, s.default)).collect();
    assert_eq!(
        summary,
        [("a".to_owned(), Status::Healthy, true), ("off".to_owned(), Status::Disabled, false)]
    );
}

/// A tool of the configuration file on SQL Server (the TDS test endpoint,
/// or a real server with `DBFLEET_TEST_MSSQL_URL`) and on SQLite: one
/// statement, each engine with its own placeholders, values bound.
#[tokio::test]
async fn a_configured_tool_binds_its_parameters_on_sql_server_and_sqlite() {
    let Some(server) = dbfleet_tests::sqlserver::sqlserver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(
        dir.path(),
        &format!(
            "[environments.ms]\ndriver = \"sqlserver\"\n{}\
             [environments.lite]\ndriver = \"sqlite\"\npath = \":memory:\"\n\
             [tools.sum]\ndescription = \"Adds\"\nsql = \"SELECT :a + :b AS total, :a AS a\"\n\
             [tools.sum.parameters.a]\ntype = \"integer\"\n\
             [tools.sum.parameters.b]\ntype = \"integer\"\ndefault = 2\n",
            server.settings("master")
        ),
        &[],
    );
    let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..StartOptions::default() }).unwrap();
    fleet.wait_ready().await;
    let tool = &fleet.tools()[0];
    assert_eq!(tool.statement("ms").unwrap().sql, "SELECT @P1 + @P2 AS total, @P3 AS a");
    assert_eq!(tool.statement("lite").unwrap().sql, "SELECT ? + ? AS total, ? AS a");
    let arguments = serde_json::json!({"a": 40});
    let values = tool.values(arguments.as_object().unwrap()).unwrap();
    for env in ["ms", "lite"] {
        let request = tool.request(env, &values, None).unwrap();
        let result = fleet.environment(Some(env)).unwrap().query(&request).await.unwrap();
        assert_eq!(result.rows, [[dbfleet_core::Value::Int(42), dbfleet_core::Value::Int(40)]], "{env}");
    }
    fleet.shutdown().await;
}
