//! `dbfleet completions SHELL`: the shell's completion script, from the clap
//! definition of the command line, so it never falls behind it.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

pub fn run(shell: Shell) -> anyhow::Result<ExitCode> {
    clap_complete::generate(shell, &mut Cli::command(), "dbfleet", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
