//! The conformance cases, each a function of the target. They assert what
//! every driver must do alike: values by logical type, NULLs, parameters,
//! row limits that stop reading, affected rows, read-only refusal by
//! dbfleet and by the engine, error kinds, timeouts, unreachable servers,
//! refused logins, and catalogs that agree on one fixture.

use std::sync::Arc;

use dbfleet_core::{
    Environment, ErrorKind, Fleet, LogicalType, Query, QueryRequest, TableFilter, TableKind, TableRef, Value,
    collect_limited,
};
use serde_json::json;

use crate::scratch::{config, run, start};
use crate::{Scratch, Target};

fn env(fleet: &Fleet, name: &str) -> Arc<Environment> {
    fleet.environment(Some(name)).expect("the environment is configured")
}

fn skipped<T: Target>(target: &T, case: &str, reason: &str) {
    eprintln!("SKIPPED {case} on {}: {reason}", target.engine());
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

const ALL_LOGICAL_TYPES: [LogicalType; 12] = [
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

pub async fn every_logical_type_round_trips<T: Target>(target: &T) {
    if !target.capabilities().full_fixture {
        return skipped(target, "every_logical_type_round_trips", "the engine has no all_types table");
    }
    let Some(scratch) = Scratch::new(target).await else { return };
    let fleet = scratch.fleet(&[("ro", true)], "").await;
    let result = run(&fleet, "ro", ALL_TYPES).await;
    let expected = [
        json!(true),
        json!("9007199254740993"),
        json!(1.5),
        json!("12.5"),
        json!("héllo wörld ✓ 🚀"),
        json!("AAH/"),
        json!("2024-05-01"),
        json!("13:45:00.123"),
        json!("2024-05-01T13:45:00.123"),
        json!("2024-05-01T13:45:00.123Z"),
        json!("67e55044-10b1-426f-9247-bb680e5fe0c8"),
        json!({"a": [1, 2]}),
    ];
    assert_eq!(result.rows.len(), 1);
    let engine = target.engine();
    let text_for = target.capabilities().text_for;
    for ((column, value), (logical, want)) in
        result.columns.iter().zip(&result.rows[0]).zip(ALL_LOGICAL_TYPES.into_iter().zip(expected))
    {
        if text_for.contains(&logical) {
            assert!(
                column.logical_type == logical || column.logical_type == LogicalType::Text,
                "{engine} {}: {:?}",
                column.name,
                column.logical_type
            );
        } else {
            assert_eq!(column.logical_type, logical, "{engine} {} ({})", column.name, column.native_type);
        }
        assert_eq!(comparable(value), want, "{engine} {}: {value:?}", column.name);
    }
    scratch.drop(target).await;
}

pub async fn null_in_every_type<T: Target>(target: &T) {
    if !target.capabilities().full_fixture {
        return skipped(target, "null_in_every_type", "the engine has no all_types table");
    }
    let Some(scratch) = Scratch::new(target).await else { return };
    let fleet = scratch.fleet(&[("ro", true)], "").await;
    let result = run(&fleet, "ro", &ALL_TYPES.replace("id = 1", "id = 2")).await;
    assert_eq!(result.columns.len(), 12);
    for (column, value) in result.columns.iter().zip(&result.rows[0]) {
        assert_eq!(*value, Value::Null, "{} {}", target.engine(), column.name);
    }
    scratch.drop(target).await;
}

pub async fn unicode_and_large_text_through_parameters<T: Target>(target: &T) {
    let Some(scratch) = Scratch::new(target).await else { return };
    let fleet = scratch.fleet(&[("ro", true)], "").await;
    let big: String = "ünïcødé ✓ 🚀 ".repeat(1024 * 1024 / 20);
    assert!(big.len() >= 1_000_000);
    let request = QueryRequest {
        sql: target.text_and_integer_parameters(),
        params: vec![Value::Text(big.clone()), Value::Int(-7)],
        max_rows: None,
    };
    let result = env(&fleet, "ro").query(&request).await.unwrap();
    let got = result.rows[0][0].to_text();
    let engine = target.engine();
    assert!(got == big, "{engine}: {} bytes came back for {} sent", got.len(), big.len());
    assert_eq!(result.rows[0][1].to_text(), "-7", "{engine}");
    scratch.drop(target).await;
}

pub async fn positional_parameters_filter_rows<T: Target>(target: &T) {
    let Some(scratch) = Scratch::new(target).await else { return };
    let fleet = scratch.fleet(&[("ro", true)], "").await;
    let sql = format!(
        "SELECT id FROM orders WHERE customer_id = {} AND amount > {} ORDER BY id",
        target.placeholder(1),
        target.placeholder(2)
    );
    let request = QueryRequest { sql, params: vec![Value::Int(1), Value::Float(6.0)], max_rows: None };
    let result = env(&fleet, "ro").query(&request).await.unwrap();
    let ids: Vec<String> = result.rows.iter().map(|r| r[0].to_text()).collect();
    assert_eq!(ids, ["11"], "{}", target.engine());
    scratch.drop(target).await;
}

pub async fn an_empty_result_keeps_its_columns<T: Target>(target: &T) {
    let Some(scratch) = Scratch::new(target).await else { return };
    let fleet = scratch.fleet(&[("ro", true)], "").await;
    let result = run(&fleet, "ro", "SELECT id, name FROM customers WHERE id < 0").await;
    assert_eq!(result.row_count, 0);
    let columns: Vec<(&str, LogicalType)> =
        result.columns.iter().map(|c| (c.name.as_str(), c.logical_type)).collect();
    assert_eq!(columns, [("id", LogicalType::Int), ("name", LogicalType::Text)], "{}", target.engine());
    scratch.drop(target).await;
}

pub async fn max_rows_stops_reading_early<T: Target>(target: &T) {
    let Some(scratch) = Scratch::new(target).await else { return };
    let fleet = scratch.fleet(&[("ro", true)], "").await;
    let pool = env(&fleet, "ro").pool().unwrap();
    let max_rows = 25;
    let stream = pool.query(&Query::new(target.million_rows()).with_fetch_limit(max_rows + 1)).await.unwrap();
    let limited = collect_limited(stream, max_rows).await.unwrap();
    assert_eq!(limited.rows.len() as u64, max_rows);
    assert!(limited.truncated);
    assert!(limited.rows_pulled <= max_rows + 1, "{} pulled {} rows", target.engine(), limited.rows_pulled);
    assert_eq!(limited.rows[24][0].to_text(), "25");
    // The connection is usable after the abandoned result.
    assert_eq!(run(&fleet, "ro", "SELECT COUNT(*) FROM customers").await.rows[0][0].to_text(), "2");
    scratch.drop(target).await;
}

pub async fn dml_reports_affected_rows<T: Target>(target: &T) {
    if !target.capabilities().writes {
        return skipped(target, "dml_reports_affected_rows", "the engine takes no writes");
    }
    let Some(scratch) = Scratch::new(target).await else { return };
    let fleet = scratch.fleet(&[("rw", false)], "").await;
    assert_eq!(
        run(&fleet, "rw", "UPDATE orders SET amount = amount + 1 WHERE customer_id = 1").await.affected_rows,
        Some(2)
    );
    assert_eq!(run(&fleet, "rw", "INSERT INTO customers VALUES (3, 'Alan')").await.affected_rows, Some(1));
    assert_eq!(run(&fleet, "rw", "DELETE FROM orders WHERE id = 12").await.affected_rows, Some(1));
    assert_eq!(run(&fleet, "rw", "SELECT COUNT(*) FROM orders").await.rows[0][0].to_text(), "2");
    scratch.drop(target).await;
}

pub async fn read_only_is_refused_by_the_classifier<T: Target>(target: &T) {
    let Some(scratch) = Scratch::new(target).await else { return };
    let fleet = scratch.fleet(&[("ro", true)], "").await;
    let engine = target.engine();
    for sql in ["INSERT INTO customers VALUES (9, 'x')", "UPDATE orders SET amount = 0", "DROP TABLE orders"]
    {
        let err = env(&fleet, "ro").query(&QueryRequest { sql: sql.into(), ..QueryRequest::default() }).await;
        let err = err.unwrap_err();
        assert_eq!(err.kind, ErrorKind::ReadOnly, "{engine} {sql}");
        assert_eq!(err.code, None, "{engine}: refused before the engine saw it");
    }
    scratch.drop(target).await;
}

pub async fn read_only_is_refused_by_the_engine<T: Target>(target: &T) {
    if !target.capabilities().engine_refuses_writes {
        return skipped(
            target,
            "read_only_is_refused_by_the_engine",
            "the engine does not refuse writes on this connection by itself",
        );
    }
    let Some(scratch) = Scratch::new(target).await else { return };
    let fleet = scratch.fleet(&[("ro", true)], "").await;
    // Straight to the pool: the classifier is not in the way.
    let pool = env(&fleet, "ro").pool().unwrap();
    let err = pool.execute(&Query::new("INSERT INTO customers VALUES (9, 'x')")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReadOnly, "{}: {err}", target.engine());
    assert_eq!(run(&fleet, "ro", "SELECT COUNT(*) FROM customers").await.rows[0][0].to_text(), "2");
    scratch.drop(target).await;
}

pub async fn syntax_errors_and_unknown_tables_are_query_errors<T: Target>(target: &T) {
    let Some(scratch) = Scratch::new(target).await else { return };
    let fleet = scratch.fleet(&[("rw", false)], "").await;
    let rw = env(&fleet, "rw");
    let engine = target.engine();
    let syntax =
        rw.query(&QueryRequest { sql: "SELEC 1".into(), ..QueryRequest::default() }).await.unwrap_err();
    assert_eq!(syntax.kind, ErrorKind::Query, "{engine}: {syntax}");
    assert!(syntax.code.is_some(), "{engine}: the engine's code is kept: {syntax}");
    let unknown = rw
        .query(&QueryRequest { sql: "SELECT * FROM no_such_table".into(), ..QueryRequest::default() })
        .await
        .unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::Query, "{engine}: {unknown}");
    assert!(unknown.message.contains("no_such_table"), "{engine}: {unknown}");
    assert_eq!(unknown.environment.as_deref(), Some("rw"));
    scratch.drop(target).await;
}

pub async fn a_slow_query_times_out_and_the_environment_recovers<T: Target>(target: &T) {
    let Some(scratch) = Scratch::new(target).await else { return };
    let fleet = scratch.fleet(&[("ro", true)], "query_timeout_secs = 1\n").await;
    let ro = env(&fleet, "ro");
    let err = ro.query(&QueryRequest { sql: target.slow_query(), ..QueryRequest::default() }).await;
    assert_eq!(err.unwrap_err().kind, ErrorKind::Timeout, "{}", target.engine());
    assert_eq!(run(&fleet, "ro", "SELECT COUNT(*) FROM customers").await.rows[0][0].to_text(), "2");
    scratch.drop(target).await;
}

pub async fn unreachable_servers_are_connection_errors<T: Target>(target: &T) {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[environments.down]\ndriver = \"{}\"\n{}[environments.down.pool]\nconnect_timeout_secs = 3\n",
        target.driver(),
        target.unreachable()
    );
    let fleet = start(&config(dir.path(), &toml, &[])).await;
    let status = fleet.statuses().remove(0);
    let err = status.last_error.expect("the failure is reported");
    assert_eq!(err.kind, ErrorKind::Connection, "{}: {err}", target.engine());
    let down = env(&fleet, "down");
    let refused = down.query(&QueryRequest { sql: "SELECT 1".into(), ..QueryRequest::default() }).await;
    assert_eq!(refused.unwrap_err().kind, ErrorKind::Connection);
}

