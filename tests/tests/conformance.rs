//! One conformance suite, the same cases for every driver.
//!
//! Each engine gets the same fixture (created and dropped by the test, in a
//! scratch database of its own so parallel runs do not collide): a table with
//! one column per logical type, customers/orders with a primary key, an index
//! and a foreign key, and a view. The large result is generated server-side.
//!
//! SQLite always runs. PostgreSQL and MariaDB/MySQL run against the services
//! of `dbfleet_tests::services` (skipped loudly when absent, failing under CI).
//!
//! Where an engine cannot take part in a case, the case says so:
//! - SQLite has no passwords and no network: the wrong-password case does not
//!   apply, and "closed port" becomes "missing database file".
//! - MySQL has no UUID type: the fixture keeps the UUID in CHAR(36), which is
//!   text. MariaDB's `JSON` is an alias of `LONGTEXT`, so a JSON column may come
//!   back as text; the suite then compares the parsed text.
//!
//! SQL Server runs against the TDS test endpoint of this tree (a TDS 7.4
//! server executing on SQLite; see `tests/tds-endpoint`), or against a real
//! server when `DBFLEET_TEST_MSSQL_URL` is set. On SQL Server:
//! - JSON has no type of its own before SQL Server 2025: the fixture keeps it
//!   in NVARCHAR(MAX), which is text.
//! - Refusal by the engine relies on `ApplicationIntent=ReadOnly`, which only
//!   a readable secondary (and the test endpoint) enforces: against a real
//!   standalone server that case is skipped, as a read-only login is the
//!   engine-level guarantee there.
//! - The endpoint executes on SQLite, so the slow query differs: an endless
//!   recursive CTE there, a large cross join on a real server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use dbfleet_core::QueryRequest;
use dbfleet_core::fleet::{Environment, Fleet, StartOptions};
use dbfleet_core::{ErrorKind, LogicalType, Query, TableFilter, TableKind, TableRef, Value, collect_limited};
use dbfleet_tests::config_in;
use dbfleet_tests::services::{mysql_url, postgres_url};
use dbfleet_tests::sqlserver::{SqlServer, sqlserver};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
    Mysql,
    SqlServer,
}

/// A scratch database on one engine, with the fixture loaded.
struct Scratch {
    engine: Engine,
    dir: tempfile::TempDir,
    /// The driver settings that point at the scratch database (TOML lines).
    settings: String,
    /// A writable fleet on the server's admin database, to create and drop it.
    admin: Option<(Arc<Fleet>, String)>,
}

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

impl Scratch {
    async fn new(engine: Engine) -> Option<Scratch> {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("dbfleet_conf_{}_{}", std::process::id(), SEQUENCE.fetch_add(1, Ordering::SeqCst));
        let (settings, admin) = match engine {
            Engine::Sqlite => ("path = \"conformance.db\"\nmode = \"create\"\n".to_owned(), None),
            Engine::SqlServer => {
                let server = sqlserver()?;
                let toml = format!(
                    "[environments.admin]\ndriver = \"sqlserver\"\n{}read_only = false\n",
                    server.settings("master")
                );
                let fleet = start(&config_in(dir.path(), &toml, &[])).await;
                run(&fleet, "admin", &format!("CREATE DATABASE {name}")).await;
                (server.settings(&name), Some((fleet, name)))
            }
            Engine::Postgres | Engine::Mysql => {
                let (driver, admin_url) = match engine {
                    Engine::Postgres => ("postgres", postgres_url()?),
                    _ => ("mysql", mysql_url()?),
                };
                let toml = format!(
                    "[environments.admin]\ndriver = \"{driver}\"\nurl = \"{admin_url}\"\nread_only = false\n"
                );
                let fleet = start(&config_in(dir.path(), &toml, &[])).await;
                run(&fleet, "admin", &format!("CREATE DATABASE {name}")).await;
                (format!("url = \"{}\"\n", with_database(&admin_url, &name)), Some((fleet, name)))
            }
        };
        let scratch = Scratch { engine, dir, settings, admin };
        let fleet = scratch.fleet(&[("setup", false)]).await;
        for statement in fixture(engine) {
            run(&fleet, "setup", statement).await;
        }
        fleet.shutdown().await;
        Some(scratch)
    }

