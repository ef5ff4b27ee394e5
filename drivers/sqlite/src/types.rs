//! SQLite values in the shared value model.
//!
//! SQLite is dynamically typed: a column's declared type is only an affinity,
//! and any cell may hold any storage class. The declared type decides the
//! logical type; a stored value that does not fit it comes back as what it is
//! (its storage class), never as an error. SQLite has no array type.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use dbfleet_core::driver_api::{DbError, LogicalType, Value};
use rusqlite::types::{Value as SqlValue, ValueRef};

/// The logical type of a declared column type, after SQLite's affinity rules
/// and the conventional names for dates, times, UUIDs, JSON and booleans.
pub fn logical_type(declared: &str) -> LogicalType {
    let t = declared.to_ascii_uppercase();
    let t = t.trim();
    if t.is_empty() {
        LogicalType::Other
    } else if t.contains("BOOL") {
        LogicalType::Bool
    } else if t.starts_with("TIMESTAMPTZ") || t.contains("WITH TIME ZONE") || t == "DATETIMEOFFSET" {
        LogicalType::Timestamptz
    } else if t.starts_with("DATETIME") || t.starts_with("TIMESTAMP") {
        LogicalType::Timestamp
    } else if t == "DATE" {
        LogicalType::Date
    } else if t.starts_with("TIME") {
        LogicalType::Time
    } else if t.starts_with("UUID") || t.starts_with("GUID") || t == "UNIQUEIDENTIFIER" {
        LogicalType::Uuid
    } else if t.starts_with("JSON") {
        LogicalType::Json
    } else if t.contains("INT") {
        LogicalType::Int
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        LogicalType::Text
    } else if t.contains("BLOB") || t.contains("BINARY") {
        LogicalType::Bytes
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        LogicalType::Float
    } else if t.contains("DEC") || t.contains("NUMERIC") || t.contains("MONEY") {
        LogicalType::Decimal
    } else {
        LogicalType::Other
    }
}

/// Converts one cell, guided by its column's logical type.
pub fn to_value(cell: ValueRef<'_>, logical: LogicalType) -> Value {
    let fitted = match (logical, cell) {
        (_, ValueRef::Null) => Some(Value::Null),
        (LogicalType::Bool, ValueRef::Integer(i @ (0 | 1))) => Some(Value::Bool(i == 1)),
        (LogicalType::Float, ValueRef::Integer(i)) => Some(Value::Float(i as f64)),
        (LogicalType::Decimal, ValueRef::Integer(i)) => Some(Value::Decimal(i.to_string())),
        (LogicalType::Decimal, ValueRef::Real(f)) if f.is_finite() => Some(Value::Decimal(f.to_string())),
        (LogicalType::Decimal, ValueRef::Text(t)) => std::str::from_utf8(t)
            .ok()
            .filter(|s| s.parse::<f64>().is_ok())
            .map(|s| Value::Decimal(s.to_owned())),
        (LogicalType::Date, ValueRef::Text(t)) => text(t).and_then(parse_date).map(Value::Date),
        (LogicalType::Time, ValueRef::Text(t)) => text(t).and_then(parse_time).map(Value::Time),
        (LogicalType::Timestamp, ValueRef::Text(t)) => {
            text(t).and_then(parse_timestamp).map(Value::Timestamp)
        }
        (LogicalType::Timestamptz, ValueRef::Text(t)) => {
            text(t).and_then(parse_timestamptz).map(Value::Timestamptz)
        }
        (LogicalType::Uuid, ValueRef::Text(t)) => {
            text(t).and_then(|s| uuid::Uuid::parse_str(s).ok()).map(Value::Uuid)
        }
        (LogicalType::Uuid, ValueRef::Blob(b)) => uuid::Uuid::from_slice(b).ok().map(Value::Uuid),
        (LogicalType::Json, ValueRef::Text(t)) => serde_json::from_slice(t).ok().map(Value::Json),
        _ => None,
    };
    fitted.unwrap_or_else(|| as_stored(cell))
}

/// A cell by its storage class alone.
fn as_stored(cell: ValueRef<'_>) -> Value {
    match cell {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_owned()),
            Err(_) => Value::Bytes(t.to_vec()),
        },
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M:%S%.f").or_else(|_| NaiveTime::parse_from_str(s, "%H:%M")).ok()
}

fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(s, format).ok())
}

/// RFC 3339 with an offset; a timestamp without one is taken as UTC, as
/// SQLite's own date functions do.
fn parse_timestamptz(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .map(|ts| ts.with_timezone(&Utc))
        .ok()
        .or_else(|| parse_timestamp(s).map(|ts| ts.and_utc()))
}

/// A parameter as SQLite stores it: dates and times in SQLite's own text
/// forms, so they compare with stored values and its date functions.
pub fn to_param(position: usize, value: &Value) -> Result<SqlValue, DbError> {
    Ok(match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Int(i) => SqlValue::Integer(*i),
        Value::UInt(u) => match i64::try_from(*u) {
            Ok(i) => SqlValue::Integer(i),
            Err(_) => SqlValue::Text(u.to_string()),
        },
        Value::Float(f) => SqlValue::Real(*f),
        Value::Decimal(s) | Value::Text(s) | Value::Other(s) => SqlValue::Text(s.clone()),
        Value::Bytes(b) => SqlValue::Blob(b.clone()),
        Value::Timestamp(ts) => SqlValue::Text(ts.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
        Value::Date(_) | Value::Time(_) | Value::Timestamptz(_) | Value::Uuid(_) => {
            SqlValue::Text(value.to_text())
        }
        Value::Json(json) => SqlValue::Text(json.to_string()),
        Value::Array(_) => {
            return Err(DbError::invalid_argument(format!(
                "parameter {position}: SQLite has no array type; pass the array as a JSON string"
            )));
        }
        // A kind of value newer than this driver.
        other => {
            return Err(DbError::invalid_argument(format!(
                "parameter {position}: this driver cannot send {} values",
                other.logical_type()
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_map_to_logical_types() {
        let cases = [
            ("INTEGER", LogicalType::Int),
            ("bigint", LogicalType::Int),
            ("BOOLEAN", LogicalType::Bool),
            ("REAL", LogicalType::Float),
            ("DOUBLE PRECISION", LogicalType::Float),
            ("DECIMAL(10,2)", LogicalType::Decimal),
            ("NUMERIC", LogicalType::Decimal),
            ("VARCHAR(20)", LogicalType::Text),
            ("TEXT", LogicalType::Text),
            ("BLOB", LogicalType::Bytes),
            ("DATE", LogicalType::Date),
            ("TIME", LogicalType::Time),
            ("DATETIME", LogicalType::Timestamp),
            ("TIMESTAMP", LogicalType::Timestamp),
            ("TIMESTAMPTZ", LogicalType::Timestamptz),
            ("TIMESTAMP WITH TIME ZONE", LogicalType::Timestamptz),
            ("UUID", LogicalType::Uuid),
            ("JSON", LogicalType::Json),
            ("", LogicalType::Other),
            ("GEOMETRY", LogicalType::Other),
        ];
        for (declared, logical) in cases {
            assert_eq!(logical_type(declared), logical, "{declared}");
        }
    }

    #[test]
    fn values_that_do_not_fit_their_column_keep_their_storage_class() {
        assert_eq!(
            to_value(ValueRef::Text(b"not a date"), LogicalType::Date),
            Value::Text("not a date".into())
        );
        assert_eq!(to_value(ValueRef::Integer(7), LogicalType::Bool), Value::Int(7));
        assert_eq!(
            to_value(ValueRef::Text(b"{bad json"), LogicalType::Json),
            Value::Text("{bad json".into())
        );
        assert_eq!(to_value(ValueRef::Real(12.5), LogicalType::Decimal), Value::Decimal("12.5".into()));
        assert_eq!(to_value(ValueRef::Integer(12), LogicalType::Decimal), Value::Decimal("12".into()));
    }

    #[test]
    fn timestamps_with_and_without_zones() {
        let want = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap().and_hms_milli_opt(11, 45, 0, 123).unwrap();
        assert_eq!(parse_timestamptz("2024-05-01T13:45:00.123+02:00").unwrap().naive_utc(), want);
        assert_eq!(parse_timestamptz("2024-05-01 11:45:00.123").unwrap().naive_utc(), want);
        assert_eq!(parse_timestamp("2024-05-01T11:45:00.123").unwrap(), want);
    }
}
