//! The same shop on SQLite, PostgreSQL and MariaDB, with known differences:
//! order 3 is missing in dev, order 2 has another amount in staging, and
//! legacy has an extra column and keeps amounts in a DOUBLE. The fan-out and
//! the comparisons must report exactly those.

use std::collections::BTreeMap;
use std::sync::Arc;

use dbfleet_core::compare::{ColumnDifference, CompareOptions, RowDifference};
use dbfleet_core::fleet::{Fleet, QueryRequest, StartOptions};
use dbfleet_core::schema_compare::SchemaDifference;
use dbfleet_core::{LogicalType, Value};
use dbfleet_tests::config_in;
use dbfleet_tests::services::{mysql_url, postgres_url};

async fn start(dir: &std::path::Path, toml: &str) -> Arc<Fleet> {
    let fleet =
        Fleet::start(&config_in(dir, toml, &[]), StartOptions { reconnect: false, ..Default::default() })
            .unwrap();
    fleet.wait_ready().await;
    fleet
}

async fn run(fleet: &Fleet, env: &str, sql: &str) {
    let request = QueryRequest { sql: sql.into(), ..Default::default() };
    fleet.environment(Some(env)).unwrap().query(&request).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn base_url(url: &str) -> &str {
    url.rsplit_once('/').map_or(url, |(base, _)| base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_shop_on_three_engines_differs_exactly_where_it_should() {
    let (Some(pg), Some(my)) = (postgres_url(), mysql_url()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let database = format!("dbfleet_shop_{}", std::process::id());
    let admin = start(
        dir.path(),
        &format!(
            "[environments.pg]\ndriver = \"postgres\"\nurl = \"{pg}\"\nread_only = false\n\
             [environments.my]\ndriver = \"mysql\"\nurl = \"{my}\"\nread_only = false\n"
        ),
    )
    .await;
    run(&admin, "pg", &format!("CREATE DATABASE {database}")).await;
    run(&admin, "my", &format!("CREATE DATABASE {database}")).await;

    let writable = start(
        dir.path(),
        &format!(
            "[environments.dev]\ndriver = \"sqlite\"\npath = \"dev.db\"\nmode = \"create\"\nread_only = false\n\
             [environments.staging]\ndriver = \"postgres\"\nurl = \"{}/{database}\"\nread_only = false\n\
             [environments.legacy]\ndriver = \"mariadb\"\nurl = \"{}/{database}\"\nread_only = false\n",
            base_url(&pg),
            base_url(&my)
        ),
    )
    .await;
    for env in ["dev", "staging", "legacy"] {
        run(&writable, env, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)")
            .await;
        let (amount, extra) =
            if env == "legacy" { ("DOUBLE", ", note VARCHAR(50)") } else { ("DECIMAL(10,2)", "") };
        run(
            &writable,
            env,
            &format!(
                "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount {amount} NOT NULL{extra})"
            ),
        )
        .await;
        run(&writable, env, "INSERT INTO customers (id, name) VALUES (1, 'Ada'), (2, 'Grace')").await;
        let staging_amount = if env == "staging" { "20.00" } else { "15.50" };
        run(
            &writable,
            env,
            &format!(
                "INSERT INTO orders (id, customer_id, amount) VALUES (1, 1, 9.99), (2, 2, {staging_amount})"
            ),
        )
        .await;
        if env != "dev" {
            run(&writable, env, "INSERT INTO orders (id, customer_id, amount) VALUES (3, 1, 100)").await;
        }
    }
    writable.shutdown().await;

    let fleet = start(
        dir.path(),
        &format!(
            "[environments.dev]\ndriver = \"sqlite\"\npath = \"dev.db\"\n\
             [environments.staging]\ndriver = \"postgres\"\nurl = \"{}/{database}\"\n\
             [environments.legacy]\ndriver = \"mariadb\"\nurl = \"{}/{database}\"\n",
            base_url(&pg),
            base_url(&my)
        ),
    )
    .await;
    let sql = "SELECT id, customer_id, amount FROM orders ORDER BY id";
    let outcome = fleet.query_many(None, &QueryRequest { sql: sql.into(), ..Default::default() }).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    let options = CompareOptions { key_columns: vec!["id".into()], ..Default::default() };
    let comparison = outcome.compare(sql, &options).unwrap();
    let schema = fleet.compare_schema(None, None).await;
    fleet.shutdown().await;
    run(&admin, "pg", &format!("DROP DATABASE {database} WITH (FORCE)")).await;
    run(&admin, "my", &format!("DROP DATABASE {database}")).await;
    admin.shutdown().await;

    assert_eq!(comparison.compared, ["dev", "staging", "legacy"]);
    assert!(!comparison.identical);
    assert_eq!(
        comparison.column_differences,
        [ColumnDifference::LogicalType {
            column: "amount".into(),
            logical_types: BTreeMap::from([
                ("dev".into(), LogicalType::Decimal),
                ("legacy".into(), LogicalType::Float),
                ("staging".into(), LogicalType::Decimal),
            ]),
        }]
    );
    let key = |id: i64| BTreeMap::from([("id".to_owned(), Value::Int(id))]);
    assert_eq!(comparison.differences.len(), 2, "{:#?}", comparison.differences);
    match &comparison.differences[0] {
        RowDifference::Changed { key: k, column, values } => {
            assert_eq!((k, column.as_str()), (&key(2), "amount"));
            let shown: BTreeMap<&str, String> =
                values.iter().map(|(e, v)| (e.as_str(), v.to_text())).collect();
            assert_eq!(
                shown,
                BTreeMap::from([
                    ("dev", "15.5".into()),
                    ("legacy", "15.5".into()),
                    ("staging", "20.00".into())
                ])
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        comparison.differences[1],
        RowDifference::Missing {
            key: key(3),
            present_in: vec!["staging".into(), "legacy".into()],
            missing_from: vec!["dev".into()],
        }
    );

    let schema = schema.comparison.expect("three schemas compared");
    assert!(!schema.identical);
    assert!(schema.missing_tables.is_empty(), "{:?}", schema.missing_tables);
    let orders = schema.tables.iter().find(|t| t.table == "orders").expect("orders differs");
    assert!(orders.differences.contains(&SchemaDifference::MissingColumn {
        column: "note".into(),
        present_in: vec!["legacy".into()],
        missing_from: vec!["dev".into(), "staging".into()],
    }));
    assert!(orders.differences.contains(&SchemaDifference::LogicalType {
        column: "amount".into(),
        values: BTreeMap::from([
            ("dev".into(), LogicalType::Decimal),
            ("legacy".into(), LogicalType::Float),
            ("staging".into(), LogicalType::Decimal),
        ]),
    }));
    // Everything else differs at most in native type names.
    for table in &schema.tables {
        for difference in &table.differences {
            let expected = matches!(
                difference,
                SchemaDifference::NativeType { .. }
                    | SchemaDifference::MissingColumn { .. }
                    | SchemaDifference::LogicalType { .. }
            );
            assert!(expected, "{}: {difference:?}", table.table);
        }
    }
}
