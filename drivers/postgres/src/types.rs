//! PostgreSQL values in the shared value model, and parameters bound with the
//! types the server inferred for them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use dbfleet_core::driver_api::{DbError, LogicalType, Value};
use sqlx::postgres::types::PgInterval;
use sqlx::postgres::{PgArguments, PgRow, PgTypeInfo, PgTypeKind, PgValueRef};
use sqlx::types::BigDecimal;
use sqlx::types::ipnetwork::IpNetwork;
use sqlx::{Arguments, Decode, Row, TypeInfo, ValueRef};

use crate::numeric::numeric_text;

/// The logical type of a PostgreSQL type, by its display name (`INT4`,
/// `TIMESTAMPTZ`, `TEXT[]`) and kind (enums are text, arrays are arrays).
pub fn logical_type(info: &PgTypeInfo) -> LogicalType {
    match info.kind() {
        PgTypeKind::Array(_) => return LogicalType::Array,
        PgTypeKind::Enum(_) => return LogicalType::Text,
        PgTypeKind::Domain(base) => return logical_type(base),
        _ => {}
    }
    logical_type_of_name(info.name())
}

pub fn logical_type_of_name(name: &str) -> LogicalType {
    match name.to_ascii_uppercase().as_str() {
        "BOOL" | "BOOLEAN" => LogicalType::Bool,
        "INT2" | "INT4" | "INT8" | "OID" | "SMALLINT" | "INTEGER" | "BIGINT" => LogicalType::Int,
        "FLOAT4" | "FLOAT8" | "REAL" | "DOUBLE PRECISION" => LogicalType::Float,
        "NUMERIC" => LogicalType::Decimal,
        "TEXT" | "VARCHAR" | "CHAR" | "BPCHAR" | "NAME" | "CITEXT" | "INET" | "CIDR" => LogicalType::Text,
        "BYTEA" => LogicalType::Bytes,
        "DATE" => LogicalType::Date,
        "TIME" => LogicalType::Time,
        "TIMESTAMP" => LogicalType::Timestamp,
        "TIMESTAMPTZ" => LogicalType::Timestamptz,
        "UUID" => LogicalType::Uuid,
        "JSON" | "JSONB" => LogicalType::Json,
        n if n.ends_with("[]") => LogicalType::Array,
        _ => LogicalType::Other,
    }
}

/// How a column's values are decoded: chosen once per result from the
/// column's type, rather than by comparing its type name for every value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    Bytes,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Uuid,
    Json,
    Interval,
    Inet,
    Cidr,
    Array,
    /// No mapping: the wire payload, as text when it is text.
    Payload,
}

impl Decoder {
    pub fn for_type(info: &PgTypeInfo) -> Decoder {
        match info.kind() {
            PgTypeKind::Domain(base) => return Decoder::for_type(base),
            PgTypeKind::Array(_) => return Decoder::Array,
            PgTypeKind::Enum(_) => return Decoder::Text,
            _ => {}
        }
        match info.name() {
            "BOOL" => Decoder::Bool,
            "INT2" => Decoder::Int2,
            "INT4" => Decoder::Int4,
            "INT8" => Decoder::Int8,
            "OID" => Decoder::Oid,
            "FLOAT4" => Decoder::Float4,
            "FLOAT8" => Decoder::Float8,
            "NUMERIC" => Decoder::Numeric,
            "TEXT" | "VARCHAR" | "CHAR" | "NAME" | "BPCHAR" => Decoder::Text,
            "BYTEA" => Decoder::Bytes,
            "DATE" => Decoder::Date,
            "TIME" => Decoder::Time,
            "TIMESTAMP" => Decoder::Timestamp,
            "TIMESTAMPTZ" => Decoder::Timestamptz,
            "UUID" => Decoder::Uuid,
            "JSON" | "JSONB" => Decoder::Json,
            "INTERVAL" => Decoder::Interval,
            "INET" => Decoder::Inet,
            "CIDR" => Decoder::Cidr,
            _ => Decoder::Payload,
        }
    }
}

/// Decodes column `i` of a row, of type `info`, with the column's
/// [`Decoder`]. A value whose type has no mapping comes back as its wire
/// payload when that is text (xml, most extension types), else as hex:
/// never an error.
pub fn decode(row: &PgRow, i: usize, info: &PgTypeInfo, decoder: Decoder) -> Result<Value, Box<DbError>> {
    // NULL, or a value read by hand; otherwise sqlx decodes it below.
    if let Some(value) = row
        .binary_value(i)
        .and_then(|bytes| bytes.map_or(Some(Value::Null), |bytes| decode_binary(bytes, decoder)))
    {
        return Ok(value);
    }
    let raw = row.try_get_raw(i).map_err(crate::errors::from_sqlx)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    decode_as(raw, info, decoder)
}

