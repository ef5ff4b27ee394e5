//! MySQL/MariaDB errors in the kinds of the tool contract, keeping the
//! server's message and error number.

use dbfleet_core::driver_api::{DbError, ErrorKind};
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
        other => dbfleet_sqlx_support::transport_error(other),
    }
}
