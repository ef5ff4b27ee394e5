//! PostgreSQL's SQL for comparing tables: rows checksummed with `md5` over
//! the shared row text, text keys ordered by code point with `COLLATE "C"`.

use dbfleet_core::driver_api::{DiffColumn, DiffDialect, LogicalType, declared_scale, text_class};

pub struct PostgresDiff;

impl DiffDialect for PostgresDiff {
    fn row_hash(&self, columns: &[DiffColumn<'_>]) -> Option<String> {
        let terms = columns.iter().map(column_text).collect::<Option<Vec<_>>>()?;
        // The first 15 hex digits of the MD5, read as a 60-bit integer.
        Some(format!("('x' || substr(md5({}), 1, 15))::bit(60)::bigint", terms.join(" || ")))
    }

    fn binary_order(&self, column: &DiffColumn<'_>) -> String {
        match column.logical_type {
            LogicalType::Text => format!("{} COLLATE \"C\"", column.sql),
            _ => column.sql.to_owned(),
        }
    }
}

/// One column's part of the row text (see `dbfleet_core::diff::row_text`).
fn column_text(column: &DiffColumn<'_>) -> Option<String> {
    let tag = text_class(column.logical_type)?;
    let c = column.sql;
    let value = match column.logical_type {
        LogicalType::Bool => format!("CASE WHEN {c} THEN '1' WHEN NOT {c} THEN '0' END"),
        LogicalType::Int | LogicalType::Uuid => format!("{c}::text"),
        // Canonical decimals: no trailing zeros, no trailing point.
        LogicalType::Decimal if declared_scale(column.native_type).is_some_and(|s| s > 0) => {
            format!("rtrim(rtrim({c}::text, '0'), '.')")
        }
        LogicalType::Decimal => {
            format!(
                "CASE WHEN strpos({c}::text, '.') > 0 THEN rtrim(rtrim({c}::text, '0'), '.') ELSE {c}::text END"
            )
        }
        // Blank-padded `character(n)` loses its padding as text, and network
        // types are read in a shorter form than their text: neither writes
        // the value as it is read.
        LogicalType::Text if is_padded_or_network(column.native_type) => return None,
        LogicalType::Text => {
            return Some(format!(
                "COALESCE(CASE WHEN strpos({c}::text, '|') = 0 THEN 't' || {c}::text || '|' \
                 ELSE 'T' || char_length({c}::text) || ':' || {c}::text END, 'N')"
            ));
        }
        LogicalType::Bytes => format!("encode({c}, 'hex')"),
        LogicalType::Date => format!("to_char({c}, 'YYYY-MM-DD')"),
        LogicalType::Time => format!("to_char({c}, 'HH24:MI:SS.US')"),
        LogicalType::Timestamp => format!("to_char({c}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"),
        LogicalType::Timestamptz => {
            format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        }
        _ => return None,
    };
    Some(format!("COALESCE('{tag}' || {value} || '|', 'N')"))
}

fn is_padded_or_network(native_type: &str) -> bool {
    let native = native_type.to_ascii_lowercase();
    native == "character"
        || native.starts_with("character(")
        || native == "bpchar"
        || native == "inet"
        || native == "cidr"
}
