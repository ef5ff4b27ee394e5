use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use dbfleet_core::Value;
use dbfleet_core::fleet::{Fleet, QueryRequest, StartOptions};

use crate::cli::{Format, QueryArgs};
use crate::output;

pub async fn run(config: Option<&Path>, args: QueryArgs) -> anyhow::Result<ExitCode> {
    let mut config = super::load(config)?;
    let params = parse_params(args.params.as_deref())?;
    let name = args
        .environment
        .clone()
        .or_else(|| config.default_environment.clone())
        .context("no environment given (-e ENV) and no default_environment configured")?;
    if config.environment(&name).is_none() {
        let names: Vec<&str> = config.environments.iter().map(|env| env.name.as_str()).collect();
        anyhow::bail!("no environment named '{name}'; configured: {}", names.join(", "));
    }
    // Connect only the environment asked for.
    config.environments.retain(|env| env.name == name);
    let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..StartOptions::default() })?;
    fleet.wait_ready().await;
    let env = fleet.environment(Some(&name))?;

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Table | Format::Json => {
            let request = QueryRequest { sql: args.sql, params, max_rows: args.max_rows };
            let result = env.query(&request).await?;
            if args.format == Format::Json {
                serde_json::to_writer_pretty(&mut out, &result)?;
                writeln!(out)?;
            } else {
                output::write_result_table(&mut out, &result)?;
            }
        }
        Format::Ndjson | Format::Csv => {
            let max_rows = args.max_rows.unwrap_or(env.config().max_rows).min(env.config().max_rows);
            let stream = env.stream(&args.sql, params).await?;
            let written = if args.format == Format::Csv {
                output::stream_csv(&mut out, stream, max_rows).await?
            } else {
                output::stream_ndjson(&mut out, stream, max_rows).await?
            };
            if written.truncated {
                eprintln!(
                    "output stopped at {} rows (max_rows); raise --max-rows (up to the environment's max_rows) or narrow the query",
                    written.rows
                );
            }
        }
    }
    out.flush()?;
    fleet.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

fn parse_params(text: Option<&str>) -> anyhow::Result<Vec<Value>> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let json: serde_json::Value = serde_json::from_str(text).context("--params must be a JSON array")?;
    let items = json.as_array().context("--params must be a JSON array, e.g. '[1, \"a\"]'")?;
    Ok(items.iter().map(Value::from_json_param).collect())
}
