//! `[telemetry]`: OpenTelemetry traces of tool calls and statements,
//! exported over OTLP/HTTP.

use super::load::{At, Checker};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP base URL (`http://collector:4318`); traces go
    /// to `/v1/traces` under it. `None`: `OTEL_EXPORTER_OTLP_ENDPOINT`, else
    /// `http://localhost:4318`.
    pub otlp_endpoint: Option<String>,
    pub service_name: String,
}

const TELEMETRY_KEYS: &[&str] = &["otlp_endpoint", "service_name"];

impl Checker<'_> {
    pub(super) fn telemetry(&mut self, value: Option<&toml::Value>) -> Option<TelemetryConfig> {
        let table = self.table(&At::root(), "telemetry", value)?;
        let at = At::root().child("telemetry");
        self.unknown_keys(&at, table, TELEMETRY_KEYS);
        let otlp_endpoint = match self.string(&at, table, "otlp_endpoint") {
            Some(raw) => {
                let url = self.expanded(&at, "otlp_endpoint", &raw)?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    self.problem(
                        &at,
                        Some("otlp_endpoint"),
                        format!("'{url}' is not an http:// or https:// URL"),
                    );
                    return None;
                }
                Some(url.trim_end_matches('/').to_owned())
            }
            None => None,
        };
        let service_name = match self.string(&at, table, "service_name") {
            Some(raw) => self.expanded(&at, "service_name", &raw)?,
            None => "dbfleet".to_owned(),
        };
        Some(TelemetryConfig { otlp_endpoint, service_name })
    }
}
