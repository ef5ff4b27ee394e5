//! SQL Server's SQL for comparing tables: names in brackets, text keys in
//! code point order (`Latin1_General_100_BIN2`). No checksums: its
//! `HASHBYTES` hashes `nvarchar` as UTF-16, not the UTF-8 row text the
//! other engines hash, so its tables are compared by streaming their rows.

use dbfleet_core::driver_api::{DiffColumn, DiffDialect, LogicalType};

pub struct SqlServerDiff;

impl DiffDialect for SqlServerDiff {
    fn quote_identifier(&self, name: &str) -> String {
        format!("[{}]", name.replace(']', "]]"))
    }

    fn binary_order(&self, column: &DiffColumn<'_>) -> String {
        match column.logical_type {
            LogicalType::Text => format!("{} COLLATE Latin1_General_100_BIN2", column.sql),
            _ => column.sql.to_owned(),
        }
    }
}
