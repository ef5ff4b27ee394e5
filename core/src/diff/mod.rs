//! Comparing whole tables (or queries) across environments, at any size.
//!
//! Two ways, one answer:
//!
//! - [`bisect`]: each engine counts and checksums its rows per key range in
//!   SQL ([`DiffDialect::row_hash`], the text of [`row_text`]); only the
//!   ranges that differ are split again, and only the smallest are fetched.
//!   What crosses the network is a few rows per range, not the table.
//! - [`merge`]: every environment's rows streamed in key order and compared
//!   in step, for what an engine cannot checksum exactly (floating point,
//!   JSON) or when asked.
//!
//! Both only read, and report the differences as the result comparison does
//! ([`crate::compare::RowDifference`]): rows missing from some environments,
//! changed columns with each environment's value, keys that are not unique.

mod bisect;
mod dialect;
mod keys;
mod matching;
mod merge;
mod row_text;
mod statements;
mod tally;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

pub use dialect::{AnsiDialect, DiffColumn, DiffDialect, declared_scale, text_class};
pub use row_text::{push_value_text, row_text, text_hash};

use self::bisect::Settings;
use self::matching::Matcher;
use self::statements::{Side, SideColumn};
use self::tally::Tally;
use crate::catalog::TableRef;
use crate::compare::{ColumnDifference, RowDifference};
use crate::error::DbError;
use crate::fleet::{Environment, Fleet};
use crate::result::{QueryRequest, duration_ms};
use crate::value::LogicalType;

pub const DEFAULT_PARTS: usize = 32;
pub const DEFAULT_LEAF_ROWS: u64 = 64;

