//! SQLite errors in the kinds of the tool contract.

use dbfleet_core::driver_api::{DbError, ErrorKind};
use rusqlite::ffi;

use crate::connections::PoolError;

/// Keeps SQLite's message and extended result code.
pub fn from_sqlite(err: rusqlite::Error) -> DbError {
    match &err {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let kind = match failure.code {
                ffi::ErrorCode::ReadOnly => ErrorKind::ReadOnly,
                ffi::ErrorCode::CannotOpen | ffi::ErrorCode::NotADatabase => ErrorKind::Connection,
                ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked => ErrorKind::Timeout,
                ffi::ErrorCode::OperationInterrupted => ErrorKind::Timeout,
                ffi::ErrorCode::PermissionDenied | ffi::ErrorCode::AuthorizationForStatementDenied => {
                    read_only_or_query(message.as_deref())
                }
                _ => read_only_or_query(message.as_deref()),
            };
            let text = message.clone().unwrap_or_else(|| failure.to_string());
            DbError::new(kind, text).with_code(failure.extended_code.to_string())
        }
        rusqlite::Error::SqlInputError { error, msg, offset, .. } => {
            DbError::query(format!("{msg} (at byte {offset})")).with_code(error.extended_code.to_string())
        }
        rusqlite::Error::MultipleStatement => DbError::invalid_argument("one statement per call"),
        rusqlite::Error::InvalidParameterCount(given, expected) => {
            DbError::invalid_argument(format!("the statement takes {expected} parameters, {given} given"))
        }
        _ => DbError::query(err.to_string()),
    }
}

/// `PRAGMA query_only` and the ATTACH limit report themselves as plain errors.
fn read_only_or_query(message: Option<&str>) -> ErrorKind {
    match message {
        Some(m) if m.contains("readonly") || m.contains("read-only") || m.contains("too many attached") => {
            ErrorKind::ReadOnly
        }
        _ => ErrorKind::Query,
    }
}

pub fn pool_error(err: PoolError) -> DbError {
    match err {
        PoolError::Timeout(_) => {
            DbError::new(ErrorKind::Timeout, "no SQLite connection free within connect_timeout_secs")
        }
        PoolError::Backend(err) => from_sqlite(err),
        other => DbError::connection(other.to_string()),
    }
}
