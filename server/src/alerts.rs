//! Webhook alerts (`[alerts]`): each change of an environment between
//! healthy and unhealthy is POSTed as JSON, in order, retried with backoff.
//! The body has a `text` line, which chat webhooks (Slack, Mattermost,
//! Teams workflows) show as the message, beside the change's fields.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use dbfleet_core::config::AlertsConfig;
use dbfleet_core::fleet::{Fleet, HealthChange, Status};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

#[derive(Serialize)]
struct Alert<'a> {
    event: &'static str,
    text: String,
    #[serde(flatten)]
    change: &'a HealthChange,
}

/// Posts every health change of `fleet` from now on, until the fleet is gone.
pub fn spawn(fleet: &Fleet, config: &AlertsConfig) -> anyhow::Result<JoinHandle<()>> {
    let client = reqwest::Client::builder().timeout(config.timeout).build()?;
    let mut changes = fleet.health_changes();
    let url = config.webhook_url.clone();
    let attempts = config.max_attempts;
    Ok(tokio::spawn(async move {
        loop {
            match changes.recv().await {
                Ok(change) => deliver(&client, &url, attempts, &change).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "health alerts dropped: the webhook is slower than the changes");
                }
                Err(RecvError::Closed) => return,
            }
        }
    }))
}

async fn deliver(client: &reqwest::Client, url: &SecretString, attempts: usize, change: &HealthChange) {
    let text = match (&change.to, &change.error) {
        (Status::Healthy, _) => format!("dbfleet: environment {} is healthy again", change.environment),
        (_, Some(error)) => format!("dbfleet: environment {} is unhealthy: {error}", change.environment),
        (_, None) => format!("dbfleet: environment {} is unhealthy", change.environment),
    };
    let alert = Alert { event: "environment_health_changed", text, change };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(30))
        .with_max_times(attempts.saturating_sub(1))
        .with_jitter();
    // reqwest's errors name the URL, which may hold the webhook's
    // credential: they are stripped of it.
    let post = || async {
        let response = client.post(url.expose_secret()).json(&alert).send().await;
        response.and_then(reqwest::Response::error_for_status).map(drop).map_err(reqwest::Error::without_url)
    };
    let outcome = post
        .retry(backoff)
        .notify(|err: &reqwest::Error, delay| {
            tracing::warn!(environment = %change.environment, error = %err, retry_in_ms = delay.as_millis() as u64, "health alert not delivered");
        })
        .await;
    match outcome {
        Ok(()) => tracing::debug!(environment = %change.environment, "health alert delivered"),
        Err(err) => {
            tracing::error!(environment = %change.environment, error = %err, attempts, "health alert given up")
        }
    }
}
