//! The built `dbfleet` binary, run as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dbfleet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbfleet"))
        .args(args)
        .env_remove("DBFLEET_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("the dbfleet binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A private copy of the quickstart demo, so tests neither share nor leave
/// databases in the source tree.
fn quickstart() -> (tempfile::TempDir, PathBuf) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("seed")).unwrap();
    for file in ["shop-dev.sql", "shop-prod.sql"] {
        std::fs::copy(examples.join("seed").join(file), dir.path().join("seed").join(file)).unwrap();
    }
    let config = dir.path().join("quickstart.toml");
    std::fs::copy(examples.join("quickstart.toml"), &config).unwrap();
    (dir, config)
}

#[test]
fn drivers_lists_the_built_in_sqlite_driver() {
    let output = dbfleet(&["drivers"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("sqlite"), "{text}");
    assert!(text.contains("init_script"), "{text}");
}

#[test]
fn check_shows_both_quickstart_environments_healthy() {
    let (_dir, config) = quickstart();
    let output = dbfleet(&["check", "--config", config.to_str().unwrap()]);
    assert!(output.status.success(), "{}\n{}", stdout(&output), stderr(&output));
    let text = stdout(&output);
    for env in ["dev", "prod"] {
        let line = text.lines().find(|l| l.contains(&format!(" {env} "))).unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains("healthy") && line.contains("SQLite 3."), "{line}");
    }
}

#[test]
fn check_exits_2_when_an_environment_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[environments.ok]\ndriver = \"sqlite\"\npath = \":memory:\"\n\
         [environments.gone]\ndriver = \"sqlite\"\npath = \"nowhere.db\"\n",
    )
    .unwrap();
    let output = dbfleet(&["check", "-c", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stdout(&output);
    let gone = text.lines().find(|l| l.contains(" gone ")).unwrap();
    assert!(gone.contains("unhealthy") && gone.contains("nowhere.db"), "{gone}");
    assert!(text.lines().find(|l| l.contains(" ok ")).unwrap().contains("healthy"));
}

#[test]
fn a_broken_config_prints_every_problem_with_environment_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broken.toml");
    std::fs::write(
        &config,
        r#"default_environment = "missing"

[environments.a]
driver = "sqlite"
pasword_env = "X"

[environments.b]
driver = "oracle"
path = "b.db"

[environments."bad name"]
driver = "sqlite"
path = "c.db"
"#,
    )
    .unwrap();
    let output = dbfleet(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    for needle in [
        "missing",      // default_environment names no environment
        "'a'",          // environment a …
        "pasword_env",  // … has an unknown key
        "password_env", // … with a suggestion
        "oracle",       // environment b has an unknown driver …
        "sqlite",       // … and the message lists the registered drivers
        "bad name",     // an invalid environment name
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(stdout(&output).is_empty());
}

#[test]
fn a_syntax_error_names_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("syntax.toml");
    std::fs::write(&config, "[environments.a]\ndriver = \"sqlite\"\npath = \n").unwrap();
    let output = dbfleet(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("line 3"), "{}", stderr(&output));
}

#[test]
fn query_prints_a_table_json_ndjson_and_csv() {
    let (_dir, config) = quickstart();
    let config = config.to_str().unwrap();
    let sql = "SELECT id, amount, ordered_on FROM orders WHERE id IN (1001, 1002) ORDER BY id";

    let table = dbfleet(&["query", "-c", config, "-e", "prod", sql]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.contains("1002") && text.contains("64.9") && text.contains("2024-05-03"), "{text}");
    assert!(text.contains("2 rows from prod"), "{text}");

    let json = dbfleet(&["query", "-c", config, "-e", "dev", "--format", "json", sql]);
    assert!(json.status.success(), "{}", stderr(&json));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["environment"], "dev");
    assert_eq!(doc["row_count"], 2);
    assert_eq!(doc["columns"][2]["logical_type"], "date");
    assert_eq!(doc["rows"][1][0], 1002);
    assert_eq!(doc["rows"][1][2], "2024-05-03");

    let ndjson = dbfleet(&["query", "-c", config, "-e", "prod", "-f", "ndjson", sql]);
    assert!(ndjson.status.success(), "{}", stderr(&ndjson));
    let lines: Vec<serde_json::Value> =
        stdout(&ndjson).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], 1001);
    assert_eq!(lines[1]["ordered_on"], "2024-05-03");

    let csv = dbfleet(&["query", "-c", config, "-e", "prod", "-f", "csv", sql]);
    assert!(csv.status.success(), "{}", stderr(&csv));
    let text = stdout(&csv);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,amount,ordered_on"));
    assert!(lines.next().unwrap().starts_with("1001,"));
}

