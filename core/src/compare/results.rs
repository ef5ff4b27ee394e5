//! Comparing one query's results across environments.
//!
//! Values are compared after normalisation, so that engines compare fairly:
//! every number by its exact decimal value (an `int4` 5, a MySQL `INT` 5, a
//! SQLite INTEGER 5 and a decimal `5.00` are equal; booleans count as 1 and 0),
//! times at microsecond precision in UTC, UUIDs as lowercase text, JSON by
//! content, text exactly.
//!
//! Differences are reported per row with a presence map, which reads the same
//! for two environments or ten: a row (by key, or by value without keys)
//! names the environments that have it and those that lack it; a changed row
//! names the column and each environment's value.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::DbError;
use crate::result::QueryResult;
use crate::value::{LogicalType, Value};

pub const DEFAULT_MAX_DIFFERENCES: usize = 100;

#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Columns that identify a row. Without keys, rows compare as multisets.
    pub key_columns: Vec<String>,
    /// How many row differences to list; all are counted.
    pub max_differences: usize,
    /// The SQL orders its rows: also report rows that come in another order.
    pub ordered: bool,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions { key_columns: Vec::new(), max_differences: DEFAULT_MAX_DIFFERENCES, ordered: false }
    }
}

/// A value in the form that decides equality across engines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Normalized {
    Null,
    Number(String),
    Text(String),
    Bytes(Vec<u8>),
    Json(String),
}

