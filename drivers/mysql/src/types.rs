//! MySQL/MariaDB values in the shared value model, and parameters.
//!
//! TIMESTAMP is timestamptz (sessions run in UTC), DATETIME a timestamp.
//! TIME within a day is a time; MySQL's negative or longer TIMEs, zero dates
//! and geometry come back in text form. MariaDB sends JSON and UUID columns
//! as text on the wire, so in results they are text (`describe_table`, which
//! reads the catalog, reports them as json and uuid).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use dbfleet_core::driver_api::{DbError, LogicalType, Row, Value};
use sqlx::mysql::types::MySqlTime;
use sqlx::mysql::{MySqlArguments, MySqlRow, MySqlTypeInfo, MySqlValueRef};
use sqlx::{Arguments, Column as _, Decode, Row as _, TypeInfo, ValueRef};

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

/// How a column's values are decoded, chosen from the type sqlx reports
/// rather than by comparing type names for every value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoder {
    Bool,
    Int,
    UInt,
    /// BIT(n): up to eight bytes, most significant first.
    Bit,
    Year,
    Float,
    Double,
    Decimal,
    Text,
    /// Bytes, or text under a `_bin` collation ([`is_text`]): the
    /// collation is not part of the type's name, so it is looked at for
    /// every value.
    Binary,
    Date,
    Time,
    DateTime,
    Timestamp,
    Json,
    Null,
    /// No mapping: the value's text, or hex.
    Other,
}

impl Decoder {
    fn for_name(name: &str) -> Decoder {
        match name {
            "BOOLEAN" => Decoder::Bool,
            "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => Decoder::Int,
            "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
            | "BIGINT UNSIGNED" => Decoder::UInt,
            "BIT" => Decoder::Bit,
            "YEAR" => Decoder::Year,
            "FLOAT" => Decoder::Float,
            "DOUBLE" => Decoder::Double,
            "DECIMAL" => Decoder::Decimal,
            "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" => {
                Decoder::Text
            }
            "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => Decoder::Binary,
            "DATE" => Decoder::Date,
            "TIME" => Decoder::Time,
            "DATETIME" => Decoder::DateTime,
            "TIMESTAMP" => Decoder::Timestamp,
            "JSON" => Decoder::Json,
            "NULL" => Decoder::Null,
            _ => Decoder::Other,
        }
    }
}

/// The decoders of a result's columns, kept from row to row.
///
/// A statement can return several result sets (a `CALL`), each with its own
/// columns, and a row carries its own; so each value's type name is still
/// asked for (a `match` on the type, returning a constant), and the decoder
/// chosen again only when that constant is not the one it was chosen for.
/// The names are `&'static str` constants, so their address and length say
/// which one it is (the same address and length are the same bytes); a
/// different address at worst chooses the same decoder again.
#[derive(Default)]
pub struct Decoders {
    /// Per column: the address and length of the type name the decoder was
    /// chosen for.
    chosen: Vec<((usize, usize), Decoder)>,
}

impl Decoders {
    fn for_column(&mut self, i: usize, info: &MySqlTypeInfo) -> Decoder {
        let name = info.name();
        let key = (name.as_ptr().addr(), name.len());
        if self.chosen.len() <= i {
            self.chosen.resize(i + 1, ((0, 0), Decoder::Other));
        }
        let (chosen_for, decoder) = &mut self.chosen[i];
        if *chosen_for != key {
            *chosen_for = key;
            *decoder = Decoder::for_name(name);
        }
        *decoder
    }

    /// Decodes a row by the row's own column types: MariaDB describes a
    /// placeholder column (`SELECT ?`) as NULL when preparing, and as the
    /// real type once run.
    pub fn decode_row(&mut self, row: &MySqlRow) -> Result<Row, DbError> {
        dbfleet_core::driver_api::decode_row(row.columns().iter().enumerate(), |(i, column)| {
            let info = column.type_info();
            decode(row, i, info, self.for_column(i, info))
        })
        .map_err(|err| *err)
    }
}

/// A decoding failure, boxed: values are returned through a `Result` whose
/// size is that of its larger side.
type Decoded<T> = Result<T, Box<DbError>>;

fn get<'r, T: Decode<'r, sqlx::MySql>>(raw: MySqlValueRef<'r>) -> Decoded<T> {
    T::decode(raw).map_err(|e| Box::new(DbError::query(format!("cannot decode a value: {e}"))))
}

