//! The text a row is checksummed as, and its hash.
//!
//! Every engine that checksums rows in SQL writes this same text for the same
//! values, so that equal rows give equal hashes whatever the engine: each
//! column in the order compared, by the class of its normalised value
//! ([`crate::compare::normalize`]) and its length, so that no two different
//! rows write the same text:
//!
//! | value | text |
//! |---|---|
//! | NULL | `N` |
//! | number (integers, decimals, booleans as 1/0) | `n` + length + `:` + the canonical decimal (`12.5`, not `12.50`) |
//! | text, dates, times, timestamps, UUIDs | `t` + length + `:` + the text (dates `2024-05-01`, times `11:45:00.000000`, timestamps `2024-05-01T11:45:00.000000`, UTC ones ending in `Z`, UUIDs lowercase) |
//! | bytes | `b` + length + `:` + lowercase hex |
//! | JSON, arrays | `j` + length + `:` + the JSON |
//!
//! Lengths count characters. A row's hash is the first 15 hex digits of the
//! MD5 of its text, as an integer (60 bits, so that an engine's exact sum of
//! many never overflows its decimal type).

use md5::{Digest, Md5};

use crate::compare::{Normalized, normalize};
use crate::value::Value;

/// Appends one value's text to `out`.
pub fn push_value_text(out: &mut String, value: &Value) {
    use std::fmt::Write;
    let (tag, text) = match normalize(value) {
        Normalized::Null => {
            out.push('N');
            return;
        }
        Normalized::Number(text) => ('n', text),
        Normalized::Text(text) => ('t', text),
        Normalized::Bytes(bytes) => (
            'b',
            bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut hex, b| {
                let _ = write!(hex, "{b:02x}");
                hex
            }),
        ),
        Normalized::Json(text) => ('j', text),
    };
    let _ = write!(out, "{tag}{}:{text}", text.chars().count());
}

/// The text of a row of values, in the order given.
pub fn row_text<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for value in values {
        push_value_text(&mut out, value);
    }
    out
}

/// The hash of a row's text: its MD5's first 60 bits.
pub fn text_hash(text: &str) -> i64 {
    let digest = Md5::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 60 bits always fit an i64.
    (u64::from_be_bytes(first) >> 4) as i64
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};

    use super::*;

    #[test]
    fn every_class_writes_its_tag_and_length() {
        let date = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let row = [
            Value::Null,
            Value::Int(-42),
            Value::Decimal("12.50".into()),
            Value::Bool(true),
            Value::Text("héllo".into()),
            Value::Bytes(vec![0, 0xab]),
            Value::Date(date),
            Value::Timestamp(date.and_hms_micro_opt(11, 45, 0, 120).unwrap()),
            Value::Timestamptz(Utc.with_ymd_and_hms(2024, 5, 1, 11, 45, 0).unwrap()),
            Value::Json(serde_json::json!({"a": 1})),
        ];
        assert_eq!(
            row_text(&row),
            "Nn3:-42n4:12.5n1:1t5:héllob4:00abt10:2024-05-01t26:2024-05-01T11:45:00.000120\
             t27:2024-05-01T11:45:00.000000Zj7:{\"a\":1}"
        );
    }

    #[test]
    fn equal_values_of_other_engines_write_the_same_text() {
        assert_eq!(row_text(&[Value::Int(5)]), row_text(&[Value::Decimal("5.00".into())]));
        assert_eq!(row_text(&[Value::UInt(1)]), row_text(&[Value::Bool(true)]));
        assert_ne!(row_text(&[Value::Int(5)]), row_text(&[Value::Text("5".into())]));
    }

    #[test]
    fn column_boundaries_cannot_be_confused() {
        let split = |a: &str, b: &str| row_text(&[Value::Text(a.into()), Value::Text(b.into())]);
        assert_ne!(split("ab", "c"), split("a", "bc"));
        assert_ne!(row_text(&[Value::Null, Value::Text("x".into())]), row_text(&[Value::Text("N".into())]));
    }

    #[test]
    fn hash_is_the_md5_prefix() {
        // md5("") = d41d8cd98f00b204e9800998ecf8427e; its first 15 hex digits.
        assert_eq!(text_hash(""), 0x0d41d8cd98f00b20_i64);
        assert!(text_hash("anything") >= 0);
    }
}
