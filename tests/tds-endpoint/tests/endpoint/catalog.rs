//! The catalog queries the driver sends, exactly as in the contract, against the fixture.

use tiberius::Row;

use crate::common::{self, TdsClient};

/// Runs `sql` with string parameters and renders each row as strings ("NULL" for NULL).
async fn rows(client: &mut TdsClient, sql: &str, params: &[&str]) -> Vec<Vec<String>> {
    let params: Vec<&dyn tiberius::ToSql> = params.iter().map(|p| p as &dyn tiberius::ToSql).collect();
    let rows = client.query(sql, &params).await.unwrap().into_first_result().await.unwrap();
    rows.iter().map(render).collect()
}

fn render(row: &Row) -> Vec<String> {
    row.cells()
        .map(|(_, data)| match data {
            tiberius::ColumnData::String(Some(s)) => s.to_string(),
            tiberius::ColumnData::I32(Some(i)) => i.to_string(),
            tiberius::ColumnData::I16(Some(i)) => i.to_string(),
            tiberius::ColumnData::U8(Some(i)) => i.to_string(),
            tiberius::ColumnData::Bit(Some(b)) => b.to_string(),
            other => {
                assert!(format!("{other:?}").contains("None"), "unexpected {other:?}");
                "NULL".to_string()
            }
        })
        .collect()
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect()
}

#[tokio::test]
async fn lists_databases_and_schemas() {
    let endpoint = common::start();
    let mut client = common::fixture_database(&endpoint, "cat").await;
    assert_eq!(
        rows(&mut client, "SELECT name FROM sys.databases ORDER BY name", &[]).await,
        strings(&[&["cat"], &["master"]])
    );
    let schemas =
        "SELECT name FROM sys.schemas WHERE schema_id = 1 OR schema_id BETWEEN 5 AND 16383 ORDER BY name";
    assert_eq!(rows(&mut client, schemas, &[]).await, strings(&[&["dbo"]]));
}

#[tokio::test]
async fn lists_tables_and_views() {
    let endpoint = common::start();
    let mut client = common::fixture_database(&endpoint, "cat").await;
    let sql = "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_SCHEMA, TABLE_NAME";
    assert_eq!(
        rows(&mut client, sql, &[]).await,
        strings(&[
            &["dbo", "all_types", "BASE TABLE"],
            &["dbo", "customers", "BASE TABLE"],
            &["dbo", "order_totals", "VIEW"],
            &["dbo", "orders", "BASE TABLE"],
        ])
    );
}

#[tokio::test]
async fn describes_a_table() {
    let endpoint = common::start();
    let mut client = common::fixture_database(&endpoint, "cat").await;

    let tables = "SELECT TABLE_SCHEMA, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = @P1 ORDER BY TABLE_SCHEMA";
    assert_eq!(rows(&mut client, tables, &["orders"]).await, strings(&[&["dbo", "BASE TABLE"]]));
    assert_eq!(rows(&mut client, tables, &["order_totals"]).await, strings(&[&["dbo", "VIEW"]]));

    let columns = "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, IS_NULLABLE, COLUMN_DEFAULT FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = @P1 AND TABLE_NAME = @P2 ORDER BY ORDINAL_POSITION";
    assert_eq!(
        rows(&mut client, columns, &["dbo", "orders"]).await,
        strings(&[
            &["id", "int", "NULL", "10", "0", "NULL", "NO", "NULL"],
            &["customer_id", "int", "NULL", "10", "0", "NULL", "NO", "NULL"],
            &["amount", "decimal", "NULL", "10", "2", "NULL", "NO", "NULL"],
        ])
    );
    let all_types = rows(&mut client, columns, &["dbo", "all_types"]).await;
    let text = all_types.iter().find(|c| c[0] == "c_text").unwrap();
    assert_eq!(text[1..3], ["nvarchar".to_string(), "-1".to_string()]);
    let time = all_types.iter().find(|c| c[0] == "c_time").unwrap();
    assert_eq!((time[1].as_str(), time[5].as_str(), time[6].as_str()), ("time", "3", "YES"));

    let primary_key = "SELECT kcu.COLUMN_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS tc JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE kcu ON kcu.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND kcu.CONSTRAINT_NAME = tc.CONSTRAINT_NAME WHERE tc.TABLE_SCHEMA = @P1 AND tc.TABLE_NAME = @P2 AND tc.CONSTRAINT_TYPE = 'PRIMARY KEY' ORDER BY kcu.ORDINAL_POSITION";
    assert_eq!(rows(&mut client, primary_key, &["dbo", "orders"]).await, strings(&[&["id"]]));

    let foreign_keys = "SELECT rc.CONSTRAINT_NAME, kcu.COLUMN_NAME, ref.TABLE_SCHEMA, ref.TABLE_NAME, ref.COLUMN_NAME FROM INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS rc JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE kcu ON kcu.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND kcu.CONSTRAINT_NAME = rc.CONSTRAINT_NAME JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE ref ON ref.CONSTRAINT_SCHEMA = rc.UNIQUE_CONSTRAINT_SCHEMA AND ref.CONSTRAINT_NAME = rc.UNIQUE_CONSTRAINT_NAME AND ref.ORDINAL_POSITION = kcu.ORDINAL_POSITION WHERE kcu.TABLE_SCHEMA = @P1 AND kcu.TABLE_NAME = @P2 ORDER BY rc.CONSTRAINT_NAME, kcu.ORDINAL_POSITION";
    assert_eq!(
        rows(&mut client, foreign_keys, &["dbo", "orders"]).await,
        strings(&[&["orders_customer_fk", "customer_id", "dbo", "customers", "id"]])
    );
    assert!(rows(&mut client, foreign_keys, &["dbo", "customers"]).await.is_empty());

    let indexes = "SELECT i.name, c.name, i.is_unique FROM sys.indexes i JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id WHERE i.object_id = OBJECT_ID(@P1) AND i.is_primary_key = 0 AND i.name IS NOT NULL AND ic.is_included_column = 0 ORDER BY i.name, ic.key_ordinal";
    let expected = strings(&[&["orders_by_customer", "customer_id", "false"]]);
    assert_eq!(rows(&mut client, indexes, &["[dbo].[orders]"]).await, expected);
    assert_eq!(rows(&mut client, indexes, &["dbo.orders"]).await, expected);
    assert_eq!(rows(&mut client, indexes, &["orders"]).await, expected);
    assert!(rows(&mut client, indexes, &["[dbo].[customers]"]).await.is_empty());
}

#[tokio::test]
async fn unnamed_constraints_get_synthesised_names() {
    let endpoint = common::start();
    let mut client = common::fixture_database(&endpoint, "cat").await;
    client
        .execute("CREATE TABLE lines (order_id INT REFERENCES orders(id), code NVARCHAR(10) UNIQUE, PRIMARY KEY (order_id, code))", &[])
        .await
        .unwrap();
    let sql = "SELECT tc.CONSTRAINT_NAME, tc.CONSTRAINT_TYPE, kcu.COLUMN_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS tc JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE kcu ON kcu.CONSTRAINT_NAME = tc.CONSTRAINT_NAME WHERE tc.TABLE_NAME = @P1 ORDER BY tc.CONSTRAINT_NAME, kcu.ORDINAL_POSITION";
    assert_eq!(
        rows(&mut client, sql, &["lines"]).await,
        strings(&[
            &["FK_lines_1", "FOREIGN KEY", "order_id"],
            &["PK_lines", "PRIMARY KEY", "order_id"],
            &["PK_lines", "PRIMARY KEY", "code"],
            &["UQ_lines_1", "UNIQUE", "code"],
        ])
    );
}
