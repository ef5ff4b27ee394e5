//! Logs go to stderr: stdout belongs to query output and the MCP protocol.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// `--log-level` wins over `RUST_LOG`; without either, warnings and errors.
pub fn init(level: Option<&str>) {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