#[test]
fn query_uses_the_default_environment_parameters_and_max_rows() {
    let (_dir, config) = quickstart();
    let config = config.to_str().unwrap();
    let output = dbfleet(&[
        "query",
        "-c",
        config,
        "-f",
        "json",
        "--max-rows",
        "2",
        "--params",
        "[1000]",
        "SELECT id FROM orders WHERE id > ? ORDER BY id",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["environment"], "dev");
    assert_eq!(doc["rows"], serde_json::json!([[1001], [1002]]));
    assert_eq!(doc["truncated"], true);
}

#[test]
fn query_refuses_writes_on_a_read_only_environment() {
    let (_dir, config) = quickstart();
    let output = dbfleet(&["query", "-c", config.to_str().unwrap(), "-e", "prod", "DELETE FROM orders"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("[prod] read_only"), "{text}");
}

#[test]
fn query_names_the_configured_environments_when_one_is_unknown() {
    let (_dir, config) = quickstart();
    let output = dbfleet(&["query", "-c", config.to_str().unwrap(), "-e", "staging", "SELECT 1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("dev, prod"), "{}", stderr(&output));
}

#[test]
fn envs_lists_configuration_without_connecting() {
    let (dir, config) = quickstart();
    let output = dbfleet(&["envs", "-c", config.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("dev") && text.contains("prod") && text.contains("development copy"), "{text}");
    assert!(!dir.path().join("data").exists(), "envs must not create the databases");
}

#[test]
fn logs_go_to_stderr_only() {
    let (_dir, config) = quickstart();
    let output = dbfleet(&[
        "--log-level",
        "debug",
        "query",
        "-c",
        config.to_str().unwrap(),
        "-f",
        "ndjson",
        "SELECT 1 AS one",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "{\"one\":1}\n");
}

/// A password refused by PostgreSQL, MariaDB and SQL Server appears in no
/// output and no log line, even at trace level.
#[test]
fn a_refused_password_is_never_printed_or_logged() {
    let (Some(pg), Some(my), Some(mssql)) = (
        dbfleet_tests::services::postgres_url(),
        dbfleet_tests::services::mysql_url(),
        dbfleet_tests::sqlserver::sqlserver(),
    ) else {
        return;
    };
    let server = |url: &str| url.split('@').nth(1).unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("locked.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.pg]\ndriver = \"postgres\"\nurl = \"postgres://no_such_role_dbfleet@{}\"\n\
             password_env = \"LOCKED_PW\"\n\
             [environments.my]\ndriver = \"mysql\"\nurl = \"mysql://no_such_user_dbfleet@{}\"\n\
             password_env = \"LOCKED_PW\"\n\
             [environments.ms]\ndriver = \"sqlserver\"\n{}password_env = \"LOCKED_PW\"\n",
            server(&pg),
            server(&my),
            mssql.settings_without_password("master")
        ),
    )
    .unwrap();
    let password = "Sup3r-S3cret-QX7";
    for args in [&["check"][..], &["query", "-e", "ms", "SELECT 1"], &["query", "--all", "SELECT 1"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
            .args(["--log-level", "trace", "-c", config.to_str().unwrap()])
            .args(args)
            .env("LOCKED_PW", password)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}: the logins are refused");
        let everything = format!("{}{}", stdout(&output), stderr(&output));
        assert!(everything.contains("auth"), "{args:?}: the refusals are reported: {everything}");
        assert!(!everything.contains(password), "{args:?} leaked the password");
    }
}

#[test]
fn check_and_query_across_sqlite_postgres_and_mariadb() {
    let (Some(pg), Some(my)) =
        (dbfleet_tests::services::postgres_url(), dbfleet_tests::services::mysql_url())
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("estate.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.dev]\ndriver = \"sqlite\"\npath = \":memory:\"\n\
             [environments.staging]\ndriver = \"postgres\"\nurl = \"{pg}\"\n\
             [environments.legacy]\ndriver = \"mariadb\"\nurl = \"{my}\"\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let output = dbfleet(&["check", "-c", config]);
    assert!(output.status.success(), "{}\n{}", stdout(&output), stderr(&output));
    let text = stdout(&output);
    for (env, engine) in [("dev", "SQLite"), ("staging", "PostgreSQL"), ("legacy", "MariaDB")] {
        let line = text.lines().find(|l| l.contains(&format!(" {env} "))).unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains("healthy") && line.contains(engine), "{line}");
    }
    let sql = "SELECT 42 AS answer, 'héllo' AS greeting, CAST(12.50 AS DECIMAL(6,2)) AS price";
    let rows: Vec<serde_json::Value> = ["dev", "staging", "legacy"]
        .iter()
        .map(|env| {
            let output = dbfleet(&["query", "-c", config, "-e", env, "-f", "ndjson", sql]);
            assert!(output.status.success(), "{env}: {}", stderr(&output));
            serde_json::from_slice(&output.stdout).unwrap()
        })
        .collect();
    // In SQLite a CAST expression has no declared type: the value is a REAL.
    // The others return the exact decimal text.
    assert_eq!(rows[0], serde_json::json!({"answer": 42, "greeting": "héllo", "price": 12.5}));
    for row in &rows[1..] {
        assert_eq!(*row, serde_json::json!({"answer": 42, "greeting": "héllo", "price": "12.50"}));
    }
}

#[test]
fn a_legacy_database_file_is_one_mysql_environment() {
    let Some(url) = dbfleet_tests::services::mysql_url() else { return };
    let authority = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let (user, host_port) = authority.split('/').next().unwrap().split_once('@').unwrap();
    let (host, port) = host_port.split_once(':').unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("legacy.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nhost = \"{host}\"\nport = {port}\nusername = \"{}\"\npassword = \"\"\ndatabase = \"mysql\"\n",
            user.split(':').next().unwrap()
        ),
    )
    .unwrap();
    let output = dbfleet(&["query", "-c", config.to_str().unwrap(), "-f", "ndjson", "SELECT 1 AS one"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "{\"one\":1}\n");
    let envs = dbfleet(&["envs", "-c", config.to_str().unwrap()]);
    let text = stdout(&envs);
    let line = text.lines().find(|l| l.contains("mysql")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(" default ") && line.contains("yes"), "{line}");
}

#[test]
fn query_compares_the_quickstart_environments() {
    let (_dir, config) = quickstart();
    let config = config.to_str().unwrap();
    let sql = "SELECT id, amount, status FROM orders ORDER BY id";
    let output = dbfleet(&["query", "-c", config, "--all", "--compare", "--key", "id", sql]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("== dev ==") && text.contains("== prod =="), "{text}");
    assert!(text.contains("row id=1002: amount differs: dev=59.8, prod=64.9"), "{text}");
    assert!(text.contains("row id=1005: only in prod (missing from dev)"), "{text}");

    let json = dbfleet(&[
        "query",
        "-c",
        config,
        "-e",
        "dev",
        "-e",
        "prod",
        "--compare",
        "-f",
        "json",
        "SELECT * FROM products",
    ]);
    assert_eq!(json.status.code(), Some(3), "{}", stderr(&json));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["summary"]["succeeded"], 2);
    assert_eq!(doc["comparison"]["identical"], false);
    assert_eq!(
        doc["comparison"]["column_differences"],
        serde_json::json!([{"kind": "missing", "column": "weight_grams", "present_in": ["dev"], "missing_from": ["prod"]}])
    );

    let same = dbfleet(&["query", "-c", config, "--all", "--compare", "SELECT name FROM customers"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert!(stdout(&same).contains("identical: dev, prod"), "{}", stdout(&same));
}

#[test]
fn a_fan_out_with_one_environment_down_returns_the_others_and_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[environments.a]\ndriver = \"sqlite\"\npath = \":memory:\"\n\
         [environments.b]\ndriver = \"sqlite\"\npath = \":memory:\"\n\
         [environments.down]\ndriver = \"sqlite\"\npath = \"nowhere.db\"\n",
    )
    .unwrap();
    let output = dbfleet(&["query", "-c", config.to_str().unwrap(), "--all", "-f", "json", "SELECT 7 AS n"]);
    assert_eq!(output.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["results"]["a"]["rows"], serde_json::json!([[7]]));
    assert_eq!(doc["results"]["b"]["rows"], serde_json::json!([[7]]));
    assert_eq!(doc["errors"]["down"]["kind"], "connection");
    assert_eq!(doc["summary"]["requested"], 3);
    assert_eq!(doc["summary"]["failed"], 1);
}

#[test]
fn ndjson_streams_several_environments_line_by_line_tagged_with_each() {
    let (dir, config) = quickstart();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[environments.down]\ndriver = \"sqlite\"\npath = \"nowhere.db\"\n");
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap();
    let sql = "SELECT id, amount FROM orders ORDER BY id";
    let output = dbfleet(&["query", "-c", config, "--all", "-f", "ndjson", "--max-rows", "4", sql]);
    assert_eq!(output.status.code(), Some(1), "down failed: {}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let of =
        |env: &str| -> Vec<&serde_json::Value> { lines.iter().filter(|l| l["environment"] == env).collect() };
    let dev = of("dev");
    assert_eq!(
        dev[0]["columns"][0],
        serde_json::json!({"name": "id", "type": "INTEGER", "logical_type": "int"})
    );
    let ids: Vec<i64> = dev[1..5].iter().map(|l| l["row"]["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1001, 1002, 1003, 1004]);
    assert!(
        stdout(&output).contains(r#"{"environment":"dev","row":{"id":1002,"amount":"59.8"}}"#),
        "keys keep the columns' order"
    );
    assert_eq!(dev[5]["end"]["row_count"], 4);
    assert_eq!(dev[5]["end"]["truncated"], false, "dev has exactly 4 orders");
    let prod = of("prod");
    assert_eq!((prod.len(), prod[5]["end"]["truncated"].clone()), (6, serde_json::json!(true)));
    assert_eq!(of("down")[0]["error"]["kind"], "connection");
    assert_eq!(lines.len(), 6 + 6 + 1);

    let csv = dbfleet(&["query", "-c", config, "--all", "-f", "csv", sql]);
    assert_eq!(csv.status.code(), Some(1));
    assert!(stderr(&csv).contains("ndjson"), "{}", stderr(&csv));
    drop(dir);
}

#[test]
fn diff_schema_shows_the_quickstart_schema_difference() {
    let (_dir, config) = quickstart();
    let config = config.to_str().unwrap();
    let output = dbfleet(&["diff-schema", "-c", config]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "schema differences between dev, prod:\ntable products:\n  column weight_grams: only in dev (missing from prod)\n"
    );
    let same =
        dbfleet(&["diff-schema", "-c", config, "-e", "dev", "-e", "prod", "--table", "orders", "-f", "json"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    let doc: serde_json::Value = serde_json::from_slice(&same.stdout).unwrap();
    assert_eq!(doc["comparison"]["identical"], true);
    let one = dbfleet(&["diff-schema", "-c", config, "-e", "dev"]);
    assert_eq!(one.status.code(), Some(1));
    assert!(stderr(&one).contains("at least two"), "{}", stderr(&one));
}

#[test]
fn diff_data_compares_the_quickstart_orders() {
    let (_dir, config) = quickstart();
    let config = config.to_str().unwrap();
    let output = dbfleet(&["diff-data", "-c", config, "-e", "dev", "-e", "prod", "--table", "orders"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "differences between dev, prod: missing rows 1, changed rows 1, duplicate keys 0 (rows: dev 4, prod 5)",
            "  row id=1002: amount differs: dev=59.8, prod=64.9",
            "  row id=1005: only in prod (missing from dev)",
        ]
    );
    assert!(lines[3].starts_with("compared by id (bisect: "), "{text}");

    let same = dbfleet(&[
        "diff-data",
        "-c",
        config,
        "-e",
        "dev",
        "-e",
        "prod",
        "--table",
        "orders",
        "--where",
        "id < 1002",
        "-f",
        "json",
    ]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    let doc: serde_json::Value = serde_json::from_slice(&same.stdout).unwrap();
    assert_eq!(doc["identical"], true);
    assert_eq!(doc["row_counts"], serde_json::json!({"dev": 1, "prod": 1}));

    let merged = dbfleet(&[
        "diff-data",
        "-c",
        config,
        "-e",
        "dev",
        "-e",
        "prod",
        "--query",
        "SELECT id, status FROM orders",
        "--key",
        "id",
        "--method",
        "merge",
        "-f",
        "json",
    ]);
    assert_eq!(merged.status.code(), Some(3), "{}", stderr(&merged));
    let doc: serde_json::Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!((doc["method"].as_str(), doc["total_differences"].as_u64()), (Some("merge"), Some(1)));

    let no_key = dbfleet(&["diff-data", "-c", config, "-e", "dev", "-e", "prod", "--query", "SELECT 1"]);
    assert_eq!(no_key.status.code(), Some(2), "clap refuses --query without --key");
    let unknown = dbfleet(&["diff-data", "-c", config, "-e", "dev", "-e", "nowhere", "--table", "orders"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("no environment named 'nowhere'"), "{}", stderr(&unknown));
}

#[test]
fn tables_databases_and_describe_on_the_quickstart() {
    let (_dir, config) = quickstart();
    let config = config.to_str().unwrap();
    let names = |doc: &serde_json::Value| -> Vec<String> {
        doc.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    };

    let output = dbfleet(&["tables", "-c", config, "-f", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["environment"], "dev", "the default environment");
    assert_eq!(names(&doc["result"]), ["customers", "order_totals", "orders", "products"]);

    let output = dbfleet(&["tables", "-c", config, "--all", "--pattern", "ORD%", "-f", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for env in ["dev", "prod"] {
        assert_eq!(names(&doc["results"][env]), ["order_totals", "orders"], "{env}");
    }
    assert_eq!(doc["results"]["dev"][0]["kind"], "view");

    let output = dbfleet(&["tables", "-c", config, "-e", "prod", "-e", "nowhere"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("== prod ==") && text.contains("│ main   ┆ orders"), "{text}");
    assert!(text.contains("== nowhere ==\nerror: unknown_environment"), "{text}");

    let output = dbfleet(&["databases", "-c", config, "-e", "prod", "-f", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["result"][0]["name"], "main");
    assert!(doc["result"][0]["location"].as_str().unwrap().ends_with("prod.db"));

    let output = dbfleet(&["describe", "-c", config, "-e", "prod", "orders"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("table main.orders in prod\n"), "{text}");
    assert!(text.contains("│ status      ┆ TEXT           ┆ text         ┆ no       ┆ 'new'   │"), "{text}");
    assert!(text.contains("primary key (id)\nindex orders_by_customer (customer_id)\n"), "{text}");
    assert!(text.contains("foreign key (customer_id) → customers (id)"), "{text}");

    let output = dbfleet(&["describe", "-c", config, "products", "-f", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["environment"], "dev");
    assert_eq!(doc["table"]["columns"][4]["name"], "weight_grams", "dev's extra column");

    let output = dbfleet(&["describe", "-c", config, "invoices"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no such table: invoices"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_and_describe_across_sqlite_postgres_and_mariadb() {
    let Some(estate) = dbfleet_tests::estate::ShopEstate::create().await else { return };
    let config = estate.dir().join("estate.toml");
    std::fs::write(&config, estate.environments(true)).unwrap();
    let config = config.to_str().unwrap();
    let tables = dbfleet(&["tables", "-c", config, "--all", "-f", "json"]);
    let described: Vec<serde_json::Value> = ["dev", "staging", "legacy"]
        .iter()
        .map(|env| {
            let output = dbfleet(&["describe", "-c", config, "-e", env, "orders", "-f", "json"]);
            assert!(output.status.success(), "{env}: {}", stderr(&output));
            serde_json::from_slice(&output.stdout).unwrap()
        })
        .collect();
    estate.drop().await;

    assert!(tables.status.success(), "{}", stderr(&tables));
    let doc: serde_json::Value = serde_json::from_slice(&tables.stdout).unwrap();
    for env in ["dev", "staging", "legacy"] {
        let names: Vec<&str> =
            doc["results"][env].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["customers", "orders"], "{env}");
    }
    let amount_types: Vec<(&str, &str)> = described
        .iter()
        .map(|d| {
            let amount = &d["table"]["columns"][2];
            (amount["type"].as_str().unwrap(), amount["logical_type"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        amount_types,
        [("DECIMAL(10,2)", "decimal"), ("numeric(10,2)", "decimal"), ("double", "float")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_and_diff_schema_across_sqlite_postgres_and_mariadb() {
    let Some(estate) = dbfleet_tests::estate::ShopEstate::create().await else { return };
    let config = estate.dir().join("estate.toml");
    std::fs::write(&config, estate.environments(true)).unwrap();
    let config = config.to_str().unwrap();
    let sql = "SELECT id, customer_id, amount FROM orders ORDER BY id";
    let output = dbfleet(&["query", "-c", config, "--all", "--compare", "--key", "id", sql]);
    let diff = dbfleet(&["diff-schema", "-c", config, "--table", "orders"]);
    estate.drop().await;

    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stdout(&output);
    let comparison = &text[text.find("differences between").unwrap_or_else(|| panic!("{text}"))..];
    assert_eq!(
        comparison,
        "differences between dev, staging, legacy: 1 in columns, 2 in rows (rows: dev 2, staging 3, legacy 3)\n\
         \x20 column amount: type dev=decimal, legacy=float, staging=decimal\n\
         \x20 row id=2: amount differs: dev=15.5, legacy=15.5, staging=20.00\n\
         \x20 row id=3: only in staging, legacy (missing from dev)\n"
    );
    assert_eq!(diff.status.code(), Some(3), "{}", stderr(&diff));
    assert_eq!(
        stdout(&diff),
        "schema differences between dev, staging, legacy:\ntable orders:\n\
         \x20 column id: native type dev=integer, legacy=int(11), staging=integer (same logical type)\n\
         \x20 column customer_id: native type dev=integer, legacy=int(11), staging=integer (same logical type)\n\
         \x20 column amount: type dev=decimal, legacy=float, staging=decimal\n\
         \x20 column amount: native type dev=decimal(10,2), legacy=double, staging=numeric(10,2)\n\
         \x20 column note: only in legacy (missing from dev, staging)\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_data_across_sqlite_postgres_and_mariadb() {
    let Some(estate) = dbfleet_tests::estate::ShopEstate::create().await else { return };
    let config = estate.dir().join("estate.toml");
    std::fs::write(&config, estate.environments(true)).unwrap();
    let config = config.to_str().unwrap();
    let all = ["diff-data", "-c", config, "-e", "dev", "-e", "staging", "-e", "legacy", "--table", "orders"];
    let merged = dbfleet(&all);
    let mut bisect = all.to_vec();
    bisect.extend(["--column", "customer_id", "--method", "bisect"]);
    let bisected = dbfleet(&bisect);
    estate.drop().await;

    assert_eq!(merged.status.code(), Some(3), "{}", stderr(&merged));
    let text = stdout(&merged);
    assert!(
        text.starts_with(
            "differences between dev, staging, legacy: missing rows 1, changed rows 1, duplicate keys 0 \
             (rows: dev 2, staging 3, legacy 3)\n\
             \x20 column amount: type dev=decimal, legacy=float, staging=decimal\n\
             \x20 row id=2: amount differs: dev=15.5, legacy=15.5, staging=20.00\n\
             \x20 row id=3: only in staging, legacy (missing from dev)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("(merge: legacy cannot checksum these columns identically (amount double)"),
        "{text}"
    );
    assert_eq!(bisected.status.code(), Some(3), "{}", stderr(&bisected));
    let text = stdout(&bisected);
    assert!(text.contains("row id=3: only in staging, legacy (missing from dev)"), "{text}");
    assert!(text.contains("(bisect: "), "{text}");
}

/// `check` and `query` on a SQL Server environment: the TDS test endpoint of
/// this tree, or the real server of `DBFLEET_TEST_MSSQL_URL`.
#[test]
fn check_and_query_on_sql_server() {
    let Some(server) = dbfleet_tests::sqlserver::sqlserver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let database = format!("dbfleet_cli_{}", std::process::id());
    let config = dir.path().join("mssql.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.admin]\ndriver = \"sqlserver\"\n{}password_env = \"WAREHOUSE_PW\"\nread_only = false\n\
             [environments.warehouse]\ndriver = \"sqlserver\"\n{}password_env = \"WAREHOUSE_PW\"\nread_only = false\n",
            server.settings_without_password("master"),
            server.settings_without_password(&database),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let with_password = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
            .args(args)
            .env("WAREHOUSE_PW", &server.password)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}\n{}", stdout(&output), stderr(&output));
        output
    };
    with_password(&["query", "-c", config, "-e", "admin", &format!("CREATE DATABASE {database}")]);
    let output = with_password(&["check", "-c", config]);
    let text = stdout(&output);
    for env in ["admin", "warehouse"] {
        let line = text.lines().find(|l| l.contains(&format!(" {env} "))).unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains("healthy") && line.contains("SQL Server"), "{line}");
    }
    with_password(&[
        "query",
        "-c",
        config,
        "-e",
        "warehouse",
        "CREATE TABLE prices (id INT PRIMARY KEY, label NVARCHAR(50), price DECIMAL(6,2), at DATETIME2(3))",
    ]);
    with_password(&[
        "query",
        "-c",
        config,
        "-e",
        "warehouse",
        "INSERT INTO prices VALUES (1, N'héllo', 12.50, '2024-05-01 13:45:00.123')",
    ]);
    let output =
        with_password(&["query", "-c", config, "-e", "warehouse", "-f", "ndjson", "SELECT * FROM prices"]);
    with_password(&["query", "-c", config, "-e", "admin", &format!("DROP DATABASE {database}")]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap(),
        serde_json::json!({"id": 1, "label": "héllo", "price": "12.50", "at": "2024-05-01T13:45:00.123"})
    );

    let refused = dbfleet(&["check", "-c", config]);
    assert_eq!(refused.status.code(), Some(1), "an unset password_env is a configuration error");
    assert!(stderr(&refused).contains("WAREHOUSE_PW"), "{}", stderr(&refused));
}

/// An SSH tunnel whose key only an agent holds: `check` and `query` run with
/// the agent's socket in `SSH_AUTH_SOCK`, as a user's shell would give it.
#[test]
fn check_and_query_through_an_ssh_tunnel_with_the_agent_s_key() {
    use dbfleet_tests::sshd::{self, Agent, Sshd};
    let Some(()) = sshd::available() else { return };
    let Some(pg) = dbfleet_tests::services::postgres_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = sshd::keygen(dir.path(), "agent_key", None);
    let bastion = Sshd::start(dir.path(), "bastion", &[&key]);
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, bastion.known_host(bastion.port()) + "\n").unwrap();
    let agent = Agent::start(dir.path(), &[&key]);
    // The key file is gone: only the agent can sign.
    std::fs::remove_file(&key).unwrap();
    let config = dir.path().join("tunnel.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.pg]\ndriver = \"postgres\"\nurl = \"{pg}\"\n[environments.pg.ssh]\nhost = \"127.0.0.1\"\n\
             port = {}\nuser = \"{}\"\nknown_hosts_file = \"{}\"\nconfig_file = \"none\"\n",
            bastion.port(),
            sshd::user(),
            known_hosts.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // HOME is the test's directory, so that no default key of the machine's user is tried.
    let run = |args: &[&str], agent_socket: Option<&Path>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dbfleet"));
        command.args(args).env_remove("DBFLEET_CONFIG").env_remove("RUST_LOG").env("HOME", dir.path());
        match agent_socket {
            Some(socket) => command.env("SSH_AUTH_SOCK", socket),
            None => command.env_remove("SSH_AUTH_SOCK"),
        };
        command.output().expect("the dbfleet binary runs")
    };
    let output = run(&["check", "-c", config], Some(agent.socket()));
    assert!(output.status.success(), "{}\n{}", stdout(&output), stderr(&output));
    let route = format!("pg is reached through {}@127.0.0.1:{} -> ", sshd::user(), bastion.port());
    assert!(stdout(&output).contains(&route), "{}", stdout(&output));
    let output = run(
        &["query", "-c", config, "-e", "pg", "--format", "json", "SELECT 7 AS seven"],
        Some(agent.socket()),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("\"seven\""), "{}", stdout(&output));

    let output = run(&["check", "-c", config], None);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stdout(&output).contains("no key to offer"), "{}", stdout(&output));
}

/// `check` tests lazy environments too, rather than reporting them idle.
#[test]
fn check_connects_lazy_environments() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lazy.toml");
    std::fs::write(
        &config,
        "[defaults]\nlazy = true\n[environments.ok]\ndriver = \"sqlite\"\npath = \":memory:\"\n\
         [environments.gone]\ndriver = \"sqlite\"\npath = \"nowhere.db\"\n",
    )
    .unwrap();
    let output = dbfleet(&["check", "-c", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stdout(&output);
    let line = |env: &str| {
        text.lines().find(|l| l.contains(&format!(" {env} "))).unwrap_or_else(|| panic!("{text}"))
    };
    assert!(line("ok").contains("healthy") && !line("ok").contains("unhealthy"), "{text}");
    assert!(line("gone").contains("unhealthy"), "{text}");
}

#[test]
fn completions_and_the_manual_page_come_from_the_command_line_definition() {
    let output = dbfleet(&["completions", "bash"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let script = stdout(&output);
    assert!(
        script.contains("complete") && script.contains("diff-data") && script.contains("--metrics-listen"),
        "{script}"
    );
    let output = dbfleet(&["completions", "zsh"]);
    assert!(stdout(&output).starts_with("#compdef dbfleet"), "{}", stdout(&output));
    let output = dbfleet(&["man"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let page = stdout(&output);
    assert!(page.contains(".TH dbfleet") && page.contains("diff\\-data"), "{page}");
    assert_eq!(dbfleet(&["completions", "tcsh"]).status.code(), Some(2), "an unknown shell is a usage error");
}

/// The configurations shipped for containers load as they stand: compose's,
/// and Kubernetes' (its mounted secret file put in a temporary directory).
#[test]
fn the_container_configurations_load() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("prod-pg-password"), "from-a-file\n").unwrap();
    let kubernetes = std::fs::read_to_string(examples.join("kubernetes/dbfleet.toml"))
        .unwrap()
        .replace("/run/secrets/dbfleet", &secrets.display().to_string());
    let kubernetes_config = dir.path().join("kubernetes.toml");
    std::fs::write(&kubernetes_config, kubernetes).unwrap();

    for (config, environments) in [
        (examples.join("compose/dbfleet.toml"), ["dev", "prod", "warehouse"].as_slice()),
        (kubernetes_config, ["staging", "prod"].as_slice()),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
            .arg("envs")
            .arg("--config")
            .arg(&config)
            .envs([
                ("DBFLEET_TOKEN", "t"),
                ("PG_PASSWORD", "p"),
                ("MARIADB_PASSWORD", "m"),
                ("MSSQL_SA_PASSWORD", "s"),
                ("STAGING_PG_PASSWORD", "g"),
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}: {}", config.display(), stderr(&output));
        let listed = stdout(&output);
        for environment in environments {
            assert!(listed.contains(&format!(" {environment} ")), "{}: {listed}", config.display());
        }
    }
}
