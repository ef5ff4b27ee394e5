//! `databases`, `tables` and `describe`: the catalog of one environment, or
//! of several side by side.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use dbfleet_core::fleet::PerEnvironment;
use dbfleet_core::fleet::{Fleet, StartOptions};
use dbfleet_core::{TableFilter, TableRef};
use serde::Serialize;

use crate::cli::{DescribeArgs, Format, ListArgs, TablesArgs};
use crate::output;
use crate::responses::{Listing, TableDescription};

/// Exit codes: 0 every environment answered, 1 one failed.
pub async fn databases(config: Option<&Path>, args: ListArgs) -> anyhow::Result<ExitCode> {
    let (fleet, names) = start(config, &args).await?;
    let answer = fleet.each(Some(&names), |env| async move { env.list_databases().await }).await;
    fleet.shutdown().await;
    print(&args, &names, answer, &["name", "kind", "location"], |databases| {
        databases
            .iter()
            .map(|db| vec![db.name.clone(), db.kind.clone(), db.location.clone().unwrap_or_default()])
            .collect()
    })
}

/// Exit codes: 0 every environment answered, 1 one failed.
pub async fn tables(config: Option<&Path>, args: TablesArgs) -> anyhow::Result<ExitCode> {
    let (fleet, names) = start(config, &args.list).await?;
    let filter = TableFilter::new(args.schema, args.pattern);
    let answer = fleet
        .each(Some(&names), |env| {
            let filter = filter.clone();
            async move { env.list_tables(&filter).await }
        })
        .await;
    fleet.shutdown().await;
    print(&args.list, &names, answer, &["schema", "name", "kind"], |tables| {
        tables
            .iter()
            .map(|t| vec![t.schema.clone().unwrap_or_default(), t.name.clone(), t.kind.as_str().to_owned()])
            .collect()
    })
}

pub async fn describe(config: Option<&Path>, args: DescribeArgs) -> anyhow::Result<ExitCode> {
    let list =
        ListArgs { environments: args.environment.into_iter().collect(), all: false, format: args.format };
    let (fleet, names) = start(config, &list).await?;
    let env = fleet.environment(Some(&names[0]))?;
    let described = env.describe_table(&TableRef::new(args.schema, args.table)).await;
    fleet.shutdown().await;
    let table = described?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.format == Format::Json {
        let document = TableDescription { environment: names[0].clone(), table };
        serde_json::to_writer_pretty(&mut out, &document)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let qualified = match &table.schema {
        Some(schema) => format!("{schema}.{}", table.name),
        None => table.name.clone(),
    };
    writeln!(out, "{} {qualified} in {}", table.kind.as_str(), names[0])?;
    let mut columns = output::table(["column", "type", "logical type", "nullable", "default"]);
    for column in &table.columns {
        columns.add_row(vec![
            column.name.clone(),
            column.native_type.clone(),
            column.logical_type.to_string(),
            output::yes_no(column.nullable),
            column.default.clone().unwrap_or_default(),
        ]);
    }
    writeln!(out, "{columns}")?;
    if !table.primary_key.is_empty() {
        writeln!(out, "primary key ({})", table.primary_key.join(", "))?;
    }
    for index in &table.indexes {
        let unique = if index.unique { "unique " } else { "" };
        writeln!(out, "{unique}index {} ({})", index.name, index.columns.join(", "))?;
    }
    for key in &table.foreign_keys {
        writeln!(
            out,
            "foreign key {}({}) → {} ({})",
            key.name.as_ref().map(|n| format!("{n} ")).unwrap_or_default(),
            key.columns.join(", "),
            key.referenced_table,
            key.referenced_columns.join(", ")
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Connects the environments asked for: those named, every enabled one
/// (`--all`), or the default one. Returns them in that order.
async fn start(config: Option<&Path>, args: &ListArgs) -> anyhow::Result<(Arc<Fleet>, Vec<String>)> {
    if matches!(args.format, Format::Ndjson | Format::Csv) {
        anyhow::bail!("this command prints as a table or as json (--format table|json)");
    }
    let mut config = super::load(config)?;
    let names: Vec<String> = if args.all {
        config.environments.iter().filter(|env| env.enabled).map(|env| env.name.clone()).collect()
    } else if args.environments.is_empty() {
        vec![
            config
                .default_environment
                .clone()
                .context("no environment given (-e ENV or --all) and no default_environment configured")?,
        ]
    } else {
        args.environments.clone()
    };
    // Names that do not exist are reported per environment.
    config.environments.retain(|env| names.contains(&env.name));
    let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..StartOptions::default() })?;
    fleet.wait_ready().await;
    Ok((fleet, names))
}

/// One environment: its table, or its error. Several: a section each. JSON
/// has the shapes of the MCP tools.
fn print<T: Serialize>(
    args: &ListArgs,
    names: &[String],
    answer: PerEnvironment<Vec<T>>,
    header: &[&str],
    rows: impl Fn(&[T]) -> Vec<Vec<String>>,
) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let several = args.all || names.len() > 1;
    if args.format == Format::Json {
        let failed = !answer.errors.is_empty();
        serde_json::to_writer_pretty(&mut out, &Listing::new(names, several, answer))?;
        writeln!(out)?;
        out.flush()?;
        return Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    } else {
        for name in names {
            if several {
                writeln!(out, "== {name} ==")?;
            }
            match (answer.results.get(name), answer.errors.get(name)) {
                (Some(items), _) => {
                    let mut table = output::table(header.iter().copied());
                    for row in rows(items) {
                        table.add_row(row);
                    }
                    writeln!(out, "{table}")?;
                }
                (_, Some(err)) if several => writeln!(out, "error: {}: {}", err.kind, err.message)?,
                (_, Some(err)) => eprintln!("error: [{name}] {}: {}", err.kind, err.message),
                (None, None) => {}
            }
        }
    }
    out.flush()?;
    Ok(if answer.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
