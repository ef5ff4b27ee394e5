//! SQL Server errors, and the mapping of SQLite's errors to their numbers.

use rusqlite::ErrorCode;

/// An error as carried by an ERROR token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub number: u32,
    pub state: u8,
    pub class: u8,
    pub message: String,
}

impl SqlError {
    pub fn new(number: u32, class: u8, message: impl Into<String>) -> SqlError {
        SqlError { number, state: 1, class, message: message.into() }
    }

    pub fn login_failed(user: &str) -> SqlError {
        SqlError::new(18456, 14, format!("Login failed for user '{user}'."))
    }

    pub fn cannot_open_database(name: &str) -> SqlError {
        SqlError::new(
            4060,
            11,
            format!("Cannot open database \"{name}\" requested by the login. The login failed."),
        )
    }

    pub fn read_only(database: &str) -> SqlError {
        SqlError::new(
            3906,
            16,
            format!("Failed to update database \"{database}\" because the database is read-only."),
        )
    }

    pub fn other(message: impl Into<String>) -> SqlError {
        SqlError::new(50000, 16, message)
    }

    /// Maps a SQLite failure to the SQL Server error a client would see for it.
    pub fn from_sqlite(error: &rusqlite::Error, database: &str) -> SqlError {
        let message = match error {
            rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
            other => other.to_string(),
        };
        let code = error.sqlite_error_code();
        if code == Some(ErrorCode::ReadOnly) {
            return SqlError::read_only(database);
        }
        if code == Some(ErrorCode::OperationInterrupted) {
            return SqlError::new(3617, 25, "The query was cancelled.");
        }
        if let Some(name) =
            message.strip_prefix("no such table: ").or_else(|| message.strip_prefix("no such view: "))
        {
            let name = name.strip_prefix("main.").unwrap_or(name);
            return SqlError::new(208, 16, format!("Invalid object name '{name}'."));
        }
        if let Some(name) = message.strip_prefix("no such column: ") {
            return SqlError::new(207, 16, format!("Invalid column name '{name}'."));
        }
        if message.contains("syntax error") || message.starts_with("incomplete input") {
            let near = message
                .strip_prefix("near \"")
                .and_then(|rest| rest.split_once('"'))
                .map_or("the end of the statement", |(near, _)| near);
            return SqlError::new(102, 15, format!("Incorrect syntax near '{near}': {message}"));
        }
        if code == Some(ErrorCode::ConstraintViolation) {
            if message.starts_with("UNIQUE constraint failed") || message.contains("PRIMARY KEY") {
                return SqlError::new(2627, 14, format!("Violation of UNIQUE KEY constraint: {message}"));
            }
            if message.starts_with("FOREIGN KEY constraint failed")
                || message.starts_with("CHECK constraint failed")
            {
                return SqlError::new(
                    547,
                    16,
                    format!("The statement conflicted with a constraint: {message}"),
                );
            }
        }
        SqlError::other(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_error(sql: &str) -> SqlError {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INT PRIMARY KEY)").unwrap();
        SqlError::from_sqlite(&conn.execute_batch(sql).unwrap_err(), "db")
    }

    #[test]
    fn maps_sqlite_errors_to_sql_server_numbers() {
        assert_eq!(sqlite_error("SELEC 1").number, 102);
        assert!(sqlite_error("SELEC 1").message.starts_with("Incorrect syntax near 'SELEC'"));
        assert_eq!(sqlite_error("SELECT * FROM nope").message, "Invalid object name 'nope'.");
        assert_eq!(sqlite_error("SELECT nope FROM t").number, 207);
        assert_eq!(sqlite_error("INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)").number, 2627);
    }
}
