use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use dbfleet_core::QueryRequest;
use dbfleet_core::compare::CompareOptions;
use dbfleet_core::fleet::{Fleet, StartOptions};
use dbfleet_core::{Config, Value};

use crate::cli::{Format, QueryArgs};
use crate::output;
use crate::responses::{MultiQueryAnswer, QueryAnswer};

pub async fn run(config: Option<&Path>, args: QueryArgs) -> anyhow::Result<ExitCode> {
    let mut config = super::load(config)?;
    let params = parse_params(args.params.as_deref())?;
    if args.all || args.environments.len() > 1 {
        return run_many(config, args, params).await;
    }
    let name = args
        .environments
        .first()
        .cloned()
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
                serde_json::to_writer_pretty(&mut out, &QueryAnswer::new(result))?;
                writeln!(out)?;
            } else {
                output::write_result_table(&mut out, &result)?;
            }
        }
        Format::Ndjson | Format::Csv => {
            let max_rows = args.max_rows.unwrap_or(env.config().max_rows).min(env.config().max_rows);
            let stream = env.stream(&args.sql, params).await?;
            // stdout is line-buffered; a buffer saves a write per row.
            let mut out = BufWriter::new(&mut out);
            let written = if args.format == Format::Csv {
                output::stream_csv(&mut out, stream, max_rows).await?
            } else {
                output::stream_ndjson(&mut out, stream, max_rows).await?
            };
            out.flush()?;
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

/// Exit codes: 0 every environment answered (and, with `--compare`, agreed),
/// 1 some environment failed, 3 all answered but the results differ.
async fn run_many(mut config: Config, args: QueryArgs, params: Vec<Value>) -> anyhow::Result<ExitCode> {
    match args.format {
        Format::Csv => anyhow::bail!(
            "several environments stream as ndjson (each line tagged with its environment); csv takes one environment"
        ),
        Format::Ndjson if args.compare => {
            anyhow::bail!("--compare prints as a table or as json (--format table|json)")
        }
        _ => {}
    }
    let requested = if args.all { None } else { Some(args.environments.clone()) };
    // Connect only what is asked for; names that do not exist are reported
    // per environment by the fan-out.
    if let Some(names) = &requested {
        config.environments.retain(|env| names.contains(&env.name));
    }
    let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..StartOptions::default() })?;
    fleet.wait_ready().await;
    if args.format == Format::Ndjson {
        let events = fleet.stream_many(requested.as_deref(), &args.sql, &params, args.max_rows);
        let mut out = BufWriter::new(std::io::stdout().lock());
        let failed = output::stream_many_ndjson(&mut out, events).await?;
        out.flush()?;
        fleet.shutdown().await;
        return Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let request = QueryRequest { sql: args.sql.clone(), params, max_rows: args.max_rows };
    let outcome = fleet.query_many(requested.as_deref(), &request).await;
    let options = CompareOptions {
        key_columns: args.keys.clone(),
        max_differences: args.max_differences,
        ordered: false,
    };
    let comparison = match (args.compare, outcome.results.len()) {
        (false, _) => None,
        (true, n) if n < 2 => {
            eprintln!("nothing to compare: {n} environment(s) answered");
            None
        }
        (true, _) => Some(outcome.compare(&args.sql, &options)?),
    };
    let answer = MultiQueryAnswer::new(outcome, comparison);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &answer)?;
        writeln!(out)?;
    } else {
        for name in &answer.summary.environments {
            writeln!(out, "== {name} ==")?;
            match (answer.results.get(name), answer.errors.get(name)) {
                (Some(result), _) => output::write_result_table(&mut out, result)?,
                (_, Some(err)) => writeln!(out, "error: {}: {}", err.kind, err.message)?,
                (None, None) => {}
            }
        }
        if let Some(comparison) = &answer.comparison {
            writeln!(out)?;
            output::write_comparison(&mut out, comparison)?;
        }
    }
    out.flush()?;
    fleet.shutdown().await;
    Ok(if !answer.errors.is_empty() {
        ExitCode::FAILURE
    } else if answer.comparison.is_some_and(|c| !c.identical) {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn parse_params(text: Option<&str>) -> anyhow::Result<Vec<Value>> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let json: serde_json::Value = serde_json::from_str(text).context("--params must be a JSON array")?;
    let items = json.as_array().context("--params must be a JSON array, e.g. '[1, \"a\"]'")?;
    Ok(items.iter().map(Value::from_json_param).collect())
}
