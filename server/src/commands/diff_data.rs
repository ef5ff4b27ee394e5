use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use dbfleet_core::catalog::TableRef;
use dbfleet_core::diff::{DataDiff, DiffMethod, DiffProgress, DiffRequest, DiffSource};
use dbfleet_core::fleet::{Fleet, StartOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{DiffDataArgs, DiffMethodArg, Format};
use crate::output::{write_column_differences, write_row_differences};

/// Exit codes: 0 identical, 1 the comparison failed, 3 the rows differ.
pub async fn run(config: Option<&Path>, args: DiffDataArgs) -> anyhow::Result<ExitCode> {
    if matches!(args.format, Format::Ndjson | Format::Csv) {
        anyhow::bail!("diff-data prints as a table or as json (--format table|json)");
    }
    let mut config = super::load(config)?;
    for name in &args.environments {
        if !config.environments.iter().any(|env| &env.name == name) {
            anyhow::bail!("no environment named '{name}' in the configuration");
        }
    }
    // Only the compared environments are connected.
    config.environments.retain(|env| args.environments.contains(&env.name));
    let source = match (args.table, args.query) {
        (Some(table), _) => DiffSource::Table(TableRef::new(args.schema, table)),
        (None, Some(query)) => DiffSource::Query(query),
        (None, None) => anyhow::bail!("give --table or --query"),
    };
    let mut request = DiffRequest::new(args.environments, source);
    request.key_columns = args.key_columns;
    request.columns = args.columns;
    request.filter = args.filter;
    request.max_differences = args.max_differences;
    request.verify = args.verify;
    request.method = match args.method {
        DiffMethodArg::Auto => DiffMethod::Auto,
        DiffMethodArg::Bisect => DiffMethod::Bisect,
        DiffMethodArg::Merge => DiffMethod::Merge,
    };
    let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..StartOptions::default() })?;
    fleet.wait_ready().await;
    let progress = progress_bar();
    let outcome = fleet
        .diff_data(&request, &|report: DiffProgress| {
            if let Some(total) = report.rows_total {
                progress.set_length(total);
            }
            progress.set_position(report.rows_compared);
        })
        .await;
    progress.finish_and_clear();
    fleet.shutdown().await;
    let diff = outcome?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &diff)?;
        writeln!(out)?;
    } else {
        write_diff(&mut out, &diff)?;
    }
    out.flush()?;
    Ok(if diff.identical { ExitCode::SUCCESS } else { ExitCode::from(3) })
}

/// Rows compared out of the total, on stderr; indicatif draws nothing when
/// stderr is not a terminal.
fn progress_bar() -> ProgressBar {
    let progress = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    let style = ProgressStyle::with_template("{wide_bar} {human_pos}/{human_len} rows compared in {elapsed}")
        .expect("a valid progress template");
    progress.set_style(style);
    progress
}

fn write_diff(out: &mut impl Write, diff: &DataDiff) -> anyhow::Result<()> {
    let compared = diff.compared.join(", ");
    let counts: Vec<String> = diff
        .compared
        .iter()
        .filter_map(|env| diff.row_counts.get(env).map(|n| format!("{env} {n}")))
        .collect();
    let method = match diff.method {
        DiffMethod::Merge => "merge",
        _ => "bisect",
    };
    if diff.identical {
        writeln!(out, "identical: {compared} have the same rows (rows: {})", counts.join(", "))?;
    } else {
        writeln!(
            out,
            "differences between {compared}: missing rows {}, changed rows {}, duplicate keys {} (rows: {})",
            diff.rows_missing,
            diff.rows_changed,
            diff.duplicate_keys,
            counts.join(", ")
        )?;
    }
    for (env, err) in &diff.errors {
        writeln!(out, "{env}: not compared: {}: {}", err.kind, err.message)?;
    }
    write_column_differences(out, &diff.column_differences)?;
    write_row_differences(out, &diff.differences)?;
    if diff.differences_truncated {
        writeln!(
            out,
            "  … {} more differences (raise --max-differences to list them)",
            diff.total_differences - diff.differences.len() as u64
        )?;
    }
    writeln!(
        out,
        "compared by {} ({method}: {}) in {:.0} ms",
        diff.key_columns.join(", "),
        diff.method_reason,
        diff.stats.elapsed_ms
    )?;
    if !diff.consistency.changes_ruled_out {
        writeln!(out, "note: {}", diff.consistency.note)?;
    }
    Ok(())
}
