//! Logs go to stderr: stdout belongs to query output and the MCP protocol.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::Registry;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// A layer that exports trace spans (see `traces.rs`).
pub type TraceLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// `--log-level` wins over `RUST_LOG`; without either, warnings and errors.
/// MCP clients get dbfleet's events from info up whatever the filter
/// (see `mcp/log_messages.rs`).
pub fn init(level: Option<&str>, traces: Option<TraceLayer>) {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    // Without trace export, no layer at all rather than an absent one: an
    // absent layer (`None`) counts as interested in everything, which made
    // every span, rmcp's per-session one included, live and entered at each
    // poll of a call (a tenth of the work of a large answer).
    match traces {
        Some(traces) => {
            tracing_subscriber::registry()
                .with(traces)
                .with(stderr(filter))
                .with(crate::mcp::log_layer())
                .init();
        }
        None => tracing_subscriber::registry().with(stderr(filter)).with(crate::mcp::log_layer()).init(),
    }
}

fn stderr<S>(filter: EnvFilter) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(filter)
}
