//! The example CSV driver, through the `dbfleet-csv` binary that links it and
//! through the library, on a copy of the example's files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dbfleet_core::QueryRequest;
use dbfleet_core::config::load_config_str;
use dbfleet_core::fleet::{Fleet, StartOptions, Status};
use dbfleet_core::{ErrorKind, LogicalType, TableFilter, TableRef, Value};
use serde_json::json;

// Linking the crate registers the driver with this test's fleet too.
use dbfleet_example_csv as _;

fn dbfleet_csv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbfleet-csv"))
        .args(args)
        .env_remove("DBFLEET_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("dbfleet-csv runs")
}

/// The example's CSV files and the production shop, copied into a fresh
/// directory with a config naming them.
fn example() -> (tempfile::TempDir, PathBuf) {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("exports")).unwrap();
    for file in ["customers.csv", "orders.csv"] {
        std::fs::copy(here.join("exports").join(file), dir.path().join("exports").join(file)).unwrap();
    }
    std::fs::copy(here.join("../seed/shop-prod.sql"), dir.path().join("prod.sql")).unwrap();
    let config = dir.path().join("csv.toml");
    std::fs::write(
        &config,
        "[environments.export]\ndriver = \"csv\"\ndirectory = \"exports\"\n\
         [environments.prod]\ndriver = \"sqlite\"\npath = \"prod.db\"\nmode = \"create\"\ninit_script = \"prod.sql\"\n",
    )
    .unwrap();
    (dir, config)
}

#[test]
fn the_binary_offers_the_csv_driver_beside_the_built_in_ones() {
    let output = dbfleet_csv(&["drivers"]);
    let text = String::from_utf8_lossy(&output.stdout);
    for driver in ["csv", "sqlite", "postgres", "mysql", "sqlserver"] {
        assert!(text.lines().any(|l| l.contains(&format!(" {driver} "))), "{driver} missing:\n{text}");
    }
}

#[test]
fn queries_bind_parameters_and_compare_with_another_engine() {
    let (_dir, config) = example();
    let config = config.to_str().unwrap();
    let sql = "SELECT id, amount FROM orders WHERE amount > ? ORDER BY id";
    let output = dbfleet_csv(&["query", "-c", config, "-e", "export", "-f", "json", "--params", "[50]", sql]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["rows"], json!([[1001, 89.9], [1002, 64.9], [1003, 249.0], [1005, 89.9]]));
    assert_eq!(result["columns"][1], json!({"name": "amount", "type": "REAL", "logical_type": "float"}));

    let sql = "SELECT id, status FROM orders";
    let output =
        dbfleet_csv(&["query", "-c", config, "--all", "--compare", "--key", "id", "-f", "json", sql]);
    assert_eq!(output.status.code(), Some(3), "differences found");
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        doc["comparison"]["differences"],
        json!([
            {"kind": "changed", "key": {"id": 1003}, "column": "status", "values": {"export": "shipped", "prod": "new"}},
            {"kind": "missing", "key": {"id": 1006}, "present_in": ["export"], "missing_from": ["prod"]}
        ])
    );
}

#[test]
fn settings_are_validated_like_any_driver_s() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[environments.a]\ndriver = \"csv\"\n[environments.b]\ndriver = \"csv\"\ndirectry = \"x\"\n",
    )
    .unwrap();
    let output = dbfleet_csv(&["check", "-c", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(errors.contains("directory") && errors.contains("required"), "{errors}");
    assert!(errors.contains("directry"), "the typo is reported: {errors}");

    std::fs::write(&config, "[environments.a]\ndriver = \"csv\"\ndirectory = \"nowhere\"\n").unwrap();
    let output = dbfleet_csv(&["check", "-c", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "valid, but the directory is missing");
    assert!(String::from_utf8_lossy(&output.stdout).contains("nowhere"));
}

#[tokio::test]
async fn catalog_and_refusals_through_the_library() {
    // Only this crate's driver is linked into this test: no SQLite environment.
    let (dir, _) = example();
    let text = "[environments.export]\ndriver = \"csv\"\ndirectory = \"exports\"\nread_only = false\n";
    let config = load_config_str(text, dir.path(), &|_| None).unwrap();
    let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..Default::default() }).unwrap();
    fleet.wait_ready().await;
    let export = fleet.environment(Some("export")).unwrap();
    assert_eq!(export.status(), Status::Healthy);

    let tables = export.list_tables(&TableFilter::default()).await.unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["customers", "orders"]);
    let orders = export.describe_table(&TableRef::new(None, "orders")).await.unwrap();
    let columns: Vec<(&str, LogicalType, bool)> =
        orders.columns.iter().map(|c| (c.name.as_str(), c.logical_type, c.nullable)).collect();
    assert_eq!(
        columns,
        [
            ("id", LogicalType::Int, false),
            ("customer_id", LogicalType::Int, false),
            ("amount", LogicalType::Float, true),
            ("status", LogicalType::Text, false),
            ("ordered_on", LogicalType::Text, true),
        ]
    );
    let missing = export.describe_table(&TableRef::new(None, "invoices")).await.unwrap_err();
    assert!(missing.message.contains("customers.csv, orders.csv"), "{missing}");

    let request = |sql: &str| QueryRequest { sql: sql.into(), ..Default::default() };
    let err = export.query(&request("DELETE FROM orders")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Query, "{err}");
    let count = export.query(&request("SELECT COUNT(*) AS n FROM orders")).await.unwrap();
    assert_eq!(count.rows, [[Value::Int(6)]], "nothing was deleted");
    let limited = export.query(&QueryRequest { max_rows: Some(2), ..request("SELECT * FROM orders") }).await;
    let limited = limited.unwrap();
    assert_eq!((limited.row_count, limited.truncated), (2, true));
    fleet.shutdown().await;
}
