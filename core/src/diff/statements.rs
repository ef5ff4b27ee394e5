//! The statements a comparison runs on one environment, written in its
//! engine's SQL with bound parameters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::dialect::{DiffColumn, DiffDialect};
use crate::error::DbError;
use crate::fleet::Environment;
use crate::result::{QueryRequest, QueryResult};
use crate::stream::RowStream;
use crate::value::{LogicalType, Value};

/// A column on one environment: its name there, quoted, and its types.
#[derive(Debug, Clone)]
pub(super) struct SideColumn {
    pub name: String,
    pub sql: String,
    /// The column as key ranges compare and order it: by code point for
    /// text ([`DiffDialect::binary_order`]), so that a range holds the same
    /// keys on every engine whatever their collations.
    pub order_sql: String,
    pub logical_type: LogicalType,
    pub native_type: String,
}

impl SideColumn {
    pub fn new(dialect: &dyn DiffDialect, name: &str, logical_type: LogicalType, native_type: &str) -> Self {
        let sql = dialect.quote_identifier(name);
        let order_sql = dialect.binary_order(&DiffColumn::new(&sql, logical_type, native_type));
        SideColumn {
            name: name.to_owned(),
            sql,
            order_sql,
            logical_type,
            native_type: native_type.to_owned(),
        }
    }

    fn as_diff(&self) -> DiffColumn<'_> {
        DiffColumn::new(&self.sql, self.logical_type, &self.native_type)
    }
}

/// One environment of a comparison, and how its statements read the rows.
pub(super) struct Side {
    pub env: Arc<Environment>,
    pub dialect: &'static dyn DiffDialect,
    /// What follows `FROM`: the table, or the query as a derived table.
    pub from: String,
    pub filter: Option<String>,
    pub keys: Vec<SideColumn>,
    /// The compared columns other than the keys.
    pub columns: Vec<SideColumn>,
    /// The row hash over keys then columns, when the engine can checksum them.
    pub row_hash: Option<String>,
    pub statements: AtomicU64,
    pub rows_fetched: AtomicU64,
}

/// A range of keys: from `low` (included) to `high` (excluded), each end
/// open when `None`.
#[derive(Debug, Clone, Default)]
pub(super) struct KeyRange {
    pub low: Option<Vec<Value>>,
    pub high: Option<Vec<Value>>,
}

/// SQL text and its parameters, bound in the order they appear.
struct Statement<'a> {
    side: &'a Side,
    params: Vec<Value>,
}

impl Statement<'_> {
    fn bind(&mut self, value: Value) -> String {
        self.params.push(value);
        self.side.env.driver().placeholder(self.params.len())
    }

    /// `keys >= values` (or `<`), compared as tuples, written out so that
    /// every engine accepts it and can use an index on the keys.
    fn tuple_compare(&mut self, values: &[Value], at_least: bool) -> String {
        let keys = &self.side.keys;
        let mut alternatives = Vec::with_capacity(keys.len());
        for i in 0..keys.len() {
            let mut terms = Vec::with_capacity(i + 1);
            for j in 0..i {
                let p = self.bind(values[j].clone());
                terms.push(format!("{} = {p}", keys[j].order_sql));
            }
            let op = match (at_least, i + 1 == keys.len()) {
                (true, true) => ">=",
                (true, false) => ">",
                (false, _) => "<",
            };
            let p = self.bind(values[i].clone());
            terms.push(format!("{} {op} {p}", keys[i].order_sql));
            alternatives.push(terms.join(" AND "));
        }
        if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            format!("({})", alternatives.iter().map(|a| format!("({a})")).collect::<Vec<_>>().join(" OR "))
        }
    }

    fn where_clause(&mut self, range: &KeyRange) -> String {
        let mut terms = Vec::new();
        if let Some(filter) = &self.side.filter {
            terms.push(format!("({filter})"));
        }
        if let Some(low) = &range.low {
            terms.push(self.tuple_compare(low, true));
        }
        if let Some(high) = &range.high {
            terms.push(self.tuple_compare(high, false));
        }
        if terms.is_empty() { String::new() } else { format!(" WHERE {}", terms.join(" AND ")) }
    }

    /// The index of the bucket a row falls in, given the bounds where
    /// buckets 1.. start: a binary tree of `CASE`, so that each row is
    /// compared with a handful of bounds rather than all.
    fn bucket(&mut self, bounds: &[Vec<Value>], first: usize, last: usize) -> String {
        if first == last {
            return first.to_string();
        }
        let middle = (first + last).div_ceil(2);
        let below = self.tuple_compare(&bounds[middle - 1], false);
        let low = self.bucket(bounds, first, middle - 1);
        let high = self.bucket(bounds, middle, last);
        format!("CASE WHEN {below} THEN {low} ELSE {high} END")
    }
}

