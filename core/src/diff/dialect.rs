//! What comparing tables asks of an engine's SQL: quoting names, ordering
//! keys, and checksumming rows inside the engine.

// Drivers outside this workspace implement this trait and build these types.
#![warn(clippy::exhaustive_structs, clippy::exhaustive_enums)]

use crate::value::LogicalType;

/// A column as the comparison's statements use it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DiffColumn<'a> {
    /// The column, quoted with [`DiffDialect::quote_identifier`].
    pub sql: &'a str,
    pub logical_type: LogicalType,
    /// The engine's type name, as `describe_table` reports it.
    pub native_type: &'a str,
}

impl<'a> DiffColumn<'a> {
    pub fn new(sql: &'a str, logical_type: LogicalType, native_type: &'a str) -> Self {
        DiffColumn { sql, logical_type, native_type }
    }
}

/// An engine's SQL for comparing tables. The defaults are ANSI SQL without
/// checksums: an engine with them is compared by streaming its rows.
pub trait DiffDialect: Send + Sync {
    fn quote_identifier(&self, name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    /// An expression giving each row's hash as [`super::row_text`]
    /// defines it (the first 60 bits of the MD5 of the row's text, as a
    /// non-negative integer), over `columns` in the order given; `None` when
    /// this engine cannot write some column's text exactly as the other
    /// engines do (floating point, JSON), and the rows must be streamed.
    fn row_hash(&self, _columns: &[DiffColumn<'_>]) -> Option<String> {
        None
    }

    /// The exact sum of row hashes over a group, in a type that does not
    /// overflow.
    fn sum_hashes(&self, hash: &str) -> String {
        format!("SUM({hash})")
    }

    /// A key column as key ranges compare it and the streaming merge orders
    /// it: text by code point (as bytes of UTF-8) whatever the column's
    /// collation, so that every engine puts the same keys in the same range
    /// and returns them in the same order.
    fn binary_order(&self, column: &DiffColumn<'_>) -> String {
        column.sql.to_owned()
    }
}

/// The defaults: ANSI quoting, no checksums.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct AnsiDialect;

impl DiffDialect for AnsiDialect {}

/// The tag of a column's class in the row text (see [`super::row_text`]):
/// what an engine writes before the value, by logical type; `None` for the
/// types whose text is not the same on every engine. Text columns write `t`
/// only when the value has no `|`, and `T` with its length otherwise.
pub fn text_class(logical_type: LogicalType) -> Option<char> {
    match logical_type {
        LogicalType::Bool | LogicalType::Int | LogicalType::Decimal => Some('n'),
        LogicalType::Text
        | LogicalType::Date
        | LogicalType::Time
        | LogicalType::Timestamp
        | LogicalType::Timestamptz
        | LogicalType::Uuid => Some('t'),
        LogicalType::Bytes => Some('b'),
        _ => None,
    }
}

/// The scale a decimal type declares (`numeric(12,2)` → 2, `decimal(10)` →
/// 0), or `None` when it declares none: an engine writes every value of a
/// positive scale with a decimal point, and can trim its zeros without
/// looking for one first.
pub fn declared_scale(native_type: &str) -> Option<u32> {
    let arguments = native_type.split_once('(')?.1.split_once(')')?.0;
    match arguments.split_once(',') {
        Some((_, scale)) => scale.trim().parse().ok(),
        None => arguments.trim().parse::<u32>().ok().map(|_| 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_read_from_type_names() {
        assert_eq!(declared_scale("numeric(12,2)"), Some(2));
        assert_eq!(declared_scale("decimal(10, 3) unsigned"), Some(3));
        assert_eq!(declared_scale("DECIMAL(10)"), Some(0));
        assert_eq!(declared_scale("numeric"), None);
    }
}
