//! Rendering results for people (tables) and programs (JSON, NDJSON, CSV).

use std::collections::HashMap;
use std::io::Write;

use comfy_table::{ContentArrangement, Table, presets};
use dbfleet_core::QueryResult;
use dbfleet_core::compare::{ColumnDifference, Comparison, RowDifference};
use dbfleet_core::fleet::StreamEvent;
use dbfleet_core::{Bound, DbError, RowStream, Value};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn table<'a>(header: impl IntoIterator<Item = &'a str>) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.into_iter().collect::<Vec<_>>());
    table
}

pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

fn cell(value: &Value) -> String {
    if value.is_null() { "NULL".to_owned() } else { value.to_text() }
}

pub fn write_result_table(out: &mut impl Write, result: &QueryResult) -> anyhow::Result<()> {
    if let Some(affected) = result.affected_rows {
        writeln!(out, "{affected} rows affected ({:.1} ms)", result.execution_time_ms)?;
        return Ok(());
    }
    let mut table = table(result.columns.iter().map(|c| c.name.as_str()));
    for row in &result.rows {
        table.add_row(row.iter().map(cell));
    }
    writeln!(out, "{table}")?;
    let plural = if result.row_count == 1 { "" } else { "s" };
    write!(
        out,
        "{} row{plural} from {} ({:.1} ms)",
        result.row_count, result.environment, result.execution_time_ms
    )?;
    match result.truncated_by {
        Some(Bound::MaxRows) => write!(
            out,
            "; truncated at max_rows = {}: narrow the query or raise --max-rows",
            result.max_rows
        )?,
        Some(Bound::MaxResultBytes) => write!(
            out,
            "; truncated at max_result_bytes = {}: select fewer or shorter columns (or export with -f ndjson/csv)",
            result.max_result_bytes
        )?,
        None => {}
    }
    if result.values_cut > 0 {
        write!(out, "; {} value(s) cut to fit max_result_bytes", result.values_cut)?;
    }
    if result.more_result_sets {
        write!(out, "; more result sets followed, not shown: run the statements one at a time")?;
    }
    writeln!(out)?;
    Ok(())
}

/// A comparison for people: what differs, environment by environment.
pub fn write_comparison(out: &mut impl Write, comparison: &Comparison) -> anyhow::Result<()> {
    let counts: Vec<String> = comparison
        .compared
        .iter()
        .filter_map(|env| comparison.row_counts.get(env).map(|n| format!("{env} {n}")))
        .collect();
    let compared = comparison.compared.join(", ");
    if comparison.identical {
        writeln!(out, "identical: {compared} return the same columns and rows ({})", counts.join(", "))?;
    } else {
        let rows = comparison.total_differences;
        let columns = comparison.column_differences.len();
        writeln!(
            out,
            "differences between {compared}: {columns} in columns, {rows} in rows (rows: {})",
            counts.join(", ")
        )?;
    }
    if comparison.partial {
        writeln!(out, "note: some results stopped at max_rows; rows beyond it were not compared")?;
    }
    write_column_differences(out, &comparison.column_differences)?;
    write_row_differences(out, &comparison.differences)?;
    if comparison.differences_truncated {
        writeln!(
            out,
            "  … {} more row differences (raise --max-differences to list them)",
            comparison.total_differences - comparison.differences.len()
        )?;
    }
    Ok(())
}

/// One line per column difference, indented.
pub fn write_column_differences(
    out: &mut impl Write,
    differences: &[ColumnDifference],
) -> anyhow::Result<()> {
    for difference in differences {
        match difference {
            ColumnDifference::Missing { column, present_in, missing_from } => writeln!(
                out,
                "  column {column}: only in {} (missing from {})",
                present_in.join(", "),
                missing_from.join(", ")
            )?,
            ColumnDifference::LogicalType { column, logical_types } => {
                let types: Vec<String> = logical_types.iter().map(|(env, t)| format!("{env}={t}")).collect();
                writeln!(out, "  column {column}: type {}", types.join(", "))?
            }
        }
    }
    Ok(())
}

