//! The driver over the real TDS wire protocol, against the SQLite-backed test
//! endpoint (tests/tds-endpoint): connect, types, parameters, catalog,
//! broken and abandoned connections, errors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use dbfleet_core::{
    DatabaseDriver, EnvironmentConfig, ErrorKind, LogicalType, Pool, PoolConfig, Query, TableFilter,
    TableKind, TableRef, Value, collect_limited, toml,
};
use dbfleet_sqlserver::SqlServerDriver;
use dbfleet_tds_endpoint::{Endpoint, EndpointConfig};

const USER: &str = "sa";
const PASSWORD: &str = "Endpoint-Secret-1";

const FIXTURE: &[&str] = &[
    "CREATE TABLE all_types (id INT PRIMARY KEY, c_bool BIT, c_int BIGINT, c_float FLOAT, c_decimal DECIMAL(10,2), c_text NVARCHAR(MAX), c_bytes VARBINARY(64), c_date DATE, c_time TIME(3), c_timestamp DATETIME2(3), c_timestamptz DATETIMEOFFSET(3), c_uuid UNIQUEIDENTIFIER, c_json NVARCHAR(MAX))",
    "INSERT INTO all_types VALUES (1, 1, 9007199254740993, 1.5, 12.50, N'héllo wörld ✓ 🚀', 0x0001FF, '2024-05-01', '13:45:00.123', '2024-05-01 13:45:00.123', '2024-05-01 13:45:00.123 +00:00', '67e55044-10b1-426f-9247-bb680e5fe0c8', N'{\"a\": [1, 2]}')",
    "INSERT INTO all_types (id) VALUES (2)",
    "CREATE TABLE customers (id INT PRIMARY KEY, name NVARCHAR(100) NOT NULL)",
    "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2) NOT NULL, CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id))",
    "CREATE INDEX orders_by_customer ON orders (customer_id)",
    "CREATE VIEW order_totals AS SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id",
    "INSERT INTO customers VALUES (1, N'Ada'), (2, N'Grace')",
    "INSERT INTO orders VALUES (10, 1, 5.00), (11, 1, 7.25), (12, 2, 3.10)",
];

fn start_endpoint() -> Endpoint {
    Endpoint::start(EndpointConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        user: USER.into(),
        password: PASSWORD.into(),
        data_dir: None,
    })
    .expect("the test endpoint starts")
}

fn env(endpoint: &Endpoint, password: &str, extra: &[(&str, toml::Value)]) -> EnvironmentConfig {
    let mut settings = BTreeMap::new();
    settings.insert("host".to_owned(), toml::Value::String("127.0.0.1".into()));
    settings.insert("port".to_owned(), toml::Value::Integer(i64::from(endpoint.local_addr().port())));
    settings.insert("username".to_owned(), toml::Value::String(USER.into()));
    settings.insert("encrypt".to_owned(), toml::Value::String("not_supported".into()));
    for (key, value) in extra {
        settings.insert((*key).to_owned(), value.clone());
    }
    EnvironmentConfig {
        name: "mssql".into(),
        driver: "sqlserver".into(),
        description: None,
        enabled: true,
        read_only: false,
        max_rows: 1000,
        query_timeout: Duration::from_secs(30),
        max_statement_bytes: dbfleet_core::config::DEFAULT_MAX_STATEMENT_BYTES,
        max_result_bytes: dbfleet_core::config::DEFAULT_MAX_RESULT_BYTES,
        side_effect_functions: Vec::new(),
        lazy: false,
        pool: PoolConfig { max_connections: 2, ..PoolConfig::default() },
        password: Some(password.into()),
        password_command: None,
        settings: dbfleet_core::DriverSettings::new(settings),
        base_dir: PathBuf::from("."),
        ssh: None,
        connect_address: None,
    }
}

async fn connect(env: &EnvironmentConfig) -> Arc<dyn Pool> {
    SqlServerDriver.validate(&env.settings).expect("valid settings");
    SqlServerDriver.connect(env).await.expect("connects to the endpoint")
}