pub fn normalize(value: &Value) -> Normalized {
    match value {
        Value::Null => Normalized::Null,
        Value::Bool(b) => Normalized::Number(if *b { "1" } else { "0" }.into()),
        Value::Int(i) => Normalized::Number(i.to_string()),
        Value::UInt(u) => Normalized::Number(u.to_string()),
        Value::Float(f) if f.is_finite() => Normalized::Number(canonical_decimal(&f.to_string())),
        Value::Float(f) => Normalized::Text(Value::Float(*f).to_text()),
        Value::Decimal(d) => Normalized::Number(canonical_decimal(d)),
        Value::Text(t) | Value::Other(t) => Normalized::Text(t.clone()),
        Value::Bytes(b) => Normalized::Bytes(b.clone()),
        Value::Date(d) => Normalized::Text(d.format("%Y-%m-%d").to_string()),
        Value::Time(t) => Normalized::Text(t.format("%H:%M:%S%.6f").to_string()),
        Value::Timestamp(ts) => Normalized::Text(ts.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
        Value::Timestamptz(ts) => Normalized::Text(ts.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
        Value::Uuid(u) => Normalized::Text(u.hyphenated().to_string()),
        Value::Json(j) => Normalized::Json(j.to_string()),
        Value::Array(items) => {
            Normalized::Json(serde_json::Value::Array(items.iter().map(Value::to_json).collect()).to_string())
        }
    }
}

/// `012.500` → `12.5`, `-0.0` → `0`; text that is not a plain decimal is kept.
fn canonical_decimal(text: &str) -> String {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.chars().chain(fraction.chars()).all(|c| c.is_ascii_digit())
    {
        return text.to_owned();
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let magnitude = match (whole.is_empty(), fraction.is_empty()) {
        (true, true) => return "0".to_owned(),
        (_, true) => whole.to_owned(),
        (true, false) => format!("0.{fraction}"),
        (false, false) => format!("{whole}.{fraction}"),
    };
    if negative { format!("-{magnitude}") } else { magnitude }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Comparison {
    /// True only when every compared environment returned the same columns
    /// and the same rows.
    pub identical: bool,
    /// The environments compared, in the order asked for.
    pub compared: Vec<String>,
    pub row_counts: BTreeMap<String, usize>,
    /// Some result stopped at its row limit: rows beyond it were not compared.
    pub partial: bool,
    pub column_differences: Vec<ColumnDifference>,
    pub differences: Vec<RowDifference>,
    /// Every row difference, counted, including those not listed.
    pub total_differences: usize,
    pub differences_truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnDifference {
    Missing { column: String, present_in: Vec<String>, missing_from: Vec<String> },
    LogicalType { column: String, logical_types: BTreeMap<String, LogicalType> },
}

/// A row, as column name → value.
pub type RowMap = BTreeMap<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RowDifference {
    /// The row with this key exists only in some environments.
    Missing { key: RowMap, present_in: Vec<String>, missing_from: Vec<String> },
    /// The row with this key has other values in some environments.
    Changed { key: RowMap, column: String, values: BTreeMap<String, Value> },
    /// Without keys: a row that occurs a different number of times.
    Count { row: RowMap, counts: BTreeMap<String, usize> },
    /// The same rows in another order; the first position where they differ.
    Order { position: usize, rows: BTreeMap<String, RowMap> },
    /// A key that is not unique within one environment.
    DuplicateKey { key: RowMap, environment: String, count: usize },
}

struct Side<'a> {
    name: &'a str,
    result: &'a QueryResult,
    /// Index in this result of each common column.
    positions: Vec<usize>,
}

impl Side<'_> {
    fn normalized(&self, row: usize, columns: &[usize]) -> Vec<Normalized> {
        columns.iter().map(|&c| normalize(&self.result.rows[row][self.positions[c]])).collect()
    }

    fn row_map(&self, row: usize, names: &[String], columns: &[usize]) -> RowMap {
        columns
            .iter()
            .map(|&c| (names[c].clone(), self.result.rows[row][self.positions[c]].clone()))
            .collect()
    }
}

/// Compares two or more results. Column names match case-insensitively (an
/// unquoted `ID` is `id` in PostgreSQL and `ID` in MySQL).
pub fn compare(results: &[(&str, &QueryResult)], options: &CompareOptions) -> Result<Comparison, DbError> {
    if results.len() < 2 {
        return Err(DbError::invalid_argument(format!(
            "a comparison needs at least two results, got {}",
            results.len()
        )));
    }
    let names: Vec<&str> = results.iter().map(|(name, _)| *name).collect();
    let lowered: Vec<Vec<String>> =
        results.iter().map(|(_, r)| r.columns.iter().map(|c| c.name.to_lowercase()).collect()).collect();

    let mut all_columns: Vec<String> = Vec::new();
    for columns in &lowered {
        for column in columns {
            if !all_columns.contains(column) {
                all_columns.push(column.clone());
            }
        }
    }
    let mut column_differences = Vec::new();
    let mut common: Vec<String> = Vec::new();
    for column in &all_columns {
        let (present_in, missing_from): (Vec<&str>, Vec<&str>) = names
            .iter()
            .zip(&lowered)
            .map(|(name, cols)| (*name, cols.contains(column)))
            .fold((Vec::new(), Vec::new()), |(mut yes, mut no), (name, has)| {
                if has {
                    yes.push(name)
                } else {
                    no.push(name)
                }
                (yes, no)
            });
        if missing_from.is_empty() {
            common.push(column.clone());
        } else {
            column_differences.push(ColumnDifference::Missing {
                column: column.clone(),
                present_in: present_in.iter().map(|s| s.to_string()).collect(),
                missing_from: missing_from.iter().map(|s| s.to_string()).collect(),
            });
        }
    }
    let sides: Vec<Side> = results
        .iter()
        .zip(&lowered)
        .map(|((name, result), cols)| Side {
            name,
            result,
            positions: common
                .iter()
                .map(|c| cols.iter().position(|x| x == c).expect("common column"))
                .collect(),
        })
        .collect();
    for (c, column) in common.iter().enumerate() {
        let types: BTreeMap<String, LogicalType> = sides
            .iter()
            .map(|side| (side.name.to_owned(), side.result.columns[side.positions[c]].logical_type))
            .filter(|(_, t)| *t != LogicalType::Null)
            .collect();
        let mut distinct: Vec<LogicalType> = types.values().copied().collect();
        distinct.dedup();
        distinct.sort();
        distinct.dedup();
        if distinct.len() > 1 {
            column_differences
                .push(ColumnDifference::LogicalType { column: column.clone(), logical_types: types });
        }
    }

    let keys: Vec<usize> = options
        .key_columns
        .iter()
        .map(|key| {
            common.iter().position(|c| *c == key.to_lowercase()).ok_or_else(|| {
                DbError::invalid_argument(format!("key column '{key}' is not in every result"))
            })
        })
        .collect::<Result<_, _>>()?;

    let mut differences = Differences::new(options.max_differences);
    if keys.is_empty() {
        compare_as_multisets(&sides, &common, options.ordered, &mut differences);
    } else {
        compare_by_key(&sides, &common, &keys, &mut differences);
    }

    let total_differences = differences.total;
    Ok(Comparison {
        identical: column_differences.is_empty() && total_differences == 0,
        compared: names.iter().map(|s| s.to_string()).collect(),
        row_counts: sides.iter().map(|s| (s.name.to_owned(), s.result.rows.len())).collect(),
        partial: sides.iter().any(|s| s.result.truncated),
        column_differences,
        differences_truncated: total_differences > differences.listed.len(),
        differences: differences.listed,
        total_differences,
    })
}

/// Counts every difference, keeps the first `limit`.
struct Differences {
    listed: Vec<RowDifference>,
    total: usize,
    limit: usize,
}

impl Differences {
    fn new(limit: usize) -> Self {
        Differences { listed: Vec::new(), total: 0, limit }
    }

    fn push(&mut self, make: impl FnOnce() -> RowDifference) {
        self.total += 1;
        if self.listed.len() < self.limit {
            self.listed.push(make());
        }
    }
}

fn compare_by_key(sides: &[Side], names: &[String], keys: &[usize], out: &mut Differences) {
    let others: Vec<usize> = (0..names.len()).filter(|c| !keys.contains(c)).collect();
    // key → for each side, the rows with that key.
    let mut by_key: BTreeMap<Vec<Normalized>, Vec<Vec<usize>>> = BTreeMap::new();
    for (s, side) in sides.iter().enumerate() {
        for row in 0..side.result.rows.len() {
            by_key.entry(side.normalized(row, keys)).or_insert_with(|| vec![Vec::new(); sides.len()])[s]
                .push(row);
        }
    }
    for rows in by_key.values() {
        let (s0, r0) =
            rows.iter().enumerate().find_map(|(s, r)| r.first().map(|&r| (s, r))).expect("key seen");
        let key = || sides[s0].row_map(r0, names, keys);
        for (s, r) in rows.iter().enumerate() {
            if r.len() > 1 {
                out.push(|| RowDifference::DuplicateKey {
                    key: key(),
                    environment: sides[s].name.to_owned(),
                    count: r.len(),
                });
            }
        }
        let present: Vec<usize> = (0..sides.len()).filter(|&s| !rows[s].is_empty()).collect();
        if present.len() < sides.len() {
            out.push(|| RowDifference::Missing {
                key: key(),
                present_in: present.iter().map(|&s| sides[s].name.to_owned()).collect(),
                missing_from: (0..sides.len())
                    .filter(|s| rows[*s].is_empty())
                    .map(|s| sides[s].name.to_owned())
                    .collect(),
            });
        }
        for &c in &others {
            let first = normalize(
                &sides[present[0]].result.rows[rows[present[0]][0]][sides[present[0]].positions[c]],
            );
            let differs = present
                .iter()
                .any(|&s| normalize(&sides[s].result.rows[rows[s][0]][sides[s].positions[c]]) != first);
            if differs {
                out.push(|| RowDifference::Changed {
                    key: key(),
                    column: names[c].clone(),
                    values: present
                        .iter()
                        .map(|&s| {
                            (
                                sides[s].name.to_owned(),
                                sides[s].result.rows[rows[s][0]][sides[s].positions[c]].clone(),
                            )
                        })
                        .collect(),
                });
            }
        }
    }
}

/// How often a row occurs on each side, and one (side, row) where it does.
struct Occurrences {
    per_side: Vec<usize>,
    example: (usize, usize),
}

fn compare_as_multisets(sides: &[Side], names: &[String], ordered: bool, out: &mut Differences) {
    let all: Vec<usize> = (0..names.len()).collect();
    let mut counts: BTreeMap<Vec<Normalized>, Occurrences> = BTreeMap::new();
    for (s, side) in sides.iter().enumerate() {
        for row in 0..side.result.rows.len() {
            let entry = counts
                .entry(side.normalized(row, &all))
                .or_insert_with(|| Occurrences { per_side: vec![0; sides.len()], example: (s, row) });
            entry.per_side[s] += 1;
        }
    }
    let before = out.total;
    for Occurrences { per_side, example: (s, row) } in counts.values() {
        if per_side.iter().any(|n| *n != per_side[0]) {
            out.push(|| RowDifference::Count {
                row: sides[*s].row_map(*row, names, &all),
                counts: sides.iter().zip(per_side).map(|(side, n)| (side.name.to_owned(), *n)).collect(),
            });
        }
    }
    if ordered && out.total == before {
        let len = sides[0].result.rows.len();
        let position = (0..len).find(|&row| {
            let first = sides[0].normalized(row, &all);
            sides.iter().any(|side| side.normalized(row, &all) != first)
        });
        if let Some(position) = position {
            out.push(|| RowDifference::Order {
                position,
                rows: sides
                    .iter()
                    .map(|side| (side.name.to_owned(), side.row_map(position, names, &all)))
                    .collect(),
            });
        }
    }
}

#[cfg(test)]
mod tests;