/// One line per row difference, indented.
pub fn write_row_differences(out: &mut impl Write, differences: &[RowDifference]) -> anyhow::Result<()> {
    for difference in differences {
        match difference {
            RowDifference::Missing { key, present_in, missing_from } => writeln!(
                out,
                "  row {}: only in {} (missing from {})",
                row_text(key),
                present_in.join(", "),
                missing_from.join(", ")
            )?,
            RowDifference::Changed { key, column, values } => {
                let values: Vec<String> =
                    values.iter().map(|(env, v)| format!("{env}={}", cell(v))).collect();
                writeln!(out, "  row {}: {column} differs: {}", row_text(key), values.join(", "))?
            }
            RowDifference::Count { row, counts } => {
                let counts: Vec<String> = counts.iter().map(|(env, n)| format!("{env} {n}×")).collect();
                writeln!(out, "  row {}: occurs {}", row_text(row), counts.join(", "))?
            }
            RowDifference::Order { position, .. } => {
                writeln!(out, "  same rows in another order, from row {}", position + 1)?
            }
            RowDifference::DuplicateKey { key, environment, count } => {
                writeln!(out, "  key {} occurs {count} times in {environment}", row_text(key))?
            }
        }
    }
    Ok(())
}

fn row_text(row: &dbfleet_core::compare::RowMap) -> String {
    let parts: Vec<String> = row.iter().map(|(column, value)| format!("{column}={}", cell(value))).collect();
    parts.join(" ")
}

/// How much a streamed export wrote.
pub struct Written {
    pub rows: u64,
    pub truncated: bool,
}

/// Writes rows as they arrive, one JSON object per line; memory stays at one chunk.
pub async fn stream_ndjson(
    out: &mut impl Write,
    stream: RowStream,
    max_rows: u64,
) -> anyhow::Result<Written> {
    let names = unique_names(stream.columns().iter().map(|c| c.name.as_str()));
    // Each line is encoded into one buffer and written whole: serde_json
    // writing to `out` itself makes a call through `io::Write` per token.
    let mut line = Vec::new();
    for_each_row(stream, max_rows, |row| {
        line.clear();
        serde_json::to_writer(&mut line, &RowObject { names: &names, values: row })?;
        line.push(b'\n');
        out.write_all(&line)?;
        Ok(())
    })
    .await
}

/// Writes a CSV header, then rows as they arrive; NULL is an empty field.
pub async fn stream_csv(out: &mut impl Write, stream: RowStream, max_rows: u64) -> anyhow::Result<Written> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(stream.columns().iter().map(|c| c.name.as_str()))?;
    let mut text = String::new();
    let written = for_each_row(stream, max_rows, |row| {
        for value in row {
            text.clear();
            value.write_text(&mut text);
            writer.write_field(text.as_bytes())?;
        }
        writer.write_record(None::<&[u8]>)?;
        Ok(())
    })
    .await?;
    writer.flush()?;
    Ok(written)
}

async fn for_each_row(
    mut stream: RowStream,
    max_rows: u64,
    mut write: impl FnMut(&[Value]) -> anyhow::Result<()>,
) -> anyhow::Result<Written> {
    let progress = row_progress();
    let mut rows = 0;
    while let Some(chunk) = stream.next_chunk().await {
        let chunk = chunk.map_err(|err: DbError| anyhow::Error::new(err))?;
        for row in &chunk {
            if rows == max_rows {
                progress.finish_and_clear();
                return Ok(Written { rows, truncated: true });
            }
            write(row)?;
            rows += 1;
        }
        progress.set_position(rows);
    }
    progress.finish_and_clear();
    Ok(Written { rows, truncated: false })
}

/// A row counter on stderr while an export runs. indicatif draws nothing
/// when stderr is not a terminal, so logs and pipes stay clean.
fn row_progress() -> ProgressBar {
    let progress = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    let style = ProgressStyle::with_template("{spinner} {human_pos} rows written in {elapsed} {msg}")
        .expect("a valid progress template");
    progress.set_style(style);
    progress
}

