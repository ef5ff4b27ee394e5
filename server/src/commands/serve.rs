use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use dbfleet_core::Config;
use dbfleet_core::config::{Transport, find_config_path, load_config};
use dbfleet_core::fleet::{Fleet, StartOptions};

use crate::cli::{ServeArgs, TransportArg};

/// What `serve` was told to do, read before the runtime starts (the
/// transport decides which runtime, `commands::run`).
pub struct Setup {
    path: PathBuf,
    config: Config,
    args: ServeArgs,
    token: Option<String>,
    /// The HTTP transport's address; `None` over stdio.
    listen: Option<SocketAddr>,
}

impl Setup {
    pub fn load(config: Option<&Path>, args: ServeArgs) -> anyhow::Result<Setup> {
        let path = find_config_path(config)?;
        let config = load_config(&path)?;
        #[cfg(not(feature = "otel"))]
        if config.telemetry.is_some() {
            anyhow::bail!("[telemetry]: this dbfleet was built without the otel feature");
        }
        let http = match args.transport {
            Some(transport) => transport == TransportArg::Http,
            None => config.server.transport == Transport::Http,
        };
        let token = match &config.server.auth_token_env {
            Some(var) => Some(
                std::env::var(var)
                    .with_context(|| format!("[server] auth_token_env names {var}, which is not set"))?,
            ),
            None => None,
        };
        let listen: Option<SocketAddr> = if http {
            let listen = args.listen.clone().unwrap_or_else(|| config.server.listen.clone());
            Some(listen.parse().with_context(|| format!("--listen {listen}: not an address"))?)
        } else {
            None
        };
        Ok(Setup { path, config, args, token, listen })
    }

    pub fn over_stdio(&self) -> bool {
        self.listen.is_none()
    }
}

/// Starts even when environments are down: those are listed as unhealthy,
/// fail fast when called, and reconnect in the background.
pub async fn run(setup: Setup) -> anyhow::Result<ExitCode> {
    let Setup { path, config, args, token, listen } = setup;
    // The console's Activity page shows the last statements.
    let recent = listen
        .filter(|listen| config.server.ui.unwrap_or(listen.ip().is_loopback()))
        .map(|_| crate::audit_log::Recent::new(crate::audit_log::RECENT_RECORDS));
    crate::audit_log::install(config.audit.as_ref(), recent.clone()).context("[audit]")?;
    let fleet = Fleet::start(&config, StartOptions::default())?;
    if let Some(alerts) = &config.alerts {
        crate::alerts::spawn(&fleet, alerts).context("[alerts]")?;
    }
    crate::reload::spawn(fleet.clone(), path, &config);
    if let Some(listen) = listen {
        let tokens = crate::mcp::Tokens::new(token, &config.server.tokens);
        crate::mcp::serve_http(fleet.clone(), listen, &config.server, tokens, recent).await?;
    } else {
        if let Some(address) = &args.metrics_listen {
            let address: SocketAddr =
                address.parse().with_context(|| format!("--metrics-listen {address}: not an address"))?;
            let tokens = crate::mcp::Tokens::new(token, &config.server.tokens);
            let routes = crate::mcp::metrics_routes(fleet.clone(), Arc::new(tokens))?;
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("--metrics-listen {address}: cannot listen"))?;
            tracing::info!(%address, "serving Prometheus metrics at /metrics");
            tokio::spawn(crate::mcp::serve_connections(listener, routes, std::future::pending()));
        }
        // Bounded by each environment's connect timeout.
        fleet.wait_ready().await;
        tracing::info!(environments = config.environments.len(), "serving MCP over stdio");
        crate::mcp::serve_stdio(fleet.clone(), &config.server).await?;
    }
    fleet.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
