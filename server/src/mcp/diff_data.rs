//! `diff_data`: the arguments turned into a comparison, and its progress
//! sent to the client as it goes.

use std::time::{Duration, Instant};

use dbfleet_core::catalog::TableRef;
use dbfleet_core::compare::DEFAULT_MAX_DIFFERENCES;
use dbfleet_core::diff::{DataDiff, DiffProgress, DiffRequest, DiffSource};
use dbfleet_core::{DbError, Fleet};
use rmcp::RoleServer;
use rmcp::model::ProgressNotificationParam;
use rmcp::service::RequestContext;

use super::args::DiffDataArgs;

/// Progress notifications of one comparison are at least this far apart.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

pub(super) fn request(args: DiffDataArgs) -> Result<DiffRequest, DbError> {
    let source = match (args.table, args.query) {
        (Some(table), None) => DiffSource::Table(TableRef::new(args.schema, table)),
        (None, Some(query)) if args.schema.is_none() => DiffSource::Query(query),
        (None, Some(_)) => return Err(DbError::invalid_argument("schema goes with table, not with query")),
        _ => return Err(DbError::invalid_argument("give either table or query")),
    };
    let mut request = DiffRequest::new(args.environments, source);
    request.key_columns = args.key_columns.unwrap_or_default();
    request.columns = args.columns.unwrap_or_default();
    request.filter = args.filter;
    request.max_differences = args.max_differences.unwrap_or(DEFAULT_MAX_DIFFERENCES);
    request.method = args.method.unwrap_or_default();
    request.verify = args.verify.unwrap_or(false);
    Ok(request)
}

/// Runs the comparison, telling the client how far it has come when it
/// asked for progress.
pub(super) async fn run(
    fleet: &Fleet,
    request: &DiffRequest,
    context: &RequestContext<RoleServer>,
) -> Result<DataDiff, DbError> {
    let Some(token) = context.meta.get_progress_token() else {
        return fleet.diff_data(request, &|_| {}).await;
    };
    let (sender, mut reports) = tokio::sync::mpsc::unbounded_channel::<DiffProgress>();
    let compare = async move {
        let report = move |progress: DiffProgress| {
            let _ = sender.send(progress);
        };
        fleet.diff_data(request, &report).await
    };
    // The comparison owns the sender, so the reports end with it.
    let forward = async {
        let mut last_sent: Option<Instant> = None;
        while let Some(progress) = reports.recv().await {
            if last_sent.is_some_and(|sent| sent.elapsed() < PROGRESS_INTERVAL) {
                continue;
            }
            last_sent = Some(Instant::now());
            let mut notification =
                ProgressNotificationParam::new(token.clone(), progress.rows_compared as f64)
                    .with_message(progress.message);
            if let Some(total) = progress.rows_total {
                notification = notification.with_total(total as f64);
            }
            if let Err(err) = context.peer.notify_progress(notification).await {
                tracing::debug!(error = %err, "progress notification not sent");
            }
        }
    };
    tokio::join!(compare, forward).0
}
