//! Statements, result types, parameters, errors and row counts.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};
use tiberius::numeric::Numeric;
use tiberius::{ColumnData, ColumnType};
use uuid::Uuid;

use crate::common::{self, error_code};

const ALL_COLUMNS: &str = "SELECT c_bool, c_int, c_float, c_decimal, c_text, c_bytes, c_date, c_time, \
                           c_timestamp, c_timestamptz, c_uuid, c_json FROM all_types WHERE id = @P1";

fn uuid() -> Uuid {
    Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap()
}

#[tokio::test]
async fn fixture_types_decode_to_their_tds_types() {
    let endpoint = common::start();
    let mut client = common::fixture_database(&endpoint, "types").await;
    let row = client.query(ALL_COLUMNS, &[&1i32]).await.unwrap().into_row().await.unwrap().unwrap();

    let types: Vec<ColumnType> = row.columns().iter().map(|c| c.column_type()).collect();
    assert_eq!(
        types,
        [
            ColumnType::Bitn,
            ColumnType::Int8,
            ColumnType::Float8,
            ColumnType::Decimaln,
            ColumnType::NVarchar,
            ColumnType::BigVarBin,
            ColumnType::Daten,
            ColumnType::Timen,
            ColumnType::Datetime2,
            ColumnType::DatetimeOffsetn,
            ColumnType::Guid,
            ColumnType::NVarchar,
        ]
    );
    let cells: Vec<&ColumnData<'static>> = row.cells().map(|(_, data)| data).collect();
    assert_eq!(cells[0], &ColumnData::Bit(Some(true)));
    assert_eq!(cells[1], &ColumnData::I64(Some(9_007_199_254_740_993)));
    assert_eq!(cells[2], &ColumnData::F64(Some(1.5)));
    assert_eq!(cells[3], &ColumnData::Numeric(Some(Numeric::new_with_scale(1250, 2))));
    assert_eq!(cells[4], &ColumnData::String(Some("héllo wörld ✓ 🚀".into())));
    assert_eq!(cells[5], &ColumnData::Binary(Some(vec![0x00, 0x01, 0xFF].into())));
    assert_eq!(cells[10], &ColumnData::Guid(Some(uuid())));
    assert_eq!(cells[11], &ColumnData::String(Some(r#"{"a": [1, 2]}"#.into())));

    assert_eq!(row.get::<NaiveDate, _>("c_date"), NaiveDate::from_ymd_opt(2024, 5, 1));
    let time = NaiveTime::from_hms_milli_opt(13, 45, 0, 123).unwrap();
    assert_eq!(row.get::<NaiveTime, _>("c_time"), Some(time));
    let timestamp = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap().and_time(time);
    assert_eq!(row.get::<NaiveDateTime, _>("c_timestamp"), Some(timestamp));
    let timestamptz: DateTime<FixedOffset> = row.get("c_timestamptz").unwrap();
    assert_eq!(timestamptz.offset().local_minus_utc(), 0);
    assert_eq!(timestamptz.naive_utc(), timestamp);
    match cells[7] {
        ColumnData::Time(Some(t)) => assert_eq!((t.increments(), t.scale()), (49_500_123, 3)),
        other => panic!("expected time(3), got {other:?}"),
    }

    let nulls = client.query(ALL_COLUMNS, &[&2i32]).await.unwrap().into_row().await.unwrap().unwrap();
    assert!(nulls.cells().all(|(_, data)| matches!(
        data,
        ColumnData::Bit(None)
            | ColumnData::I64(None)
            | ColumnData::F64(None)
            | ColumnData::Numeric(None)
            | ColumnData::String(None)
            | ColumnData::Binary(None)
            | ColumnData::Date(None)
            | ColumnData::Time(None)
            | ColumnData::DateTime2(None)
            | ColumnData::DateTimeOffset(None)
            | ColumnData::Guid(None)
    )));
}

#[tokio::test]
async fn every_parameter_kind_round_trips_through_a_typed_table() {
    let endpoint = common::start();
    let mut client = common::fixture_database(&endpoint, "params").await;
    let date = NaiveDate::from_ymd_opt(2023, 12, 31).unwrap();
    let time = NaiveTime::from_hms_milli_opt(23, 59, 58, 250).unwrap();
    let timestamp = date.and_time(time);
    let offset = FixedOffset::east_opt(2 * 3600).unwrap();
    let timestamptz = timestamp.and_local_timezone(offset).unwrap();
    let bytes: &[u8] = &[9, 8, 7];
    let text = "ünïcode ✓";
    let inserted = client
        .execute(
            "INSERT INTO all_types VALUES (@P1, @P2, @P3, @P4, @P5, @P6, @P7, @P8, @P9, @P10, @P11, @P12, @P13)",
            &[
                &3i32,
                &false,
                &-42i64,
                &-2.25f64,
                &Numeric::new_with_scale(-1999, 2),
                &text,
                &bytes,
                &date,
                &time,
                &timestamp,
                &timestamptz,
                &uuid(),
                &None::<&str>,
            ],
        )
        .await
        .unwrap();
    assert_eq!(inserted.rows_affected(), [1]);

    let row = client.query(ALL_COLUMNS, &[&3i64]).await.unwrap().into_row().await.unwrap().unwrap();
    assert_eq!(row.get::<bool, _>("c_bool"), Some(false));
    assert_eq!(row.get::<i64, _>("c_int"), Some(-42));
    assert_eq!(row.get::<f64, _>("c_float"), Some(-2.25));
    assert_eq!(row.get::<Numeric, _>("c_decimal"), Some(Numeric::new_with_scale(-1999, 2)));
    assert_eq!(row.get::<&str, _>("c_text"), Some(text));
    assert_eq!(row.get::<&[u8], _>("c_bytes"), Some(bytes));
    assert_eq!(row.get::<NaiveDate, _>("c_date"), Some(date));
    assert_eq!(row.get::<NaiveTime, _>("c_time"), Some(time));
    assert_eq!(row.get::<NaiveDateTime, _>("c_timestamp"), Some(timestamp));
    let back: DateTime<FixedOffset> = row.get("c_timestamptz").unwrap();
    assert_eq!((back, back.offset().local_minus_utc()), (timestamptz, 7200));
    assert_eq!(row.get::<Uuid, _>("c_uuid"), Some(uuid()));
    assert_eq!(row.get::<&str, _>("c_json"), None);
}

#[tokio::test]
async fn untyped_expressions_take_the_type_of_their_value() {
    let endpoint = common::start();
    let mut client = common::connect(&endpoint, None).await;
    let big = "ü".repeat(1024 * 1024);
    let row = client
        .query(
            "SELECT @P1 AS t, @P2 AS n, @P3 AS f, @P4 AS b, @P5 AS z",
            &[&big.as_str(), &-7i32, &0.5f64, &b"\x00\x01".as_slice(), &None::<i32>],
        )
        .await
        .unwrap()
        .into_row()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<&str, _>("t").map(str::len), Some(big.len()));
    assert_eq!(row.get::<&str, _>("t"), Some(big.as_str()));
    assert_eq!(row.get::<i64, _>("n"), Some(-7));
    assert_eq!(row.get::<f64, _>("f"), Some(0.5));
    assert_eq!(row.get::<&[u8], _>("b"), Some(&[0u8, 1][..]));
    assert_eq!(row.get::<&str, _>("z"), None);
}

#[tokio::test]
async fn parameters_filter_rows() {
    let endpoint = common::start();
    let mut client = common::fixture_database(&endpoint, "filter").await;
    let sql = "SELECT id FROM orders WHERE customer_id = @P1 AND amount > @P2 ORDER BY id";
    let ids = common::int_column(&mut client, sql, &[&1i32, &5.5f64]).await;
    assert_eq!(ids, [11]);
}

#[tokio::test]
async fn rewrites_top_literals_and_functions() {
    let endpoint = common::start();
    let mut client = common::fixture_database(&endpoint, "rewrite").await;
    let rows = client
        .simple_query("SELECT TOP (2) id, N'x' AS n, 0xAB AS b FROM dbo.orders ORDER BY id DESC OPTION (MAXRECURSION 0)")
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap();
    let ids: Vec<i32> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(ids, [12, 11]);
    assert_eq!(rows[0].get::<&[u8], _>("b"), Some(&[0xABu8][..]));
    let row =
        client.query("SELECT SYSDATETIME() AS a, GETDATE() AS b, COUNT_BIG(*) AS c FROM orders", &[]).await;
    let row = row.unwrap().into_row().await.unwrap().unwrap();
    assert!(row.get::<&str, _>("a").unwrap().starts_with("20"));
    assert_eq!(row.get::<i64, _>("c"), Some(3));
}

#[tokio::test]
async fn errors_carry_sql_server_numbers() {
    let endpoint = common::start();
    let mut client = common::fixture_database(&endpoint, "errors").await;
    assert_eq!(error_code(client.query("SELEC 1", &[]).await), 102);
    assert_eq!(error_code(client.query("SELECT * FROM no_such_table", &[]).await), 208);
    assert_eq!(error_code(client.query("SELECT no_such_column FROM orders", &[]).await), 207);
    assert_eq!(error_code(client.execute("INSERT INTO customers VALUES (1, N'again')", &[]).await), 2627);
    assert_eq!(error_code(client.execute("INSERT INTO orders VALUES (99, 42, 1.00)", &[]).await), 547);
    assert_eq!(error_code(client.simple_query("SELECT * FROM no_such_table").await), 208);
    let row = client.query("SELECT COUNT(*) FROM orders", &[]).await.unwrap().into_row().await.unwrap();
    assert_eq!(row.unwrap().get::<i64, _>(0), Some(3), "the connection still works after errors");
}

#[tokio::test]
async fn dml_reports_affected_rows() {
    let endpoint = common::start();
    let mut client = common::fixture_database(&endpoint, "counts").await;
    let updated =
        client.execute("UPDATE orders SET amount = amount + 1 WHERE customer_id = @P1", &[&1i32]).await;
    assert_eq!(updated.unwrap().rows_affected(), [2]);
    let inserted = client.execute("INSERT INTO customers VALUES (3, N'Linus'), (4, N'Ken')", &[]).await;
    assert_eq!(inserted.unwrap().rows_affected(), [2]);
    let deleted = client.execute("DELETE FROM orders WHERE id = 12", &[]).await.unwrap();
    assert_eq!(deleted.total(), 1);
    let batch =
        client.execute("SET NOCOUNT ON; DELETE FROM customers WHERE id > 2; CREATE TABLE x (id INT)", &[]);
    assert_eq!(batch.await.unwrap().rows_affected(), [0, 2, 0]);
}

#[tokio::test]
async fn multiple_result_sets_in_one_batch() {
    let endpoint = common::start();
    let mut client = common::fixture_database(&endpoint, "multi").await;
    let results = client
        .simple_query("SELECT id FROM customers ORDER BY id; SELECT id, amount FROM orders WHERE id = 10")
        .await
        .unwrap()
        .into_results()
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].len(), 2);
    assert_eq!(results[1][0].get::<Numeric, _>("amount"), Some(Numeric::new_with_scale(500, 2)));
}

#[tokio::test]
async fn waitfor_is_cancelled_by_attention() {
    let endpoint = common::start();
    let mut client = common::connect(&endpoint, None).await;
    let started = std::time::Instant::now();
    let waiting = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        client.execute("WAITFOR DELAY '00:00:30'", &[]),
    )
    .await;
    assert!(waiting.is_err(), "the delay is still running");
    client.cancel_query().await.unwrap();
    let row = client.query("SELECT 5", &[]).await.unwrap().into_row().await.unwrap().unwrap();
    assert_eq!(row.get::<i64, _>(0), Some(5));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
