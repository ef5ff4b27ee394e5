use std::path::Path;
use std::process::ExitCode;

use dbfleet_core::fleet::{Fleet, StartOptions};

/// Starts even when environments are down: those are listed as unhealthy,
/// fail fast when called, and reconnect in the background.
pub async fn run(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = super::load(config)?;
    let fleet = Fleet::start(&config, StartOptions::default())?;
    // Bounded by each environment's connect timeout.
    fleet.wait_ready().await;
    tracing::info!(environments = config.environments.len(), "serving MCP over stdio");
    crate::mcp::serve_stdio(fleet.clone()).await?;
    fleet.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