/// What to compare: a table, or the rows of a query.
#[derive(Debug, Clone)]
pub enum DiffSource {
    Table(TableRef),
    Query(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiffMethod {
    /// Checksum bisection where every engine can checksum the columns, the
    /// streaming merge otherwise.
    #[default]
    Auto,
    Bisect,
    Merge,
}

#[derive(Debug, Clone)]
pub struct DiffRequest {
    /// Two or more.
    pub environments: Vec<String>,
    pub source: DiffSource,
    /// Columns that identify a row; the primary key of the first
    /// environment's table when empty.
    pub key_columns: Vec<String>,
    /// The columns to compare besides the keys; every column when empty.
    pub columns: Vec<String>,
    /// A SQL condition the rows must meet, on every environment.
    pub filter: Option<String>,
    pub max_differences: usize,
    pub method: DiffMethod,
    /// Parts a differing range is split into.
    pub parts: usize,
    /// Ranges with at most this many rows are fetched and compared row by row.
    pub leaf_rows: u64,
    /// After a bisection, take the first checksums again (one more full
    /// read of the table on every environment) to rule out changes made
    /// while it ran.
    pub verify: bool,
}

impl DiffRequest {
    pub fn new(environments: Vec<String>, source: DiffSource) -> Self {
        DiffRequest {
            environments,
            source,
            key_columns: Vec::new(),
            columns: Vec::new(),
            filter: None,
            max_differences: crate::compare::DEFAULT_MAX_DIFFERENCES,
            method: DiffMethod::Auto,
            parts: DEFAULT_PARTS,
            leaf_rows: DEFAULT_LEAF_ROWS,
            verify: false,
        }
    }
}

/// How far a comparison has come.
#[derive(Debug, Clone)]
pub struct DiffProgress {
    pub rows_compared: u64,
    /// Known once the first checksums counted the rows.
    pub rows_total: Option<u64>,
    pub message: String,
}

pub type Progress<'a> = &'a (dyn Fn(DiffProgress) + Send + Sync);

/// What a table comparison found.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DataDiff {
    /// True only when every row and every compared column is the same on
    /// every environment.
    pub identical: bool,
    /// The environments compared, in the order asked for.
    pub compared: Vec<String>,
    pub key_columns: Vec<String>,
    /// The compared columns besides the keys.
    pub columns: Vec<String>,
    /// `bisect` or `merge`.
    pub method: DiffMethod,
    /// Why this method.
    pub method_reason: String,
    /// Rows on each environment (that meet the filter).
    pub row_counts: BTreeMap<String, u64>,
    /// Columns missing from some environments (not compared), or of other
    /// logical types (compared by normalised value).
    pub column_differences: Vec<ColumnDifference>,
    pub differences: Vec<RowDifference>,
    /// Keys missing from at least one environment.
    pub rows_missing: u64,
    /// Keys present on several environments with a column that differs.
    pub rows_changed: u64,
    /// Keys found more than once on one environment.
    pub duplicate_keys: u64,
    /// Every listed kind of difference, counted, including those not listed.
    pub total_differences: u64,
    pub differences_truncated: bool,
    /// Whether a change to the rows while they were compared is ruled out.
    pub consistency: Consistency,
    /// Environments asked for that could not be compared, and why.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, DbError>,
    pub stats: DiffStats,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Consistency {
    /// True when each environment's rows were read in one statement, or when
    /// the first checksums, taken again at the end, had not changed.
    pub changes_ruled_out: bool,
    /// Environments whose rows changed during the comparison: its
    /// differences may be out of date there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_during_comparison: Vec<String>,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DiffStats {
    /// Statements run on each environment to count and checksum (checksums,
    /// split points, extents); the statements reading rows are not counted
    /// here, their rows are in `rows_fetched`.
    pub statements: BTreeMap<String, u64>,
    /// Rows read from each environment to compare row by row.
    pub rows_fetched: BTreeMap<String, u64>,
    pub ranges_checksummed: u64,
    pub ranges_fetched: u64,
    pub elapsed_ms: f64,
}

/// The columns of the source on one environment, as its engine names them.
struct Described {
    /// The source as the statements read it: the engine's table name, quoted.
    from: String,
    columns: Vec<(String, LogicalType, String, bool)>,
    primary_key: Vec<String>,
}

impl Fleet {
    /// Compares the rows of a table or query across environments; reports
    /// how far it has come through `progress`. Dropping the future stops it,
    /// with every statement it runs.
    pub async fn diff_data(
        &self,
        request: &DiffRequest,
        progress: Progress<'_>,
    ) -> Result<DataDiff, DbError> {
        let started = Instant::now();
        let mut names: Vec<&str> = Vec::new();
        for name in &request.environments {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        if names.len() < 2 {
            return Err(DbError::invalid_argument("name at least two different environments to compare"));
        }
        if request.parts < 2 || request.leaf_rows == 0 {
            return Err(DbError::invalid_argument(
                "split ranges in at least 2 parts, down to at least 1 row",
            ));
        }
        let environments: Vec<Arc<Environment>> =
            names.iter().map(|name| self.environment(Some(name))).collect::<Result<_, _>>()?;
        let described =
            futures::future::join_all(environments.iter().map(|env| describe(env, &request.source))).await;
        let mut errors = BTreeMap::new();
        let mut answered = Vec::new();
        for (env, outcome) in environments.into_iter().zip(described) {
            match outcome {
                Ok(described) => answered.push((env, described)),
                Err(err) => {
                    errors.insert(env.name().to_owned(), err);
                }
            }
        }
        if answered.len() < 2 {
            return Err(errors
                .into_values()
                .next()
                .unwrap_or_else(|| DbError::internal("fewer than two environments to compare")));
        }
        let plan = plan_columns(&answered, request)?;
        let sides: Vec<Side> = answered
            .iter()
            .zip(&plan.per_side)
            .map(|((env, described), (keys, columns))| {
                let dialect = env.driver().diff_dialect();
                let mut side = Side {
                    env: env.clone(),
                    dialect,
                    from: described.from.clone(),
                    filter: request.filter.clone(),
                    keys: keys.clone(),
                    columns: columns.clone(),
                    row_hash: None,
                    statements: AtomicU64::new(0),
                    rows_fetched: AtomicU64::new(0),
                };
                side.row_hash = dialect.row_hash(&side.all_columns());
                side
            })
            .collect();
        for side in &sides {
            side.check_reads_only()?;
        }
        let unchecksummable = sides.iter().find(|s| s.row_hash.is_none());
        let (method, reason) = match (request.method, unchecksummable) {
            (DiffMethod::Merge, _) => (DiffMethod::Merge, "asked for".to_owned()),
            (DiffMethod::Bisect, None) | (DiffMethod::Auto, None) => (
                DiffMethod::Bisect,
                "every engine checksums these columns: only key ranges that differ are read".to_owned(),
            ),
            (DiffMethod::Bisect, Some(side)) => {
                return Err(DbError::invalid_argument(format!(
                    "the {} driver cannot checksum these columns identically to the other engines \
                     ({}); compare with method \"merge\"",
                    side.env.driver().name(),
                    why_not_checksummed(side)
                ))
                .in_env(side.env.name()));
            }
            (DiffMethod::Auto, Some(side)) => (
                DiffMethod::Merge,
                format!(
                    "{} cannot checksum these columns identically ({}): every row is streamed",
                    side.env.name(),
                    why_not_checksummed(side)
                ),
            ),
        };
        let compared: Vec<String> = sides.iter().map(|s| s.env.name().to_owned()).collect();
        let key_names: Vec<String> = plan.key_names.clone();
        let mut tally = Tally::new(
            compared.clone(),
            key_names.clone(),
            plan.column_names.clone(),
            request.max_differences,
        );
        let (counts, checksummed, fetched, changed) = match method {
            DiffMethod::Merge => {
                let counts = merge::merge(&sides, &mut tally, progress).await?;
                (counts, 0, 0, None)
            }
            _ => {
                refuse_null_keys(&sides, &plan).await?;
                let hold_missing =
                    !sides.iter().flat_map(|s| &s.keys).all(|k| keys::same_order_everywhere(k.logical_type));
                let mut matcher = Matcher::new(sides.len(), key_names.len(), hold_missing);
                let concurrency = sides
                    .iter()
                    .map(|s| s.env.config().pool.max_connections as usize)
                    .min()
                    .unwrap_or(1)
                    .clamp(1, 8);
                let parts = sides
                    .iter()
                    .map(|s| usize::try_from(s.env.config().max_rows).unwrap_or(usize::MAX))
                    .fold(request.parts, usize::min)
                    .max(2);
                let settings =
                    Settings { parts, leaf_rows: request.leaf_rows, concurrency, verify: request.verify };
                let outcome = bisect::bisect(&sides, settings, &mut tally, &mut matcher, progress).await?;
                matcher.finish(&mut tally);
                (
                    outcome.row_counts,
                    outcome.ranges_checksummed,
                    outcome.ranges_fetched,
                    Some((outcome.changed, outcome.verified)),
                )
            }
        };
        let consistency = match changed {
            None => Consistency {
                changes_ruled_out: true,
                changed_during_comparison: Vec::new(),
                note: "each environment's rows were read in one statement".into(),
            },
            Some((changed, verified)) => Consistency {
                changes_ruled_out: changed.is_empty() && verified,
                note: if !changed.is_empty() {
                    "rows changed while they were compared: compare again for differences that are up to date"
                        .into()
                } else if verified {
                    "the first checksums, taken again at the end, had not changed".into()
                } else {
                    "the rows were read by several statements over time, and a change made meanwhile is not \
                     ruled out (verify takes the first checksums again at the end)"
                        .into()
                },
                changed_during_comparison: changed.iter().map(|&i| compared[i].clone()).collect(),
            },
        };
        let stat = |read: &dyn Fn(&Side) -> u64| -> BTreeMap<String, u64> {
            sides.iter().map(|s| (s.env.name().to_owned(), read(s))).collect()
        };
        Ok(DataDiff {
            identical: tally.total == 0 && plan.column_differences.is_empty(),
            row_counts: compared.iter().cloned().zip(counts).collect(),
            compared,
            key_columns: key_names,
            columns: plan.column_names,
            method,
            method_reason: reason,
            column_differences: plan.column_differences,
            differences_truncated: tally.truncated(),
            rows_missing: tally.rows_missing,
            rows_changed: tally.rows_changed,
            duplicate_keys: tally.duplicate_keys,
            total_differences: tally.total,
            differences: tally.listed(),
            consistency,
            errors,
            stats: DiffStats {
                statements: stat(&|s| s.statements.load(Ordering::Relaxed)),
                rows_fetched: stat(&|s| s.rows_fetched.load(Ordering::Relaxed)),
                ranges_checksummed: checksummed,
                ranges_fetched: fetched,
                elapsed_ms: duration_ms(started.elapsed()),
            },
        })
    }
}

fn why_not_checksummed(side: &Side) -> String {
    if side.dialect.row_hash(&[]).is_none() {
        return format!("the {} driver has no checksums", side.env.driver().name());
    }
    let columns: Vec<String> = side
        .keys
        .iter()
        .chain(&side.columns)
        .filter(|c| {
            side.dialect.row_hash(&[DiffColumn::new(&c.sql, c.logical_type, &c.native_type)]).is_none()
        })
        .map(|c| format!("{} {}", c.name, c.native_type))
        .collect();
    columns.join(", ")
}

/// The source's columns on one environment.
async fn describe(env: &Environment, source: &DiffSource) -> Result<Described, DbError> {
    let dialect = env.driver().diff_dialect();
    match source {
        DiffSource::Table(table) => {
            let schema = env.describe_table(table).await?;
            let from = match &schema.schema {
                Some(s) => {
                    format!("{}.{}", dialect.quote_identifier(s), dialect.quote_identifier(&schema.name))
                }
                None => dialect.quote_identifier(&schema.name),
            };
            Ok(Described {
                from,
                columns: schema
                    .columns
                    .into_iter()
                    .map(|c| (c.name, c.logical_type, c.native_type, c.nullable))
                    .collect(),
                primary_key: schema.primary_key,
            })
        }
        DiffSource::Query(sql) => {
            // The query becomes a derived table: a closing semicolon cannot stay.
            let sql = sql.trim().trim_end_matches(';').trim_end();
            let from = format!("({sql}) dbfleet_source");
            let probe = format!("SELECT * FROM {from} WHERE 1 = 0");
            env.check_reads_only(&probe)?;
            let result =
                env.query(&QueryRequest { sql: probe, params: Vec::new(), max_rows: Some(1) }).await?;
            Ok(Described {
                from,
                columns: result
                    .columns
                    .into_iter()
                    .map(|c| (c.name, c.logical_type, c.native_type, true))
                    .collect(),
                primary_key: Vec::new(),
            })
        }
    }
}

struct ColumnPlan {
    key_names: Vec<String>,
    column_names: Vec<String>,
    column_differences: Vec<ColumnDifference>,
    /// Each environment's keys and compared columns.
    per_side: Vec<(Vec<SideColumn>, Vec<SideColumn>)>,
    /// Whether some environment lets a key column hold NULL.
    nullable_keys: bool,
}

/// Which columns are compared, as each environment names them.
fn plan_columns(
    answered: &[(Arc<Environment>, Described)],
    request: &DiffRequest,
) -> Result<ColumnPlan, DbError> {
    let (first_env, first) = &answered[0];
    let key_names: Vec<String> = if request.key_columns.is_empty() {
        if first.primary_key.is_empty() {
            return Err(DbError::invalid_argument(match request.source {
                DiffSource::Table(_) => {
                    "the table has no primary key: name the key_columns that identify a row"
                }
                DiffSource::Query(_) => "name the key_columns that identify a row of the query",
            })
            .in_env(first_env.name()));
        }
        first.primary_key.clone()
    } else {
        request.key_columns.clone()
    };
    fn find<'a>(described: &'a Described, name: &str) -> Option<&'a (String, LogicalType, String, bool)> {
        let columns = &described.columns;
        columns
            .iter()
            .find(|c| c.0 == name)
            .or_else(|| columns.iter().find(|c| c.0.eq_ignore_ascii_case(name)))
    }
    let wanted: Vec<String> = if request.columns.is_empty() {
        first
            .columns
            .iter()
            .map(|c| c.0.clone())
            .filter(|name| !key_names.iter().any(|k| k.eq_ignore_ascii_case(name)))
            .collect()
    } else {
        request
            .columns
            .iter()
            .filter(|name| !key_names.iter().any(|k| k.eq_ignore_ascii_case(name)))
            .cloned()
            .collect()
    };
    let mut column_differences = Vec::new();
    let mut column_names = Vec::new();
    for name in &wanted {
        let missing_from: Vec<String> = answered
            .iter()
            .filter(|(_, d)| find(d, name).is_none())
            .map(|(env, _)| env.name().to_owned())
            .collect();
        if missing_from.len() == answered.len() {
            return Err(DbError::invalid_argument(format!("no environment has a column named '{name}'")));
        }
        if !missing_from.is_empty() {
            if !request.columns.is_empty() {
                return Err(DbError::invalid_argument(format!(
                    "column '{name}' is missing from {}",
                    missing_from.join(", ")
                )));
            }
            column_differences.push(ColumnDifference::Missing {
                column: name.clone(),
                present_in: answered
                    .iter()
                    .map(|(env, _)| env.name().to_owned())
                    .filter(|env| !missing_from.contains(env))
                    .collect(),
                missing_from,
            });
            continue;
        }
        column_names.push(name.clone());
    }
    let mut per_side = Vec::with_capacity(answered.len());
    let mut nullable_keys = false;
    for (env, described) in answered {
        let dialect = env.driver().diff_dialect();
        let resolve = |name: &str| {
            find(described, name).map(|(n, logical, native, nullable)| {
                (SideColumn::new(dialect, n, *logical, native), *nullable)
            })
        };
        let mut keys = Vec::with_capacity(key_names.len());
        for name in &key_names {
            let (column, nullable) = resolve(name).ok_or_else(|| {
                DbError::invalid_argument(format!("key column '{name}' is not a column here"))
                    .in_env(env.name())
            })?;
            if matches!(column.logical_type, LogicalType::Json | LogicalType::Array) {
                return Err(DbError::invalid_argument(format!(
                    "key column '{name}' is {}: rows cannot be ordered by it",
                    column.native_type
                ))
                .in_env(env.name()));
            }
            nullable_keys |= nullable;
            keys.push(column);
        }
        let columns = column_names.iter().filter_map(|name| resolve(name).map(|(c, _)| c)).collect();
        per_side.push((keys, columns));
    }
    for (position, name) in key_names.iter().chain(&column_names).enumerate() {
        let logical_types: BTreeMap<String, LogicalType> = answered
            .iter()
            .zip(&per_side)
            .map(|((env, _), (keys, columns))| {
                let column =
                    keys.iter().chain(columns).nth(position).map_or(LogicalType::Null, |c| c.logical_type);
                (env.name().to_owned(), column)
            })
            .collect();
        let distinct: std::collections::BTreeSet<&LogicalType> = logical_types.values().collect();
        if distinct.len() > 1 {
            column_differences.push(ColumnDifference::LogicalType { column: name.clone(), logical_types });
        }
    }
    Ok(ColumnPlan { key_names, column_names, column_differences, per_side, nullable_keys })
}

/// Key ranges never hold a row whose key is NULL: such rows would go
/// uncompared, so they are refused.
async fn refuse_null_keys(sides: &[Side], plan: &ColumnPlan) -> Result<(), DbError> {
    if !plan.nullable_keys {
        return Ok(());
    }
    let counts = futures::future::try_join_all(sides.iter().map(Side::null_keys)).await?;
    for (side, count) in sides.iter().zip(counts) {
        if count > 0 {
            return Err(DbError::invalid_argument(format!(
                "{count} rows have NULL in a key column ({}); key columns must identify every row",
                plan.key_names.join(", ")
            ))
            .in_env(side.env.name()));
        }
    }
    Ok(())
}
