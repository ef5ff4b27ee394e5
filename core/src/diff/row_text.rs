//! The text a row is checksummed as, and its hash.
//!
//! Every engine that checksums rows in SQL writes this same text for the same
//! values, so that equal rows give equal hashes whatever the engine: each
//! column in the order compared, by the class of its normalised value
//! ([`crate::compare::normalize`]), written so that no two different rows
//! write the same text. Values whose characters never include `|` end with
//! it; others give their length first:
//!
//! | value | text |
//! |---|---|
//! | NULL | `N` |
//! | number (integers, decimals, booleans as 1/0) | `n` + the canonical decimal (`12.5`, not `12.50`) + `\|` |
//! | text, dates, times, timestamps, UUIDs, without `\|` | `t` + the text + `\|` (dates `2024-05-01`, times `11:45:00.000000`, timestamps `2024-05-01T11:45:00.000000`, UTC ones ending in `Z`, UUIDs lowercase) |
//! | text with a `\|` | `T` + its length + `:` + the text |
//! | bytes | `b` + lowercase hex + `\|` |
//! | JSON, arrays | `J` + its length + `:` + the JSON |
//!
//! Lengths count characters. Engines write a date's text without looking for
//! `|`: it has none. A row's hash is the first 15 hex digits of the MD5 of
//! its text, as an integer (60 bits, so that an engine's exact sum of many
//! never overflows its decimal type).

use md5::{Digest, Md5};

use crate::compare::{Normalized, normalize};
use crate::value::Value;

/// Appends one value's text to `out`.
pub fn push_value_text(out: &mut String, value: &Value) {
    use std::fmt::Write;
    match normalize(value) {
        Normalized::Null => out.push('N'),
        Normalized::Number(text) => {
            let _ = write!(out, "n{text}|");
        }
        Normalized::Text(text) if !text.contains('|') => {
            let _ = write!(out, "t{text}|");
        }
        Normalized::Text(text) => {
            let _ = write!(out, "T{}:{text}", text.chars().count());
        }
        Normalized::Bytes(bytes) => {
            out.push('b');
            for byte in bytes {
                let _ = write!(out, "{byte:02x}");
            }
            out.push('|');
        }
        Normalized::Json(text) => {
            let _ = write!(out, "J{}:{text}", text.chars().count());
        }
    }
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
    fn every_class_writes_its_tag_and_end() {
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
            "Nn-42|n12.5|n1|théllo|b00ab|t2024-05-01|t2024-05-01T11:45:00.000120|\
             t2024-05-01T11:45:00.000000Z|J7:{\"a\":1}"
        );
        assert_eq!(row_text(&[Value::Text("a|b".into())]), "T3:a|b");
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
        assert_ne!(split("a|", "b"), split("a", "|b"));
        assert_ne!(split("t", "x|"), split("t|tx", "|"));
        assert_ne!(row_text(&[Value::Null, Value::Text("x".into())]), row_text(&[Value::Text("N".into())]));
    }

    #[test]
    fn hash_is_the_md5_prefix() {
        // md5("") = d41d8cd98f00b204e9800998ecf8427e; its first 15 hex digits.
        assert_eq!(text_hash(""), 0x0d41d8cd98f00b20_i64);
        assert!(text_hash("anything") >= 0);
    }
}