impl Side {
    fn statement(&self) -> Statement<'_> {
        Statement { side: self, params: Vec::new() }
    }

    fn key_list(&self) -> String {
        self.keys.iter().map(|k| k.sql.as_str()).collect::<Vec<_>>().join(", ")
    }

    fn select_list(&self) -> String {
        self.keys.iter().chain(&self.columns).map(|c| c.sql.as_str()).collect::<Vec<_>>().join(", ")
    }

    fn unexpected(&self, what: &str) -> DbError {
        DbError::internal(format!("the engine did not return {what} where the comparison expected one"))
            .in_env(self.env.name())
    }

    pub fn all_columns(&self) -> Vec<DiffColumn<'_>> {
        self.keys.iter().chain(&self.columns).map(SideColumn::as_diff).collect()
    }

    /// Runs a statement expected to return at most `max_rows` rows; more is
    /// an error rather than a silently shorter answer.
    async fn run(&self, sql: String, params: Vec<Value>, max_rows: u64) -> Result<QueryResult, DbError> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        let result = self.env.query(&QueryRequest { sql, params, max_rows: Some(max_rows) }).await?;
        if result.truncated {
            return Err(DbError::invalid_argument(format!(
                "a comparison statement returned more than {} rows, the environment's max_rows or \
                 max_result_bytes; raise them or split the comparison in fewer parts",
                result.max_rows
            ))
            .in_env(self.env.name()));
        }
        Ok(result)
    }

    pub fn fetched(&self, rows: usize) {
        self.rows_fetched.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// The statement reading every compared row, with the user's filter: it
    /// must be one that only reads, on every environment, read-only or not.
    pub fn check_reads_only(&self) -> Result<(), DbError> {
        let mut statement = self.statement();
        let sql = format!(
            "SELECT {} FROM {}{}",
            self.select_list(),
            self.from,
            statement.where_clause(&KeyRange::default())
        );
        self.env.check_reads_only(&sql)
    }

    /// How many rows have a NULL in a key column.
    pub async fn null_keys(&self) -> Result<u64, DbError> {
        let nulls = self.keys.iter().map(|k| format!("{} IS NULL", k.sql)).collect::<Vec<_>>().join(" OR ");
        let mut statement = self.statement();
        let range = statement.where_clause(&KeyRange::default());
        let sql = if range.is_empty() {
            format!("SELECT COUNT(*) FROM {} WHERE {nulls}", self.from)
        } else {
            format!("SELECT COUNT(*) FROM {}{range} AND ({nulls})", self.from)
        };
        let result = self.run(sql, statement.params, 1).await?;
        result
            .rows
            .first()
            .and_then(|row| row.first())
            .and_then(count_of)
            .ok_or_else(|| self.unexpected("a count"))
    }

    /// The lowest and highest value of the (single) key column.
    pub async fn key_extent(&self) -> Result<Option<(Value, Value)>, DbError> {
        let key = &self.keys[0].sql;
        let mut statement = self.statement();
        let sql = format!(
            "SELECT MIN({key}), MAX({key}) FROM {}{}",
            self.from,
            statement.where_clause(&KeyRange::default())
        );
        let result = self.run(sql, statement.params, 1).await?;
        Ok(match result.rows.into_iter().next() {
            Some(mut row) if row.len() == 2 && !row[0].is_null() => {
                let high = row.pop().unwrap_or(Value::Null);
                let low = row.pop().unwrap_or(Value::Null);
                Some((low, high))
            }
            _ => None,
        })
    }

    /// Row count and hash sum of every bucket of `range` split at `bounds`
    /// (bucket `i` starts at `bounds[i - 1]`); buckets without rows are
    /// absent.
    pub async fn checksums(
        &self,
        range: &KeyRange,
        bounds: &[Vec<Value>],
    ) -> Result<Vec<BucketSum>, DbError> {
        let hash = self.row_hash.as_deref().ok_or_else(|| {
            DbError::internal("checksums asked of an environment that cannot checksum")
                .in_env(self.env.name())
        })?;
        let mut statement = self.statement();
        let bucket = statement.bucket(bounds, 0, bounds.len());
        let filter = statement.where_clause(range);
        let sql = format!(
            "SELECT {bucket} AS dbfleet_bucket, COUNT(*) AS dbfleet_rows, {} AS dbfleet_checksum FROM {}{filter} \
             GROUP BY dbfleet_bucket",
            self.dialect.sum_hashes(hash),
            self.from
        );
        let result = self.run(sql, statement.params, bounds.len() as u64 + 1).await?;
        let mut sums = Vec::with_capacity(result.rows.len());
        for row in &result.rows {
            let (Some(bucket), Some(rows), Some(sum)) = (row.first(), row.get(1), row.get(2)) else {
                return Err(self.unexpected("three values in a checksum row"));
            };
            let bucket = count_of(bucket)
                .and_then(|b| usize::try_from(b).ok())
                .filter(|&b| b <= bounds.len())
                .ok_or_else(|| self.unexpected("a bucket number"))?;
            let rows = count_of(rows).ok_or_else(|| self.unexpected("a row count"))?;
            let sum = sum_of(sum).ok_or_else(|| self.unexpected("a checksum"))?;
            sums.push(BucketSum { bucket, rows, sum });
        }
        Ok(sums)
    }

    /// Up to `parts - 1` keys that split `range` into `parts` runs of about
    /// as many rows each, in key order.
    pub async fn split_points(&self, range: &KeyRange, parts: usize) -> Result<Vec<Vec<Value>>, DbError> {
        let keys = self.key_list();
        let order = self.keys.iter().map(|k| k.order_sql.as_str()).collect::<Vec<_>>().join(", ");
        let mut statement = self.statement();
        let filter = statement.where_clause(range);
        // Row `rn` starts a new part when a multiple of the row count falls
        // in ((rn - 2) * parts, (rn - 1) * parts]: integer arithmetic every
        // engine does alike, without knowing the count beforehand.
        let sql = format!(
            "SELECT {keys} FROM (SELECT {keys}, ROW_NUMBER() OVER (ORDER BY {order}) AS dbfleet_rn, \
             COUNT(*) OVER () AS dbfleet_n FROM {}{filter}) dbfleet_sample \
             WHERE dbfleet_rn > 1 AND ((dbfleet_rn - 1) * {parts}) % dbfleet_n < {parts} ORDER BY dbfleet_rn",
            self.from
        );
        Ok(self.run(sql, statement.params, parts as u64).await?.rows)
    }

    /// Every compared row of `range` (keys first), as a stream.
    pub async fn rows(&self, range: &KeyRange, ordered: bool) -> Result<RowStream, DbError> {
        let mut statement = self.statement();
        let filter = statement.where_clause(range);
        let mut sql = format!("SELECT {} FROM {}{filter}", self.select_list(), self.from);
        if ordered {
            let order: Vec<&str> = self.keys.iter().map(|k| k.order_sql.as_str()).collect();
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        self.env.stream(&sql, statement.params).await
    }
}

/// One bucket of a checksum statement.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BucketSum {
    pub bucket: usize,
    pub rows: u64,
    /// The sum of the bucket's row hashes, as a canonical decimal.
    pub sum: String,
}

/// A count as the engine returns it: an integer, or a decimal or text one.
fn count_of(value: &Value) -> Option<u64> {
    match value {
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::UInt(u) => Some(*u),
        Value::Decimal(s) | Value::Text(s) => s.parse().ok(),
        _ => None,
    }
}

/// A sum of hashes, whatever numeric type the engine gives it in.
fn sum_of(value: &Value) -> Option<String> {
    let number = match value {
        Value::Int(_) | Value::UInt(_) => value.clone(),
        Value::Decimal(s) | Value::Text(s) => Value::Decimal(s.clone()),
        _ => return None,
    };
    match crate::compare::normalize(&number) {
        crate::compare::Normalized::Number(n) => Some(n),
        _ => None,
    }
}
