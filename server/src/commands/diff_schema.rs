use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use dbfleet_core::compare::{SchemaComparison, SchemaDifference};
use dbfleet_core::fleet::{Fleet, StartOptions};

use crate::cli::{DiffSchemaArgs, Format};

/// Exit codes: 0 identical, 1 an environment failed or too few answered,
/// 3 the schemas differ.
pub async fn run(config: Option<&Path>, args: DiffSchemaArgs) -> anyhow::Result<ExitCode> {
    if matches!(args.format, Format::Ndjson | Format::Csv) {
        anyhow::bail!("diff-schema prints as a table or as json (--format table|json)");
    }
    let mut config = super::load(config)?;
    let requested = (!args.environments.is_empty()).then(|| args.environments.clone());
    if let Some(names) = &requested {
        if names.len() < 2 {
            anyhow::bail!("name at least two environments (-e A -e B), or none for all");
        }
        config.environments.retain(|env| names.contains(&env.name));
    }
    let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..StartOptions::default() })?;
    fleet.wait_ready().await;
    let report = fleet.compare_schema(requested.as_deref(), args.table.as_deref()).await;
    fleet.shutdown().await;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        for (env, err) in &report.errors {
            writeln!(out, "{env}: error: {}: {}", err.kind, err.message)?;
        }
        match &report.comparison {
            Some(comparison) => write_schema_comparison(&mut out, comparison)?,
            None => writeln!(out, "nothing to compare: fewer than two environments answered")?,
        }
    }
    out.flush()?;
    Ok(match &report.comparison {
        _ if !report.errors.is_empty() => ExitCode::FAILURE,
        None => ExitCode::FAILURE,
        Some(comparison) if comparison.identical => ExitCode::SUCCESS,
        Some(_) => ExitCode::from(3),
    })
}

fn write_schema_comparison(out: &mut impl Write, comparison: &SchemaComparison) -> std::io::Result<()> {
    let compared = comparison.compared.join(", ");
    if comparison.identical {
        writeln!(out, "identical schemas: {compared}")?;
    } else {
        writeln!(out, "schema differences between {compared}:")?;
    }
    for presence in &comparison.missing_tables {
        writeln!(
            out,
            "table {}: only in {} (missing from {})",
            presence.table,
            presence.present_in.join(", "),
            presence.missing_from.join(", ")
        )?;
    }
    let values = |map: Vec<(String, String)>| {
        map.into_iter().map(|(e, v)| format!("{e}={v}")).collect::<Vec<_>>().join(", ")
    };
    for table in &comparison.tables {
        writeln!(out, "table {}:", table.table)?;
        for difference in &table.differences {
            let line = match difference {
                SchemaDifference::MissingColumn { column, present_in, missing_from } => format!(
                    "column {column}: only in {} (missing from {})",
                    present_in.join(", "),
                    missing_from.join(", ")
                ),
                SchemaDifference::LogicalType { column, values: v } => {
                    format!(
                        "column {column}: type {}",
                        values(v.iter().map(|(e, t)| (e.clone(), t.to_string())).collect())
                    )
                }
                SchemaDifference::NativeType { column, values: v } => {
                    let logical_differs = table
                        .differences
                        .iter()
                        .any(|d| matches!(d, SchemaDifference::LogicalType { column: c, .. } if c == column));
                    format!(
                        "column {column}: native type {}{}",
                        values(v.iter().map(|(e, t)| (e.clone(), t.clone())).collect()),
                        if logical_differs { "" } else { " (same logical type)" }
                    )
                }
                SchemaDifference::Nullable { column, values: v } => format!(
                    "column {column}: nullable {}",
                    values(v.iter().map(|(e, n)| (e.clone(), n.to_string())).collect())
                ),
                SchemaDifference::Default { column, values: v } => format!(
                    "column {column}: default {}",
                    values(
                        v.iter()
                            .map(|(e, d)| (e.clone(), d.clone().unwrap_or_else(|| "none".into())))
                            .collect()
                    )
                ),
                SchemaDifference::PrimaryKey { values: v } => format!(
                    "primary key {}",
                    values(v.iter().map(|(e, k)| (e.clone(), format!("({})", k.join(", ")))).collect())
                ),
                SchemaDifference::Index { columns, unique, present_in, missing_from } => format!(
                    "{}index ({}): only in {} (missing from {})",
                    if *unique { "unique " } else { "" },
                    columns.join(", "),
                    present_in.join(", "),
                    missing_from.join(", ")
                ),
                SchemaDifference::ForeignKey {
                    columns,
                    referenced_table,
                    referenced_columns,
                    present_in,
                    missing_from,
                } => {
                    format!(
                        "foreign key ({}) → {referenced_table} ({}): only in {} (missing from {})",
                        columns.join(", "),
                        referenced_columns.join(", "),
                        present_in.join(", "),
                        missing_from.join(", ")
                    )
                }
            };
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}
