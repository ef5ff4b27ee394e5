//! Login, databases, read-only intent, transactions and connection management.

use crate::common::{self, connect, connect_with, error_code};
use tiberius::AuthMethod;

#[tokio::test]
async fn login_succeeds_and_reports_the_version() {
    let endpoint = common::start();
    let mut client = connect(&endpoint, None).await;
    let row = client.query("SELECT @@VERSION", &[]).await.unwrap().into_row().await.unwrap().unwrap();
    let version: &str = row.get(0).unwrap();
    assert!(version.contains("SQL Server"), "{version}");
    assert!(version.contains("SQLite 3."), "{version}");
    assert_eq!(endpoint.connections_accepted(), 1);
}

#[tokio::test]
async fn wrong_password_fails_with_18456() {
    let endpoint = common::start();
    let mut config = common::config(&endpoint, None);
    config.authentication(AuthMethod::sql_server(common::USER, "wrong"));
    assert_eq!(error_code(connect_with(&endpoint, config).await), 18456);
    let mut config = common::config(&endpoint, None);
    config.authentication(AuthMethod::sql_server("nobody", common::PASSWORD));
    assert_eq!(error_code(connect_with(&endpoint, config).await), 18456);
}

#[tokio::test]
async fn unknown_database_fails_with_4060() {
    let endpoint = common::start();
    let config = common::config(&endpoint, Some("no_such_db"));
    assert_eq!(error_code(connect_with(&endpoint, config).await), 4060);
}

#[tokio::test]
async fn create_and_drop_database() {
    let endpoint = common::start();
    let mut master = connect(&endpoint, None).await;
    master.execute("CREATE DATABASE shop", &[]).await.unwrap();
    assert_eq!(error_code(master.execute("CREATE DATABASE shop", &[]).await), 1801);

    let names: Vec<String> = master
        .query("SELECT name FROM sys.databases ORDER BY name", &[])
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<&str, _>(0).unwrap().to_string())
        .collect();
    assert_eq!(names, ["master", "shop"]);

    let mut shop = connect(&endpoint, Some("shop")).await;
    shop.execute("CREATE TABLE t (id INT)", &[]).await.unwrap();
    drop(shop);

    master.execute("DROP DATABASE shop", &[]).await.unwrap();
    master.execute("DROP DATABASE IF EXISTS shop", &[]).await.unwrap();
    assert_eq!(error_code(master.execute("DROP DATABASE shop", &[]).await), 3701);
    let config = common::config(&endpoint, Some("shop"));
    assert_eq!(error_code(connect_with(&endpoint, config).await), 4060);
}

#[tokio::test]
async fn read_only_intent_refuses_writes_with_3906() {
    let endpoint = common::start();
    drop(common::fixture_database(&endpoint, "ro").await);
    let mut config = common::config(&endpoint, Some("ro"));
    config.readonly(true);
    let mut client = connect_with(&endpoint, config).await.unwrap();
    let err = client.execute("INSERT INTO customers VALUES (9, 'x')", &[]).await;
    match err {
        Err(tiberius::error::Error::Server(e)) => {
            assert_eq!(e.code(), 3906);
            assert_eq!(e.message(), "Failed to update database \"ro\" because the database is read-only.");
        }
        other => panic!("expected 3906, got {other:?}"),
    }
    assert_eq!(error_code(client.execute("CREATE DATABASE other", &[]).await), 3906);
    let rows =
        client.query("SELECT id FROM customers ORDER BY id", &[]).await.unwrap().into_first_result().await;
    assert_eq!(rows.unwrap().len(), 2, "reads still work");
    let tables = client.query("SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES", &[]).await.unwrap();
    assert_eq!(tables.into_first_result().await.unwrap().len(), 4, "the catalog works read-only too");
}

#[tokio::test]
async fn transaction_manager_requests_commit_and_roll_back() {
    let endpoint = common::start();
    let mut client = common::fixture_database(&endpoint, "tx").await;
    client.begin_transaction().await.unwrap();
    client.execute("INSERT INTO customers VALUES (3, N'Linus')", &[]).await.unwrap();
    client.rollback_transaction().await.unwrap();
    client.begin_transaction().await.unwrap();
    client.execute("INSERT INTO customers VALUES (4, N'Barbara')", &[]).await.unwrap();
    client.commit_transaction().await.unwrap();
    let ids = common::int_column(&mut client, "SELECT id FROM customers ORDER BY id", &[]).await;
    assert_eq!(ids, [1, 2, 4]);
}

#[tokio::test]
async fn drop_connections_closes_clients_and_new_ones_work() {
    let endpoint = common::start();
    let mut client = connect(&endpoint, None).await;
    client.query("SELECT 1", &[]).await.unwrap().into_row().await.unwrap();
    endpoint.drop_connections();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(client.query("SELECT 1", &[]).await.is_err(), "the dropped connection is broken");
    let mut fresh = connect(&endpoint, None).await;
    let row = fresh.query("SELECT 2 AS two", &[]).await.unwrap().into_row().await.unwrap().unwrap();
    assert_eq!(row.get::<i64, _>("two"), Some(2));
    assert_eq!(endpoint.connections_accepted(), 2);
}