    fn driver(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
            Engine::SqlServer => "sqlserver",
        }
    }

    /// A fleet with the given environments (name, read_only) on the scratch database.
    async fn fleet(&self, envs: &[(&str, bool)]) -> Arc<Fleet> {
        self.fleet_with(envs, "").await
    }

    async fn fleet_with(&self, envs: &[(&str, bool)], extra: &str) -> Arc<Fleet> {
        let mut toml = String::new();
        for (name, read_only) in envs {
            toml.push_str(&format!(
                "[environments.{name}]\ndriver = \"{}\"\nread_only = {read_only}\nmax_rows = 100000\n{}{extra}\n",
                self.driver(),
                self.settings
            ));
        }
        start(&config_in(self.dir.path(), &toml, &[])).await
    }

    async fn drop(self) {
        if let Some((admin, name)) = self.admin {
            let drop = match self.engine {
                Engine::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS {name}"),
            };
            if self.engine == Engine::SqlServer && real_sqlserver() {
                // A real server refuses to drop a database that has sessions.
                run(
                    &admin,
                    "admin",
                    &format!("ALTER DATABASE {name} SET SINGLE_USER WITH ROLLBACK IMMEDIATE"),
                )
                .await;
            }
            run(&admin, "admin", &drop).await;
            admin.shutdown().await;
        }
    }
}

async fn start(config: &dbfleet_core::Config) -> Arc<Fleet> {
    let fleet = Fleet::start(config, StartOptions { reconnect: false, ..StartOptions::default() }).unwrap();
    fleet.wait_ready().await;
    fleet
}

async fn run(fleet: &Fleet, env: &str, sql: &str) -> dbfleet_core::QueryResult {
    let request = QueryRequest { sql: sql.into(), ..QueryRequest::default() };
    let env = fleet.environment(Some(env)).unwrap();
    env.query(&request).await.unwrap_or_else(|err| panic!("{sql}: {err}"))
}

fn env(fleet: &Fleet, name: &str) -> Arc<Environment> {
    fleet.environment(Some(name)).unwrap()
}

/// Replaces the database part of a server URL.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn real_sqlserver() -> bool {
    sqlserver().is_some_and(|server: SqlServer| server.real)
}

fn placeholder(engine: Engine, position: usize) -> String {
    match engine {
        Engine::Postgres => format!("${position}"),
        Engine::SqlServer => format!("@P{position}"),
        _ => "?".to_owned(),
    }
}