async fn with_fixture(endpoint: &Endpoint) -> Arc<dyn Pool> {
    let pool = connect(&env(endpoint, PASSWORD, &[])).await;
    for statement in FIXTURE {
        pool.execute(&Query::new(*statement)).await.unwrap_or_else(|err| panic!("{statement}: {err}"));
    }
    pool
}

async fn rows(pool: &Arc<dyn Pool>, query: Query) -> (Vec<dbfleet_core::Column>, Vec<Vec<Value>>) {
    let limited = collect_limited(pool.query(&query).await.expect("query runs"), 10_000).await.unwrap();
    (limited.columns, limited.rows)
}

#[tokio::test]
async fn every_type_comes_back_as_its_logical_value() {
    let endpoint = start_endpoint();
    let pool = with_fixture(&endpoint).await;
    let (columns, found) = rows(
        &pool,
        Query::new(
            "SELECT c_bool, c_int, c_float, c_decimal, c_text, c_bytes, c_date, c_time, c_timestamp, \
             c_timestamptz, c_uuid, c_json FROM all_types WHERE id = 1",
        ),
    )
    .await;
    let described: Vec<(&str, &str, LogicalType)> =
        columns.iter().map(|c| (c.name.as_str(), c.native_type.as_str(), c.logical_type)).collect();
    assert_eq!(
        described,
        [
            ("c_bool", "bit", LogicalType::Bool),
            ("c_int", "bigint", LogicalType::Int),
            ("c_float", "float", LogicalType::Float),
            ("c_decimal", "decimal", LogicalType::Decimal),
            ("c_text", "nvarchar", LogicalType::Text),
            ("c_bytes", "varbinary", LogicalType::Bytes),
            ("c_date", "date", LogicalType::Date),
            ("c_time", "time", LogicalType::Time),
            ("c_timestamp", "datetime2", LogicalType::Timestamp),
            ("c_timestamptz", "datetimeoffset", LogicalType::Timestamptz),
            ("c_uuid", "uniqueidentifier", LogicalType::Uuid),
            ("c_json", "nvarchar", LogicalType::Text),
        ]
    );
    let date = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
    let time = NaiveTime::from_hms_milli_opt(13, 45, 0, 123).unwrap();
    assert_eq!(
        found,
        [vec![
            Value::Bool(true),
            Value::Int(9007199254740993),
            Value::Float(1.5),
            Value::Decimal("12.50".into()),
            Value::Text("héllo wörld ✓ 🚀".into()),
            Value::Bytes(vec![0, 1, 255]),
            Value::Date(date),
            Value::Time(time),
            Value::Timestamp(date.and_time(time)),
            Value::Timestamptz(date.and_time(time).and_utc()),
            Value::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".parse().unwrap()),
            Value::Text(r#"{"a": [1, 2]}"#.into()),
        ]]
    );
    let (_, nulls) =
        rows(&pool, Query::new("SELECT c_bool, c_decimal, c_timestamptz FROM all_types WHERE id = 2")).await;
    assert_eq!(nulls, [vec![Value::Null, Value::Null, Value::Null]]);
}

#[tokio::test]
async fn parameters_are_bound_by_position() {
    let endpoint = start_endpoint();
    let pool = with_fixture(&endpoint).await;
    let big: String = "ünïcødé ✓ ".repeat(100_000);
    let (columns, found) = rows(
        &pool,
        Query::new("SELECT @P1 AS t, @P2 AS n").with_params(vec![Value::Text(big.clone()), Value::Int(-7)]),
    )
    .await;
    assert_eq!(columns[0].name, "t");
    assert_eq!(found, [vec![Value::Text(big), Value::Int(-7)]]);
    let (_, found) = rows(
        &pool,
        Query::new("SELECT id FROM orders WHERE customer_id = @P1 AND amount > @P2 ORDER BY id")
            .with_params(vec![Value::Int(1), Value::Decimal("6.00".into())]),
    )
    .await;
    assert_eq!(found, [vec![Value::Int(11)]]);
    let err =
        pool.query(&Query::new("SELECT @P1").with_params(vec![Value::Array(vec![])])).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(err.message.contains("@P1"), "{}", err.message);
}

#[tokio::test]
async fn execute_reports_affected_rows() {
    let endpoint = start_endpoint();
    let pool = with_fixture(&endpoint).await;
    let updated = pool
        .execute(&Query::new("UPDATE orders SET amount = amount + 1 WHERE customer_id = 1"))
        .await
        .unwrap();
    assert_eq!(updated.affected_rows, 2);
    let inserted = pool
        .execute(
            &Query::new("INSERT INTO customers VALUES (@P1, @P2)")
                .with_params(vec![Value::Int(3), Value::Text("Lin".into())]),
        )
        .await
        .unwrap();
    assert_eq!(inserted.affected_rows, 1);
    let deleted = pool.execute(&Query::new("DELETE FROM customers WHERE id = 3")).await.unwrap();
    assert_eq!(deleted.affected_rows, 1);
}

#[tokio::test]
async fn catalog_describes_the_fixture() {
    let endpoint = start_endpoint();
    let pool = with_fixture(&endpoint).await;
    assert!(pool.ping().await.unwrap().version.contains("SQL Server"));

    let databases = pool.list_databases().await.unwrap();
    assert!(databases.iter().any(|d| d.name == "master" && d.kind == "database"), "{databases:?}");
    assert!(databases.iter().any(|d| d.name == "dbo" && d.kind == "schema"), "{databases:?}");

    let tables = pool.list_tables(&TableFilter::default()).await.unwrap();
    let names: Vec<(&str, TableKind)> = tables.iter().map(|t| (t.name.as_str(), t.kind)).collect();
    for expected in
        [("all_types", TableKind::Table), ("orders", TableKind::Table), ("order_totals", TableKind::View)]
    {
        assert!(names.contains(&expected), "{expected:?} missing from {names:?}");
    }
    let filtered =
        pool.list_tables(&TableFilter::new(Some("dbo".into()), Some("order%".into()))).await.unwrap();
    let filtered: Vec<&str> = filtered.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(filtered, ["order_totals", "orders"]);

    let orders = pool.describe_table(&TableRef::new(None, "orders")).await.unwrap();
    assert_eq!(orders.schema.as_deref(), Some("dbo"));
    assert_eq!(orders.kind, TableKind::Table);
    let columns: Vec<(&str, &str, LogicalType, bool)> = orders
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.native_type.as_str(), c.logical_type, c.nullable))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "int", LogicalType::Int, false),
            ("customer_id", "int", LogicalType::Int, false),
            ("amount", "decimal(10,2)", LogicalType::Decimal, false),
        ]
    );
    assert_eq!(orders.primary_key, ["id"]);
    assert_eq!(orders.foreign_keys.len(), 1);
    let fk = &orders.foreign_keys[0];
    assert_eq!(fk.name.as_deref(), Some("orders_customer_fk"));
    assert_eq!(
        (fk.columns.as_slice(), fk.referenced_table.as_str()),
        (&["customer_id".to_owned()][..], "customers")
    );
    assert_eq!(fk.referenced_columns, ["id"]);
    assert_eq!(orders.indexes.len(), 1);
    assert_eq!(orders.indexes[0].name, "orders_by_customer");
    assert_eq!(orders.indexes[0].columns, ["customer_id"]);
    assert!(!orders.indexes[0].unique);

    let customers = pool.describe_table(&TableRef::new(Some("dbo".into()), "customers")).await.unwrap();
    assert_eq!(customers.columns[1].native_type, "nvarchar(100)");
    let all_types = pool.describe_table(&TableRef::new(None, "all_types")).await.unwrap();
    assert_eq!(all_types.columns[5].native_type, "nvarchar(max)");
    let view = pool.describe_table(&TableRef::new(None, "order_totals")).await.unwrap();
    assert_eq!(view.kind, TableKind::View);

    let missing = pool.describe_table(&TableRef::new(None, "no_such_table")).await.unwrap_err();
    assert_eq!(missing.kind, ErrorKind::Query);
    assert!(missing.message.contains("no_such_table"), "{}", missing.message);
}