/// Writes a fan-out stream as NDJSON, one line per event, each tagged with its
/// environment ([`TaggedLines`]). Returns the environments that failed.
/// Memory stays at one chunk per environment.
pub async fn stream_many_ndjson(
    out: &mut impl Write,
    mut events: impl futures::Stream<Item = StreamEvent> + Unpin,
) -> anyhow::Result<Vec<String>> {
    let mut lines = TaggedLines::default();
    let mut failed = Vec::new();
    let mut finished = 0;
    let progress = row_progress();
    while let Some(event) = events.next().await {
        lines.write(out, &event)?;
        match event {
            StreamEvent::Columns { .. } => {}
            StreamEvent::Rows { rows, .. } => progress.inc(rows.len() as u64),
            StreamEvent::End { .. } | StreamEvent::Error { .. } => {
                if let StreamEvent::Error { environment, .. } = event {
                    failed.push(environment);
                }
                finished += 1;
                progress.set_message(format!("({finished} environments finished)"));
            }
        }
    }
    progress.finish_and_clear();
    Ok(failed)
}

/// A fan-out stream as NDJSON, each line tagged with its environment:
/// `columns`, then one `row` object per row, then `end` (row count, whether
/// the limit cut it) or `error`. The CLI and the console's export write the
/// same lines.
#[derive(Default)]
pub struct TaggedLines {
    names_by_env: HashMap<String, Vec<String>>,
}

impl TaggedLines {
    pub fn write(&mut self, out: &mut impl Write, event: &StreamEvent) -> anyhow::Result<()> {
        let environment = event.environment();
        match event {
            StreamEvent::Columns { columns, .. } => {
                write_tagged(out, environment, "columns", columns)?;
                self.names_by_env
                    .insert(environment.to_owned(), unique_names(columns.iter().map(|c| c.name.as_str())));
            }
            StreamEvent::Rows { rows, .. } => {
                let names = &self.names_by_env[environment];
                for row in rows {
                    write_tagged(out, environment, "row", &RowObject { names, values: row })?;
                }
            }
            StreamEvent::End { summary, .. } => write_tagged(out, environment, "end", summary)?,
            StreamEvent::Error { error, .. } => write_tagged(out, environment, "error", error)?,
        }
        Ok(())
    }
}

/// One NDJSON line `{"environment": …, "<key>": …}`, the environment first.
fn write_tagged(
    out: &mut impl Write,
    environment: &str,
    key: &str,
    value: &impl serde::Serialize,
) -> anyhow::Result<()> {
    let mut line = serde_json::Serializer::new(&mut *out);
    let mut map = serde::Serializer::serialize_map(&mut line, Some(2))?;
    serde::ser::SerializeMap::serialize_entry(&mut map, "environment", environment)?;
    serde::ser::SerializeMap::serialize_entry(&mut map, key, value)?;
    serde::ser::SerializeMap::end(map)?;
    writeln!(out)?;
    Ok(())
}

/// A row as a JSON object whose keys keep the columns' order (serde_json's
/// own map would sort them).
struct RowObject<'a> {
    names: &'a [String],
    values: &'a [Value],
}

impl serde::Serialize for RowObject<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.names.iter().zip(self.values))
    }
}

/// Column names as JSON keys: a repeated name gets a `_2`, `_3`… suffix so no
/// value is lost to a key collision (`SELECT a.id, b.id`).
fn unique_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashMap::new();
    names
        .map(|name| {
            let count = seen.entry(name).or_insert(0);
            *count += 1;
            if *count == 1 { name.to_owned() } else { format!("{name}_{count}") }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_column_names_get_suffixes() {
        assert_eq!(unique_names(["id", "name", "id", "id"].into_iter()), ["id", "name", "id_2", "id_3"]);
    }
}