/// The fixture, in each engine's dialect.
fn fixture(engine: Engine) -> Vec<&'static str> {
    let all_types = match engine {
        Engine::Sqlite => {
            "CREATE TABLE all_types (id INTEGER PRIMARY KEY, c_bool BOOLEAN, c_int BIGINT, c_float DOUBLE, \
             c_decimal DECIMAL(10,2), c_text TEXT, c_bytes BLOB, c_date DATE, c_time TIME, c_timestamp TIMESTAMP, \
             c_timestamptz TIMESTAMPTZ, c_uuid UUID, c_json JSON)"
        }
        Engine::Postgres => {
            "CREATE TABLE all_types (id INTEGER PRIMARY KEY, c_bool BOOLEAN, c_int BIGINT, c_float DOUBLE PRECISION, \
             c_decimal NUMERIC(10,2), c_text TEXT, c_bytes BYTEA, c_date DATE, c_time TIME(3), \
             c_timestamp TIMESTAMP(3), c_timestamptz TIMESTAMPTZ(3), c_uuid UUID, c_json JSONB)"
        }
        Engine::SqlServer => {
            "CREATE TABLE all_types (id INT PRIMARY KEY, c_bool BIT, c_int BIGINT, c_float FLOAT, \
             c_decimal DECIMAL(10,2), c_text NVARCHAR(MAX), c_bytes VARBINARY(64), c_date DATE, c_time TIME(3), \
             c_timestamp DATETIME2(3), c_timestamptz DATETIMEOFFSET(3), c_uuid UNIQUEIDENTIFIER, c_json NVARCHAR(MAX))"
        }
        Engine::Mysql => {
            "CREATE TABLE all_types (id INT PRIMARY KEY, c_bool BOOLEAN, c_int BIGINT, c_float DOUBLE, \
             c_decimal DECIMAL(10,2), c_text TEXT, c_bytes VARBINARY(64), c_date DATE, c_time TIME(3), \
             c_timestamp DATETIME(3), c_timestamptz TIMESTAMP(3) NULL DEFAULT NULL, c_uuid CHAR(36), c_json JSON)"
        }
    };
    let row = match engine {
        Engine::Sqlite => {
            "INSERT INTO all_types VALUES (1, 1, 9007199254740993, 1.5, 12.50, 'héllo wörld ✓ 🚀', X'0001FF', \
             '2024-05-01', '13:45:00.123', '2024-05-01 13:45:00.123', '2024-05-01T13:45:00.123Z', \
             '67e55044-10b1-426f-9247-bb680e5fe0c8', '{\"a\": [1, 2]}')"
        }
        Engine::Postgres => {
            "INSERT INTO all_types VALUES (1, true, 9007199254740993, 1.5, 12.50, 'héllo wörld ✓ 🚀', '\\x0001ff', \
             '2024-05-01', '13:45:00.123', '2024-05-01 13:45:00.123', '2024-05-01 13:45:00.123+00', \
             '67e55044-10b1-426f-9247-bb680e5fe0c8', '{\"a\": [1, 2]}')"
        }
        Engine::SqlServer => {
            "INSERT INTO all_types VALUES (1, 1, 9007199254740993, 1.5, 12.50, N'héllo wörld ✓ 🚀', 0x0001FF, \
             '2024-05-01', '13:45:00.123', '2024-05-01 13:45:00.123', '2024-05-01 13:45:00.123 +00:00', \
             '67e55044-10b1-426f-9247-bb680e5fe0c8', N'{\"a\": [1, 2]}')"
        }
        Engine::Mysql => {
            "INSERT INTO all_types VALUES (1, true, 9007199254740993, 1.5, 12.50, 'héllo wörld ✓ 🚀', X'0001FF', \
             '2024-05-01', '13:45:00.123', '2024-05-01 13:45:00.123', '2024-05-01 13:45:00.123', \
             '67e55044-10b1-426f-9247-bb680e5fe0c8', '{\"a\": [1, 2]}')"
        }
    };
    let customers = match engine {
        Engine::Mysql => "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL)",
        Engine::SqlServer => "CREATE TABLE customers (id INT PRIMARY KEY, name NVARCHAR(100) NOT NULL)",
        _ => "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)",
    };
    let orders = match engine {
        Engine::Mysql | Engine::SqlServer => {
            "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2) NOT NULL, \
             CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id))"
        }
        _ => {
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount DECIMAL(10,2) NOT NULL, \
             CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id))"
        }
    };
    vec![
        all_types,
        row,
        "INSERT INTO all_types (id) VALUES (2)",
        customers,
        orders,
        "CREATE INDEX orders_by_customer ON orders (customer_id)",
        "CREATE VIEW order_totals AS SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id",
        "INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace')",
        "INSERT INTO orders VALUES (10, 1, 5.00), (11, 1, 7.25), (12, 2, 3.10)",
    ]
}

/// A server-side generated result of a million rows.
fn million_rows(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT x FROM c"
        }
        Engine::Postgres => "SELECT x FROM generate_series(1, 1000000) AS x",
        Engine::Mysql => "SELECT seq AS x FROM seq_1_to_1000000",
        Engine::SqlServer => {
            "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT x FROM c \
             OPTION (MAXRECURSION 0)"
        }
    }
}

