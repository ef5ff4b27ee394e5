//! The fleet's metrics, through the `metrics` facade: a front-end that
//! installs a recorder (the server's Prometheus exporter) gets them, and
//! without one they cost a check. Names and labels follow Prometheus
//! conventions; every series is labelled with its environment.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::{counter, gauge, histogram};

use crate::error::DbError;

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
