use std::path::Path;
use std::process::ExitCode;

use dbfleet_core::fleet::{Fleet, StartOptions, Status};

use crate::output;

/// Exit codes: 0 all enabled environments healthy, 1 invalid configuration
/// (or another error), 2 valid configuration with unreachable environments.
pub async fn run(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = super::load(config)?;
    let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..StartOptions::default() })?;
    fleet.wait_ready().await;
    // `check` tests every environment, lazy ones included; their errors are
    // in the statuses.
    futures::future::join_all(fleet.environments().iter().map(|env| env.connect_if_idle())).await;
    let statuses = fleet.statuses();
    let mut table = output::table(["environment", "driver", "status", "latency", "server version", "error"]);
    for status in &statuses {
        table.add_row([
            status.name.clone(),
            status.driver.clone(),
            status.status.as_str().to_owned(),
            status.latency_ms.map(|ms| format!("{ms:.1} ms")).unwrap_or_default(),
            status.server_version.clone().unwrap_or_default(),
            status.last_error.as_ref().map(|e| format!("{}: {}", e.kind, e.message)).unwrap_or_default(),
        ]);
    }
    println!("{table}");
    for status in &statuses {
        if let Some(tunnel) = &status.tunnel {
            let state = if tunnel.connected { "" } else { " (not connected)" };
            println!("{} is reached through {}{state}", status.name, tunnel.route);
        }
    }
    for status in &statuses {
        for warning in &status.warnings {
            println!("warning: {} is read-only, but {warning}", status.name);
        }
    }
    fleet.shutdown().await;
    let unhealthy = statuses.iter().filter(|s| s.status == Status::Unhealthy).count();
    if unhealthy > 0 {
        eprintln!("{unhealthy} of {} environments unreachable", statuses.len());
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