fn decode_as(raw: PgValueRef<'_>, info: &PgTypeInfo, decoder: Decoder) -> Result<Value, Box<DbError>> {
    fn get<'r, T: Decode<'r, sqlx::Postgres>>(raw: PgValueRef<'r>) -> Result<T, Box<DbError>> {
        T::decode(raw).map_err(|e| Box::new(DbError::query(format!("cannot decode a value: {e}"))))
    }
    Ok(match decoder {
        Decoder::Bool => Value::Bool(get(raw)?),
        Decoder::Int2 => Value::Int(get::<i16>(raw)?.into()),
        Decoder::Int4 => Value::Int(get::<i32>(raw)?.into()),
        Decoder::Int8 => Value::Int(get(raw)?),
        Decoder::Oid => Value::Int(get::<sqlx::postgres::types::Oid>(raw)?.0.into()),
        Decoder::Float4 => Value::Float(get::<f32>(raw)?.into()),
        Decoder::Float8 => Value::Float(get(raw)?),
        Decoder::Numeric => numeric(raw)?,
        Decoder::Text => Value::Text(get(raw)?),
        Decoder::Bytes => Value::Bytes(get(raw)?),
        Decoder::Date => Value::Date(get::<NaiveDate>(raw)?),
        Decoder::Time => Value::Time(get::<NaiveTime>(raw)?),
        Decoder::Timestamp => Value::Timestamp(get::<NaiveDateTime>(raw)?),
        Decoder::Timestamptz => Value::Timestamptz(get::<DateTime<Utc>>(raw)?),
        Decoder::Uuid => Value::Uuid(get(raw)?),
        Decoder::Json => Value::Json(get(raw)?),
        Decoder::Interval => Value::Other(interval_text(&get::<PgInterval>(raw)?)),
        Decoder::Inet | Decoder::Cidr => {
            Value::Text(network_text(get::<IpNetwork>(raw)?, decoder == Decoder::Inet))
        }
        Decoder::Array => match element_type(info) {
            Some(element) => decode_array(raw, element)?,
            None => payload_text(raw.as_bytes().map_err(|e| DbError::query(e.to_string()))?),
        },
        Decoder::Payload => payload_text(raw.as_bytes().map_err(|e| DbError::query(e.to_string()))?),
    })
}

/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from 0001-01-01 (chrono's day 1) to 2000-01-01.
const POSTGRES_EPOCH_DAYS_FROM_CE: i32 = 730_120;

/// The commonest types read straight from their binary form, as the
/// server's `*send` functions write it (big-endian integers and floats,
/// microseconds and days from 2000-01-01, UTF-8 text): sqlx's decoders
/// would take a `PgValueRef`, which copies the column's type for every
/// value, and for dates add a duration to a date built anew each time.
/// `None` leaves the value to them: other types, infinities and dates
/// outside chrono's range, malformed payloads.
fn decode_binary(bytes: &[u8], decoder: Decoder) -> Option<Value> {
    Some(match decoder {
        Decoder::Bool => match bytes {
            [flag] => Value::Bool(*flag != 0),
            _ => return None,
        },
        Decoder::Int2 => Value::Int(i16::from_be_bytes(bytes.try_into().ok()?).into()),
        Decoder::Int4 => Value::Int(i32::from_be_bytes(bytes.try_into().ok()?).into()),
        Decoder::Int8 => Value::Int(i64::from_be_bytes(bytes.try_into().ok()?)),
        Decoder::Float4 => Value::Float(f32::from_be_bytes(bytes.try_into().ok()?).into()),
        Decoder::Float8 => Value::Float(f64::from_be_bytes(bytes.try_into().ok()?)),
        Decoder::Numeric => decimal(numeric_text(bytes)?),
        Decoder::Text => Value::Text(std::str::from_utf8(bytes).ok()?.to_owned()),
        Decoder::Date => Value::Date(date_from_days(i32::from_be_bytes(bytes.try_into().ok()?))?),
        Decoder::Timestamp => {
            Value::Timestamp(instant(i64::from_be_bytes(bytes.try_into().ok()?))?.naive_utc())
        }
        Decoder::Timestamptz => Value::Timestamptz(instant(i64::from_be_bytes(bytes.try_into().ok()?))?),
        Decoder::Uuid => Value::Uuid(uuid::Uuid::from_bytes(bytes.try_into().ok()?)),
        _ => return None,
    })
}

/// A date from its days since 2000-01-01.
fn date_from_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(POSTGRES_EPOCH_DAYS_FROM_CE)?)
}

