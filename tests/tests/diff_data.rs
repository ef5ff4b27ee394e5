//! Comparing whole tables across PostgreSQL, MariaDB and SQLite: checksum
//! bisection and the streaming merge find the same differences, on every
//! pair of engines.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use dbfleet_core::catalog::TableRef;
use dbfleet_core::compare::{ColumnDifference, RowDifference};
use dbfleet_core::diff::{DataDiff, DiffMethod, DiffProgress, DiffRequest, DiffSource};
use dbfleet_core::{Fleet, Value};
use dbfleet_tests::diff_estate::{DiffEstate, Kind};

fn table(name: &str) -> DiffSource {
    DiffSource::Table(TableRef::new(None, name))
}

fn request(a: &str, b: &str, source: DiffSource, method: DiffMethod) -> DiffRequest {
    let mut request = DiffRequest::new(vec![a.into(), b.into()], source);
    request.method = method;
    request
}

async fn diff(fleet: &Fleet, request: &DiffRequest) -> DataDiff {
    fleet
        .diff_data(request, &|_| {})
        .await
        .unwrap_or_else(|err| panic!("{:?} on {:?}: {err}", request.source, request.environments))
}

/// Each difference in one line, for comparing sets of them.
fn lines(diff: &DataDiff) -> BTreeSet<String> {
    let key = |k: &std::collections::BTreeMap<String, Value>| {
        diff.key_columns.iter().map(|name| k[name].to_text()).collect::<Vec<_>>().join("/")
    };
    diff.differences
        .iter()
        .map(|d| match d {
            RowDifference::Missing { key: k, missing_from, .. } => {
                format!("{} missing from {}", key(k), missing_from.join(","))
            }
            RowDifference::Changed { key: k, column, .. } => format!("{} {column} changed", key(k)),
            RowDifference::DuplicateKey { key: k, environment, count } => {
                format!("{} {count} times in {environment}", key(k))
            }
            other => format!("{other:?}"),
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn typed_table(kind: Kind) -> Vec<String> {
    let ddl = match kind {
        Kind::Postgres => {
            "CREATE TABLE typed (id INTEGER PRIMARY KEY, flag BOOLEAN, big BIGINT, amount NUMERIC(12,3), \
             label VARCHAR(100), payload BYTEA, day DATE, at_time TIME, stamp TIMESTAMP, stamp_tz TIMESTAMPTZ, \
             ident UUID)"
        }
        Kind::Mariadb => {
            "CREATE TABLE typed (id INTEGER PRIMARY KEY, flag BOOLEAN, big BIGINT, amount DECIMAL(12,3), \
             label VARCHAR(100), payload VARBINARY(100), day DATE, at_time TIME(6), stamp DATETIME(6), \
             stamp_tz TIMESTAMP(6) NULL, ident UUID) CHARACTER SET utf8mb4"
        }
        Kind::Sqlite => {
            "CREATE TABLE typed (id INTEGER PRIMARY KEY, flag BOOLEAN, big BIGINT, amount DECIMAL(12,3), \
             label VARCHAR(100), payload BLOB, day DATE, at_time TIME, stamp TIMESTAMP, stamp_tz TIMESTAMPTZ, \
             ident UUID)"
        }
    };
    let bytes = |hex: &str| match kind {
        Kind::Postgres => format!("'\\x{hex}'::bytea"),
        _ => format!("X'{hex}'"),
    };
    let utc = |stamp: &str| match kind {
        Kind::Postgres => format!("'{stamp}+00'"),
        Kind::Mariadb => format!("'{stamp}'"),
        Kind::Sqlite => format!("'{stamp}+00:00'"),
    };
    let (yes, no) = if kind == Kind::Sqlite { ("1", "0") } else { ("TRUE", "FALSE") };
    vec![
        ddl.to_owned(),
        format!(
            "INSERT INTO typed VALUES (1, {yes}, 9007199254740993, 12.500, 'héllo wörld', {}, '2024-02-29', \
             '13:45:07.123456', '2024-02-29 13:45:07.123456', {}, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
            bytes("00ff10"),
            utc("2024-02-29 13:45:07.123456")
        ),
        "INSERT INTO typed (id) VALUES (2)".to_owned(),
        format!(
            "INSERT INTO typed VALUES (3, {no}, -5, -0.5, '', {}, '1999-12-31', '00:00:00', \
             '1999-12-31 23:59:59', {}, '00000000-0000-0000-0000-000000000000')",
            bytes(""),
            utc("1970-01-01 00:00:01")
        ),
        format!(
            "INSERT INTO typed VALUES (4, {yes}, 0, 100, 'emoji 🙂 and ''quotes'' and 12:00', {}, '0999-01-01', \
             '23:59:59.5', '2000-01-01 00:00:00.000001', {}, 'FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF')",
            bytes("deadbeef"),
            utc("2038-01-19 03:14:07.999999")
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_logical_type_checksums_alike_on_every_engine() {
    let Some(estate) = DiffEstate::create().await else { return };
    estate.run_everywhere(typed_table).await;
    let pairs = [
        ("pg", "maria"),
        ("pg", "lite"),
        ("maria", "lite"),
        ("pg", "pg2"),
        ("maria", "maria2"),
        ("lite", "lite2"),
    ];
    let columns =
        ["flag", "big", "amount", "label", "payload", "day", "at_time", "stamp", "stamp_tz", "ident"];
    let mut outcomes = Vec::new();
    for (a, b) in pairs {
        let outcome = diff(&estate.fleet, &request(a, b, table("typed"), DiffMethod::Bisect)).await;
        // The columns whose text differs, one by one, to say which.
        let mut differing = Vec::new();
        if outcome.stats.ranges_fetched > 0 {
            for column in columns {
                let mut one = request(a, b, table("typed"), DiffMethod::Bisect);
                one.columns = vec![column.into()];
                if diff(&estate.fleet, &one).await.stats.ranges_fetched > 0 {
                    differing.push(column);
                }
            }
        }
        outcomes.push(((a, b), outcome, differing));
    }
    estate.drop().await;
    for ((a, b), outcome, differing) in outcomes {
        assert!(outcome.identical, "{a} and {b}: {:#?}", outcome.differences);
        assert_eq!(outcome.method, DiffMethod::Bisect);
        assert_eq!(outcome.row_counts.values().copied().collect::<Vec<_>>(), [4, 4], "{a} and {b}");
        // Every range agreed by checksum: the engines wrote the same text for
        // every value, or a range would have been fetched to find out.
        assert_eq!(outcome.stats.ranges_fetched, 0, "{a} and {b} checksum {differing:?} differently");
        assert_eq!(outcome.stats.rows_fetched.values().sum::<u64>(), 0);
    }
}

fn items_table(kind: Kind) -> Vec<String> {
    let (create, fill) = match kind {
        Kind::Postgres => (
            "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL, price NUMERIC(10,2) NOT NULL, \
             added TIMESTAMP NOT NULL)",
            "INSERT INTO items SELECT g, 'item ' || g, g * 1.25, TIMESTAMP '2024-01-01' + g * INTERVAL '1 minute' \
             FROM generate_series(1, 3000) g",
        ),
        Kind::Mariadb => (
            "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL, price DECIMAL(10,2) NOT NULL, \
             added DATETIME(6) NOT NULL)",
            "INSERT INTO items SELECT seq, CONCAT('item ', seq), seq * 1.25, \
             TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq MINUTE FROM seq_1_to_3000",
        ),
        Kind::Sqlite => (
            "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL, price DECIMAL(10,2) NOT NULL, \
             added TIMESTAMP NOT NULL)",
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 3000) \
             INSERT INTO items SELECT n, 'item ' || n, n * 1.25, datetime('2024-01-01', '+' || n || ' minutes') FROM g",
        ),
    };
    vec![create.to_owned(), fill.to_owned()]
}

/// What the `2` databases do to `items`.
const ITEM_CHANGES: [&str; 6] = [
    "UPDATE items SET price = price + 1 WHERE id = 17",
    "UPDATE items SET name = 'renamed' WHERE id = 1500",
    "DELETE FROM items WHERE id = 2999",
    "DELETE FROM items WHERE id = 1",
    "INSERT INTO items VALUES (3001, 'new', 1.00, '2025-01-01 00:00:00')",
    "INSERT INTO items VALUES (5000, 'far', 2.00, '2025-01-01 00:00:00')",
];

async fn items_estate() -> Option<DiffEstate> {
    let estate = DiffEstate::create().await?;
    estate.run_everywhere(items_table).await;
    for env in ["pg2", "maria2", "lite2"] {
        for change in ITEM_CHANGES {
            estate.run(env, change).await;
        }
    }
    Some(estate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bisection_and_merge_find_the_same_rows_on_every_pair_of_engines() {
    let Some(estate) = items_estate().await else { return };
    let pairs = [
        ("pg", "pg2"),
        ("maria", "maria2"),
        ("lite", "lite2"),
        ("pg", "maria2"),
        ("maria", "lite2"),
        ("lite", "pg2"),
    ];
    let mut outcomes = Vec::new();
    for (a, b) in pairs {
        for method in [DiffMethod::Bisect, DiffMethod::Merge] {
            let reports = AtomicUsize::new(0);
            let mut request = request(a, b, table("items"), method);
            request.leaf_rows = 16;
            // The same-engine pairs take the first checksums again at the end.
            request.verify = a.trim_end_matches('2') == b.trim_end_matches('2');
            let outcome = estate
                .fleet
                .diff_data(&request, &|p: DiffProgress| {
                    assert!(p.rows_total.is_none_or(|total| p.rows_compared <= total), "{p:?}");
                    reports.fetch_add(1, Ordering::Relaxed);
                })
                .await
                .unwrap_or_else(|err| panic!("{a} and {b} by {method:?}: {err}"));
            outcomes.push(((a, b, method, request.verify), outcome, reports.into_inner()));
        }
    }
    estate.drop().await;
    for ((a, b, method, verify), outcome, reports) in outcomes {
        let label = format!("{a} and {b} by {method:?}");
        assert!(!outcome.identical, "{label}");
        assert_eq!(outcome.method, method, "{label}");
        let expected = set(&[
            &format!("1 missing from {b}"),
            "17 price changed",
            "1500 name changed",
            &format!("2999 missing from {b}"),
            &format!("3001 missing from {a}"),
            &format!("5000 missing from {a}"),
        ]);
        assert_eq!(lines(&outcome), expected, "{label}");
        assert_eq!(
            (outcome.rows_missing, outcome.rows_changed, outcome.total_differences),
            (4, 2, 6),
            "{label}"
        );
        assert_eq!(outcome.row_counts[a], 3000, "{label}");
        assert_eq!(outcome.row_counts[b], 3000, "{label}");
        // Without verify, a bisection cannot rule out a change between its statements.
        let ruled_out = method == DiffMethod::Merge || verify;
        assert_eq!(outcome.consistency.changes_ruled_out, ruled_out, "{label}: {:?}", outcome.consistency);
        assert!(outcome.consistency.changed_during_comparison.is_empty(), "{label}");
        let fetched: u64 = outcome.stats.rows_fetched.values().sum();
        match method {
            DiffMethod::Merge => assert_eq!(fetched, 6000, "{label}"),
            _ => {
                assert!(fetched < 600, "{label}: bisection fetched {fetched} rows");
                assert!(reports > 0, "{label}: no progress reported");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_text_keys_match_across_collations() {
    let Some(estate) = DiffEstate::create().await else { return };
    estate
        .run_everywhere(|kind| {
            let charset = if kind == Kind::Mariadb { " CHARACTER SET utf8mb4" } else { "" };
            let mut statements = vec![format!(
                "CREATE TABLE stock (warehouse VARCHAR(20) NOT NULL, sku INTEGER NOT NULL, qty INTEGER NOT NULL, \
                 PRIMARY KEY (warehouse, sku)){charset}"
            )];
            for warehouse in ["apple", "Banana", "cherry", "Zulu", "éclair", "a b"] {
                let values: Vec<String> = (1..=40).map(|sku| format!("('{warehouse}', {sku}, {})", sku * 3)).collect();
                statements.push(format!("INSERT INTO stock VALUES {}", values.join(", ")));
            }
            statements
        })
        .await;
    for env in ["pg2", "maria2", "lite2"] {
        estate.run(env, "UPDATE stock SET qty = 0 WHERE warehouse = 'Banana' AND sku = 7").await;
        estate.run(env, "DELETE FROM stock WHERE warehouse = 'Zulu' AND sku = 40").await;
        estate.run(env, "INSERT INTO stock VALUES ('aardvark', 1, 1)").await;
    }
    let mut outcomes = Vec::new();
    for (a, b) in [("pg", "maria2"), ("maria", "lite2"), ("lite", "pg2"), ("pg", "pg2")] {
        for method in [DiffMethod::Bisect, DiffMethod::Merge] {
            let mut request = request(a, b, table("stock"), method);
            (request.parts, request.leaf_rows) = (4, 8);
            outcomes.push(((a, b, method), diff(&estate.fleet, &request).await));
        }
    }
    estate.drop().await;
    for ((a, b, method), outcome) in outcomes {
        assert_eq!(outcome.key_columns, ["warehouse", "sku"]);
        assert_eq!(
            lines(&outcome),
            set(&[
                "Banana/7 qty changed",
                &format!("Zulu/40 missing from {b}"),
                &format!("aardvark/1 missing from {a}"),
            ]),
            "{a} and {b} by {method:?}"
        );
        if method == DiffMethod::Bisect {
            assert!(outcome.stats.ranges_checksummed > 1, "{a} and {b}: split more than once");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_keys_empty_tables_and_missing_keys_are_answered_clearly() {
    let Some(estate) = DiffEstate::create().await else { return };
    estate
        .run_everywhere(|_| {
            vec![
                "CREATE TABLE loose (k INTEGER, v VARCHAR(10))".into(),
                "INSERT INTO loose VALUES (1, 'a'), (NULL, 'b')".into(),
                "CREATE TABLE vacant (id INTEGER PRIMARY KEY, v VARCHAR(10))".into(),
            ]
        })
        .await;
    let fleet = &estate.fleet;
    let mut keyed = request("pg", "maria", table("loose"), DiffMethod::Bisect);
    keyed.key_columns = vec!["k".into()];
    let bisect_null = fleet.diff_data(&keyed, &|_| {}).await.unwrap_err();
    keyed.method = DiffMethod::Merge;
    let merge_null = fleet.diff_data(&keyed, &|_| {}).await.unwrap_err();
    let no_key =
        fleet.diff_data(&request("lite", "pg", table("loose"), DiffMethod::Auto), &|_| {}).await.unwrap_err();
    let no_table = fleet
        .diff_data(&request("lite", "pg", table("no_such_table"), DiffMethod::Auto), &|_| {})
        .await
        .unwrap_err();
    let one_env =
        fleet.diff_data(&request("pg", "pg", table("vacant"), DiffMethod::Auto), &|_| {}).await.unwrap_err();
    let mut empty = Vec::new();
    for (a, b) in [("pg", "maria"), ("maria", "lite"), ("lite", "lite2")] {
        for method in [DiffMethod::Bisect, DiffMethod::Merge] {
            empty.push(diff(fleet, &request(a, b, table("vacant"), method)).await);
        }
    }
    estate.drop().await;

    assert!(bisect_null.message.contains("NULL in a key column"), "{bisect_null}");
    assert_eq!(bisect_null.environment.as_deref(), Some("pg"));
    assert!(merge_null.message.contains("NULL in key column k"), "{merge_null}");
    assert!(no_key.message.contains("no primary key"), "{no_key}");
    assert!(no_table.message.contains("no_such_table"), "{no_table}");
    assert!(one_env.message.contains("two different environments"), "{one_env}");
    for outcome in empty {
        assert!(outcome.identical);
        assert!(outcome.row_counts.values().all(|&n| n == 0));
        assert_eq!(outcome.total_differences, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floats_are_merged_and_sqlite_checksums_them_itself() {
    let Some(estate) = DiffEstate::create().await else { return };
    estate
        .run_everywhere(|kind| {
            let float = match kind {
                Kind::Postgres => "DOUBLE PRECISION",
                Kind::Mariadb => "DOUBLE",
                Kind::Sqlite => "REAL",
            };
            vec![
                format!("CREATE TABLE readings (id INTEGER PRIMARY KEY, reading {float})"),
                "INSERT INTO readings VALUES (1, 0.1), (2, 1e20), (3, -2.5), (4, NULL)".into(),
            ]
        })
        .await;
    for env in ["maria2", "lite2"] {
        estate.run(env, "UPDATE readings SET reading = 0.30000000000000004 WHERE id = 1").await;
    }
    let cross = diff(&estate.fleet, &request("pg", "maria2", table("readings"), DiffMethod::Auto)).await;
    let forced = estate
        .fleet
        .diff_data(&request("pg", "maria2", table("readings"), DiffMethod::Bisect), &|_| {})
        .await
        .unwrap_err();
    let sqlite = diff(&estate.fleet, &request("lite", "lite2", table("readings"), DiffMethod::Auto)).await;
    let same = diff(&estate.fleet, &request("pg", "maria", table("readings"), DiffMethod::Auto)).await;
    estate.drop().await;

    assert_eq!(cross.method, DiffMethod::Merge);
    assert!(cross.method_reason.contains("reading"), "{}", cross.method_reason);
    assert_eq!(lines(&cross), set(&["1 reading changed"]));
    assert!(forced.message.contains("method \"merge\""), "{forced}");
    assert_eq!(sqlite.method, DiffMethod::Bisect);
    assert_eq!(lines(&sqlite), set(&["1 reading changed"]));
    assert!(same.identical, "{:#?}", same.differences);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_environments_filters_and_queries() {
    let Some(estate) = items_estate().await else { return };
    let read_only = estate.fleet_with(true, "").await;
    let mut filtered = request("pg", "maria2", table("items"), DiffMethod::Auto);
    filtered.filter = Some("id <= 100".into());
    let filtered = diff(&read_only, &filtered).await;
    let mut query = request(
        "lite",
        "pg2",
        DiffSource::Query("SELECT id, name FROM items WHERE id > 1400 AND id < 1600".into()),
        DiffMethod::Auto,
    );
    query.key_columns = vec!["id".into()];
    let query = diff(&read_only, &query).await;
    let mut subset = request("maria", "lite2", table("items"), DiffMethod::Auto);
    subset.columns = vec!["name".into()];
    let subset = diff(&read_only, &subset).await;
    let mut writing = request("pg", "maria", table("items"), DiffMethod::Auto);
    writing.filter = Some("1 = 1; DELETE FROM items".into());
    let writing_error = estate.fleet.diff_data(&writing, &|_| {}).await.unwrap_err();
    writing.filter = Some("id IN (SELECT id FROM items) OR pg_terminate_backend(1) IS NULL".into());
    let side_effect_error = estate.fleet.diff_data(&writing, &|_| {}).await.unwrap_err();
    let left = estate.run("pg", "SELECT COUNT(*) FROM items").await;
    read_only.shutdown().await;
    estate.drop().await;

    assert_eq!(lines(&filtered), set(&["1 missing from maria2", "17 price changed"]));
    assert_eq!(filtered.row_counts["pg"], 100);
    assert_eq!(lines(&query), set(&["1500 name changed"]));
    assert_eq!(query.columns, ["name"]);
    assert_eq!(subset.columns, ["name"]);
    assert_eq!(
        lines(&subset),
        set(&[
            "1 missing from lite2",
            "1500 name changed",
            "2999 missing from lite2",
            "3001 missing from maria",
            "5000 missing from maria"
        ])
    );
    assert!(writing_error.message.contains("must only read"), "{writing_error}");
    assert!(side_effect_error.message.contains("must only read"), "{side_effect_error}");
    assert_eq!(left[0][0], Value::Int(3000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_of_one_side_only_are_reported_and_left_out() {
    let Some(estate) = DiffEstate::create().await else { return };
    estate
        .run_everywhere(|_| {
            vec![
                "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(20))".into(),
                "INSERT INTO people VALUES (1, 'Ada'), (2, 'Grace')".into(),
            ]
        })
        .await;
    estate.run("maria2", "ALTER TABLE people ADD COLUMN note VARCHAR(20)").await;
    estate.run("maria2", "UPDATE people SET note = 'x'").await;
    let outcome = diff(&estate.fleet, &request("maria2", "pg", table("people"), DiffMethod::Auto)).await;
    estate.drop().await;
    assert!(!outcome.identical);
    assert_eq!(outcome.columns, ["name"]);
    assert_eq!(
        outcome.column_differences,
        [ColumnDifference::Missing {
            column: "note".into(),
            present_in: vec!["maria2".into()],
            missing_from: vec!["pg".into()]
        }]
    );
    assert_eq!(outcome.total_differences, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_during_the_comparison_is_reported() {
    let Some(estate) = items_estate().await else { return };
    let path = estate.sqlite_path("lite2");
    let changed = AtomicBool::new(false);
    let failure = Mutex::new(None);
    let mut request = request("lite", "lite2", table("items"), DiffMethod::Bisect);
    request.leaf_rows = 16;
    request.verify = true;
    let outcome = estate
        .fleet
        .diff_data(&request, &|_| {
            if !changed.swap(true, Ordering::SeqCst) {
                let written = rusqlite::Connection::open(&path)
                    .and_then(|c| c.execute("UPDATE items SET price = price + 1 WHERE id = 2500", []));
                *failure.lock().unwrap() = written.err();
            }
        })
        .await
        .unwrap();
    estate.drop().await;
    assert!(failure.into_inner().unwrap().is_none());
    assert!(!outcome.consistency.changes_ruled_out, "{:?}", outcome.consistency);
    assert_eq!(outcome.consistency.changed_during_comparison, ["lite2"]);
}

/// SQL Server has no checksum here: its tables are compared by the
/// streaming merge, against SQLite, through the TDS test endpoint (or the
/// real server of `DBFLEET_TEST_MSSQL_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_server_is_compared_by_merge() {
    let Some(server) = dbfleet_tests::sqlserver::sqlserver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let database = format!("dbfleet_diff_{}_{}", std::process::id(), dbfleet_tests::unique());
    let start = |toml: String| {
        let dir = dir.path().to_owned();
        async move {
            let options = dbfleet_core::StartOptions { reconnect: false, ..Default::default() };
            let fleet = Fleet::start(&dbfleet_tests::config_in(&dir, &toml, &[]), options).unwrap();
            fleet.wait_ready().await;
            fleet
        }
    };
    let run = |fleet: std::sync::Arc<Fleet>, env: &'static str, sql: String| async move {
        let request = dbfleet_core::QueryRequest { sql: sql.clone(), ..Default::default() };
        fleet.environment(Some(env)).unwrap().query(&request).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    };
    let admin = start(format!(
        "[environments.admin]\ndriver = \"sqlserver\"\nread_only = false\n{}",
        server.settings("master")
    ))
    .await;
    run(admin.clone(), "admin", format!("CREATE DATABASE {database}")).await;
    let fleet = start(format!(
        "[environments.mssql]\ndriver = \"sqlserver\"\nread_only = false\n{}\
         [environments.lite]\ndriver = \"sqlite\"\npath = \"lite.db\"\nmode = \"create\"\nread_only = false\n",
        server.settings(&database)
    ))
    .await;
    for env in ["mssql", "lite"] {
        let text = if env == "mssql" { "NVARCHAR(50)" } else { "VARCHAR(50)" };
        run(
            fleet.clone(),
            env,
            format!("CREATE TABLE people (id INT PRIMARY KEY, name {text}, amount DECIMAL(8,2))"),
        )
        .await;
        run(
            fleet.clone(),
            env,
            "INSERT INTO people VALUES (1, 'Ada', 12.50), (2, 'Grace', 3.00), (3, 'Edsger', 0)".into(),
        )
        .await;
    }
    run(fleet.clone(), "lite", "UPDATE people SET name = 'Barbara' WHERE id = 2".into()).await;
    run(fleet.clone(), "lite", "DELETE FROM people WHERE id = 3".into()).await;
    let outcome =
        fleet.diff_data(&request("mssql", "lite", table("people"), DiffMethod::Auto), &|_| {}).await;
    fleet.shutdown().await;
    run(admin.clone(), "admin", format!("DROP DATABASE {database}")).await;
    admin.shutdown().await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.method, DiffMethod::Merge);
    assert!(
        outcome.method_reason.contains("the sqlserver driver has no checksums"),
        "{}",
        outcome.method_reason
    );
    assert_eq!(lines(&outcome), set(&["2 name changed", "3 missing from lite"]));
    assert_eq!(outcome.row_counts["mssql"], 3);
}
