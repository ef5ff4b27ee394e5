//! `[alerts]`: where changes of an environment's health are sent.

use std::time::Duration;

use secrecy::SecretString;

use super::load::{At, Checker};

/// A webhook that gets a JSON POST for each change between healthy and
/// unhealthy.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// Secret: chat webhooks carry their credential in the URL.
    pub webhook_url: SecretString,
    /// Bounds each attempt.
    pub timeout: Duration,
    /// Attempts per alert, with backoff between them.
    pub max_attempts: usize,
}

const ALERTS_KEYS: &[&str] = &["webhook_url", "timeout_secs", "max_attempts"];

impl Checker<'_> {
    pub(super) fn alerts(&mut self, value: Option<&toml::Value>) -> Option<AlertsConfig> {
        let table = self.table(&At::root(), "alerts", value)?;
        let at = At::root().child("alerts");
        self.unknown_keys(&at, table, ALERTS_KEYS);
        let timeout = self
            .integer(&at, table, "timeout_secs", 1..=60)
            .map_or(Duration::from_secs(10), |n| Duration::from_secs(n as u64));
        let max_attempts = self.integer(&at, table, "max_attempts", 1..=20).map_or(5, |n| n as usize);
        let Some(raw) = self.string(&at, table, "webhook_url") else {
            if !table.contains_key("webhook_url") {
                self.problem(
                    &at,
                    Some("webhook_url"),
                    "required: the http:// or https:// URL alerts are posted to",
                );
            }
            return None;
        };
        let url = self.expanded(&at, "webhook_url", &raw)?;
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(char::is_whitespace) {
            // The URL itself is not shown: it may hold the webhook's credential.
            self.problem(&at, Some("webhook_url"), "expected an http:// or https:// URL");
            return None;
        }
        Some(AlertsConfig { webhook_url: SecretString::from(url), timeout, max_attempts })
    }
}
