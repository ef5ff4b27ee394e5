//! MySQL's and MariaDB's SQL for comparing tables: rows checksummed with
//! `MD5` over the shared row text, text keys ordered by code point with
//! `utf8mb4_bin`.

use dbfleet_core::driver_api::{DiffColumn, DiffDialect, LogicalType, declared_scale, text_class};

pub struct MySqlDiff;

impl DiffDialect for MySqlDiff {
    fn quote_identifier(&self, name: &str) -> String {
        format!("`{}`", name.replace('`', "``"))
    }

    fn row_hash(&self, columns: &[DiffColumn<'_>]) -> Option<String> {
        let terms = columns.iter().map(column_text).collect::<Option<Vec<_>>>()?;
        // The first 15 hex digits of the MD5, read as a 60-bit integer.
        Some(format!("CAST(CONV(SUBSTRING(MD5(CONCAT({})), 1, 15), 16, 10) AS UNSIGNED)", terms.join(", ")))
    }

    fn binary_order(&self, column: &DiffColumn<'_>) -> String {
        match column.logical_type {
            LogicalType::Text => format!("CONVERT({} USING utf8mb4) COLLATE utf8mb4_bin", column.sql),
            // MariaDB's UUID type sorts its own way; as text it sorts like the others.
            LogicalType::Uuid => format!("LOWER(CAST({} AS CHAR)) COLLATE utf8mb4_bin", column.sql),
            _ => column.sql.to_owned(),
        }
    }
}

/// One column's part of the row text (see `dbfleet_core::diff::row_text`).
/// Values become text where `CONCAT` takes them, as `CAST(… AS CHAR)` would
/// write them. The session's time zone is UTC (the driver sets it), so
/// `TIMESTAMP` columns write UTC.
fn column_text(column: &DiffColumn<'_>) -> Option<String> {
    let tag = text_class(column.logical_type)?;
    let c = column.sql;
    let native = column.native_type.to_ascii_lowercase();
    // A fractional-second precision of 6 writes microseconds already.
    let micro = native.ends_with("(6)");
    let value = match column.logical_type {
        LogicalType::Int if native.starts_with("bit") => format!("{c} + 0"),
        // `tinyint(1)` as stored: a 2 there must not checksum like `true`.
        LogicalType::Bool | LogicalType::Int => c.to_owned(),
        // Canonical decimals: no trailing zeros, no trailing point.
        LogicalType::Decimal if declared_scale(&native).is_some_and(|s| s > 0) => {
            format!("TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {c}))")
        }
        LogicalType::Decimal => format!(
            "CASE WHEN LOCATE('.', {c}) > 0 THEN TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {c})) \
             ELSE CAST({c} AS CHAR) END"
        ),
        LogicalType::Text => {
            let text = format!("CONVERT({c} USING utf8mb4)");
            return Some(format!(
                "COALESCE(CASE WHEN LOCATE('|', {text}) = 0 THEN CONCAT('t', {text}, '|') \
                 ELSE CONCAT('T', CHAR_LENGTH({text}), ':', {text}) END, 'N')"
            ));
        }
        LogicalType::Uuid => format!("LOWER(CAST({c} AS CHAR))"),
        LogicalType::Bytes => format!("LOWER(HEX({c}))"),
        LogicalType::Date => format!("DATE_FORMAT({c}, '%Y-%m-%d')"),
        LogicalType::Time => format!("TIME_FORMAT({c}, '%H:%i:%s.%f')"),
        LogicalType::Timestamp if micro => format!("REPLACE({c}, ' ', 'T')"),
        LogicalType::Timestamp => format!("DATE_FORMAT({c}, '%Y-%m-%dT%H:%i:%s.%f')"),
        LogicalType::Timestamptz if micro => format!("CONCAT(REPLACE({c}, ' ', 'T'), 'Z')"),
        LogicalType::Timestamptz => format!("DATE_FORMAT({c}, '%Y-%m-%dT%H:%i:%s.%fZ')"),
        _ => return None,
    };
    Some(format!("COALESCE(CONCAT('{tag}', {value}, '|'), 'N')"))
}
