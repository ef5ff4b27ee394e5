//! SQL Server types in dbfleet's value model.
//!
//! Result columns carry only their TDS type (no length or precision), so a
//! column's native name is the SQL Server type it stands for; catalog
//! listings (`describe_table`) show the full declaration.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use dbfleet_core::driver_api::{Column, LogicalType, Value};
use tiberius::{ColumnData, ColumnType, FromSql};

/// The result column of a query.
pub fn column(column: &tiberius::Column) -> Column {
    let ty = column.column_type();
    Column::new(column.name(), native_name(ty), logical_type(ty))
}

/// The lower-case SQL Server name of a TDS type. The nullable forms (`intn`,
/// `datetimen`, …) do not say their width, so they take the common name.
pub fn native_name(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Null => "null",
        ColumnType::Bit | ColumnType::Bitn => "bit",
        ColumnType::Int1 => "tinyint",
        ColumnType::Int2 => "smallint",
        ColumnType::Int4 | ColumnType::Intn => "int",
        ColumnType::Int8 => "bigint",
        ColumnType::Float4 => "real",
        ColumnType::Float8 | ColumnType::Floatn => "float",
        ColumnType::Money => "money",
        ColumnType::Money4 => "smallmoney",
        ColumnType::Decimaln => "decimal",
        ColumnType::Numericn => "numeric",
        ColumnType::Datetime4 => "smalldatetime",
        ColumnType::Datetime | ColumnType::Datetimen => "datetime",
        ColumnType::Daten => "date",
        ColumnType::Timen => "time",
        ColumnType::Datetime2 => "datetime2",
        ColumnType::DatetimeOffsetn => "datetimeoffset",
        ColumnType::Guid => "uniqueidentifier",
        ColumnType::BigVarChar => "varchar",
        ColumnType::BigChar => "char",
        ColumnType::NVarchar => "nvarchar",
        ColumnType::NChar => "nchar",
        ColumnType::Text => "text",
        ColumnType::NText => "ntext",
        ColumnType::BigVarBin => "varbinary",
        ColumnType::BigBinary => "binary",
        ColumnType::Image => "image",
        ColumnType::Xml => "xml",
        ColumnType::Udt => "udt",
        ColumnType::SSVariant => "sql_variant",
    }
}

pub fn logical_type(ty: ColumnType) -> LogicalType {
    logical_type_of_name(native_name(ty))
}

/// The logical type of a SQL Server type name as `INFORMATION_SCHEMA` spells
/// it (`int`, `nvarchar`, `datetime2`…); unknown names are `other`.
pub fn logical_type_of_name(name: &str) -> LogicalType {
    match name.to_ascii_lowercase().as_str() {
        "null" => LogicalType::Null,
        "bit" => LogicalType::Bool,
        "tinyint" | "smallint" | "int" | "bigint" => LogicalType::Int,
        "real" | "float" => LogicalType::Float,
        "decimal" | "numeric" | "money" | "smallmoney" => LogicalType::Decimal,
        "char" | "varchar" | "nchar" | "nvarchar" | "text" | "ntext" | "xml" | "sysname" => LogicalType::Text,
        "binary" | "varbinary" | "image" | "timestamp" | "rowversion" => LogicalType::Bytes,
        "date" => LogicalType::Date,
        "time" => LogicalType::Time,
        "datetime" | "datetime2" | "smalldatetime" => LogicalType::Timestamp,
        "datetimeoffset" => LogicalType::Timestamptz,
        "uniqueidentifier" => LogicalType::Uuid,
        _ => LogicalType::Other,
    }
}

/// One value of a column of type `ty`. Never fails: a value that cannot be
/// read as its logical type comes back in a text form as `other`.
pub fn value(ty: ColumnType, data: &ColumnData<'static>) -> Value {
    let natural = natural_value(ty, data);
    match natural {
        Value::Null => Value::Null,
        value if logical_type(ty) == LogicalType::Other => Value::Other(text_form(value)),
        value => value,
    }
}

