//! PostgreSQL errors in the kinds of the tool contract, keeping the server's
//! message and SQLSTATE.

use dbfleet_core::driver_api::{DbError, ErrorKind};

pub fn from_sqlx(err: sqlx::Error) -> DbError {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let kind = match code.as_str() {
                "28P01" | "28000" => ErrorKind::Auth,
                "3D000" => ErrorKind::Connection,
                "57014" => ErrorKind::Timeout,
                "25006" => ErrorKind::ReadOnly,
                c if c.starts_with("08") => ErrorKind::Connection,
                _ => ErrorKind::Query,
            };
            DbError::new(kind, db.message().to_owned()).with_code(code)
        }
        other => dbfleet_sqlx_support::transport_error(other),
    }
}
