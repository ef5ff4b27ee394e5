use std::path::Path;
use std::process::ExitCode;

use dbfleet_core::registry;

use crate::output;

pub fn run(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = super::load(config)?;
    let mut table =
        output::table(["environment", "driver", "default", "enabled", "read-only", "target", "description"]);
    for env in &config.environments {
        let target = registry::find_driver(&env.driver).map(|d| d.target(env)).unwrap_or_default();
        table.add_row([
            env.name.clone(),
            env.driver.clone(),
            output::yes_no(config.default_environment.as_deref() == Some(env.name.as_str())),
            output::yes_no(env.enabled),
            output::yes_no(env.read_only),
            target,
            env.description.clone().unwrap_or_default(),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}
