//! dbfleet values bound as the `@P1…@Pn` parameters of a statement.
//!
//! SQL Server infers nothing from a parameter's use: each value goes with a
//! type of its own, chosen so that SQL Server converts it implicitly where the
//! statement needs another (an `int` compared with a `bigint`, an `nvarchar`
//! date string stored in a `date` column).

use std::borrow::Cow;

use dbfleet_core::driver_api::{DbError, Value};
use tiberius::numeric::Numeric;
use tiberius::{ColumnData, IntoSql};

/// The parameters of a statement, in order.
pub fn bind_all(values: &[Value]) -> Result<Vec<ColumnData<'static>>, DbError> {
    values.iter().enumerate().map(|(i, value)| bind(i + 1, value)).collect()
}

/// Parameter `@P{position}`.
pub fn bind(position: usize, value: &Value) -> Result<ColumnData<'static>, DbError> {
    Ok(match value {
        // nvarchar converts implicitly to every type but the binary ones, so
        // an untyped NULL fits almost any column.
        Value::Null => ColumnData::String(None),
        Value::Bool(b) => ColumnData::Bit(Some(*b)),
        Value::Int(i) => ColumnData::I64(Some(*i)),
        Value::UInt(u) => match i64::try_from(*u) {
            Ok(i) => ColumnData::I64(Some(i)),
            Err(_) => ColumnData::Numeric(Some(Numeric::new_with_scale(i128::from(*u), 0))),
        },
        Value::Float(f) => ColumnData::F64(Some(*f)),
        // Exact as numeric when it fits SQL Server's 38 digits; otherwise as
        // text, which SQL Server converts (or rejects with its own message).
        Value::Decimal(text) => match numeric(text) {
            Some(n) => ColumnData::Numeric(Some(n)),
            None => ColumnData::String(Some(Cow::Owned(text.clone()))),
        },
        Value::Text(text) | Value::Other(text) => ColumnData::String(Some(Cow::Owned(text.clone()))),
        Value::Bytes(bytes) => ColumnData::Binary(Some(Cow::Owned(bytes.clone()))),
        Value::Date(d) => (*d).into_sql(),
        Value::Time(t) => (*t).into_sql(),
        Value::Timestamp(ts) => (*ts).into_sql(),
        // datetimeoffset at +00:00, so that the instant survives whatever the
        // column's type.
        Value::Timestamptz(ts) => ts.fixed_offset().into_sql(),
        Value::Uuid(u) => ColumnData::Guid(Some(*u)),
        Value::Json(json) => ColumnData::String(Some(Cow::Owned(json.to_string()))),
        Value::Array(_) => {
            return Err(DbError::invalid_argument(format!(
                "parameter @P{position}: SQL Server has no array type; \
                 pass the elements as separate parameters or as JSON text"
            )));
        }
        // A kind of value newer than this driver.
        other => {
            return Err(DbError::invalid_argument(format!(
                "parameter @P{position}: this driver cannot send {} values",
                other.logical_type()
            )));
        }
    })
}

/// `-12.50` as unscaled value and scale, when within numeric(38).
fn numeric(text: &str) -> Option<Numeric> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = format!("{whole}{fraction}");
    if digits.is_empty() || digits.len() > 38 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i128 = digits.parse().ok()?;
    let scale = u8::try_from(fraction.len()).ok()?;
    Some(Numeric::new_with_scale(if negative { -value } else { value }, scale))
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime};
    use dbfleet_core::driver_api::ErrorKind;

    use super::*;

    #[test]
    fn scalars_bind_with_their_types() {
        let cases = [
            (Value::Null, ColumnData::String(None)),
            (Value::Bool(true), ColumnData::Bit(Some(true))),
            (Value::Int(-7), ColumnData::I64(Some(-7))),
            (Value::UInt(5), ColumnData::I64(Some(5))),
            (
                Value::UInt(u64::MAX),
                ColumnData::Numeric(Some(Numeric::new_with_scale(i128::from(u64::MAX), 0))),
            ),
            (Value::Float(1.5), ColumnData::F64(Some(1.5))),
            (Value::Decimal("-12.50".into()), ColumnData::Numeric(Some(Numeric::new_with_scale(-1250, 2)))),
            (Value::Decimal("1e5".into()), ColumnData::String(Some("1e5".into()))),
            (Value::Text("héllo".into()), ColumnData::String(Some("héllo".into()))),
            (Value::Bytes(vec![0, 1, 255]), ColumnData::Binary(Some(vec![0, 1, 255].into()))),
            (
                Value::Json(serde_json::json!({"a": [1, 2]})),
                ColumnData::String(Some(r#"{"a":[1,2]}"#.into())),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(bind(1, &value).unwrap(), expected, "{value:?}");
        }
        let uuid = uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        assert_eq!(bind(1, &Value::Uuid(uuid)).unwrap(), ColumnData::Guid(Some(uuid)));
    }

    #[test]
    fn dates_and_times_bind_as_their_sql_server_types() {
        let date = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let time = NaiveTime::from_hms_milli_opt(13, 45, 0, 123).unwrap();
        assert!(matches!(bind(1, &Value::Date(date)).unwrap(), ColumnData::Date(Some(_))));
        assert!(matches!(bind(1, &Value::Time(time)).unwrap(), ColumnData::Time(Some(_))));
        assert!(matches!(
            bind(1, &Value::Timestamp(date.and_time(time))).unwrap(),
            ColumnData::DateTime2(Some(_))
        ));
        let ColumnData::DateTimeOffset(Some(dto)) =
            bind(1, &Value::Timestamptz(date.and_time(time).and_utc())).unwrap()
        else {
            panic!("a timestamptz binds as datetimeoffset");
        };
        assert_eq!(dto.offset(), 0);
    }

    #[test]
    fn arrays_are_refused_naming_the_position() {
        let err = bind_all(&[Value::Int(1), Value::Array(vec![Value::Int(2)])]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.contains("@P2"), "{}", err.message);
    }

    #[test]
    fn decimal_text_within_38_digits() {
        assert_eq!(numeric("12.50"), Some(Numeric::new_with_scale(1250, 2)));
        assert_eq!(numeric("+3"), Some(Numeric::new_with_scale(3, 0)));
        assert_eq!(numeric(&"9".repeat(39)), None);
        assert_eq!(numeric("1.2.3"), None);
        assert_eq!(numeric("-"), None);
    }
}
