//! The value model shared by every engine, and its JSON form.
//!
//! Drivers convert engine values into [`Value`] so that results from different
//! engines can be printed, compared and exported the same way.

// Drivers outside this workspace build and match these types: a field or
// variant added later must not break them.
#![warn(clippy::exhaustive_structs, clippy::exhaustive_enums)]

use std::borrow::Cow;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Serialize, Serializer};

mod iso_text;

use iso_text::IsoText;

/// The engine-independent type of a column or value.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LogicalType {
    Null,
    Bool,
    Int,
    Float,
    Decimal,
    Text,
    Bytes,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Uuid,
    Json,
    Array,
    Other,
}

impl LogicalType {
    pub fn as_str(self) -> &'static str {
        match self {
            LogicalType::Null => "null",
            LogicalType::Bool => "bool",
            LogicalType::Int => "int",
            LogicalType::Float => "float",
            LogicalType::Decimal => "decimal",
            LogicalType::Text => "text",
            LogicalType::Bytes => "bytes",
            LogicalType::Date => "date",
            LogicalType::Time => "time",
            LogicalType::Timestamp => "timestamp",
            LogicalType::Timestamptz => "timestamptz",
            LogicalType::Uuid => "uuid",
            LogicalType::Json => "json",
            LogicalType::Array => "array",
            LogicalType::Other => "other",
        }
    }
}

impl std::fmt::Display for LogicalType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value of a result row.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// Unsigned integers that may exceed `i64` (MySQL `BIGINT UNSIGNED`).
    UInt(u64),
    Float(f64),
    /// Exact decimal in its canonical text form, e.g. `"12.50"`.
    Decimal(String),
    Text(String),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    Timestamp(NaiveDateTime),
    Timestamptz(DateTime<Utc>),
    Uuid(uuid::Uuid),
    Json(serde_json::Value),
    Array(Vec<Value>),
    /// A value with no better mapping, in the engine's own text form.
    Other(String),
}

/// Integers beyond ±2^53 lose precision as JSON numbers in most clients.
const JSON_SAFE_INT: i64 = 1 << 53;

impl Value {
    pub fn logical_type(&self) -> LogicalType {
        match self {
            Value::Null => LogicalType::Null,
            Value::Bool(_) => LogicalType::Bool,
            Value::Int(_) | Value::UInt(_) => LogicalType::Int,
            Value::Float(_) => LogicalType::Float,
            Value::Decimal(_) => LogicalType::Decimal,
            Value::Text(_) => LogicalType::Text,
            Value::Bytes(_) => LogicalType::Bytes,
            Value::Date(_) => LogicalType::Date,
            Value::Time(_) => LogicalType::Time,
            Value::Timestamp(_) => LogicalType::Timestamp,
            Value::Timestamptz(_) => LogicalType::Timestamptz,
            Value::Uuid(_) => LogicalType::Uuid,
            Value::Json(_) => LogicalType::Json,
            Value::Array(_) => LogicalType::Array,
            Value::Other(_) => LogicalType::Other,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The JSON form of DESIGN.md's value table.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) if (-JSON_SAFE_INT..=JSON_SAFE_INT).contains(i) => J::from(*i),
            Value::Int(i) => J::String(i.to_string()),
            Value::UInt(u) if *u <= JSON_SAFE_INT as u64 => J::from(*u),
            Value::UInt(u) => J::String(u.to_string()),
            Value::Float(f) if f.is_nan() => J::String("NaN".into()),
            Value::Float(f) if f.is_infinite() => {
                J::String(if *f > 0.0 { "Infinity" } else { "-Infinity" }.into())
            }
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Decimal(s) | Value::Text(s) | Value::Other(s) => J::String(s.clone()),
            Value::Bytes(b) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
            Value::Date(_)
            | Value::Time(_)
            | Value::Timestamp(_)
            | Value::Timestamptz(_)
            | Value::Uuid(_) => J::String(self.to_text()),
            Value::Json(j) => j.clone(),
            Value::Array(items) => J::Array(items.iter().map(Value::to_json).collect()),
        }
    }