#[tokio::test]
async fn a_dropped_connection_is_replaced() {
    let endpoint = start_endpoint();
    let pool = connect(&env(&endpoint, PASSWORD, &[])).await;
    assert_eq!(rows(&pool, Query::new("SELECT 1 AS one")).await.1, [vec![Value::Int(1)]]);
    let before = endpoint.connections_accepted();
    endpoint.drop_connections();
    // Give the endpoint a moment to close its side.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rows(&pool, Query::new("SELECT 2 AS two")).await.1, [vec![Value::Int(2)]]);
    assert!(endpoint.connections_accepted() > before);
}

#[tokio::test]
async fn an_abandoned_result_closes_its_connection() {
    let endpoint = start_endpoint();
    let pool = connect(&env(&endpoint, PASSWORD, &[])).await;
    let million = "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) \
                   SELECT x FROM c OPTION (MAXRECURSION 0)";
    let limited = collect_limited(pool.query(&Query::new(million).with_fetch_limit(26)).await.unwrap(), 25)
        .await
        .unwrap();
    assert_eq!(limited.rows.len(), 25);
    assert!(limited.truncated);
    assert_eq!(limited.rows_pulled, 26, "the driver read no further than the fetch limit");
    // The connection was closed, not returned to the pool to be drained,
    // and the endpoint saw the client go and stopped the statement.
    assert_eq!(pool.stats().size, 0);
    let mut waited = Duration::ZERO;
    while endpoint.active_sessions() > 0 && waited < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    assert_eq!(endpoint.active_sessions(), 0, "the abandoned statement was interrupted");
    let before = endpoint.connections_accepted();
    let next = tokio::time::timeout(Duration::from_secs(10), rows(&pool, Query::new("SELECT 3 AS three")))
        .await
        .expect("a fresh connection answers at once");
    assert_eq!(next.1, [vec![Value::Int(3)]]);
    assert_eq!(endpoint.connections_accepted(), before + 1);
}

