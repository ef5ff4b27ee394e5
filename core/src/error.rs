//! Typed errors of the query path. Every error can carry the environment it
//! happened in; none may carry a password or a secret-bearing URL (drivers
//! redact, and [`crate::fleet`] scrubs known secrets once more).

// Drivers outside this workspace build and match these types: a field or
// variant added later must not break them.
#![warn(clippy::exhaustive_structs, clippy::exhaustive_enums)]

use serde::Serialize;

/// The error kinds of the tool contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    InvalidArgument,
    UnknownEnvironment,
    DisabledEnvironment,
    Connection,
    Auth,
    Timeout,
    Query,
    ReadOnly,
    /// The caller's token does not reach this environment or tool.
    Forbidden,
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::UnknownEnvironment => "unknown_environment",
            ErrorKind::DisabledEnvironment => "disabled_environment",
            ErrorKind::Connection => "connection",
            ErrorKind::Auth => "auth",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Query => "query",
            ErrorKind::ReadOnly => "read_only",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a driver or from the routing around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, schemars::JsonSchema)]
#[error("{}", self.render())]
#[non_exhaustive]
pub struct DbError {
    pub kind: ErrorKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub message: String,
    /// The engine's own error code (SQLSTATE, MySQL error number, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl DbError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        DbError { kind, environment: None, message: message.into(), code: None }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Tags the error with its environment unless a more specific one is set.
    pub fn in_env(mut self, environment: &str) -> Self {
        if self.environment.is_none() {
            self.environment = Some(environment.to_owned());
        }
        self
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn connection(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Connection, message)
    }
    pub fn query(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Query, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(env) = &self.environment {
            out.push_str(&format!("[{env}] "));
        }
        out.push_str(self.kind.as_str());
        out.push_str(": ");
        out.push_str(&self.message);
        if let Some(code) = &self.code {
            out.push_str(&format!(" (code {code})"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_environment_kind_and_code() {
        let err = DbError::query("no such table: x").with_code("1").in_env("dev");
        assert_eq!(err.to_string(), "[dev] query: no such table: x (code 1)");
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["kind"], "query");
        assert_eq!(json["environment"], "dev");
    }

    #[test]
    fn first_environment_tag_wins() {
        let err = DbError::internal("x").in_env("a").in_env("b");
        assert_eq!(err.environment.as_deref(), Some("a"));
    }
}
