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

use dbfleet_core::Config;
use dbfleet_core::config::{find_config_path, load_config};

use crate::cli::{Cli, Command};

pub async fn dispatch(cli: Cli) -> ExitCode {
    let config = cli.config.as_deref();
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(config, args).await,
        Command::Drivers => drivers::run(),
        Command::Check => check::run(config).await,
        Command::Envs => envs::run(config),
        Command::Query(args) => query::run(config, args).await,
        Command::DiffSchema(args) => diff_schema::run(config, args).await,
        Command::DiffData(args) => diff_data::run(config, args).await,
        Command::Databases(args) => catalog::databases(config, args).await,
        Command::Tables(args) => catalog::tables(config, args).await,
        Command::Describe(args) => catalog::describe(config, args).await,
        Command::Completions(args) => completions::run(args.shell),
        Command::Man => man::run(),
        Command::Ping(args) => ping::run(args).await,
    };
    outcome.unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        ExitCode::FAILURE
    })
}

/// Finds and loads the configuration; an invalid one lists every problem.
fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
    let path = find_config_path(explicit)?;
    Ok(load_config(&path)?)
}