/// Decodes column `i` of a row; a value that does not fit its type's mapping
/// comes back in its text form, never as an error.
fn decode(row: &MySqlRow, i: usize, info: &MySqlTypeInfo, decoder: Decoder) -> Decoded<Value> {
    // NULL, or a value read by hand; otherwise sqlx decodes it below.
    if let Some(value) = row
        .binary_value(i)
        .and_then(|bytes| bytes.map_or(Some(Value::Null), |bytes| decode_binary(bytes, decoder)))
    {
        return Ok(value);
    }
    let raw = row.try_get_raw(i).map_err(|err| Box::new(crate::errors::from_sqlx(err)))?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    Ok(match decoder {
        Decoder::Bool => match get::<i8>(raw)? {
            v @ (0 | 1) => Value::Bool(v == 1),
            other => Value::Int(other.into()),
        },
        Decoder::Int => Value::Int(get(raw)?),
        Decoder::UInt | Decoder::Bit => unsigned(get(raw)?),
        Decoder::Year => Value::Int(get::<u16>(raw)?.into()),
        Decoder::Float => Value::Float(get::<f32>(raw)?.into()),
        Decoder::Double => Value::Float(get(raw)?),
        Decoder::Decimal => Value::Decimal(get(raw)?),
        Decoder::Text => Value::Text(get(raw)?),
        Decoder::Binary if is_text(info) => Value::Text(get(raw)?),
        Decoder::Binary => Value::Bytes(get(raw)?),
        Decoder::Date => get::<NaiveDate>(raw.clone())
            .map(Value::Date)
            .unwrap_or_else(|_| Value::Other("0000-00-00".into())),
        Decoder::Time => match get::<NaiveTime>(raw.clone()) {
            Ok(time) => Value::Time(time),
            Err(_) => Value::Other(get::<MySqlTime>(raw)?.to_string()),
        },
        Decoder::DateTime => get::<NaiveDateTime>(raw)
            .map(Value::Timestamp)
            .unwrap_or_else(|_| Value::Other("0000-00-00 00:00:00".into())),
        Decoder::Timestamp => get::<DateTime<Utc>>(raw)
            .map(Value::Timestamptz)
            .unwrap_or_else(|_| Value::Other("0000-00-00 00:00:00".into())),
        Decoder::Json => Value::Json(get(raw)?),
        Decoder::Null => Value::Null,
        Decoder::Other => {
            let bytes: Vec<u8> = get(raw)?;
            match String::from_utf8(bytes) {
                Ok(text) => Value::Other(text),
                Err(err) => Value::Other(err.into_bytes().iter().map(|b| format!("{b:02x}")).collect()),
            }
        }
    })
}

/// The commonest types read straight from the binary protocol's bytes
/// (little-endian integers and floats, text, decimals as text, dates and
/// times as their fields): sqlx's decoders take a `MySqlValueRef`, which
/// copies the column's type for every value. `None` leaves the value to
/// them: other types, zero dates, and what does not have the expected
/// length.
fn decode_binary(bytes: &[u8], decoder: Decoder) -> Option<Value> {
    Some(match decoder {
        Decoder::Bool => match bytes {
            [flag @ (0 | 1)] => Value::Bool(*flag == 1),
            _ => return None,
        },
        Decoder::Int => Value::Int(match bytes.len() {
            1 => i8::from_le_bytes(bytes.try_into().ok()?).into(),
            2 => i16::from_le_bytes(bytes.try_into().ok()?).into(),
            4 => i32::from_le_bytes(bytes.try_into().ok()?).into(),
            8 => i64::from_le_bytes(bytes.try_into().ok()?),
            _ => return None,
        }),
        Decoder::UInt => unsigned(match bytes.len() {
            1 => bytes[0].into(),
            2 => u16::from_le_bytes(bytes.try_into().ok()?).into(),
            4 => u32::from_le_bytes(bytes.try_into().ok()?).into(),
            8 => u64::from_le_bytes(bytes.try_into().ok()?),
            _ => return None,
        }),
        Decoder::Year => Value::Int(u16::from_le_bytes(bytes.try_into().ok()?).into()),
        Decoder::Float => Value::Float(f32::from_le_bytes(bytes.try_into().ok()?).into()),
        Decoder::Double => Value::Float(f64::from_le_bytes(bytes.try_into().ok()?)),
        Decoder::Decimal => Value::Decimal(std::str::from_utf8(bytes).ok()?.to_owned()),
        Decoder::Text => Value::Text(std::str::from_utf8(bytes).ok()?.to_owned()),
        Decoder::Date => Value::Date(binary_date(bytes)?.0),
        Decoder::DateTime => Value::Timestamp(binary_date_time(bytes)?),
        Decoder::Timestamp => Value::Timestamptz(binary_date_time(bytes)?.and_utc()),
        _ => return None,
    })
}

/// An unsigned integer, as an `Int` when it fits one.
fn unsigned(value: u64) -> Value {
    i64::try_from(value).map_or(Value::UInt(value), Value::Int)
}

/// A binary DATE, DATETIME or TIMESTAMP's date, and the bytes after it:
/// a length (4, 7 or 11; 0 is the zero date), year (two bytes), month, day.
fn binary_date(bytes: &[u8]) -> Option<(NaiveDate, &[u8])> {
    let [length, y0, y1, month, day, rest @ ..] = bytes else { return None };
    if usize::from(*length) != rest.len() + 4 {
        return None;
    }
    let date =
        NaiveDate::from_ymd_opt(u16::from_le_bytes([*y0, *y1]).into(), (*month).into(), (*day).into())?;
    Some((date, rest))
}

/// A binary DATETIME or TIMESTAMP: its date, then hour, minute, second and
/// microseconds (four bytes), each part left out when it and the ones after
/// it are zero.
fn binary_date_time(bytes: &[u8]) -> Option<NaiveDateTime> {
    let (date, rest) = binary_date(bytes)?;
    let (hour, minute, second, micros) = match rest {
        [] => (0, 0, 0, 0),
        [h, m, s] => (*h, *m, *s, 0),
        [h, m, s, micros @ ..] => (*h, *m, *s, u32::from_le_bytes(micros.try_into().ok()?)),
        _ => return None,
    };
    date.and_hms_micro_opt(hour.into(), minute.into(), second.into(), micros)
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