pub async fn refused_logins_are_auth_errors<T: Target>(target: &T) {
    let Some(settings) = target.refused_login() else {
        return skipped(target, "refused_logins_are_auth_errors", "no login to refuse");
    };
    let dir = tempfile::tempdir().unwrap();
    let password = "Wr0ngPassw0rdQX";
    let toml = format!(
        "[environments.locked]\ndriver = \"{}\"\n{settings}password_env = \"LOCKED_PW\"\n",
        target.driver()
    );
    let fleet = start(&config(dir.path(), &toml, &[("LOCKED_PW", password)])).await;
    let status = fleet.statuses().remove(0);
    let err = status.last_error.expect("the failure is reported");
    let engine = target.engine();
    assert_eq!(err.kind, ErrorKind::Auth, "{engine}: {err}");
    let everything = format!("{err} {err:?} {}", serde_json::to_string(&fleet.statuses()).unwrap());
    assert!(!everything.contains(password), "{engine} leaked the password: {everything}");
}

pub async fn catalogs_agree_on_the_fixture<T: Target>(target: &T) {
    if !target.capabilities().full_fixture {
        return skipped(
            target,
            "catalogs_agree_on_the_fixture",
            "the engine keeps no keys, indexes or views",
        );
    }
    let Some(scratch) = Scratch::new(target).await else { return };
    let fleet = scratch.fleet(&[("ro", true)], "").await;
    let ro = env(&fleet, "ro");
    let engine = target.engine();

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
        "{engine}"
    );
    let filtered = ro.list_tables(&TableFilter::new(None, Some("ord%".into()))).await.unwrap();
    assert_eq!(filtered.len(), 2, "{engine}: {filtered:?}");

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
        "{engine}"
    );
    assert_eq!(orders.primary_key, ["id"], "{engine}");
    assert_eq!(orders.foreign_keys.len(), 1, "{engine}");
    let fk = &orders.foreign_keys[0];
    assert_eq!(
        (fk.columns.as_slice(), fk.referenced_table.as_str(), fk.referenced_columns.as_slice()),
        (&["customer_id".to_owned()][..], "customers", &["id".to_owned()][..]),
        "{engine}"
    );
    let index = orders.indexes.iter().find(|i| i.name == "orders_by_customer").expect("the index is listed");
    assert_eq!(index.columns, ["customer_id"]);
    assert!(!index.unique);

    let all_types = ro.describe_table(&TableRef::new(None, "all_types")).await.unwrap();
    let text_for = target.capabilities().text_for;
    for (column, logical) in all_types.columns.iter().skip(1).zip(ALL_LOGICAL_TYPES) {
        if text_for.contains(&logical) {
            assert!(
                column.logical_type == logical || column.logical_type == LogicalType::Text,
                "{engine} {}: {:?}",
                column.name,
                column.logical_type
            );
        } else {
            assert_eq!(column.logical_type, logical, "{engine} {} ({})", column.name, column.native_type);
        }
    }
    assert_eq!(all_types.columns.len(), 13, "{engine}");

    let unknown = ro.describe_table(&TableRef::new(None, "no_such_table")).await.unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::Query, "{engine}");

    let databases = ro.list_databases().await.unwrap();
    assert!(!databases.is_empty(), "{engine}");
    let version = fleet.statuses().remove(0).server_version.unwrap();
    assert!(version.contains(engine), "{engine}: {version}");
    scratch.drop(target).await;
}