/// A statement that runs for longer than a one-second timeout.
fn slow_query(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
        }
        Engine::Postgres => "SELECT pg_sleep(5)",
        Engine::Mysql => "SELECT SLEEP(5)",
        Engine::SqlServer if real_sqlserver() => {
            "SELECT COUNT_BIG(*) FROM sys.all_objects a CROSS JOIN sys.all_objects b CROSS JOIN sys.all_objects c"
        }
        Engine::SqlServer => {
            "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT_BIG(*) FROM c"
        }
    }
}

/// The JSON form a value must have, made comparable across engines: decimals
/// by value (SQLite keeps no scale), JSON stored as text parsed.
fn comparable(value: &Value) -> serde_json::Value {
    match value {
        Value::Decimal(text) => json!(normalise_decimal(text)),
        Value::Text(text) if text.starts_with('{') => {
            serde_json::from_str(text).unwrap_or_else(|_| json!(text))
        }
        other => other.to_json(),
    }
}

fn normalise_decimal(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text.to_owned()
    }
}

const ALL_TYPES: &str = "SELECT c_bool, c_int, c_float, c_decimal, c_text, c_bytes, c_date, c_time, c_timestamp, \
                         c_timestamptz, c_uuid, c_json FROM all_types WHERE id = 1";

async fn every_logical_type_round_trips(engine: Engine) {
    let Some(scratch) = Scratch::new(engine).await else { return };
    let fleet = scratch.fleet(&[("ro", true)]).await;
    let result = run(&fleet, "ro", ALL_TYPES).await;
    let expected = [
        (LogicalType::Bool, json!(true)),
        (LogicalType::Int, json!("9007199254740993")),
        (LogicalType::Float, json!(1.5)),
        (LogicalType::Decimal, json!("12.5")),
        (LogicalType::Text, json!("héllo wörld ✓ 🚀")),
        (LogicalType::Bytes, json!("AAH/")),
        (LogicalType::Date, json!("2024-05-01")),
        (LogicalType::Time, json!("13:45:00.123")),
        (LogicalType::Timestamp, json!("2024-05-01T13:45:00.123")),
        (LogicalType::Timestamptz, json!("2024-05-01T13:45:00.123Z")),
        (LogicalType::Uuid, json!("67e55044-10b1-426f-9247-bb680e5fe0c8")),
        (LogicalType::Json, json!({"a": [1, 2]})),
    ];
    assert_eq!(result.rows.len(), 1);
    for ((column, value), (logical, want)) in result.columns.iter().zip(&result.rows[0]).zip(expected) {
        let sent_as_text = (engine == Engine::Mysql
            && matches!(logical, LogicalType::Json | LogicalType::Uuid))
            || (engine == Engine::SqlServer && logical == LogicalType::Json);
        if sent_as_text {
            assert!(
                column.logical_type == logical || column.logical_type == LogicalType::Text,
                "{engine:?} {}: {:?}",
                column.name,
                column.logical_type
            );
        } else {
            assert_eq!(column.logical_type, logical, "{engine:?} {} ({})", column.name, column.native_type);
        }
        assert_eq!(comparable(value), want, "{engine:?} {}: {value:?}", column.name);
    }
    scratch.drop().await;
}

async fn null_in_every_type(engine: Engine) {
    let Some(scratch) = Scratch::new(engine).await else { return };
    let fleet = scratch.fleet(&[("ro", true)]).await;
    let result = run(&fleet, "ro", &ALL_TYPES.replace("id = 1", "id = 2")).await;
    assert_eq!(result.columns.len(), 12);
    for (column, value) in result.columns.iter().zip(&result.rows[0]) {
        assert_eq!(*value, Value::Null, "{engine:?} {}", column.name);
    }
    scratch.drop().await;
}