    /// [`Value::to_json`], moving strings into the JSON rather than copying them.
    pub fn into_json(self) -> serde_json::Value {
        match self {
            Value::Decimal(s) | Value::Text(s) | Value::Other(s) => serde_json::Value::String(s),
            Value::Json(j) => j,
            Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(Value::into_json).collect())
            }
            other => other.to_json(),
        }
    }

    /// A plain text form for tables and CSV: strings unquoted, NULL empty.
    pub fn to_text(&self) -> String {
        self.text().into_owned()
    }

    /// [`Value::to_text`], borrowing what is text already.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Value::Decimal(s) | Value::Text(s) | Value::Other(s) => Cow::Borrowed(s),
            Value::Null => Cow::Borrowed(""),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            _ => {
                let mut text = String::with_capacity(32);
                self.write_text(&mut text);
                Cow::Owned(text)
            }
        }
    }

    /// Appends [`Value::to_text`] to `out`, so that an export writes every
    /// value through one buffer instead of a string of its own.
    pub fn write_text(&self, out: &mut String) {
        use std::fmt::Write as _;
        // Writing to a `String` cannot fail.
        let _ = match self {
            Value::Decimal(s) | Value::Text(s) | Value::Other(s) => {
                out.push_str(s);
                Ok(())
            }
            Value::Null => Ok(()),
            Value::Bool(b) => {
                out.push_str(if *b { "true" } else { "false" });
                Ok(())
            }
            Value::Int(i) => {
                out.push_str(itoa::Buffer::new().format(*i));
                Ok(())
            }
            Value::UInt(u) => {
                out.push_str(itoa::Buffer::new().format(*u));
                Ok(())
            }
            Value::Uuid(u) => write!(out, "{u}"),
            Value::Float(_) | Value::Bytes(_) | Value::Json(_) | Value::Array(_) => match self.to_json() {
                serde_json::Value::String(s) => {
                    out.push_str(&s);
                    Ok(())
                }
                other => write!(out, "{other}"),
            },
            Value::Date(_) | Value::Time(_) | Value::Timestamp(_) | Value::Timestamptz(_) => {
                if let Some(text) = self.date_time() {
                    out.push_str(text.as_str());
                }
                Ok(())
            }
        };
    }

    /// Dates and times in their ISO 8601 form.
    fn date_time(&self) -> Option<IsoText> {
        Some(match self {
            Value::Date(d) => iso_text::date(*d),
            Value::Time(t) => iso_text::time(*t),
            Value::Timestamp(ts) => iso_text::date_time(*ts, false),
            Value::Timestamptz(ts) => iso_text::date_time(ts.naive_utc(), true),
            _ => return None,
        })
    }
}

impl Value {
    /// About how many bytes the value takes in a JSON answer: what result
    /// byte bounds count. Exact for text; an upper estimate for the rest.
    pub fn json_size(&self) -> usize {
        match self {
            Value::Null | Value::Bool(_) => 5,
            Value::Int(_) | Value::UInt(_) | Value::Float(_) => 22,
            Value::Decimal(s) | Value::Text(s) | Value::Other(s) => s.len() + 2,
            Value::Bytes(b) => b.len().div_ceil(3) * 4 + 2,
            Value::Date(_)
            | Value::Time(_)
            | Value::Timestamp(_)
            | Value::Timestamptz(_)
            | Value::Uuid(_) => 40,
            Value::Json(j) => json_size(j),
            Value::Array(items) => items.iter().map(|v| v.json_size() + 1).sum::<usize>() + 2,
        }
    }

