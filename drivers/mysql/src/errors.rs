//! MySQL/MariaDB errors in the kinds of the tool contract, keeping the
//! server's message and error number.

use dbfleet_core::{DbError, ErrorKind};
use sqlx::mysql::MySqlDatabaseError;

pub fn from_sqlx(err: sqlx::Error) -> DbError {
    match err {
        sqlx::Error::Database(db) => {
            let number = db.try_downcast_ref::<MySqlDatabaseError>().map(MySqlDatabaseError::number);
            let kind = match number {
                Some(1045 | 1044 | 1698) => ErrorKind::Auth,
                Some(1049) => ErrorKind::Connection,
                // MySQL's max_execution_time, MariaDB's max_statement_time, a killed query.
                Some(3024 | 1969 | 1317) => ErrorKind::Timeout,
                Some(1792) => ErrorKind::ReadOnly,
                _ => ErrorKind::Query,
            };
            let error = DbError::new(kind, db.message().to_owned());
            match number {
                Some(number) => error.with_code(number.to_string()),
                None => error,
            }
        }
        sqlx::Error::Io(io) => DbError::connection(format!("cannot reach the server: {io}")),
        sqlx::Error::Tls(tls) => DbError::connection(format!("TLS failed: {tls}")),
        sqlx::Error::PoolTimedOut => DbError::connection(
            "no connection within connect_timeout_secs: the server is unreachable or the pool is exhausted",
        ),
        sqlx::Error::PoolClosed => DbError::connection("the connection pool is closed"),
        sqlx::Error::Configuration(err) => DbError::invalid_argument(err.to_string()),
        other => DbError::query(other.to_string()),
    }
}