fn natural_value(ty: ColumnType, data: &ColumnData<'static>) -> Value {
    match data {
        ColumnData::U8(v) => v.map_or(Value::Null, |v| Value::Int(v.into())),
        ColumnData::I16(v) => v.map_or(Value::Null, |v| Value::Int(v.into())),
        ColumnData::I32(v) => v.map_or(Value::Null, |v| Value::Int(v.into())),
        ColumnData::I64(v) => v.map_or(Value::Null, Value::Int),
        // Through the shortest decimal text: `real` 1.1 stays 1.1 rather
        // than becoming 1.100000023841858.
        ColumnData::F32(v) => {
            v.map_or(Value::Null, |v| Value::Float(v.to_string().parse().unwrap_or(f64::from(v))))
        }
        // tiberius decodes money and smallmoney through f64 (value / 10^4):
        // exact up to about 10^11, rounded to 4 places it is the stored value.
        ColumnData::F64(Some(v)) if matches!(ty, ColumnType::Money | ColumnType::Money4) => {
            Value::Decimal(format!("{v:.4}"))
        }
        ColumnData::F64(v) => v.map_or(Value::Null, Value::Float),
        ColumnData::Bit(v) => v.map_or(Value::Null, Value::Bool),
        ColumnData::String(v) => v.as_ref().map_or(Value::Null, |s| Value::Text(s.to_string())),
        ColumnData::Guid(v) => v.map_or(Value::Null, Value::Uuid),
        ColumnData::Binary(v) => v.as_ref().map_or(Value::Null, |b| Value::Bytes(b.to_vec())),
        ColumnData::Numeric(v) => {
            v.map_or(Value::Null, |n| Value::Decimal(decimal_text(n.value(), n.scale())))
        }
        ColumnData::Xml(v) => v.as_ref().map_or(Value::Null, |x| Value::Text(x.to_string())),
        ColumnData::DateTime(_) | ColumnData::SmallDateTime(_) | ColumnData::DateTime2(_) => {
            read::<NaiveDateTime>(data, Value::Timestamp)
        }
        ColumnData::Date(_) => read::<NaiveDate>(data, Value::Date),
        ColumnData::Time(_) => read::<NaiveTime>(data, Value::Time),
        ColumnData::DateTimeOffset(_) => read::<DateTime<Utc>>(data, Value::Timestamptz),
    }
}

/// A date or time through tiberius' chrono conversion; a value chrono cannot
/// hold is shown as tiberius prints it.
fn read<'a, T: FromSql<'a>>(data: &'a ColumnData<'static>, wrap: fn(T) -> Value) -> Value {
    match T::from_sql(data) {
        Ok(Some(v)) => wrap(v),
        Ok(None) => Value::Null,
        Err(_) => Value::Other(format!("{data:?}")),
    }
}

/// The text form of a value of a type without a mapping: bytes (a `udt` such
/// as `geography` or `hierarchyid`) as SQL Server prints them, `0x…`.
fn text_form(value: Value) -> String {
    match value {
        Value::Bytes(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
            format!("0x{hex}")
        }
        other => other.to_text(),
    }
}

