//! dbfleet-server: the `dbfleet` binary — CLI commands over the core fleet.
//!
//! [`run`] is public so that a binary of your own can link extra driver
//! crates (each registers itself through `inventory`) and reuse the CLI:
//!
//! ```no_run
//! // use my_dbfleet_driver as _;   // links the driver so it registers
//! fn main() -> std::process::ExitCode {
//!     dbfleet_server::run()
//! }
//! ```

mod cli;
mod commands;
mod logging;
mod mcp;
mod output;

use std::process::ExitCode;

/// The MCP tools over a fleet, one value per session, for serving them on a
/// transport of your own (`rmcp::ServiceExt::serve`).
pub use mcp::DbfleetTools;

use clap::Parser;

// Built-in drivers register themselves when linked.
#[cfg(feature = "mysql")]
use dbfleet_mysql as _;
#[cfg(feature = "postgres")]
use dbfleet_postgres as _;
#[cfg(feature = "sqlite")]
use dbfleet_sqlite as _;
#[cfg(feature = "sqlserver")]
use dbfleet_sqlserver as _;

/// Parses the command line, runs the command, and returns its exit code.
pub fn run() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(cli.log_level.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(commands::dispatch(cli))
}
