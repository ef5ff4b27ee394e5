//! OpenTelemetry traces (`[telemetry]`, cargo feature `otel`): the spans of
//! target [`TRACE_TARGET`] (a tool call, and each statement it runs) exported
//! over OTLP/HTTP (JSON). The exporter runs on a thread of its own, so that
//! start-up needs no runtime and shutdown flushes what is left.

use anyhow::Context;
use dbfleet_core::config::{TelemetryConfig, find_config_path, load_config};
use dbfleet_core::fleet::TRACE_TARGET;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;

use crate::cli::{Cli, Command};
use crate::logging::TraceLayer;

pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Traces for `dbfleet serve` when its configuration has `[telemetry]`.
    /// A configuration that does not load is left for `serve` to report.
    pub fn for_command(cli: &Cli) -> anyhow::Result<Option<Traces>> {
        if !matches!(cli.command, Command::Serve(_)) {
            return Ok(None);
        }
        let config = find_config_path(cli.config.as_deref()).ok().and_then(|path| load_config(&path).ok());
        match config.and_then(|config| config.telemetry) {
            Some(telemetry) => Traces::start(&telemetry).map(Some).context("[telemetry]"),
            None => Ok(None),
        }
    }

    fn start(config: &TelemetryConfig) -> anyhow::Result<Traces> {
        let mut exporter = SpanExporter::builder().with_http().with_protocol(Protocol::HttpJson);
        if let Some(endpoint) = &config.otlp_endpoint {
            exporter = exporter.with_endpoint(format!("{endpoint}/v1/traces"));
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter.build()?)
            .with_resource(Resource::builder().with_service_name(config.service_name.clone()).build())
            .build();
        Ok(Traces { provider })
    }

    pub fn layer(&self) -> TraceLayer {
        let tracer = self.provider.tracer("dbfleet");
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_filter(Targets::new().with_target(TRACE_TARGET, Level::TRACE))
            .boxed()
    }

    /// Exports what is left.
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("warning: traces not all exported: {err}");
        }
    }
}