async fn unicode_and_large_text_through_parameters(engine: Engine) {
    let Some(scratch) = Scratch::new(engine).await else { return };
    let fleet = scratch.fleet(&[("ro", true)]).await;
    let big: String = "ünïcødé ✓ 🚀 ".repeat(1024 * 1024 / 20);
    assert!(big.len() >= 1_000_000);
    let sql = match engine {
        Engine::Postgres => "SELECT CAST($1 AS TEXT) AS t, CAST($2 AS BIGINT) AS n".to_owned(),
        _ => format!("SELECT {} AS t, {} AS n", placeholder(engine, 1), placeholder(engine, 2)),
    };
    let request =
        QueryRequest { sql, params: vec![Value::Text(big.clone()), Value::Int(-7)], max_rows: None };
    let result = env(&fleet, "ro").query(&request).await.unwrap();
    let got = result.rows[0][0].to_text();
    assert!(got == big, "{engine:?}: {} bytes came back for {} sent", got.len(), big.len());
    assert_eq!(result.rows[0][1].to_text(), "-7", "{engine:?}");
    scratch.drop().await;
}

async fn positional_parameters_filter_rows(engine: Engine) {
    let Some(scratch) = Scratch::new(engine).await else { return };
    let fleet = scratch.fleet(&[("ro", true)]).await;
    let sql = format!(
        "SELECT id FROM orders WHERE customer_id = {} AND amount > {} ORDER BY id",
        placeholder(engine, 1),
        placeholder(engine, 2)
    );
    let request = QueryRequest { sql, params: vec![Value::Int(1), Value::Float(6.0)], max_rows: None };
    let result = env(&fleet, "ro").query(&request).await.unwrap();
    let ids: Vec<String> = result.rows.iter().map(|r| r[0].to_text()).collect();
    assert_eq!(ids, ["11"], "{engine:?}");
    scratch.drop().await;
}

async fn an_empty_result_keeps_its_columns(engine: Engine) {
    let Some(scratch) = Scratch::new(engine).await else { return };
    let fleet = scratch.fleet(&[("ro", true)]).await;
    let result = run(&fleet, "ro", "SELECT id, name FROM customers WHERE id < 0").await;
    assert_eq!(result.row_count, 0);
    let columns: Vec<(&str, LogicalType)> =
        result.columns.iter().map(|c| (c.name.as_str(), c.logical_type)).collect();
    assert_eq!(columns, [("id", LogicalType::Int), ("name", LogicalType::Text)], "{engine:?}");
    scratch.drop().await;
}

async fn max_rows_stops_reading_early(engine: Engine) {
    let Some(scratch) = Scratch::new(engine).await else { return };
    let fleet = scratch.fleet(&[("ro", true)]).await;
    let pool = env(&fleet, "ro").pool().unwrap();
    let max_rows = 25;
    let stream = pool.query(&Query::new(million_rows(engine)).with_fetch_limit(max_rows + 1)).await.unwrap();
    let limited = collect_limited(stream, max_rows).await.unwrap();
    assert_eq!(limited.rows.len() as u64, max_rows);
    assert!(limited.truncated);
    assert!(limited.rows_pulled <= max_rows + 1, "{engine:?} pulled {} rows", limited.rows_pulled);
    assert_eq!(limited.rows[24][0].to_text(), "25");
    // The connection is usable after the abandoned result.
    assert_eq!(run(&fleet, "ro", "SELECT COUNT(*) FROM customers").await.rows[0][0].to_text(), "2");
    scratch.drop().await;
}

async fn dml_reports_affected_rows(engine: Engine) {
    let Some(scratch) = Scratch::new(engine).await else { return };
    let fleet = scratch.fleet(&[("rw", false)]).await;
    assert_eq!(
        run(&fleet, "rw", "UPDATE orders SET amount = amount + 1 WHERE customer_id = 1").await.affected_rows,
        Some(2)
    );
    assert_eq!(run(&fleet, "rw", "INSERT INTO customers VALUES (3, 'Alan')").await.affected_rows, Some(1));
    assert_eq!(run(&fleet, "rw", "DELETE FROM orders WHERE id = 12").await.affected_rows, Some(1));
    assert_eq!(run(&fleet, "rw", "SELECT COUNT(*) FROM orders").await.rows[0][0].to_text(), "2");
    scratch.drop().await;
}