#[tokio::test]
async fn wrong_credentials_and_databases_are_told_apart() {
    let endpoint = start_endpoint();
    let err = match SqlServerDriver.connect(&env(&endpoint, "not-the-password", &[])).await {
        Err(err) => err,
        Ok(_) => panic!("a wrong password must not connect"),
    };
    assert_eq!(err.kind, ErrorKind::Auth);
    assert_eq!(err.code.as_deref(), Some("18456"));
    assert!(!err.message.contains("not-the-password"), "{}", err.message);

    let missing_db = env(&endpoint, PASSWORD, &[("database", toml::Value::String("nowhere".into()))]);
    let err = match SqlServerDriver.connect(&missing_db).await {
        Err(err) => err,
        Ok(_) => panic!("an unknown database must not connect"),
    };
    assert_eq!(err.kind, ErrorKind::Connection);
    assert_eq!(err.code.as_deref(), Some("4060"));
    assert!(err.message.contains("nowhere"), "{}", err.message);
}

#[tokio::test]
async fn statement_errors_keep_the_server_number_and_the_connection() {
    let endpoint = start_endpoint();
    let pool = with_fixture(&endpoint).await;
    let accepted = endpoint.connections_accepted();
    let syntax = pool.query(&Query::new("SELEC 1")).await.unwrap_err();
    assert_eq!((syntax.kind, syntax.code.as_deref()), (ErrorKind::Query, Some("102")));
    let missing = pool.query(&Query::new("SELECT * FROM no_such_table")).await.unwrap_err();
    assert_eq!((missing.kind, missing.code.as_deref()), (ErrorKind::Query, Some("208")));
    assert!(missing.message.contains("no_such_table"), "{}", missing.message);
    let duplicate =
        pool.execute(&Query::new("INSERT INTO customers VALUES (1, N'again')")).await.unwrap_err();
    assert_eq!((duplicate.kind, duplicate.code.as_deref()), (ErrorKind::Query, Some("2627")));
    // A server error ends its response cleanly: the connection stays in use.
    assert_eq!(rows(&pool, Query::new("SELECT 4 AS four")).await.1, [vec![Value::Int(4)]]);
    assert_eq!(endpoint.connections_accepted(), accepted);
}

