//! Shared helpers: an endpoint per test and tiberius clients configured for it.

use dbfleet_tds_endpoint::{Endpoint, EndpointConfig};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

pub const USER: &str = "sa";
pub const PASSWORD: &str = "S3cret!pw";

pub type TdsClient = Client<Compat<TcpStream>>;

/// The conformance fixture of the driver/endpoint contract, exactly as written there.
pub const FIXTURE: &str = r#"CREATE TABLE all_types (id INT PRIMARY KEY, c_bool BIT, c_int BIGINT, c_float FLOAT, c_decimal DECIMAL(10,2), c_text NVARCHAR(MAX), c_bytes VARBINARY(64), c_date DATE, c_time TIME(3), c_timestamp DATETIME2(3), c_timestamptz DATETIMEOFFSET(3), c_uuid UNIQUEIDENTIFIER, c_json NVARCHAR(MAX))
INSERT INTO all_types VALUES (1, 1, 9007199254740993, 1.5, 12.50, N'héllo wörld ✓ 🚀', 0x0001FF, '2024-05-01', '13:45:00.123', '2024-05-01 13:45:00.123', '2024-05-01 13:45:00.123 +00:00', '67e55044-10b1-426f-9247-bb680e5fe0c8', N'{"a": [1, 2]}')
INSERT INTO all_types (id) VALUES (2)
CREATE TABLE customers (id INT PRIMARY KEY, name NVARCHAR(100) NOT NULL)
CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2) NOT NULL, CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id))
CREATE INDEX orders_by_customer ON orders (customer_id)
CREATE VIEW order_totals AS SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id
INSERT INTO customers VALUES (1, N'Ada'), (2, N'Grace')
INSERT INTO orders VALUES (10, 1, 5.00), (11, 1, 7.25), (12, 2, 3.10)"#;

pub fn start() -> Endpoint {
    Endpoint::start(EndpointConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        user: USER.into(),
        password: PASSWORD.into(),
        data_dir: None,
    })
    .expect("endpoint starts")
}

pub fn config(endpoint: &Endpoint, database: Option<&str>) -> Config {
    let mut config = Config::new();
    config.host("127.0.0.1");
    config.port(endpoint.local_addr().port());
    config.authentication(AuthMethod::sql_server(USER, PASSWORD));
    config.encryption(EncryptionLevel::NotSupported);
    if let Some(database) = database {
        config.database(database);
    }
    config
}

pub async fn connect_with(endpoint: &Endpoint, config: Config) -> tiberius::Result<TdsClient> {
    let tcp = TcpStream::connect(endpoint.local_addr()).await?;
    tcp.set_nodelay(true)?;
    Client::connect(config, tcp.compat_write()).await
}

pub async fn connect(endpoint: &Endpoint, database: Option<&str>) -> TdsClient {
    connect_with(endpoint, config(endpoint, database)).await.expect("login succeeds")
}

/// A fresh database `name` holding the fixture, and a client connected to it.
pub async fn fixture_database(endpoint: &Endpoint, name: &str) -> TdsClient {
    let mut master = connect(endpoint, None).await;
    master.execute(format!("CREATE DATABASE {name}"), &[]).await.expect("CREATE DATABASE");
    let mut client = connect(endpoint, Some(name)).await;
    client.execute(FIXTURE, &[]).await.expect("the fixture runs as written");
    client
}

/// The SQL Server error number of a failed call.
pub fn error_code<T: std::fmt::Debug>(result: tiberius::Result<T>) -> u32 {
    match result {
        Err(tiberius::error::Error::Server(e)) => e.code(),
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// The first column of every row of the first result, as `i32`.
pub async fn int_column(client: &mut TdsClient, sql: &str, params: &[&dyn tiberius::ToSql]) -> Vec<i32> {
    let rows = client.query(sql, params).await.unwrap().into_first_result().await.unwrap();
    rows.iter().map(|r| r.get(0).expect("an int, not NULL")).collect()
}
