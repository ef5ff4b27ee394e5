//! SQLite's SQL for comparing tables. SQLite has no MD5, and keeps dates as
//! text in several forms, so the row text is written by the driver itself:
//! two functions registered on every connection read each value as the
//! driver reads it for a query, then hash the shared row text.

use dbfleet_core::driver_api::{DiffColumn, DiffDialect, LogicalType, push_value_text, text_hash};
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::{Connection, Error};

use crate::types::to_value;

pub struct SqliteDiff;

impl DiffDialect for SqliteDiff {
    fn row_hash(&self, columns: &[DiffColumn<'_>]) -> Option<String> {
        let types: Vec<&str> = columns.iter().map(|c| c.logical_type.as_str()).collect();
        let values: Vec<&str> = columns.iter().map(|c| c.sql).collect();
        Some(format!("dbfleet_row_hash('{}', {})", types.join(","), values.join(", ")))
    }

    fn sum_hashes(&self, hash: &str) -> String {
        format!("dbfleet_hash_sum({hash})")
    }

    fn binary_order(&self, column: &DiffColumn<'_>) -> String {
        match column.logical_type {
            LogicalType::Text => format!("{} COLLATE BINARY", column.sql),
            // UUIDs may be stored in capitals; others sort them lowercase.
            LogicalType::Uuid => format!("lower({})", column.sql),
            _ => column.sql.to_owned(),
        }
    }
}

const FLAGS: FunctionFlags = FunctionFlags::SQLITE_UTF8
    .union(FunctionFlags::SQLITE_DETERMINISTIC)
    .union(FunctionFlags::SQLITE_INNOCUOUS);

/// `dbfleet_row_hash(types, value...)`: the row's hash, `types` naming each
/// value's logical type (`int,text,timestamp`). `dbfleet_hash_sum(hash)`:
/// the exact sum of hashes as text (SQLite's `SUM` stops at 64 bits).
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function("dbfleet_row_hash", -1, FLAGS, |ctx| {
        let types: String = ctx.get(0)?;
        let types: Vec<&str> = types.split(',').collect();
        if types.len() + 1 != ctx.len() {
            return Err(Error::UserFunctionError("dbfleet_row_hash: one type per value".into()));
        }
        let mut text = String::new();
        for (i, name) in types.iter().enumerate() {
            push_value_text(&mut text, &to_value(ctx.get_raw(i + 1), logical_type_named(name)));
        }
        Ok(text_hash(&text))
    })?;
    conn.create_aggregate_function("dbfleet_hash_sum", 1, FLAGS, HashSum)
}

struct HashSum;

impl Aggregate<u128, Option<String>> for HashSum {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<u128> {
        Ok(0)
    }

    fn step(&self, ctx: &mut Context<'_>, sum: &mut u128) -> rusqlite::Result<()> {
        let hash: i64 = ctx.get(0)?;
        *sum += u128::from(hash.unsigned_abs());
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, sum: Option<u128>) -> rusqlite::Result<Option<String>> {
        Ok(sum.map(|sum| sum.to_string()))
    }
}

fn logical_type_named(name: &str) -> LogicalType {
    [
        LogicalType::Bool,
        LogicalType::Int,
        LogicalType::Float,
        LogicalType::Decimal,
        LogicalType::Text,
        LogicalType::Bytes,
        LogicalType::Date,
        LogicalType::Time,
        LogicalType::Timestamp,
        LogicalType::Timestamptz,
        LogicalType::Uuid,
        LogicalType::Json,
        LogicalType::Array,
    ]
    .into_iter()
    .find(|t| t.as_str() == name)
    .unwrap_or(LogicalType::Other)
}
