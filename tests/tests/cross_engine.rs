//! The shop of [`ShopEstate`] on SQLite, PostgreSQL and MariaDB: the fan-out
//! and the comparisons must report exactly its known differences.

use std::collections::BTreeMap;

use dbfleet_core::QueryRequest;
use dbfleet_core::compare::SchemaDifference;
use dbfleet_core::compare::{ColumnDifference, CompareOptions, RowDifference};
use dbfleet_core::{LogicalType, Value};
use dbfleet_tests::estate::ShopEstate;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_shop_on_three_engines_differs_exactly_where_it_should() {
    let Some(estate) = ShopEstate::create().await else { return };
    let fleet = estate.fleet().await;
    let sql = "SELECT id, customer_id, amount FROM orders ORDER BY id";
    let outcome = fleet.query_many(None, &QueryRequest { sql: sql.into(), ..Default::default() }).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    let options = CompareOptions { key_columns: vec!["id".into()], ..Default::default() };
    let comparison = outcome.compare(sql, &options).unwrap();
    let schema = fleet.compare_schema(None, None).await;
    fleet.shutdown().await;
    estate.drop().await;

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
