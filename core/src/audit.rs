//! The audit log's records: one per statement run or refused on an
//! environment, with who asked (the front-end sets it for the call with
//! [`within`]), and the statement with its literal values masked unless the
//! configuration asks for them. A front-end installs where records go
//! ([`install`]); without a sink nothing is built.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlparser::dialect::Dialect;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use crate::error::DbError;
use crate::result::QueryResult;

/// Who made the call the statements belong to.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// `stdio`, `http`, or the name of the caller's token.
    pub client: String,
    /// The MCP session, where the transport has one.
    pub session: Option<String>,
    pub tool: String,
}

tokio::task_local! {
    static CALL: CallContext;
}

/// Runs `work` as part of the call `context`: the statements it runs are
/// recorded with it.
pub async fn within<F: Future>(context: CallContext, work: F) -> F::Output {
    CALL.scope(context, work).await
}

/// Where records go (a file, stderr). Called on the task that ran the
/// statement: keep it short.
pub trait AuditSink: Send + Sync {
    fn record(&self, record: &AuditRecord);
}

struct Installed {
    sink: Box<dyn AuditSink>,
    include_literals: bool,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Sends every later record to `sink`. Once per process; a second call is
/// refused (`false`).
pub fn install(sink: Box<dyn AuditSink>, include_literals: bool) -> bool {
    INSTALLED.set(Installed { sink, include_literals }).is_ok()
}

/// Whether records are kept (a sink is installed).
pub(crate) fn enabled() -> bool {
    INSTALLED.get().is_some()
}

/// One statement, as the audit log writes it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub time: String,
    pub client: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub tool: String,
    /// Absent for a tool the caller may not use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Absent for a call refused before it named a statement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// `ok`, `refused` (the read-only check), `error`, or `forbidden` (the
    /// caller's token does not reach the environment or the tool).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affected_rows: Option<u64>,
    pub duration_ms: f64,
}

/// Records a statement when a sink is installed; `dialect` is the
/// environment's, to find its literals.
pub(crate) fn statement<R>(
    environment: &str,
    dialect: &dyn Dialect,
    sql: &str,
    outcome: Result<&QueryResult<R>, &DbError>,
    elapsed: Duration,
) {
    let counts = outcome.map(|result| {
        (Some(result.row_count).filter(|_| result.affected_rows.is_none()), result.affected_rows)
    });
    record(&current(), environment, dialect, sql, counts, elapsed);
}

/// Records a streamed statement once its stream ended, for the call that
/// asked for it (a stream outlives the task-local scope of its call).
pub(crate) fn streamed(
    context: &CallContext,
    environment: &str,
    dialect: &dyn Dialect,
    sql: &str,
    outcome: Result<u64, &DbError>,
    elapsed: Duration,
) {
    let counts = outcome.map(|rows| (Some(usize::try_from(rows).unwrap_or(usize::MAX)), None));
    record(context, environment, dialect, sql, counts, elapsed);
}

/// `counts`: rows returned and rows affected, or the statement's error.
fn record(
    context: &CallContext,
    environment: &str,
    dialect: &dyn Dialect,
    sql: &str,
    counts: Result<(Option<usize>, Option<u64>), &DbError>,
    elapsed: Duration,
) {
    let Some(installed) = INSTALLED.get() else { return };
    let statement = if installed.include_literals { sql.to_owned() } else { mask_literals(sql, dialect) };
    let (outcome, error_kind, rows, affected_rows) = match counts {
        Ok((rows, affected_rows)) => ("ok", None, rows, affected_rows),
        Err(err) if err.kind == crate::error::ErrorKind::ReadOnly => {
            ("refused", Some(err.kind.as_str()), None, None)
        }
        Err(err) => ("error", Some(err.kind.as_str()), None, None),
    };
    let time: DateTime<Utc> = Utc::now();
    installed.sink.record(&AuditRecord {
        time: time.to_rfc3339_opts(SecondsFormat::Micros, true),
        client: context.client.clone(),
        session: context.session.clone(),
        tool: context.tool.clone(),
        environment: Some(environment.to_owned()),
        statement: Some(statement),
        outcome,
        error_kind,
        rows,
        affected_rows,
        duration_ms: (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0,
    });
}

/// Records a call refused because the caller's token does not reach
/// `environment` (or, without one, the tool).
pub fn forbidden(environment: Option<&str>) {
    let Some(installed) = INSTALLED.get() else { return };
    let context = current();
    let time: DateTime<Utc> = Utc::now();
    installed.sink.record(&AuditRecord {
        time: time.to_rfc3339_opts(SecondsFormat::Micros, true),
        client: context.client,
        session: context.session,
        tool: context.tool,
        environment: environment.map(str::to_owned),
        statement: None,
        outcome: "forbidden",
        error_kind: Some(crate::error::ErrorKind::Forbidden.as_str()),
        rows: None,
        affected_rows: None,
        duration_ms: 0.0,
    });
}

/// The call the running task belongs to.
pub(crate) fn current() -> CallContext {
    CALL.try_with(Clone::clone).unwrap_or_else(|_| CallContext {
        client: "internal".into(),
        session: None,
        tool: String::new(),
    })
}

/// The statement with every literal (strings, numbers, dollar-quoted
/// bodies) replaced by `?` and comments removed, read with the engine's
/// tokenizer; a statement it cannot read is not shown at all.
pub fn mask_literals(sql: &str, dialect: &dyn Dialect) -> String {
    let Ok(tokens) = Tokenizer::new(dialect, sql).tokenize() else {
        return format!("<{} bytes the tokenizer cannot read>", sql.len());
    };
    let mut masked = String::with_capacity(sql.len());
    for token in tokens {
        match token {
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_) => masked.push('?'),
            Token::Whitespace(Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_)) => {
                masked.push(' ')
            }
            other => masked.push_str(&other.to_string()),
        }
    }
    masked
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};

    use super::*;

    #[test]
    fn literals_and_comments_are_masked() {
        let sql = "SELECT name FROM users /* token abc */ WHERE email = 'ada@example.com' AND id > 42 \
                   AND note = $$secret$$ AND x = E'\\n' -- pw=hunter2\n LIMIT 5";
        let masked = mask_literals(sql, &PostgreSqlDialect {});
        assert_eq!(
            masked,
            "SELECT name FROM users   WHERE email = ? AND id > ? AND note = ? AND x = ?  \n LIMIT ?"
        );
        // MySQL's double quotes are strings; quoted names stay.
        let masked = mask_literals("SELECT `a` FROM t WHERE b = \"x\" AND c = 0x1F", &MySqlDialect {});
        assert_eq!(masked, "SELECT `a` FROM t WHERE b = ? AND c = ?");
        assert_eq!(
            mask_literals("SELECT 'open", &PostgreSqlDialect {}),
            "<12 bytes the tokenizer cannot read>"
        );
    }
}
