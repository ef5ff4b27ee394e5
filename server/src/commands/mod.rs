//! One module per CLI command.

mod catalog;
mod check;
mod completions;
mod diff_data;
mod diff_schema;
mod drivers;
mod envs;
mod man;
mod ping;
mod query;
mod serve;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use dbfleet_core::Config;
use dbfleet_core::config::{find_config_path, load_config};

use crate::cli::{Cli, Command};

/// Runs the command on a runtime of its own kind, and returns its exit code.
///
/// A server over stdio answers one client, and runs on one thread: on a
/// runtime with a thread per core, every call went from thread to thread
/// (the request's task is spawned, its answer sent back to the task that
/// writes), and a `SELECT 1` cost the server about 30 % more work and two
/// more thread switches (BENCHMARKS.md, "One thread for one client"). The
/// HTTP server, with its many clients, and the other commands, whose exports
/// decode rows on one core while the other writes them, keep a thread per
/// core.
pub fn run(cli: Cli) -> ExitCode {
    let config = cli.config.as_deref();
    let outcome = match cli.command {
        Command::Serve(args) => serve::Setup::load(config, args).and_then(|setup| {
            let builder = if setup.over_stdio() {
                tokio::runtime::Builder::new_current_thread()
            } else {
                tokio::runtime::Builder::new_multi_thread()
            };
            runtime(builder)?.block_on(serve::run(setup))
        }),
        Command::Drivers => drivers::run(),
        Command::Envs => envs::run(config),
        Command::Completions(args) => completions::run(args.shell),
        Command::Man => man::run(),
        Command::Check => on_threads(check::run(config)),
        Command::Query(args) => on_threads(query::run(config, args)),
        Command::DiffSchema(args) => on_threads(diff_schema::run(config, args)),
        Command::DiffData(args) => on_threads(diff_data::run(config, args)),
        Command::Databases(args) => on_threads(catalog::databases(config, args)),
        Command::Tables(args) => on_threads(catalog::tables(config, args)),
        Command::Describe(args) => on_threads(catalog::describe(config, args)),
        Command::Ping(args) => on_threads(ping::run(args)),
    };
    outcome.unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        ExitCode::FAILURE
    })
}

/// Runs a command on a runtime with a thread per core.
fn on_threads(command: impl Future<Output = anyhow::Result<ExitCode>>) -> anyhow::Result<ExitCode> {
    runtime(tokio::runtime::Builder::new_multi_thread())?.block_on(command)
}

fn runtime(mut builder: tokio::runtime::Builder) -> anyhow::Result<tokio::runtime::Runtime> {
    builder.enable_all().build().context("cannot start the async runtime")
}

/// Finds and loads the configuration; an invalid one lists every problem.
fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
    let path = find_config_path(explicit)?;
    Ok(load_config(&path)?)
}