    /// Cuts the value so that its JSON form takes at most `max_bytes`
    /// ([`Value::json_size`]): text and bytes to their first bytes (on a
    /// character boundary), JSON and arrays to the start of their JSON text.
    /// Other values are small and stay whole. Tells whether it was cut.
    pub fn cut_to(&mut self, max_bytes: usize) -> bool {
        if self.json_size() <= max_bytes {
            return false;
        }
        let room = max_bytes.saturating_sub(2);
        match self {
            Value::Decimal(s) | Value::Text(s) | Value::Other(s) => s.truncate(s.floor_char_boundary(room)),
            Value::Bytes(b) => b.truncate(room / 4 * 3),
            Value::Json(_) | Value::Array(_) => {
                let mut text = self.to_json().to_string();
                text.truncate(text.floor_char_boundary(room));
                *self = Value::Text(text);
            }
            _ => return false,
        }
        true
    }

    /// A bound parameter from its JSON form: numbers stay numbers, strings
    /// are text, arrays and objects are JSON.
    pub fn from_json_param(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Value::Int(i),
                (None, Some(u)) => Value::UInt(u),
                _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::Text(s.clone()),
            J::Array(_) | J::Object(_) => Value::Json(json.clone()),
        }
    }
}

/// Most values are written from the value itself: going through
/// [`Value::to_json`] would make a string of every string, date and time of
/// a result first.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) if (-JSON_SAFE_INT..=JSON_SAFE_INT).contains(i) => serializer.serialize_i64(*i),
            Value::Decimal(s) | Value::Text(s) | Value::Other(s) => serializer.serialize_str(s),
            Value::Uuid(u) => serializer.collect_str(u),
            Value::Json(j) => j.serialize(serializer),
            Value::Array(items) => serializer.collect_seq(items),
            other => match other.date_time() {
                Some(text) => serializer.serialize_str(text.as_str()),
                None => other.to_json().serialize(serializer),
            },
        }
    }
}

/// A value is written as the JSON its logical type calls for (see
/// [`Value::to_json`]), so its schema admits any JSON value.
impl schemars::JsonSchema for Value {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Value".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "null, a boolean, a number, a string (integers beyond 2^53, NaN and \
                            infinities, decimals in exact text, text, dates and times in ISO 8601, UUIDs, \
                            bytes in base64), JSON as itself, or an array of values"
        })
    }
}

fn json_size(json: &serde_json::Value) -> usize {
    use serde_json::Value as J;
    match json {
        J::Null | J::Bool(_) => 5,
        J::Number(_) => 22,
        J::String(s) => s.len() + 2,
        J::Array(items) => items.iter().map(|v| json_size(v) + 1).sum::<usize>() + 2,
        J::Object(map) => map.iter().map(|(k, v)| k.len() + 4 + json_size(v)).sum::<usize>() + 2,
    }
}

/// A result row: one value per column, in column order.
pub type Row = Vec<Value>;

/// A row of the values `decode` gives for each of `columns`, or the first
/// error. Collecting into a `Result` hides how many values come, so the row
/// would grow to twice its width (8 slots for 5 columns): a quarter of a
/// large result's memory (BENCHMARKS.md, "One encoding").
pub fn decode_row<C, E>(
    columns: impl ExactSizeIterator<Item = C>,
    mut decode: impl FnMut(C) -> Result<Value, E>,
) -> Result<Row, E> {
    let mut row = Vec::with_capacity(columns.len());
    for column in columns {
        row.push(decode(column)?);
    }
    Ok(row)
}

/// A result column: its name, the engine's own type name and the logical type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub native_type: String,
    pub logical_type: LogicalType,
}

