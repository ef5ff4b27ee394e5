//! `dbfleet-tds-endpoint`: runs the TDS 7.4 test endpoint (SQLite behind it) until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use dbfleet_tds_endpoint::{Endpoint, EndpointConfig};

/// A TDS 7.4 endpoint backed by SQLite, for testing SQL Server clients without a SQL Server.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:1433.
    #[arg(long)]
    listen: SocketAddr,
    /// The login name clients must use.
    #[arg(long)]
    user: String,
    /// Name of the environment variable holding the password (kept off the command line).
    #[arg(long)]
    password_env: String,
    /// Directory of the database files (default: a temporary directory removed on exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// T-SQL statements run into `master` at start.
    #[arg(long)]
    seed: Option<PathBuf>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let password = std::env::var(&args.password_env)
        .map_err(|_| format!("environment variable {} is not set", args.password_env))?;
    let endpoint = Endpoint::start(EndpointConfig {
        listen: args.listen,
        user: args.user,
        password,
        data_dir: args.data_dir,
    })?;
    if let Some(seed) = &args.seed {
        endpoint.seed(&std::fs::read_to_string(seed)?)?;
        tracing::info!(seed = %seed.display(), "seeded master");
    }
    tracing::info!(addr = %endpoint.local_addr(), "ready; Ctrl-C stops");
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(tokio::signal::ctrl_c())?;
    drop(endpoint);
    Ok(())
}