async fn read_only_is_refused_by_the_classifier(engine: Engine) {
    let Some(scratch) = Scratch::new(engine).await else { return };
    let fleet = scratch.fleet(&[("ro", true)]).await;
    for sql in ["INSERT INTO customers VALUES (9, 'x')", "UPDATE orders SET amount = 0", "DROP TABLE orders"]
    {
        let err = env(&fleet, "ro").query(&QueryRequest { sql: sql.into(), ..QueryRequest::default() }).await;
        let err = err.unwrap_err();
        assert_eq!(err.kind, ErrorKind::ReadOnly, "{engine:?} {sql}");
        assert_eq!(err.code, None, "{engine:?}: refused before the engine saw it");
    }
    scratch.drop().await;
}

async fn read_only_is_refused_by_the_engine(engine: Engine) {
    if engine == Engine::SqlServer && real_sqlserver() {
        eprintln!("SKIPPED on a real SQL Server: ApplicationIntent=ReadOnly binds only readable secondaries");
        return;
    }
    let Some(scratch) = Scratch::new(engine).await else { return };
    let fleet = scratch.fleet(&[("ro", true)]).await;
    // Straight to the pool: the classifier is not in the way.
    let pool = env(&fleet, "ro").pool().unwrap();
    let err = pool.execute(&Query::new("INSERT INTO customers VALUES (9, 'x')")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReadOnly, "{engine:?}: {err}");
    assert_eq!(run(&fleet, "ro", "SELECT COUNT(*) FROM customers").await.rows[0][0].to_text(), "2");
    scratch.drop().await;
}

async fn syntax_errors_and_unknown_tables_are_query_errors(engine: Engine) {
    let Some(scratch) = Scratch::new(engine).await else { return };
    let fleet = scratch.fleet(&[("rw", false)]).await;
    let rw = env(&fleet, "rw");
    let syntax =
        rw.query(&QueryRequest { sql: "SELEC 1".into(), ..QueryRequest::default() }).await.unwrap_err();
    assert_eq!(syntax.kind, ErrorKind::Query, "{engine:?}: {syntax}");
    assert!(syntax.code.is_some(), "{engine:?}: the engine's code is kept: {syntax}");
    let unknown = rw
        .query(&QueryRequest { sql: "SELECT * FROM no_such_table".into(), ..QueryRequest::default() })
        .await
        .unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::Query, "{engine:?}: {unknown}");
    assert!(unknown.message.contains("no_such_table"), "{engine:?}: {unknown}");
    assert_eq!(unknown.environment.as_deref(), Some("rw"));
    scratch.drop().await;
}

async fn a_slow_query_times_out_and_the_environment_recovers(engine: Engine) {
    let Some(scratch) = Scratch::new(engine).await else { return };
    let fleet = scratch.fleet_with(&[("ro", true)], "query_timeout_secs = 1\n").await;
    let ro = env(&fleet, "ro");
    let err = ro.query(&QueryRequest { sql: slow_query(engine).into(), ..QueryRequest::default() }).await;
    assert_eq!(err.unwrap_err().kind, ErrorKind::Timeout, "{engine:?}");
    assert_eq!(run(&fleet, "ro", "SELECT COUNT(*) FROM customers").await.rows[0][0].to_text(), "2");
    scratch.drop().await;
}

