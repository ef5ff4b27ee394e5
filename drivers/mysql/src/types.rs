//! MySQL/MariaDB values in the shared value model, and parameters.
//!
//! TIMESTAMP is timestamptz (sessions run in UTC), DATETIME a timestamp.
//! TIME within a day is a time; MySQL's negative or longer TIMEs, zero dates
//! and geometry come back in text form. MariaDB sends JSON and UUID columns
//! as text on the wire, so in results they are text (`describe_table`, which
//! reads the catalog, reports them as json and uuid).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use dbfleet_core::driver_api::{DbError, LogicalType, Value};
use sqlx::mysql::types::MySqlTime;
use sqlx::mysql::{MySqlArguments, MySqlRow, MySqlTypeInfo, MySqlValueRef};
use sqlx::{Arguments, Decode, Row, TypeInfo, ValueRef};

/// The logical type of a result column, by the type name sqlx reports
/// (`BIGINT UNSIGNED`, `BOOLEAN` for TINYINT(1), `VARBINARY`, …).
pub fn logical_type(info: &MySqlTypeInfo) -> LogicalType {
    if is_text(info) { LogicalType::Text } else { logical_type_of_name(info.name()) }
}

/// sqlx names a column BINARY/BLOB whenever its binary flag is set, which a
/// `_bin` collation also sets (MariaDB's JSON is LONGTEXT in utf8mb4_bin);
/// only the `binary` collation means bytes.
fn is_text(info: &MySqlTypeInfo) -> bool {
    matches!(info.name(), "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB")
        && <String as sqlx::Type<sqlx::MySql>>::compatible(info)
}

pub fn logical_type_of_name(name: &str) -> LogicalType {
    let name = name.to_ascii_uppercase();
    let base = name.split(['(', ' ']).next().unwrap_or_default();
    match base {
        "BOOLEAN" | "BOOL" => LogicalType::Bool,
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "INTEGER" | "BIGINT" | "YEAR" | "BIT" => {
            LogicalType::Int
        }
        "FLOAT" | "DOUBLE" | "REAL" => LogicalType::Float,
        "DECIMAL" | "NUMERIC" => LogicalType::Decimal,
        "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" => {
            LogicalType::Text
        }
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => LogicalType::Bytes,
        "DATE" => LogicalType::Date,
        "TIME" => LogicalType::Time,
        "DATETIME" => LogicalType::Timestamp,
        "TIMESTAMP" => LogicalType::Timestamptz,
        "JSON" => LogicalType::Json,
        "UUID" => LogicalType::Uuid,
        "NULL" => LogicalType::Null,
        _ => LogicalType::Other,
    }
}

/// The logical type of a catalog column: `tinyint(1)` is a boolean.
pub fn logical_type_of_column(column_type: &str) -> LogicalType {
    if column_type.eq_ignore_ascii_case("tinyint(1)") {
        LogicalType::Bool
    } else {
        logical_type_of_name(column_type)
    }
}

fn get<'r, T: Decode<'r, sqlx::MySql>>(raw: MySqlValueRef<'r>) -> Result<T, DbError> {
    T::decode(raw).map_err(|e| DbError::query(format!("cannot decode a value: {e}")))
}

