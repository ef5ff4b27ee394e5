//! The conformance suite of `dbfleet-testkit` on the four built-in drivers.
//!
//! Each target creates a scratch database of its own per case, so parallel
//! runs do not collide. SQLite always runs. PostgreSQL and MariaDB/MySQL run
//! against the services of `dbfleet_tests::services` (skipped loudly when
//! absent, failing under CI).
//!
//! Where an engine cannot take part in a case, its target says so:
//! - SQLite has no logins and no network: the refused-login case does not
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

use std::path::Path;
use std::sync::Arc;

use dbfleet_core::{Fleet, LogicalType, StartOptions};
use dbfleet_testkit::{Capabilities, Fixture, Target, run};
use dbfleet_tests::config_in;
use dbfleet_tests::services::{mysql_url, postgres_url};
use dbfleet_tests::sqlserver::sqlserver;

/// A writable fleet with one environment, `admin`, to create and drop
/// scratch databases with.
async fn admin(dir: &Path, driver: &str, settings: &str) -> Arc<Fleet> {
    let toml = format!("[environments.admin]\ndriver = \"{driver}\"\n{settings}read_only = false\n");
    let fleet = Fleet::start(
        &config_in(dir, &toml, &[]),
        StartOptions { reconnect: false, ..StartOptions::default() },
    )
    .unwrap();
    fleet.wait_ready().await;
    fleet
}

/// Runs `sql` on a server's admin database, then lets the connection go.
async fn administer(driver: &str, settings: &str, sql: &str) {
    let dir = tempfile::tempdir().unwrap();
    let fleet = admin(dir.path(), driver, settings).await;
    run(&fleet, "admin", sql).await;
    fleet.shutdown().await;
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

/// The fixture's tables where engines spell them alike (SQLite, PostgreSQL).
fn standard_tables() -> (String, String) {
    (
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)".into(),
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount DECIMAL(10,2) NOT NULL, \
         CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id))"
            .into(),
    )
}

struct Sqlite;

impl Target for Sqlite {
    fn driver(&self) -> &'static str {
        "sqlite"
    }

    fn engine(&self) -> &'static str {
        "SQLite"
    }

    async fn create(&self, _dir: &Path, _name: &str) -> Option<String> {
        Some("path = \"conformance.db\"\nmode = \"create\"\n".to_owned())
    }

    // The file goes with the scratch directory.
    async fn destroy(&self, _name: &str) {}

    fn fixture(&self) -> Fixture {
        let (customers, orders) = standard_tables();
        Fixture {
            all_types: "CREATE TABLE all_types (id INTEGER PRIMARY KEY, c_bool BOOLEAN, c_int BIGINT, c_float DOUBLE, \
                        c_decimal DECIMAL(10,2), c_text TEXT, c_bytes BLOB, c_date DATE, c_time TIME, \
                        c_timestamp TIMESTAMP, c_timestamptz TIMESTAMPTZ, c_uuid UUID, c_json JSON)"
                .into(),
            all_types_row: "INSERT INTO all_types VALUES (1, 1, 9007199254740993, 1.5, 12.50, 'héllo wörld ✓ 🚀', \
                            X'0001FF', '2024-05-01', '13:45:00.123', '2024-05-01 13:45:00.123', \
                            '2024-05-01T13:45:00.123Z', '67e55044-10b1-426f-9247-bb680e5fe0c8', '{\"a\": [1, 2]}')"
                .into(),
            customers,
            orders,
        }
    }

    fn million_rows(&self) -> String {
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT x FROM c"
            .into()
    }

    fn slow_query(&self) -> String {
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c".into()
    }

    fn unreachable(&self) -> String {
        "path = \"missing.db\"\n".into()
    }

    fn refused_login(&self) -> Option<String> {
        None
    }
}

struct Postgres;

