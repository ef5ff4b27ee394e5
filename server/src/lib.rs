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

mod alerts;
mod audit_log;
mod cli;
mod commands;
mod console;
mod logging;
mod mcp;
mod metrics;
mod output;
mod reload;
mod responses;
#[cfg(feature = "otel")]
mod traces;

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
    #[cfg(feature = "otel")]
    let traces = match traces::Traces::for_command(&cli) {
        Ok(traces) => traces,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    #[cfg(feature = "otel")]
    logging::init(cli.log_level.as_deref(), traces.as_ref().map(traces::Traces::layer));
    #[cfg(not(feature = "otel"))]
    logging::init(cli.log_level.as_deref(), None);
    give_large_allocations_back();
    let code = commands::run(cli);
    #[cfg(feature = "otel")]
    if let Some(traces) = traces {
        traces.shutdown();
    }
    code
}

/// Makes glibc serve every allocation of 128 KiB or more (a wide row, a long
/// value, an answer) from its own mapping, unmapped when it is freed, so that
/// the memory a large call took goes back to the system after it. By default
/// glibc raises that threshold as large blocks are freed, and then keeps them
/// in its heap: a server that once answered a large result kept that much
/// memory for good.
///
/// And makes every thread allocate from one arena. A call's rows are decoded
/// on one thread and its answer written on another, and the next call's on
/// others again; with an arena per thread, what one call freed stayed in its
/// threads' arenas while the next filled new ones, and five answers of
/// 200,000 rows in a row peaked at 1.6 times one (BENCHMARKS.md, "One
/// encoding, one arena"). glibc's per-thread caches keep small allocations
/// off the arena's lock. `MALLOC_ARENA_MAX` in the environment, which glibc
/// reads itself, is left to decide (many cores, many large calls at once).
#[allow(unsafe_code, reason = "mallopt has no safe binding")]
fn give_large_allocations_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation policy; it is called
    // before the runtime starts any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}
