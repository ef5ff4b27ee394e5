//! Errors every sqlx backend reports alike.

use dbfleet_core::driver_api::DbError;

/// The errors every sqlx backend reports the same way. Drivers classify
/// database errors by their own codes before falling back to this.
pub fn transport_error(err: sqlx::Error) -> DbError {
    match err {
        sqlx::Error::Io(io) => DbError::connection(format!("cannot reach the server: {io}")),
        sqlx::Error::Tls(tls) => DbError::connection(format!("TLS failed: {tls}")),
        sqlx::Error::PoolTimedOut => DbError::connection(
            "no connection within connect_timeout_secs: the server is unreachable or every connection stayed busy",
        ),
        sqlx::Error::PoolClosed => DbError::connection("the connection pool is closed"),
        sqlx::Error::Configuration(err) => DbError::invalid_argument(err.to_string()),
        sqlx::Error::Database(db) => DbError::query(db.message().to_owned()),
        other => DbError::query(other.to_string()),
    }
}