impl Target for Postgres {
    fn driver(&self) -> &'static str {
        "postgres"
    }

    fn engine(&self) -> &'static str {
        "PostgreSQL"
    }

    async fn create(&self, _dir: &Path, name: &str) -> Option<String> {
        let url = postgres_url()?;
        administer("postgres", &format!("url = \"{url}\"\n"), &format!("CREATE DATABASE {name}")).await;
        Some(format!("url = \"{}\"\n", with_database(&url, name)))
    }

    async fn destroy(&self, name: &str) {
        let url = postgres_url().expect("the server was there for create");
        administer(
            "postgres",
            &format!("url = \"{url}\"\n"),
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await;
    }

    fn fixture(&self) -> Fixture {
        let (customers, orders) = standard_tables();
        Fixture {
            all_types: "CREATE TABLE all_types (id INTEGER PRIMARY KEY, c_bool BOOLEAN, c_int BIGINT, \
                        c_float DOUBLE PRECISION, c_decimal NUMERIC(10,2), c_text TEXT, c_bytes BYTEA, c_date DATE, \
                        c_time TIME(3), c_timestamp TIMESTAMP(3), c_timestamptz TIMESTAMPTZ(3), c_uuid UUID, \
                        c_json JSONB)"
                .into(),
            all_types_row: "INSERT INTO all_types VALUES (1, true, 9007199254740993, 1.5, 12.50, 'héllo wörld ✓ 🚀', \
                            '\\x0001ff', '2024-05-01', '13:45:00.123', '2024-05-01 13:45:00.123', \
                            '2024-05-01 13:45:00.123+00', '67e55044-10b1-426f-9247-bb680e5fe0c8', '{\"a\": [1, 2]}')"
                .into(),
            customers,
            orders,
        }
    }

    fn million_rows(&self) -> String {
        "SELECT x FROM generate_series(1, 1000000) AS x".into()
    }

    fn slow_query(&self) -> String {
        "SELECT pg_sleep(5)".into()
    }

    fn placeholder(&self, position: usize) -> String {
        format!("${position}")
    }

    fn text_and_integer_parameters(&self) -> String {
        "SELECT CAST($1 AS TEXT) AS t, CAST($2 AS BIGINT) AS n".into()
    }

    fn unreachable(&self) -> String {
        "url = \"postgres://postgres@127.0.0.1:1/postgres\"\n".into()
    }

    // The local server trusts 127.0.0.1, so a wrong password would be
    // accepted; a role that does not exist is refused with 28000.
    fn refused_login(&self) -> Option<String> {
        let url = postgres_url()?;
        let host = url.split('@').nth(1).unwrap_or("127.0.0.1:5432/postgres").to_owned();
        Some(format!("url = \"postgres://no_such_role_dbfleet@{host}\"\n"))
    }
}

struct Mysql;

impl Target for Mysql {
    fn driver(&self) -> &'static str {
        "mysql"
    }

    fn engine(&self) -> &'static str {
        "MariaDB"
    }

    async fn create(&self, _dir: &Path, name: &str) -> Option<String> {
        let url = mysql_url()?;
        administer("mysql", &format!("url = \"{url}\"\n"), &format!("CREATE DATABASE {name}")).await;
        Some(format!("url = \"{}\"\n", with_database(&url, name)))
    }

    async fn destroy(&self, name: &str) {
        let url = mysql_url().expect("the server was there for create");
        administer("mysql", &format!("url = \"{url}\"\n"), &format!("DROP DATABASE IF EXISTS {name}")).await;
    }

    fn fixture(&self) -> Fixture {
        Fixture {
            all_types: "CREATE TABLE all_types (id INT PRIMARY KEY, c_bool BOOLEAN, c_int BIGINT, c_float DOUBLE, \
                        c_decimal DECIMAL(10,2), c_text TEXT, c_bytes VARBINARY(64), c_date DATE, c_time TIME(3), \
                        c_timestamp DATETIME(3), c_timestamptz TIMESTAMP(3) NULL DEFAULT NULL, c_uuid CHAR(36), \
                        c_json JSON)"
                .into(),
            all_types_row: "INSERT INTO all_types VALUES (1, true, 9007199254740993, 1.5, 12.50, 'héllo wörld ✓ 🚀', \
                            X'0001FF', '2024-05-01', '13:45:00.123', '2024-05-01 13:45:00.123', \
                            '2024-05-01 13:45:00.123', '67e55044-10b1-426f-9247-bb680e5fe0c8', '{\"a\": [1, 2]}')"
                .into(),
            customers: "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL)".into(),
            orders: "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2) NOT NULL, \
                     CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id))"
                .into(),
        }
    }

    fn million_rows(&self) -> String {
        "SELECT seq AS x FROM seq_1_to_1000000".into()
    }

    fn slow_query(&self) -> String {
        "SELECT SLEEP(5)".into()
    }

    fn unreachable(&self) -> String {
        "url = \"mysql://root@127.0.0.1:1/mysql\"\n".into()
    }

    // root logs in without a password here: any password is refused.
    fn refused_login(&self) -> Option<String> {
        let url = mysql_url()?;
        let host = url.split('@').nth(1).unwrap_or("127.0.0.1:3306/mysql").to_owned();
        Some(format!("url = \"mysql://root@{host}\"\n"))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default().with_text_for(&[LogicalType::Uuid, LogicalType::Json])
    }
}