/// An instant from its microseconds since 2000-01-01 00:00 UTC.
fn instant(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros.checked_add(POSTGRES_EPOCH_MICROS)?)
}

/// The element type of an array type, seen through domains.
fn element_type(info: &PgTypeInfo) -> Option<&PgTypeInfo> {
    match info.kind() {
        PgTypeKind::Domain(base) => element_type(base),
        PgTypeKind::Array(element) => Some(element),
        _ => None,
    }
}

fn decode_array(raw: PgValueRef<'_>, element: &PgTypeInfo) -> Result<Value, Box<DbError>> {
    fn items<T>(raw: PgValueRef<'_>, to_value: impl Fn(T) -> Value) -> Option<Value>
    where
        T: for<'a> Decode<'a, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        let items = <Vec<Option<T>> as Decode<sqlx::Postgres>>::decode(raw).ok()?;
        Some(Value::Array(items.into_iter().map(|item| item.map_or(Value::Null, &to_value)).collect()))
    }
    let bytes = raw.as_bytes().map_err(|e| DbError::query(e.to_string()))?;
    let typed = match element.name() {
        "BOOL" => items::<bool>(raw, Value::Bool),
        "INT2" => items::<i16>(raw, |v| Value::Int(v.into())),
        "INT4" => items::<i32>(raw, |v| Value::Int(v.into())),
        "INT8" => items::<i64>(raw, Value::Int),
        "FLOAT4" => items::<f32>(raw, |v| Value::Float(v.into())),
        "FLOAT8" => items::<f64>(raw, Value::Float),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => items::<String>(raw, Value::Text),
        "BYTEA" => items::<Vec<u8>>(raw, Value::Bytes),
        "DATE" => items::<NaiveDate>(raw, Value::Date),
        "TIME" => items::<NaiveTime>(raw, Value::Time),
        "TIMESTAMP" => items::<NaiveDateTime>(raw, Value::Timestamp),
        "TIMESTAMPTZ" => items::<DateTime<Utc>>(raw, Value::Timestamptz),
        "UUID" => items::<uuid::Uuid>(raw, Value::Uuid),
        "JSONB" | "JSON" => items::<serde_json::Value>(raw, Value::Json),
        _ => None,
    };
    typed
        .or_else(|| array_by_hand(bytes))
        .ok_or_else(|| Box::new(DbError::query("malformed array value from the server")))
}