/// An exact decimal from its unscaled value and scale: `(1250, 2)` is
/// `12.50`.
pub fn decimal_text(value: i128, scale: u8) -> String {
    let digits = value.unsigned_abs().to_string();
    let sign = if value < 0 { "-" } else { "" };
    let scale = usize::from(scale);
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded: Cow<'_, str> = if digits.len() <= scale {
        Cow::Owned(format!("{}{digits}", "0".repeat(scale + 1 - digits.len())))
    } else {
        Cow::Borrowed(&digits)
    };
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use tiberius::numeric::Numeric;
    use tiberius::time::{Date, DateTime2, DateTimeOffset, Time};
    use tiberius::xml::XmlData;

    use super::*;

    #[test]
    fn decimals_keep_their_scale() {
        assert_eq!(decimal_text(1250, 2), "12.50");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(0, 2), "0.00");
        assert_eq!(decimal_text(42, 0), "42");
        assert_eq!(decimal_text(i128::MAX, 38), "1.70141183460469231731687303715884105727");
    }

    #[test]
    fn scalars_map_to_their_logical_values() {
        let date = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let time = NaiveTime::from_hms_milli_opt(13, 45, 0, 123).unwrap();
        let uuid = uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        // Days since 0001-01-01; 13:45:00.123 in milliseconds (scale 3).
        let days = (date - NaiveDate::from_ymd_opt(1, 1, 1).unwrap()).num_days() as u32;
        let increments = (13 * 3600 + 45 * 60) * 1000 + 123;
        let tds_date = Date::new(days);
        let tds_time = Time::new(increments, 3);
        let cases = [
            (ColumnType::Bitn, ColumnData::Bit(Some(true)), Value::Bool(true)),
            (ColumnType::Int1, ColumnData::U8(Some(7)), Value::Int(7)),
            (ColumnType::Int2, ColumnData::I16(Some(-7)), Value::Int(-7)),
            (ColumnType::Int4, ColumnData::I32(Some(70_000)), Value::Int(70_000)),
            (ColumnType::Int8, ColumnData::I64(Some(9007199254740993)), Value::Int(9007199254740993)),
            (ColumnType::Float4, ColumnData::F32(Some(1.1)), Value::Float(1.1)),
            (ColumnType::Float8, ColumnData::F64(Some(1.5)), Value::Float(1.5)),
            (
                ColumnType::Decimaln,
                ColumnData::Numeric(Some(Numeric::new_with_scale(1250, 2))),
                Value::Decimal("12.50".into()),
            ),
            (ColumnType::Money, ColumnData::F64(Some(12.5)), Value::Decimal("12.5000".into())),
            (ColumnType::Money4, ColumnData::F64(Some(-0.0001)), Value::Decimal("-0.0001".into())),
            (ColumnType::Guid, ColumnData::Guid(Some(uuid)), Value::Uuid(uuid)),
            (ColumnType::Daten, ColumnData::Date(Some(tds_date)), Value::Date(date)),
            (ColumnType::Timen, ColumnData::Time(Some(tds_time)), Value::Time(time)),
            (
                ColumnType::Datetime2,
                ColumnData::DateTime2(Some(DateTime2::new(tds_date, tds_time))),
                Value::Timestamp(date.and_time(time)),
            ),
            (
                ColumnType::DatetimeOffsetn,
                // 13:45 at +02:00 is 11:45 UTC.
                ColumnData::DateTimeOffset(Some(DateTimeOffset::new(
                    DateTime2::new(tds_date, tds_time),
                    120,
                ))),
                Value::Timestamptz(
                    date.and_time(NaiveTime::from_hms_milli_opt(11, 45, 0, 123).unwrap()).and_utc(),
                ),
            ),
            (
                ColumnType::Xml,
                ColumnData::Xml(Some(Cow::Owned(XmlData::new("<a/>")))),
                Value::Text("<a/>".into()),
            ),
            (ColumnType::Intn, ColumnData::I32(None), Value::Null),
            (ColumnType::Datetime2, ColumnData::DateTime2(None), Value::Null),
        ];
        for (ty, data, expected) in cases {
            assert_eq!(value(ty, &data), expected, "{ty:?}");
            assert!(expected.is_null() || logical_type(ty) == expected.logical_type(), "{ty:?}");
        }
    }

    #[test]
    fn text_bytes_and_unknown_types() {
        let text = ColumnData::String(Some(Cow::Borrowed("héllo wörld ✓ 🚀")));
        assert_eq!(value(ColumnType::NVarchar, &text), Value::Text("héllo wörld ✓ 🚀".into()));
        let bytes = ColumnData::Binary(Some(Cow::Owned(vec![0, 1, 255])));
        assert_eq!(value(ColumnType::BigVarBin, &bytes), Value::Bytes(vec![0, 1, 255]));
        assert_eq!(value(ColumnType::Udt, &bytes), Value::Other("0x0001FF".into()));
        assert_eq!(logical_type(ColumnType::Udt), LogicalType::Other);
        assert_eq!(value(ColumnType::SSVariant, &ColumnData::I64(Some(5))), Value::Other("5".into()));
    }

    #[test]
    fn names_follow_sql_server() {
        assert_eq!(native_name(ColumnType::Datetime2), "datetime2");
        assert_eq!(native_name(ColumnType::NVarchar), "nvarchar");
        assert_eq!(logical_type_of_name("NVARCHAR"), LogicalType::Text);
        assert_eq!(logical_type_of_name("datetimeoffset"), LogicalType::Timestamptz);
        assert_eq!(logical_type_of_name("money"), LogicalType::Decimal);
        assert_eq!(logical_type_of_name("geography"), LogicalType::Other);
    }
}
