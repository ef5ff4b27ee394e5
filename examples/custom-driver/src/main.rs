//! `dbfleet-csv`: the `dbfleet` command with the example CSV driver linked in.

use std::process::ExitCode;

// Linking the crate is what registers the driver.
use dbfleet_example_csv as _;

fn main() -> ExitCode {
    dbfleet_server::run()
}