/// PostgreSQL's binary array layout, read here for what sqlx's `Vec<T>`
/// does not take (several dimensions, element types without a mapping):
/// dimension count, null flag, element type OID, then length and lower bound
/// per dimension, then each element as a length-prefixed payload (-1: NULL).
/// Dimensions nest as arrays of arrays.
fn array_by_hand(bytes: &[u8]) -> Option<Value> {
    let mut cursor = Cursor { bytes, at: 0 };
    let dimensions = usize::try_from(cursor.i32()?).ok()?;
    let _has_nulls = cursor.i32()?;
    let element_oid = cursor.i32()? as u32;
    let mut lengths = Vec::with_capacity(dimensions);
    for _ in 0..dimensions {
        lengths.push(usize::try_from(cursor.i32()?).ok()?);
        let _lower_bound = cursor.i32()?;
    }
    let count = if dimensions == 0 { 0 } else { lengths.iter().product() };
    let mut elements = Vec::with_capacity(count);
    for _ in 0..count {
        let length = cursor.i32()?;
        elements.push(match usize::try_from(length) {
            Ok(length) => element_by_hand(element_oid, cursor.take(length)?),
            Err(_) => Value::Null,
        });
    }
    Some(nest(&lengths, &mut elements.into_iter()))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

fn nest(lengths: &[usize], elements: &mut impl Iterator<Item = Value>) -> Value {
    match lengths {
        [] => Value::Array(Vec::new()),
        [n] => Value::Array(elements.by_ref().take(*n).collect()),
        [n, inner @ ..] => Value::Array((0..*n).map(|_| nest(inner, elements)).collect()),
    }
}

/// Elements of the built-in scalar types by their binary form (big-endian);
/// any other element as its payload: text when it is text, else hex.
fn element_by_hand(oid: u32, payload: &[u8]) -> Value {
    let fixed = |n: usize| (payload.len() == n).then_some(payload);
    match oid {
        16 => fixed(1).map(|b| Value::Bool(b[0] != 0)),
        21 => fixed(2).map(|b| Value::Int(i16::from_be_bytes([b[0], b[1]]).into())),
        23 => fixed(4).and_then(|b| b.try_into().ok()).map(|b| Value::Int(i32::from_be_bytes(b).into())),
        20 => fixed(8).and_then(|b| b.try_into().ok()).map(|b| Value::Int(i64::from_be_bytes(b))),
        700 => fixed(4).and_then(|b| b.try_into().ok()).map(|b| Value::Float(f32::from_be_bytes(b).into())),
        701 => fixed(8).and_then(|b| b.try_into().ok()).map(|b| Value::Float(f64::from_be_bytes(b))),
        19 | 25 | 1042 | 1043 => std::str::from_utf8(payload).ok().map(|t| Value::Text(t.to_owned())),
        1700 => numeric_text(payload).map(decimal),
        _ => None,
    }
    .unwrap_or_else(|| payload_text(payload))
}

fn payload_text(payload: &[u8]) -> Value {
    match std::str::from_utf8(payload) {
        Ok(text) => Value::Other(text.to_owned()),
        Err(_) => Value::Other(payload.iter().map(|b| format!("{b:02x}")).collect()),
    }
}

/// An exact decimal at the scale PostgreSQL keeps (`12.50`, not `12.5`);
/// NaN and infinities in PostgreSQL's text form.
fn numeric(raw: PgValueRef<'_>) -> Result<Value, Box<DbError>> {
    let bytes = raw.as_bytes().map_err(|e| DbError::query(e.to_string()))?;
    let text =
        numeric_text(bytes).ok_or_else(|| DbError::query("malformed numeric value from the server"))?;
    Ok(decimal(text))
}

fn decimal(text: String) -> Value {
    match text.as_str() {
        "NaN" | "Infinity" | "-Infinity" => Value::Other(text),
        _ => Value::Decimal(text),
    }
}

/// PostgreSQL's own interval output (`1 year 2 mons 3 days 04:05:06.5`).
fn interval_text(interval: &PgInterval) -> String {
    let mut parts = Vec::new();
    let (years, months) = (interval.months / 12, interval.months % 12);
    let plural = |n: i32, unit: &str, units: &str| format!("{n} {}", if n.abs() == 1 { unit } else { units });
    if years != 0 {
        parts.push(plural(years, "year", "years"));
    }
    if months != 0 {
        parts.push(plural(months, "mon", "mons"));
    }
    if interval.days != 0 {
        parts.push(plural(interval.days, "day", "days"));
    }
    let micros = interval.microseconds;
    if micros != 0 || parts.is_empty() {
        let sign = if micros < 0 { "-" } else { "" };
        let micros = micros.unsigned_abs();
        let (hours, rest) = (micros / 3_600_000_000, micros % 3_600_000_000);
        let (minutes, rest) = (rest / 60_000_000, rest % 60_000_000);
        let (seconds, fraction) = (rest / 1_000_000, rest % 1_000_000);
        let mut clock = format!("{sign}{hours:02}:{minutes:02}:{seconds:02}");
        if fraction != 0 {
            clock.push_str(format!(".{fraction:06}").trim_end_matches('0'));
        }
        parts.push(clock);
    }
    parts.join(" ")
}

/// `inet` prints a host without its /32 (or /128), as PostgreSQL does.
fn network_text(network: IpNetwork, is_inet: bool) -> String {
    let host_prefix = if network.is_ipv4() { 32 } else { 128 };
    if is_inet && network.prefix() == host_prefix { network.ip().to_string() } else { network.to_string() }
}

/// Binds `value` as the type the server inferred for parameter `position`.
pub fn bind(
    args: &mut PgArguments,
    position: usize,
    info: &PgTypeInfo,
    value: &Value,
) -> Result<(), DbError> {
    let bad = |wanted: &str| {
        DbError::invalid_argument(format!(
            "parameter ${position}: cannot use {} as {wanted}",
            value.to_json()
        ))
    };
    let text = value.to_text();
    let name = match info.kind() {
        PgTypeKind::Domain(base) => base.name().to_owned(),
        PgTypeKind::Enum(_) => "TEXT".to_owned(),
        _ => info.name().to_owned(),
    };
    let null = value.is_null();
    macro_rules! put {
        ($ty:ty, $conv:expr) => {{
            let converted: Option<$ty> = if null { None } else { Some($conv.ok_or_else(|| bad(&name))?) };
            args.add(converted).map_err(|e| DbError::invalid_argument(format!("parameter ${position}: {e}")))
        }};
    }
    match name.as_str() {
        "BOOL" => put!(
            bool,
            match value {
                Value::Bool(b) => Some(*b),
                Value::Int(0) => Some(false),
                Value::Int(1) => Some(true),
                _ => text.parse().ok(),
            }
        ),
        "INT2" => put!(i16, integer(value).and_then(|i| i16::try_from(i).ok())),
        "INT4" => put!(i32, integer(value).and_then(|i| i32::try_from(i).ok())),
        "INT8" => put!(i64, integer(value)),
        "FLOAT4" => put!(f32, float(value).map(|f| f as f32)),
        "FLOAT8" => put!(f64, float(value)),
        "NUMERIC" => put!(BigDecimal, text.parse::<BigDecimal>().ok()),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "UNKNOWN" => put!(String, Some(text.clone())),
        "BYTEA" => put!(
            Vec<u8>,
            match value {
                Value::Bytes(b) => Some(b.clone()),
                _ => Some(text.clone().into_bytes()),
            }
        ),
        "DATE" => put!(
            NaiveDate,
            match value {
                Value::Date(d) => Some(*d),
                _ => NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok(),
            }
        ),
        "TIME" => put!(
            NaiveTime,
            match value {
                Value::Time(t) => Some(*t),
                _ => NaiveTime::parse_from_str(&text, "%H:%M:%S%.f").ok(),
            }
        ),
        "TIMESTAMP" => put!(
            NaiveDateTime,
            match value {
                Value::Timestamp(t) => Some(*t),
                _ => ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                    .iter()
                    .find_map(|f| NaiveDateTime::parse_from_str(&text, f).ok()),
            }
        ),
        "TIMESTAMPTZ" => put!(
            DateTime<Utc>,
            match value {
                Value::Timestamptz(t) => Some(*t),
                _ => DateTime::parse_from_rfc3339(&text).ok().map(|t| t.with_timezone(&Utc)),
            }
        ),
        "UUID" => put!(
            uuid::Uuid,
            match value {
                Value::Uuid(u) => Some(*u),
                _ => uuid::Uuid::parse_str(&text).ok(),
            }
        ),
        "JSON" | "JSONB" => put!(
            serde_json::Value,
            Some(match value {
                Value::Json(j) => j.clone(),
                other => other.to_json(),
            })
        ),
        other => Err(DbError::invalid_argument(format!(
            "parameter ${position} has type {other}, which cannot be bound directly; \
             cast it in the SQL, e.g. ${position}::text"
        ))),
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        Value::Float(f) if f.fract() == 0.0 => Some(*f as i64),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Decimal(s) | Value::Text(s) => s.parse().ok(),
        _ => None,
    }
}

fn float(value: &Value) -> Option<f64> {
    match value {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Decimal(s) | Value::Text(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_dates_and_instants_count_from_2000() {
        let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        assert_eq!(date_from_days(0), Some(epoch));
        assert_eq!(date_from_days(-1), NaiveDate::from_ymd_opt(1999, 12, 31));
        assert_eq!(date_from_days(i32::MAX), None, "PostgreSQL's infinity");
        assert_eq!(instant(0).map(|t| t.naive_utc()), epoch.and_hms_opt(0, 0, 0));
        assert_eq!(
            instant(-1).map(|t| t.naive_utc()),
            NaiveDate::from_ymd_opt(1999, 12, 31).unwrap().and_hms_micro_opt(23, 59, 59, 999_999)
        );
        assert_eq!(instant(i64::MAX), None, "PostgreSQL's infinity");
    }

    #[test]
    fn type_names_map_to_logical_types() {
        let cases = [
            ("BOOL", LogicalType::Bool),
            ("INT4", LogicalType::Int),
            ("FLOAT8", LogicalType::Float),
            ("NUMERIC", LogicalType::Decimal),
            ("VARCHAR", LogicalType::Text),
            ("BYTEA", LogicalType::Bytes),
            ("TIMESTAMPTZ", LogicalType::Timestamptz),
            ("JSONB", LogicalType::Json),
            ("INT4[]", LogicalType::Array),
            ("INTERVAL", LogicalType::Other),
            ("INET", LogicalType::Text),
        ];
        for (name, logical) in cases {
            assert_eq!(logical_type_of_name(name), logical, "{name}");
        }
    }

    #[test]
    fn intervals_print_like_postgresql() {
        let i = |months, days, microseconds| interval_text(&PgInterval { months, days, microseconds });
        assert_eq!(
            i(14, 3, 4 * 3_600_000_000 + 5 * 60_000_000 + 6_500_000),
            "1 year 2 mons 3 days 04:05:06.5"
        );
        assert_eq!(i(0, 1, 0), "1 day");
        assert_eq!(i(0, 0, 0), "00:00:00");
        assert_eq!(i(0, 0, -90_000_000), "-00:01:30");
    }
}