/// Decodes column `i` of a row; a value that does not fit its type's mapping
/// comes back in its text form, never as an error.
pub fn decode(row: &MySqlRow, i: usize, info: &MySqlTypeInfo) -> Result<Value, DbError> {
    let raw = row.try_get_raw(i).map_err(crate::errors::from_sqlx)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let name = if is_text(info) { "TEXT" } else { info.name() };
    Ok(match name {
        "BOOLEAN" => match get::<i8>(raw)? {
            v @ (0 | 1) => Value::Bool(v == 1),
            other => Value::Int(other.into()),
        },
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => Value::Int(get(raw)?),
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" | "BIT" => {
            let value: u64 = get(raw)?;
            i64::try_from(value).map_or(Value::UInt(value), Value::Int)
        }
        "YEAR" => Value::Int(get::<u16>(raw)?.into()),
        "FLOAT" => Value::Float(get::<f32>(raw)?.into()),
        "DOUBLE" => Value::Float(get(raw)?),
        "DECIMAL" => Value::Decimal(get(raw)?),
        "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" => {
            Value::Text(get(raw)?)
        }
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => Value::Bytes(get(raw)?),
        "DATE" => get::<NaiveDate>(raw.clone())
            .map(Value::Date)
            .unwrap_or_else(|_| Value::Other("0000-00-00".into())),
        "TIME" => match get::<NaiveTime>(raw.clone()) {
            Ok(time) => Value::Time(time),
            Err(_) => Value::Other(get::<MySqlTime>(raw)?.to_string()),
        },
        "DATETIME" => get::<NaiveDateTime>(raw)
            .map(Value::Timestamp)
            .unwrap_or_else(|_| Value::Other("0000-00-00 00:00:00".into())),
        "TIMESTAMP" => get::<DateTime<Utc>>(raw)
            .map(Value::Timestamptz)
            .unwrap_or_else(|_| Value::Other("0000-00-00 00:00:00".into())),
        "JSON" => Value::Json(get(raw)?),
        "NULL" => Value::Null,
        _ => {
            let bytes: Vec<u8> = get(raw)?;
            match String::from_utf8(bytes) {
                Ok(text) => Value::Other(text),
                Err(err) => Value::Other(err.into_bytes().iter().map(|b| format!("{b:02x}")).collect()),
            }
        }
    })
}

/// Binds a parameter by its own type: MySQL converts to the column's type.
pub fn bind(args: &mut MySqlArguments, position: usize, value: &Value) -> Result<(), DbError> {
    let added = match value {
        Value::Null => args.add(None::<String>),
        Value::Bool(b) => args.add(*b),
        Value::Int(i) => args.add(*i),
        Value::UInt(u) => args.add(*u),
        Value::Float(f) => args.add(*f),
        Value::Decimal(s) | Value::Text(s) | Value::Other(s) => args.add(s.clone()),
        Value::Bytes(b) => args.add(b.clone()),
        Value::Date(d) => args.add(*d),
        Value::Time(t) => args.add(*t),
        Value::Timestamp(t) => args.add(*t),
        Value::Timestamptz(t) => args.add(*t),
        Value::Uuid(u) => args.add(u.to_string()),
        Value::Json(j) => args.add(j.to_string()),
        Value::Array(_) => {
            return Err(DbError::invalid_argument(format!(
                "parameter {position}: MySQL has no array type; pass the array as a JSON string"
            )));
        }
        // A kind of value newer than this driver.
        other => {
            return Err(DbError::invalid_argument(format!(
                "parameter {position}: this driver cannot send {} values",
                other.logical_type()
            )));
        }
    };
    added.map_err(|e| DbError::invalid_argument(format!("parameter {position}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_map_to_logical_types() {
        let cases = [
            ("BOOLEAN", LogicalType::Bool),
            ("BIGINT UNSIGNED", LogicalType::Int),
            ("DOUBLE", LogicalType::Float),
            ("DECIMAL", LogicalType::Decimal),
            ("VARCHAR", LogicalType::Text),
            ("ENUM", LogicalType::Text),
            ("VARBINARY", LogicalType::Bytes),
            ("DATETIME", LogicalType::Timestamp),
            ("TIMESTAMP", LogicalType::Timestamptz),
            ("YEAR", LogicalType::Int),
            ("JSON", LogicalType::Json),
            ("GEOMETRY", LogicalType::Other),
            ("decimal(10,2)", LogicalType::Decimal),
            ("int(11) unsigned", LogicalType::Int),
        ];
        for (name, logical) in cases {
            assert_eq!(logical_type_of_name(name), logical, "{name}");
        }
        assert_eq!(logical_type_of_column("tinyint(1)"), LogicalType::Bool);
        assert_eq!(logical_type_of_column("tinyint(4)"), LogicalType::Int);
    }
}