async fn unreachable_servers_are_connection_errors(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let settings = match engine {
        Engine::Sqlite => "driver = \"sqlite\"\npath = \"missing.db\"\n",
        Engine::Postgres => "driver = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:1/postgres\"\n",
        Engine::Mysql => "driver = \"mysql\"\nurl = \"mysql://root@127.0.0.1:1/mysql\"\n",
        Engine::SqlServer => {
            "driver = \"sqlserver\"\nurl = \"sqlserver://sa@127.0.0.1:1/master?encrypt=not_supported\"\n"
        }
    };
    let toml = format!("[environments.down]\n{settings}[environments.down.pool]\nconnect_timeout_secs = 3\n");
    let fleet = start(&config_in(dir.path(), &toml, &[])).await;
    let status = fleet.statuses().remove(0);
    let err = status.last_error.expect("the failure is reported");
    assert_eq!(err.kind, ErrorKind::Connection, "{engine:?}: {err}");
    let down = env(&fleet, "down");
    let refused = down.query(&QueryRequest { sql: "SELECT 1".into(), ..QueryRequest::default() }).await;
    assert_eq!(refused.unwrap_err().kind, ErrorKind::Connection);
}

async fn bad_credentials_are_auth_errors(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let password = "Wr0ngPassw0rdQX";
    let settings = match engine {
        // No credentials in SQLite.
        Engine::Sqlite => return,
        // The local server trusts 127.0.0.1, so a wrong password would be
        // accepted; a role that does not exist is refused with 28000.
        Engine::Postgres => {
            let Some(url) = postgres_url() else { return };
            let host = url.split('@').nth(1).unwrap_or("127.0.0.1:5432/postgres").to_owned();
            format!("driver = \"postgres\"\nurl = \"postgres://no_such_role_dbfleet@{host}\"\n")
        }
        Engine::Mysql => {
            let Some(url) = mysql_url() else { return };
            let host = url.split('@').nth(1).unwrap_or("127.0.0.1:3306/mysql").to_owned();
            format!("driver = \"mysql\"\nurl = \"mysql://root@{host}\"\n")
        }
        Engine::SqlServer => {
            let Some(server) = sqlserver() else { return };
            format!("driver = \"sqlserver\"\n{}", server.settings_without_password("master"))
        }
    };
    let toml = format!("[environments.locked]\n{settings}password_env = \"LOCKED_PW\"\n");
    let fleet = start(&config_in(dir.path(), &toml, &[("LOCKED_PW", password)])).await;
    let status = fleet.statuses().remove(0);
    let err = status.last_error.expect("the failure is reported");
    assert_eq!(err.kind, ErrorKind::Auth, "{engine:?}: {err}");
    let everything = format!("{err} {err:?} {}", serde_json::to_string(&fleet.statuses()).unwrap());
    assert!(!everything.contains(password), "{engine:?} leaked the password: {everything}");
}

