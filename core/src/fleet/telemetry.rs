//! The fleet's metrics, through the `metrics` facade: a front-end that
//! installs a recorder (the server's Prometheus exporter) gets them, and
//! without one they cost a check. Names and labels follow Prometheus
//! conventions; every series is labelled with its environment.
//!
//! And its trace spans: `tracing` spans of target [`TRACE_TARGET`] at
//! `TRACE` level, which no log filter shows by default and which a
//! front-end exports (the server's OpenTelemetry layer). Their fields
//! follow OpenTelemetry's database conventions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::{counter, gauge, histogram};

use tracing::Span;
use tracing::field::Empty;

use crate::error::DbError;

/// The target of every span meant for traces.
pub const TRACE_TARGET: &str = "dbfleet::trace";

/// A span for one statement on `environment`. `statement` (the text with
/// its literals masked) is only worked out when something records the span.
pub(super) fn statement_span(environment: &str, driver: &str, statement: impl FnOnce() -> String) -> Span {
    let span = tracing::trace_span!(
        target: TRACE_TARGET,
        "statement",
        otel.name = %format_args!("statement {environment}"),
        dbfleet.environment = %environment,
        db.system.name = %driver,
        db.query.text = Empty,
        db.response.returned_rows = Empty,
        error.type = Empty,
        otel.status_code = Empty,
    );
    if !span.is_disabled() {
        span.record("db.query.text", statement());
    }
    span
}

pub(super) fn end_statement_span(span: &Span, outcome: Result<usize, &DbError>) {
    match outcome {
        Ok(rows) => {
            // As i64: the OpenTelemetry layer records other integers as text.
            span.record("db.response.returned_rows", i64::try_from(rows).unwrap_or(i64::MAX));
        }
        Err(err) => {
            span.record("error.type", err.kind.as_str());
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// A statement ran (or failed) on `environment`.
pub(super) fn statement(environment: &str, outcome: Result<usize, &DbError>, elapsed: Duration) {
    let environment = environment.to_owned();
    let (result, kind) = match outcome {
        Ok(rows) => {
            counter!("dbfleet_rows_returned_total", "environment" => environment.clone())
                .increment(rows as u64);
            ("ok", "")
        }
        Err(err) => ("error", err.kind.as_str()),
    };
    counter!("dbfleet_statements_total", "environment" => environment.clone(), "outcome" => result, "error_kind" => kind)
        .increment(1);
    histogram!("dbfleet_statement_duration_seconds", "environment" => environment)
        .record(elapsed.as_secs_f64());
}

/// A statement refused by the read-only check.
pub(super) fn refused(environment: &str) {
    counter!("dbfleet_read_only_refusals_total", "environment" => environment.to_owned()).increment(1);
}

/// The environment answered (a connection or a ping), or was found unreachable.
pub(super) fn reachable(environment: &str, up: bool) {
    gauge!("dbfleet_environment_up", "environment" => environment.to_owned()).set(if up { 1.0 } else { 0.0 });
    if up {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        gauge!("dbfleet_last_success_timestamp_seconds", "environment" => environment.to_owned()).set(now);
    }
}

/// One attempt to reach a lost environment again.
pub(super) fn reconnect_attempt(environment: &str) {
    counter!("dbfleet_reconnect_attempts_total", "environment" => environment.to_owned()).increment(1);
}

/// The environment turned healthy or unhealthy.
pub(super) fn health_change(environment: &str, to: super::Status) {
    let to = if to == super::Status::Healthy { "healthy" } else { "unhealthy" };
    counter!("dbfleet_health_changes_total", "environment" => environment.to_owned(), "to" => to)
        .increment(1);
}