#[tokio::test]
async fn read_only_environments_connect_with_read_only_intent() {
    let endpoint = start_endpoint();
    drop(with_fixture(&endpoint).await);
    let mut read_only = env(&endpoint, PASSWORD, &[]);
    read_only.read_only = true;
    let pool = connect(&read_only).await;
    assert_eq!(
        rows(&pool, Query::new("SELECT name FROM customers WHERE id = 1")).await.1,
        [vec![Value::Text("Ada".into())]]
    );
    let err = pool.execute(&Query::new("INSERT INTO customers VALUES (9, 'x')")).await.unwrap_err();
    assert_eq!((err.kind, err.code.as_deref()), (ErrorKind::ReadOnly, Some("3906")));
}

#[tokio::test]
async fn only_the_first_result_set_is_returned() {
    let endpoint = start_endpoint();
    let pool = connect(&env(&endpoint, PASSWORD, &[])).await;
    let stream = pool.query(&Query::new("SELECT 1 AS a; SELECT 2 AS b")).await.unwrap();
    let limited = collect_limited(stream, 100).await.unwrap();
    assert_eq!(limited.columns[0].name, "a");
    assert_eq!(limited.rows, [vec![Value::Int(1)]]);
    assert!(limited.more_results, "the result says another result set followed");
    let single =
        collect_limited(pool.query(&Query::new("SELECT 5 AS five")).await.unwrap(), 100).await.unwrap();
    assert_eq!((single.rows, single.more_results), (vec![vec![Value::Int(5)]], false));
}

#[tokio::test]
async fn a_silent_server_times_out_and_its_connection_is_replaced() {
    let endpoint = start_endpoint();
    let mut impatient = env(&endpoint, PASSWORD, &[]);
    impatient.query_timeout = Duration::from_secs(1);
    let pool = connect(&impatient).await;
    let err = pool.execute(&Query::new("WAITFOR DELAY '00:00:03'")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert_eq!(pool.stats().size, 0, "the timed-out connection was closed");
    assert_eq!(rows(&pool, Query::new("SELECT 6 AS six")).await.1, [vec![Value::Int(6)]]);
}

/// On a read-only environment statements run inside dbfleet's transaction;
/// one abandoned while the server works on it is stopped with an ATTENTION
/// and frees the pool's only connection for the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_statements_run_and_one_abandoned_frees_its_connection() {
    let endpoint = start_endpoint();
    let mut config = env(&endpoint, PASSWORD, &[]);
    config.read_only = true;
    config.pool =
        PoolConfig { max_connections: 1, connect_timeout: Duration::from_secs(2), ..PoolConfig::default() };
    let pool = connect(&config).await;
    let rows =
        collect_limited(pool.query(&Query::new("SELECT 3 AS three")).await.unwrap(), 10).await.unwrap();
    assert_eq!(rows.rows, vec![vec![Value::Int(3)]]);
    let endless =
        Query::new("WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT_BIG(*) FROM c");
    let abandoned = tokio::time::timeout(Duration::from_millis(300), pool.query(&endless)).await;
    assert!(abandoned.is_err(), "the statement was still running");
    let next = pool.query(&Query::new("SELECT 3 AS three")).await.expect("the connection was freed");
    let rows = collect_limited(next, 10).await.unwrap();
    assert_eq!(rows.rows, vec![vec![Value::Int(3)]]);
}
