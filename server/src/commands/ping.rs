use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::cli::PingArgs;

pub async fn run(args: PingArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout_secs))
        .build()
        .context("could not set up an HTTP client")?;
    let response =
        client.get(&args.url).send().await.with_context(|| format!("{} did not answer", args.url))?;
    let status = response.status();
    println!("{} {status}", args.url);
    Ok(if status.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