struct SqlServer;

impl SqlServer {
    fn real() -> bool {
        sqlserver().is_some_and(|server| server.real)
    }
}

impl Target for SqlServer {
    fn driver(&self) -> &'static str {
        "sqlserver"
    }

    fn engine(&self) -> &'static str {
        "SQL Server"
    }

    async fn create(&self, _dir: &Path, name: &str) -> Option<String> {
        let server = sqlserver()?;
        administer("sqlserver", &server.settings("master"), &format!("CREATE DATABASE {name}")).await;
        Some(server.settings(name))
    }

    async fn destroy(&self, name: &str) {
        let server = sqlserver().expect("the server was there for create");
        if server.real {
            // A real server refuses to drop a database that has sessions.
            administer(
                "sqlserver",
                &server.settings("master"),
                &format!("ALTER DATABASE {name} SET SINGLE_USER WITH ROLLBACK IMMEDIATE"),
            )
            .await;
        }
        administer("sqlserver", &server.settings("master"), &format!("DROP DATABASE IF EXISTS {name}")).await;
    }

    fn fixture(&self) -> Fixture {
        Fixture {
            all_types: "CREATE TABLE all_types (id INT PRIMARY KEY, c_bool BIT, c_int BIGINT, c_float FLOAT, \
                        c_decimal DECIMAL(10,2), c_text NVARCHAR(MAX), c_bytes VARBINARY(64), c_date DATE, \
                        c_time TIME(3), c_timestamp DATETIME2(3), c_timestamptz DATETIMEOFFSET(3), \
                        c_uuid UNIQUEIDENTIFIER, c_json NVARCHAR(MAX))"
                .into(),
            all_types_row: "INSERT INTO all_types VALUES (1, 1, 9007199254740993, 1.5, 12.50, N'héllo wörld ✓ 🚀', \
                            0x0001FF, '2024-05-01', '13:45:00.123', '2024-05-01 13:45:00.123', \
                            '2024-05-01 13:45:00.123 +00:00', '67e55044-10b1-426f-9247-bb680e5fe0c8', \
                            N'{\"a\": [1, 2]}')"
                .into(),
            customers: "CREATE TABLE customers (id INT PRIMARY KEY, name NVARCHAR(100) NOT NULL)".into(),
            orders: "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2) NOT NULL, \
                     CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id))"
                .into(),
        }
    }

    fn million_rows(&self) -> String {
        "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT x FROM c \
         OPTION (MAXRECURSION 0)"
            .into()
    }

    fn slow_query(&self) -> String {
        if SqlServer::real() {
            "SELECT COUNT_BIG(*) FROM sys.all_objects a CROSS JOIN sys.all_objects b CROSS JOIN sys.all_objects c"
                .into()
        } else {
            "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT_BIG(*) FROM c".into()
        }
    }

    fn placeholder(&self, position: usize) -> String {
        format!("@P{position}")
    }

    fn unreachable(&self) -> String {
        "url = \"sqlserver://sa@127.0.0.1:1/master?encrypt=not_supported\"\n".into()
    }

    fn refused_login(&self) -> Option<String> {
        Some(sqlserver()?.settings_without_password("master"))
    }

    fn capabilities(&self) -> Capabilities {
        let capabilities = Capabilities::default().with_text_for(&[LogicalType::Json]);
        // ApplicationIntent=ReadOnly binds only readable secondaries (and the
        // test endpoint); a read-only login is the guarantee on a real server.
        if SqlServer::real() { capabilities.without_engine_refusal() } else { capabilities }
    }
}

mod sqlite {
    dbfleet_testkit::conformance_suite!(super::Sqlite);
}

mod postgres {
    dbfleet_testkit::conformance_suite!(super::Postgres);
}

mod mysql {
    dbfleet_testkit::conformance_suite!(super::Mysql);
}

mod sqlserver {
    dbfleet_testkit::conformance_suite!(super::SqlServer);
}
