use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::value::Column;

fn result(env: &str, columns: &[(&str, LogicalType)], rows: Vec<Vec<Value>>) -> QueryResult {
    QueryResult {
        environment: env.into(),
        columns: columns.iter().map(|(n, t)| Column::new(*n, t.as_str(), *t)).collect(),
        row_count: rows.len(),
        rows,
        truncated: false,
        truncated_by: None,
        values_cut: 0,
        max_rows: 1000,
        max_result_bytes: crate::config::DEFAULT_MAX_RESULT_BYTES,
        affected_rows: None,
        more_result_sets: false,
        execution_time_ms: 0.0,
    }
}

fn int(i: i64) -> Value {
    Value::Int(i)
}

fn dec(s: &str) -> Value {
    Value::Decimal(s.into())
}

#[test]
fn numbers_compare_by_value_across_engines() {
    let five = [int(5), Value::UInt(5), dec("5.00"), Value::Float(5.0), dec("005")];
    for v in &five {
        assert_eq!(normalize(v), normalize(&five[0]), "{v:?}");
    }
    assert_eq!(normalize(&dec("12.50")), normalize(&Value::Float(12.5)));
    assert_ne!(normalize(&dec("12.50")), normalize(&dec("12.51")));
    assert_eq!(normalize(&Value::Bool(true)), normalize(&int(1)));
    assert_ne!(normalize(&Value::Text("5".into())), normalize(&int(5)), "text compares exactly");
    let uuid = uuid::Uuid::parse_str("67E55044-10B1-426F-9247-BB680E5FE0C8").unwrap();
    assert_eq!(
        normalize(&Value::Uuid(uuid)),
        normalize(&Value::Text("67e55044-10b1-426f-9247-bb680e5fe0c8".into()))
    );
    for (input, canonical) in
        [("0.0", "0"), ("-0.00", "0"), ("-1.50", "-1.5"), ("+3", "3"), ("0.010", "0.01"), ("1e3", "1e3")]
    {
        assert_eq!(canonical_decimal(input), canonical, "{input}");
    }
}

/// The shop: prod has order 1005 that dev lacks, order 1002's amount differs,
/// dev has an extra column, and `ordered_on` has another type in prod.
#[test]
fn keyed_comparison_reports_missing_changed_and_column_differences() {
    use LogicalType::*;
    let dev = result(
        "dev",
        &[("id", Int), ("amount", Decimal), ("ordered_on", Date), ("note", Text)],
        vec![
            vec![int(1001), dec("89.90"), Value::Text("2024-05-01".into()), Value::Null],
            vec![int(1002), dec("59.80"), Value::Text("2024-05-03".into()), Value::Null],
        ],
    );
    let prod = result(
        "prod",
        &[("ID", Int), ("amount", Decimal), ("ordered_on", Text)],
        vec![
            vec![int(1001), Value::Float(89.9), Value::Text("2024-05-01".into())],
            vec![int(1002), dec("64.90"), Value::Text("2024-05-03".into())],
            vec![int(1005), dec("89.90"), Value::Text("2024-05-07".into())],
        ],
    );
    let options = CompareOptions { key_columns: vec!["id".into()], ..CompareOptions::default() };
    let comparison = compare(&[("dev", &dev), ("prod", &prod)], &options).unwrap();
    assert!(!comparison.identical);
    assert_eq!(comparison.row_counts, BTreeMap::from([("dev".into(), 2), ("prod".into(), 3)]));
    assert_eq!(
        comparison.column_differences,
        [
            ColumnDifference::Missing {
                column: "note".into(),
                present_in: vec!["dev".into()],
                missing_from: vec!["prod".into()]
            },
            ColumnDifference::LogicalType {
                column: "ordered_on".into(),
                logical_types: BTreeMap::from([("dev".into(), Date), ("prod".into(), Text)])
            },
        ]
    );
    assert_eq!(
        comparison.differences,
        [
            RowDifference::Changed {
                key: BTreeMap::from([("id".into(), int(1002))]),
                column: "amount".into(),
                values: BTreeMap::from([("dev".into(), dec("59.80")), ("prod".into(), dec("64.90"))]),
            },
            RowDifference::Missing {
                key: BTreeMap::from([("id".into(), int(1005))]),
                present_in: vec!["prod".into()],
                missing_from: vec!["dev".into()],
            },
        ]
    );
    assert_eq!(comparison.total_differences, 2);
    let json = serde_json::to_value(&comparison).unwrap();
    assert_eq!(json["differences"][0]["kind"], "changed");
    assert_eq!(json["differences"][0]["values"]["prod"], "64.90");
}