async fn catalogs_agree_on_the_fixture(engine: Engine) {
    let Some(scratch) = Scratch::new(engine).await else { return };
    let fleet = scratch.fleet(&[("ro", true)]).await;
    let ro = env(&fleet, "ro");

    let tables = ro.list_tables(&TableFilter::default()).await.unwrap();
    let mut names: Vec<(String, TableKind)> = tables.iter().map(|t| (t.name.clone(), t.kind)).collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        names,
        [
            ("all_types".to_owned(), TableKind::Table),
            ("customers".to_owned(), TableKind::Table),
            ("order_totals".to_owned(), TableKind::View),
            ("orders".to_owned(), TableKind::Table),
        ],
        "{engine:?}"
    );
    let filtered = ro.list_tables(&TableFilter::new(None, Some("ord%".into()))).await.unwrap();
    assert_eq!(filtered.len(), 2, "{engine:?}: {filtered:?}");

    let orders = ro.describe_table(&TableRef::new(None, "orders")).await.unwrap();
    let columns: Vec<(&str, LogicalType, bool)> =
        orders.columns.iter().map(|c| (c.name.as_str(), c.logical_type, c.nullable)).collect();
    assert_eq!(
        columns,
        [
            ("id", LogicalType::Int, false),
            ("customer_id", LogicalType::Int, false),
            ("amount", LogicalType::Decimal, false)
        ],
        "{engine:?}"
    );
    assert_eq!(orders.primary_key, ["id"], "{engine:?}");
    assert_eq!(orders.foreign_keys.len(), 1, "{engine:?}");
    let fk = &orders.foreign_keys[0];
    assert_eq!(
        (fk.columns.as_slice(), fk.referenced_table.as_str(), fk.referenced_columns.as_slice()),
        (&["customer_id".to_owned()][..], "customers", &["id".to_owned()][..]),
        "{engine:?}"
    );
    let index = orders.indexes.iter().find(|i| i.name == "orders_by_customer").expect("the index is listed");
    assert_eq!(index.columns, ["customer_id"]);
    assert!(!index.unique);

    let all_types = ro.describe_table(&TableRef::new(None, "all_types")).await.unwrap();
    let logical: Vec<LogicalType> = all_types.columns.iter().skip(1).map(|c| c.logical_type).collect();
    let mut expected = vec![
        LogicalType::Bool,
        LogicalType::Int,
        LogicalType::Float,
        LogicalType::Decimal,
        LogicalType::Text,
        LogicalType::Bytes,
        LogicalType::Date,
        LogicalType::Time,
        LogicalType::Timestamp,
        LogicalType::Timestamptz,
        LogicalType::Uuid,
        LogicalType::Json,
    ];
    if engine == Engine::Mysql {
        expected[10] = LogicalType::Text;
        if logical.last() == Some(&LogicalType::Text) {
            expected[11] = LogicalType::Text;
        }
    }
    if engine == Engine::SqlServer {
        expected[11] = LogicalType::Text;
    }
    assert_eq!(logical, expected, "{engine:?}");

    let unknown = ro.describe_table(&TableRef::new(None, "no_such_table")).await.unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::Query, "{engine:?}");

    let databases = ro.list_databases().await.unwrap();
    assert!(!databases.is_empty(), "{engine:?}");
    let version = fleet.statuses().remove(0).server_version.unwrap();
    let expected_engine = match engine {
        Engine::Sqlite => "SQLite",
        Engine::Postgres => "PostgreSQL",
        Engine::Mysql => "MariaDB",
        Engine::SqlServer => "SQL Server",
    };
    assert!(version.contains(expected_engine), "{engine:?}: {version}");
    scratch.drop().await;
}

macro_rules! conformance {
    ($engine_mod:ident, $engine:expr) => {
        mod $engine_mod {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn every_logical_type_round_trips() {
                super::every_logical_type_round_trips($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn null_in_every_type() {
                super::null_in_every_type($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn unicode_and_large_text_through_parameters() {
                super::unicode_and_large_text_through_parameters($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn positional_parameters_filter_rows() {
                super::positional_parameters_filter_rows($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_empty_result_keeps_its_columns() {
                super::an_empty_result_keeps_its_columns($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn max_rows_stops_reading_early() {
                super::max_rows_stops_reading_early($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dml_reports_affected_rows() {
                super::dml_reports_affected_rows($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn read_only_is_refused_by_the_classifier() {
                super::read_only_is_refused_by_the_classifier($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn read_only_is_refused_by_the_engine() {
                super::read_only_is_refused_by_the_engine($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn syntax_errors_and_unknown_tables_are_query_errors() {
                super::syntax_errors_and_unknown_tables_are_query_errors($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_slow_query_times_out_and_the_environment_recovers() {
                super::a_slow_query_times_out_and_the_environment_recovers($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn unreachable_servers_are_connection_errors() {
                super::unreachable_servers_are_connection_errors($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bad_credentials_are_auth_errors() {
                super::bad_credentials_are_auth_errors($engine).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn catalogs_agree_on_the_fixture() {
                super::catalogs_agree_on_the_fixture($engine).await;
            }
        }
    };
}

conformance!(sqlite, Engine::Sqlite);
conformance!(postgres, Engine::Postgres);
conformance!(mysql, Engine::Mysql);
conformance!(sqlserver, Engine::SqlServer);
