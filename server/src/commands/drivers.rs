use std::process::ExitCode;

use dbfleet_core::registry;

use crate::output;

pub fn run() -> anyhow::Result<ExitCode> {
    let mut table = output::table(["driver", "aliases", "settings", "description"]);
    for driver in registry::drivers() {
        table.add_row([
            driver.name().to_owned(),
            driver.aliases().join(", "),
            driver.settings_keys().join(", "),
            driver.description().to_owned(),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}