#[test]
fn unkeyed_rows_compare_as_multisets_and_ordered_rows_also_by_position() {
    use LogicalType::*;
    let a = result("a", &[("x", Int)], vec![vec![int(1)], vec![int(2)], vec![int(2)]]);
    let b = result("b", &[("x", Int)], vec![vec![int(2)], vec![int(1)], vec![int(2)]]);
    let c = result("c", &[("x", Int)], vec![vec![int(2)], vec![int(1)]]);
    let unordered = compare(&[("a", &a), ("b", &b)], &CompareOptions::default()).unwrap();
    assert!(unordered.identical, "{unordered:?}");
    let ordered =
        compare(&[("a", &a), ("b", &b)], &CompareOptions { ordered: true, ..Default::default() }).unwrap();
    assert!(
        matches!(ordered.differences.as_slice(), [RowDifference::Order { position: 0, .. }]),
        "{ordered:?}"
    );
    let counted = compare(&[("a", &a), ("b", &b), ("c", &c)], &CompareOptions::default()).unwrap();
    assert_eq!(
        counted.differences,
        [RowDifference::Count {
            row: BTreeMap::from([("x".into(), int(2))]),
            counts: BTreeMap::from([("a".into(), 2), ("b".into(), 2), ("c".into(), 1)])
        }]
    );
}

#[test]
fn the_list_is_bounded_and_the_count_exact() {
    let a = result("a", &[("id", LogicalType::Int)], (0..150).map(|i| vec![int(i)]).collect());
    let b = result("b", &[("id", LogicalType::Int)], Vec::new());
    let comparison = compare(&[("a", &a), ("b", &b)], &CompareOptions::default()).unwrap();
    assert_eq!((comparison.differences.len(), comparison.total_differences), (100, 150));
    assert!(comparison.differences_truncated);
}

#[test]
fn bad_comparisons_are_refused() {
    let a = result("a", &[("id", LogicalType::Int)], vec![]);
    assert_eq!(
        compare(&[("a", &a)], &CompareOptions::default()).unwrap_err().kind,
        crate::error::ErrorKind::InvalidArgument
    );
    let options = CompareOptions { key_columns: vec!["nope".into()], ..Default::default() };
    assert!(compare(&[("a", &a), ("b", &a)], &options).unwrap_err().message.contains("nope"));
}

/// Generated results: unique integer keys with a text and an amount column.
fn rows() -> impl Strategy<Value = Vec<(i64, String, i64)>> {
    proptest::collection::btree_map(0i64..10_000, ("[a-z]{0,6}", -1_000_000i64..1_000_000), 0..40)
        .prop_map(|m| m.into_iter().map(|(k, (t, a))| (k, t, a)).collect())
}

fn shop(env: &str, rows: &[(i64, String, i64)]) -> QueryResult {
    use LogicalType::*;
    result(
        env,
        &[("id", Int), ("name", Text), ("amount", Decimal)],
        rows.iter()
            .map(|(k, t, a)| {
                vec![int(*k), Value::Text(t.clone()), dec(&format!("{}.{:02}", a / 100, (a % 100).abs()))]
            })
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_result_is_identical_to_itself(rows in rows(), keyed in any::<bool>(), ordered in any::<bool>()) {
        let r = shop("a", &rows);
        let options = CompareOptions { key_columns: if keyed { vec!["id".into()] } else { vec![] }, ordered, ..Default::default() };
        let comparison = compare(&[("a", &r), ("b", &r), ("c", &r)], &options).unwrap();
        prop_assert!(comparison.identical, "{:?}", comparison);
    }

    #[test]
    fn one_changed_row_is_found_and_attributed(rows in rows(), pick in any::<prop::sample::Index>(), action in 0..3u8) {
        prop_assume!(!rows.is_empty());
        let i = pick.index(rows.len());
        let mut other = rows.clone();
        let key = other[i].0;
        let expected = match action {
            0 => {
                other.remove(i);
                RowDifference::Missing {
                    key: BTreeMap::from([("id".into(), int(key))]),
                    present_in: vec!["base".into()],
                    missing_from: vec!["other".into()],
                }
            }
            1 => {
                other.push((10_000 + key, "new".into(), 1));
                RowDifference::Missing {
                    key: BTreeMap::from([("id".into(), int(10_000 + key))]),
                    present_in: vec!["other".into()],
                    missing_from: vec!["base".into()],
                }
            }
            _ => {
                other[i].1.push('!');
                RowDifference::Changed {
                    key: BTreeMap::from([("id".into(), int(key))]),
                    column: "name".into(),
                    values: BTreeMap::from([
                        ("base".into(), Value::Text(rows[i].1.clone())),
                        ("other".into(), Value::Text(other[i].1.clone())),
                    ]),
                }
            }
        };
        let (base, changed) = (shop("base", &rows), shop("other", &other));
        let options = CompareOptions { key_columns: vec!["id".into()], ..Default::default() };
        let comparison = compare(&[("base", &base), ("other", &changed)], &options).unwrap();
        prop_assert!(!comparison.identical);
        prop_assert_eq!(comparison.differences, vec![expected]);
    }

    #[test]
    fn engine_forms_of_one_number_normalise_alike(n in -1_000_000_000i64..1_000_000_000, scale in 0u32..4) {
        let exact = format!("{n}.{}", "0".repeat(scale as usize));
        let forms = [int(n), dec(&exact), Value::Float(n as f64), dec(&n.to_string())];
        for form in &forms {
            prop_assert_eq!(normalize(form), normalize(&forms[0]));
        }
        if n >= 0 {
            prop_assert_eq!(normalize(&Value::UInt(n as u64)), normalize(&forms[0]));
        }
    }
}