impl Column {
    pub fn new(name: impl Into<String>, native_type: impl Into<String>, logical_type: LogicalType) -> Self {
        Column { name: name.into(), native_type: native_type.into(), logical_type }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_forms_follow_the_design_table() {
        let date = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let time = NaiveTime::from_hms_milli_opt(13, 45, 0, 123).unwrap();
        let cases = [
            (Value::Null, json!(null)),
            (Value::Bool(true), json!(true)),
            (Value::Int(42), json!(42)),
            (Value::Int(1 << 53), json!(9007199254740992_i64)),
            (Value::Int((1 << 53) + 1), json!("9007199254740993")),
            (Value::Int(i64::MIN), json!("-9223372036854775808")),
            (Value::UInt(u64::MAX), json!("18446744073709551615")),
            (Value::Float(1.5), json!(1.5)),
            (Value::Float(f64::NAN), json!("NaN")),
            (Value::Float(f64::INFINITY), json!("Infinity")),
            (Value::Float(f64::NEG_INFINITY), json!("-Infinity")),
            (Value::Decimal("12.50".into()), json!("12.50")),
            (Value::Text("héllo".into()), json!("héllo")),
            (Value::Bytes(vec![0, 1, 2, 255]), json!("AAEC/w==")),
            (Value::Date(date), json!("2024-05-01")),
            (Value::Time(time), json!("13:45:00.123")),
            (Value::Timestamp(date.and_time(time)), json!("2024-05-01T13:45:00.123")),
            (Value::Timestamptz(date.and_time(time).and_utc()), json!("2024-05-01T13:45:00.123Z")),
            (
                Value::Uuid(uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap()),
                json!("67e55044-10b1-426f-9247-bb680e5fe0c8"),
            ),
            (Value::Json(json!({"a": [1, 2]})), json!({"a": [1, 2]})),
            (Value::Array(vec![Value::Int(1), Value::Null]), json!([1, null])),
            (Value::Other("1 day".into()), json!("1 day")),
        ];
        for (value, expected) in cases {
            assert_eq!(value.to_json(), expected, "{value:?}");
            assert_eq!(value.clone().into_json(), expected, "{value:?}");
            // Serialized straight to text, and to a JSON tree, the same.
            assert_eq!(serde_json::to_string(&value).unwrap(), expected.to_string(), "{value:?}");
            assert_eq!(serde_json::to_value(&value).unwrap(), expected, "{value:?}");
        }
    }

    #[test]
    fn json_parameters_keep_their_type() {
        assert_eq!(Value::from_json_param(&json!(5)), Value::Int(5));
        assert_eq!(Value::from_json_param(&json!(u64::MAX)), Value::UInt(u64::MAX));
        assert_eq!(Value::from_json_param(&json!(1.5)), Value::Float(1.5));
        assert_eq!(Value::from_json_param(&json!("x")), Value::Text("x".into()));
        assert_eq!(Value::from_json_param(&json!({"a": 1})), Value::Json(json!({"a": 1})));
    }

    #[test]
    fn text_forms_are_the_same_through_one_buffer() {
        let date = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let time = NaiveTime::from_hms_milli_opt(13, 45, 0, 123).unwrap();
        let cases = [
            (Value::Null, ""),
            (Value::Bool(false), "false"),
            (Value::Int(i64::MIN), "-9223372036854775808"),
            (Value::UInt(u64::MAX), "18446744073709551615"),
            (Value::Float(1.5), "1.5"),
            (Value::Float(f64::NAN), "NaN"),
            (Value::Decimal("12.50".into()), "12.50"),
            (Value::Text("a,\"b\"".into()), "a,\"b\""),
            (Value::Bytes(vec![0, 1, 2, 255]), "AAEC/w=="),
            (Value::Date(date), "2024-05-01"),
            (Value::Time(time), "13:45:00.123"),
            (Value::Timestamptz(date.and_time(time).and_utc()), "2024-05-01T13:45:00.123Z"),
            (Value::Uuid(uuid::Uuid::nil()), "00000000-0000-0000-0000-000000000000"),
            (Value::Json(json!({"a": [1, 2]})), r#"{"a":[1,2]}"#),
            (Value::Array(vec![Value::Int(1), Value::Null]), "[1,null]"),
            (Value::Other("1 day".into()), "1 day"),
        ];
        let mut buffer = String::from("left over");
        for (value, expected) in cases {
            assert_eq!(value.text(), expected, "{value:?}");
            buffer.clear();
            value.write_text(&mut buffer);
            assert_eq!(buffer, expected, "{value:?}");
        }
    }

    #[test]
    fn whole_seconds_print_without_a_fraction() {
        let ts = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        assert_eq!(Value::Timestamp(ts).to_text(), "2024-05-01T00:00:00");
    }
}
