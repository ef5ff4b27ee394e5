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
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(filter);
    tracing_subscriber::registry().with(traces).with(stderr).with(crate::mcp::log_layer()).init();
}
