//! `dbfleet man`: the manual page in roff, from the clap definition of the
//! command line, so it never falls behind it.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;

pub fn run() -> anyhow::Result<ExitCode> {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}
