//! Engine-specific types and failures beyond the shared conformance fixture:
//! PostgreSQL arrays, enums, intervals and network types; MySQL/MariaDB
//! integer widths (an unsigned BIGINT above 2^63 included), YEAR, ENUM, SET,
//! BIT and long TIMEs; a wrong password; a missing database.

use std::sync::Arc;

use dbfleet_core::QueryRequest;
use dbfleet_core::fleet::{Fleet, StartOptions};
use dbfleet_core::{ErrorKind, LogicalType, Value};
use dbfleet_tests::config_in;
use dbfleet_tests::scratch::{Engine, Scratch};
use dbfleet_tests::services::{mysql_url, postgres_url};
use serde_json::json;

async fn start(toml: &str, vars: &[(&str, &str)]) -> (tempfile::TempDir, Arc<Fleet>) {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), toml, vars);
    let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..Default::default() }).unwrap();
    fleet.wait_ready().await;
    (dir, fleet)
}

/// One read-only PostgreSQL environment, `pg`, at `url`.
async fn start_postgres(url: &str) -> (tempfile::TempDir, Arc<Fleet>) {
    start(&format!("[environments.pg]\ndriver = \"postgres\"\nurl = \"{url}\"\n"), &[]).await
}

async fn query(fleet: &Fleet, env: &str, sql: &str) -> dbfleet_core::QueryResult {
    let request = QueryRequest { sql: sql.into(), ..Default::default() };
    fleet.environment(Some(env)).unwrap().query(&request).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn row_json(result: &dbfleet_core::QueryResult) -> Vec<serde_json::Value> {
    result.rows[0].iter().map(Value::to_json).collect()
}

#[tokio::test]
async fn postgres_arrays_enums_intervals_and_networks() {
    let Some(url) = postgres_url() else { return };
    let (_dir, fleet) = start_postgres(&url).await;
    let result = query(
        &fleet,
        "pg",
        "SELECT ARRAY[1, NULL, 3]::int4[] AS ints, ARRAY['a', 'b']::text[] AS texts, \
                '1 year 2 mons 3 days 04:05:06.5'::interval AS span, '192.168.0.1'::inet AS host, \
                '10.0.0.0/8'::cidr AS net, 'NaN'::numeric AS nan, 12.50::numeric(6,2) AS exact, \
                'a b'::tsvector AS other, \
                ARRAY[[1, 2], [3, NULL]]::int8[] AS matrix, ARRAY['10.0.0.1'::inet] AS hosts, \
                ARRAY[[['x']]]::text[] AS cube",
    )
    .await;
    let logical: Vec<LogicalType> = result.columns.iter().map(|c| c.logical_type).collect();
    assert_eq!(
        logical,
        [
            LogicalType::Array,
            LogicalType::Array,
            LogicalType::Other,
            LogicalType::Text,
            LogicalType::Text,
            LogicalType::Decimal,
            LogicalType::Decimal,
            LogicalType::Other,
            LogicalType::Array,
            LogicalType::Array,
            LogicalType::Array,
        ]
    );
    let values = row_json(&result);
    assert_eq!(values[0], json!([1, null, 3]));
    assert_eq!(values[1], json!(["a", "b"]));
    assert_eq!(values[2], json!("1 year 2 mons 3 days 04:05:06.5"));
    assert_eq!(values[3], json!("192.168.0.1"));
    assert_eq!(values[4], json!("10.0.0.0/8"));
    assert_eq!(values[5], json!("NaN"));
    assert_eq!(values[6], json!("12.50"));
    assert!(values[7].as_str().is_some_and(|s| s.contains('a') && s.contains('b')), "{}", values[7]);
    // Several dimensions nest; elements without a mapping keep their payload.
    assert_eq!(values[8], json!([[1, 2], [3, null]]));
    assert_eq!(values[9].as_array().map(Vec::len), Some(1), "{}", values[9]);
    assert_eq!(values[10], json!([[["x"]]]));

    let name = format!("dbfleet_mood_{}", std::process::id());
    let admin = format!("[environments.pg]\ndriver = \"postgres\"\nurl = \"{url}\"\nread_only = false\n");
    let (_dir, rw) = start(&admin, &[]).await;
    query(&rw, "pg", &format!("CREATE TYPE {name} AS ENUM ('happy', 'sad')")).await;
    // Domains read as their base type, over scalars, arrays and enums alike.
    query(&rw, "pg", &format!("CREATE DOMAIN {name}_cents AS int8 CHECK (VALUE >= 0)")).await;
    query(&rw, "pg", &format!("CREATE DOMAIN {name}_days AS date[]")).await;
    query(&rw, "pg", &format!("CREATE DOMAIN {name}_only AS {name}")).await;
    let result = query(
        &rw,
        "pg",
        &format!(
            "SELECT 'sad'::{name} AS m, ARRAY['happy'::{name}] AS ms, 1250::{name}_cents AS c, \
             ARRAY[date '2026-12-04']::{name}_days AS d, 'happy'::{name}_only AS o"
        ),
    )
    .await;
    let logical: Vec<LogicalType> = result.columns.iter().map(|c| c.logical_type).collect();
    let values = row_json(&result);
    query(&rw, "pg", &format!("DROP TYPE {name} CASCADE")).await;
    query(&rw, "pg", &format!("DROP DOMAIN {name}_cents, {name}_days")).await;
    assert_eq!(
        logical,
        [LogicalType::Text, LogicalType::Array, LogicalType::Int, LogicalType::Array, LogicalType::Text]
    );
    assert_eq!(values, [json!("sad"), json!(["happy"]), json!(1250), json!(["2026-12-04"]), json!("happy")]);
}

/// Decimals are read from the binary wire format by hand: every value, at
/// every scale and magnitude, must read as PostgreSQL's own text form.
#[tokio::test]
async fn postgres_decimals_read_as_postgresql_prints_them() {
    let Some(url) = postgres_url() else { return };
    let (_dir, fleet) = start_postgres(&url).await;
    let result = query(
        &fleet,
        "pg",
        "SELECT v, v::text FROM (VALUES (0::numeric), (-0.0), (1e-30), (-1e-30), (123456789012345678901234567890.123), \
                (0.00012340), (10000), (9999.9999), (-10000.00001), ('NaN'), (1e300::numeric), (12.50::numeric(6,2)), \
                (power(10::numeric, 40) + 1), (1.0 / 3)) AS t(v) \
         UNION ALL SELECT x, x::text FROM (SELECT round((g * 7919 - 400000)::numeric / power(10::numeric, g % 11), \
                g % 13) AS x FROM generate_series(1, 980) AS g) AS s",
    )
    .await;
    assert_eq!(result.rows.len(), 994);
    for row in &result.rows {
        let printed = match &row[1] {
            Value::Text(text) => text,
            other => panic!("the text form is text: {other:?}"),
        };
        match &row[0] {
            Value::Decimal(text) => assert_eq!(text, printed),
            Value::Other(text) => assert_eq!((text.as_str(), printed.as_str()), ("NaN", "NaN")),
            other => panic!("{printed} read as {other:?}"),
        }
    }
    let arrays = query(&fleet, "pg", "SELECT ARRAY[1.50, -0.001, 'NaN']::numeric[] AS a").await;
    assert_eq!(row_json(&arrays)[0], json!(["1.50", "-0.001", "NaN"]));
}

/// Dates, times and scalars are read from their binary form by hand
/// (`decode_binary`): each must be the value the server's own arithmetic
/// gives, on both sides of 2000-01-01 (where the count starts), at the ends
/// of chrono's and PostgreSQL's ranges, and for every width of integer.
#[tokio::test]
async fn postgres_binary_values_match_the_servers_own_arithmetic() {
    let Some(url) = postgres_url() else { return };
    let (_dir, fleet) = start_postgres(&url).await;
    let result = query(
        &fleet,
        "pg",
        "SELECT t, t AT TIME ZONE 'UTC', (t AT TIME ZONE 'UTC')::date, \
                floor(extract(epoch FROM t) * 1000000)::int8, (t AT TIME ZONE 'UTC')::date - date '1970-01-01' \
         FROM (SELECT timestamptz '2000-01-01 00:00:00+00' + (g * 7919123.457123 - 3.9e9) * interval '1 second' AS t \
               FROM generate_series(1, 900) AS g \
               UNION ALL VALUES (timestamptz '2000-01-01 00:00:00+00'), (timestamptz '1999-12-31 23:59:59.999999+00'), \
                 (timestamptz '1970-01-01 00:00:00+00'), (timestamptz '0001-01-01 00:00:00+00'), \
                 (timestamptz '1600-02-29 12:00:00.5+00'), (timestamptz '9999-12-31 23:59:59.999999+00'), \
                 (timestamptz '99999-12-31 23:59:59+00')) AS s",
    )
    .await;
    assert_eq!(result.rows.len(), 907);
    for row in &result.rows {
        let Value::Int(micros) = row[3] else { panic!("{row:?}") };
        let Value::Int(days) = row[4] else { panic!("{row:?}") };
        let expected = chrono::DateTime::from_timestamp_micros(micros).unwrap();
        assert_eq!(row[0], Value::Timestamptz(expected), "{micros}");
        assert_eq!(row[1], Value::Timestamp(expected.naive_utc()), "{micros}");
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(row[2], Value::Date(epoch + chrono::Duration::days(days)), "{days}");
    }
    let scalars = query(
        &fleet,
        "pg",
        "SELECT (-32768)::int2, 32767::int2, (-2147483648)::int4, 9223372036854775807::int8, \
                (-9223372036854775808)::int8, 1.5::float4, (-2.25e300)::float8, true, false, 'é€😀'::text, \
                'x'::varchar, 'a '::char(3), '00112233-4455-6677-8899-aabbccddeeff'::uuid, 'infinity'::float8",
    )
    .await;
    assert_eq!(
        scalars.rows[0],
        vec![
            Value::Int(-32768),
            Value::Int(32767),
            Value::Int(-2147483648),
            Value::Int(i64::MAX),
            Value::Int(i64::MIN),
            Value::Float(1.5),
            Value::Float(-2.25e300),
            Value::Bool(true),
            Value::Bool(false),
            Value::Text("é€😀".into()),
            Value::Text("x".into()),
            Value::Text("a  ".into()),
            Value::Uuid("00112233-4455-6677-8899-aabbccddeeff".parse().unwrap()),
            Value::Float(f64::INFINITY),
        ]
    );
    let infinite = fleet
        .environment(Some("pg"))
        .unwrap()
        .query(&QueryRequest { sql: "SELECT 'infinity'::timestamptz".into(), ..Default::default() })
        .await;
    assert!(infinite.is_err(), "an infinite timestamp has no value in the model: {infinite:?}");
}

#[tokio::test]
async fn postgres_parameters_take_the_inferred_types() {
    let Some(url) = postgres_url() else { return };
    let (_dir, fleet) = start_postgres(&url).await;
    let env = fleet.environment(Some("pg")).unwrap();
    let request = QueryRequest {
        sql: "SELECT $1::date + 1 AS d, $2::uuid AS u, $3::numeric * 2 AS n, $4::int2 AS s, $5::jsonb -> 'a' AS j".into(),
        params: vec![
            Value::Text("2024-05-01".into()),
            Value::Text("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
            Value::Text("1.25".into()),
            Value::Int(7),
            Value::Json(json!({"a": [1]})),
        ],
        max_rows: None,
    };
    let result = env.query(&request).await.unwrap();
    let values = row_json(&result);
    assert_eq!(values[..2], [json!("2024-05-02"), json!("67e55044-10b1-426f-9247-bb680e5fe0c8")]);
    assert_eq!(values[2].as_str().and_then(|n| n.parse::<f64>().ok()), Some(2.5), "{}", values[2]);
    assert_eq!(values[3..], [json!(7), json!([1])]);

    let bad = QueryRequest {
        sql: "SELECT $1::int4".into(),
        params: vec![Value::Text("seven".into())],
        max_rows: None,
    };
    let err = env.query(&bad).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(err.message.contains("$1"), "{err}");
    let missing = QueryRequest { sql: "SELECT $1::int4".into(), params: vec![], max_rows: None };
    assert_eq!(env.query(&missing).await.unwrap_err().kind, ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn a_missing_database_is_a_connection_error_naming_it() {
    for (url, driver) in [(postgres_url(), "postgres"), (mysql_url(), "mysql")] {
        let Some(url) = url else { continue };
        let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
        let toml = format!("[environments.x]\ndriver = \"{driver}\"\nurl = \"{base}/dbfleet_no_such_db\"\n");
        let (_dir, fleet) = start(&toml, &[]).await;
        let err = fleet.statuses().remove(0).last_error.unwrap();
        assert_eq!(err.kind, ErrorKind::Connection, "{driver}: {err}");
        assert!(err.message.contains("dbfleet_no_such_db"), "{driver}: {err}");
    }
}

/// A writable environment `my` (driver `driver`) on a MySQL/MariaDB
/// database of its own, and `admin` on the server, which drops it again.
struct ScratchMysql {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    admin: Arc<Fleet>,
    my: Arc<Fleet>,
    database: String,
}

impl ScratchMysql {
    async fn create(url: &str, prefix: &str, driver: &str) -> ScratchMysql {
        let database = format!("{prefix}_{}", std::process::id());
        let admin = format!("[environments.admin]\ndriver = \"mysql\"\nurl = \"{url}\"\nread_only = false\n");
        let (admin_dir, admin) = start(&admin, &[]).await;
        query(&admin, "admin", &format!("CREATE DATABASE {database}")).await;
        let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
        let toml = format!(
            "[environments.my]\ndriver = \"{driver}\"\nurl = \"{base}/{database}\"\nread_only = false\n"
        );
        let (my_dir, my) = start(&toml, &[]).await;
        ScratchMysql { _dirs: (admin_dir, my_dir), admin, my, database }
    }

    async fn drop_database(self) {
        self.my.shutdown().await;
        query(&self.admin, "admin", &format!("DROP DATABASE {}", self.database)).await;
    }
}

#[tokio::test]
async fn mysql_integers_year_enum_set_bit_and_time() {
    let Some(url) = mysql_url() else { return };
    let scratch = ScratchMysql::create(&url, "dbfleet_types", "mariadb").await;
    let my = &scratch.my;
    query(
        my,
        "my",
        "CREATE TABLE t (ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED, i INT, \
         iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, flag BOOL, y YEAR, e ENUM('red', 'green'), \
         s SET('a', 'b', 'c'), b BIT(3), long_time TIME, f FLOAT, dt DATETIME)",
    )
    .await;
    query(
        my,
        "my",
        "INSERT INTO t VALUES (-128, 255, -32768, 16777215, -2147483648, 4294967295, -9223372036854775808, \
         18446744073709551615, TRUE, 2024, 'green', 'a,c', b'101', '-838:59:59', 1.5, '2024-05-01 10:00:00')",
    )
    .await;
    let result = query(my, "my", "SELECT * FROM t").await;
    let values: Vec<Value> = result.rows[0].clone();
    assert_eq!(values[0], Value::Int(-128));
    assert_eq!(values[1], Value::Int(255));
    assert_eq!(values[2], Value::Int(-32768));
    assert_eq!(values[3], Value::Int(16_777_215));
    assert_eq!(values[4], Value::Int(-2_147_483_648));
    assert_eq!(values[5], Value::Int(4_294_967_295));
    assert_eq!(values[6], Value::Int(i64::MIN));
    assert_eq!(values[7], Value::UInt(u64::MAX));
    assert_eq!(values[7].to_json(), json!("18446744073709551615"));
    assert_eq!(values[8], Value::Bool(true));
    assert_eq!(values[9], Value::Int(2024));
    assert_eq!(values[10], Value::Text("green".into()));
    assert_eq!(values[11], Value::Text("a,c".into()));
    assert_eq!(values[12], Value::Int(5));
    assert_eq!(values[13], Value::Other("-838:59:59".into()));
    assert_eq!(values[14], Value::Float(1.5));
    assert_eq!(values[15].to_text(), "2024-05-01T10:00:00");
    let logical: Vec<LogicalType> = result.columns.iter().map(|c| c.logical_type).collect();
    assert_eq!(
        &logical[..10],
        &[LogicalType::Int; 8]
            .iter()
            .copied()
            .chain([LogicalType::Bool, LogicalType::Int])
            .collect::<Vec<_>>()[..]
    );

    // Parameters of every kind bind.
    let request = QueryRequest {
        sql: "SELECT COUNT(*) FROM t WHERE bu = ? AND e = ? AND dt > ? AND flag = ?".into(),
        params: vec![
            Value::UInt(u64::MAX),
            Value::Text("green".into()),
            Value::Text("2024-01-01 00:00:00".into()),
            Value::Bool(true),
        ],
        max_rows: None,
    };
    let count = my.environment(Some("my")).unwrap().query(&request).await.unwrap();
    assert_eq!(count.rows[0][0].to_text(), "1");
    let array = QueryRequest { sql: "SELECT ?".into(), params: vec![Value::Array(vec![])], max_rows: None };
    let err = my.environment(Some("my")).unwrap().query(&array).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    scratch.drop_database().await;
}

#[tokio::test]
async fn mysql_wrong_password_is_an_auth_error_without_the_password() {
    let Some(url) = mysql_url() else { return };
    let user = format!("dbfleet_u{}", std::process::id());
    let admin = format!("[environments.admin]\ndriver = \"mysql\"\nurl = \"{url}\"\nread_only = false\n");
    let (_dir, admin) = start(&admin, &[]).await;
    query(&admin, "admin", &format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'RightPassw0rd'")).await;
    // No database in the URL: the new user may not open `mysql`.
    let host =
        url.split_once('@').map_or("127.0.0.1:3306", |(_, host)| host.split('/').next().unwrap_or(host));
    let wrong = "WrongPassw0rdZQ";
    let toml = format!(
        "[environments.locked]\ndriver = \"mysql\"\nurl = \"mysql://{user}@{host}\"\npassword = \"${{PW}}\"\n"
    );
    let (_dir2, locked) = start(&toml, &[("PW", wrong)]).await;
    let status = locked.statuses().remove(0);
    let right = format!(
        "[environments.open]\ndriver = \"mysql\"\nurl = \"mysql://{user}@{host}\"\npassword = \"${{PW}}\"\n"
    );
    let (_dir3, open) = start(&right, &[("PW", "RightPassw0rd")]).await;
    let open_status = open.statuses().remove(0);
    open.shutdown().await;
    query(&admin, "admin", &format!("DROP USER '{user}'@'%'")).await;

    let err = status.last_error.unwrap();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert_eq!(err.code.as_deref(), Some("1045"));
    assert!(!format!("{err} {err:?}").contains(wrong));
    assert!(open_status.last_error.is_none(), "{:?}", open_status.last_error);
}

/// DATE, DATETIME and TIMESTAMP values are read from the binary protocol by
/// hand (`decode_binary`), in each of its lengths (a date alone, seconds,
/// microseconds): each must be the value the server's own arithmetic gives.
#[tokio::test]
async fn mysql_binary_dates_match_the_servers_own_arithmetic() {
    let Some(url) = mysql_url() else { return };
    let scratch = ScratchMysql::create(&url, "dbfleet_dates", "mysql").await;
    let my = &scratch.my;
    query(my, "my", "CREATE TABLE d (dt DATETIME(6), ts TIMESTAMP(6) NULL)").await;
    query(
        my,
        "my",
        "INSERT INTO d WITH RECURSIVE c(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM c WHERE g < 900) \
         SELECT TIMESTAMP '2000-01-01 00:00:00' + INTERVAL ((g - 450) * 7919123457123) MICROSECOND, \
                FROM_UNIXTIME(g * 2345678.123457) FROM c",
    )
    .await;
    query(
        my,
        "my",
        "INSERT INTO d VALUES ('2024-05-01 00:00:00', '2024-05-01 00:00:00'), \
         ('2024-05-01 10:11:12', '2024-05-01 10:11:12'), ('1000-01-01 00:00:00', '1970-01-01 00:00:01'), \
         ('9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999')",
    )
    .await;
    let result = query(
        my,
        "my",
        "SELECT dt, DATE(dt), ts, TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', dt), \
                DATEDIFF(dt, '1970-01-01'), TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ts) FROM d",
    )
    .await;
    assert_eq!(result.rows.len(), 904);
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    for row in &result.rows {
        let (Value::Int(micros), Value::Int(days), Value::Int(ts_micros)) = (&row[3], &row[4], &row[5])
        else {
            panic!("{row:?}")
        };
        let expected = chrono::DateTime::from_timestamp_micros(*micros).unwrap().naive_utc();
        assert_eq!(row[0], Value::Timestamp(expected), "{micros}");
        assert_eq!(row[1], Value::Date(epoch + chrono::Duration::days(*days)), "{days}");
        assert_eq!(row[2], Value::Timestamptz(chrono::DateTime::from_timestamp_micros(*ts_micros).unwrap()));
    }
    scratch.drop_database().await;
}

/// A procedure's rows come back from `CALL`: MySQL/MariaDB prepare a `CALL`
/// with no result columns, and PostgreSQL answers one with its `INOUT`
/// parameters. A procedure that returns nothing reads as an empty result,
/// having run; of several result sets, the first is kept and the others
/// are said to exist.
#[tokio::test]
async fn procedures_answer_with_their_rows() {
    for engine in [Engine::Mariadb, Engine::Postgres] {
        let Some(scratch) = Scratch::create(engine).await else { continue };
        let fleet = scratch.fleet_with(&scratch.url, "read_only = false", "").await;
        let setup: &[&str] = match engine {
            Engine::Mariadb => &[
                "CREATE TABLE t (n INT)",
                "INSERT INTO t VALUES (1), (2), (3)",
                "CREATE PROCEDURE listing(IN lo INT) SELECT n, CONCAT('n', n) AS label FROM t WHERE n >= lo ORDER BY n",
                "CREATE PROCEDURE bump() UPDATE t SET n = n + 10",
                "CREATE PROCEDURE two() BEGIN SELECT 1 AS a; SELECT 2 AS b; END",
            ],
            Engine::Postgres => &[
                "CREATE TABLE t (n INT)",
                "INSERT INTO t VALUES (1), (2), (3)",
                "CREATE PROCEDURE doubled(INOUT x int) LANGUAGE plpgsql AS $$ BEGIN x := x * 2; END $$",
                "CREATE PROCEDURE bump() LANGUAGE sql AS $$ UPDATE t SET n = n + 10 $$",
            ],
        };
        for sql in setup {
            query(&fleet, "db", sql).await;
        }
        if engine == Engine::Mariadb {
            let request =
                QueryRequest { sql: "CALL listing(?)".into(), params: vec![Value::Int(2)], max_rows: None };
            let listed = fleet.environment(Some("db")).unwrap().query(&request).await.unwrap();
            let names: Vec<&str> = listed.columns.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["n", "label"]);
            let rows: Vec<Vec<String>> =
                listed.rows.iter().map(|row| row.iter().map(Value::to_text).collect()).collect();
            assert_eq!(rows, [["2", "n2"], ["3", "n3"]]);
            assert!(!listed.more_result_sets);
            let two = query(&fleet, "db", "CALL two()").await;
            assert_eq!((two.columns[0].name.as_str(), two.rows.len()), ("a", 1));
            assert!(two.more_result_sets, "the second SELECT is said to exist");
            assert_eq!(
                query(&fleet, "db", "SELECT 5").await.rows[0][0].to_text(),
                "5",
                "the session is usable"
            );
        } else {
            let doubled = query(&fleet, "db", "CALL doubled(21)").await;
            assert_eq!(doubled.columns[0].name, "x");
            assert_eq!(doubled.rows, [[Value::Int(42)]]);
        }
        let bumped = query(&fleet, "db", "CALL bump()").await;
        assert!(bumped.rows.is_empty() && bumped.columns.is_empty(), "{bumped:?}");
        let sum = query(&fleet, "db", "SELECT SUM(n) FROM t").await;
        assert_eq!(sum.rows[0][0].to_text(), "36", "the procedure ran");
        fleet.shutdown().await;
        scratch.drop().await;
    }
}
