//! Row keys: their normalised form, and the order the streaming comparison
//! merges rows in.

use std::cmp::Ordering;

use crate::compare::{Normalized, normalize};
use crate::value::{LogicalType, Value};

/// A row's key, normalised so that equal keys of different engines are equal.
pub(super) type Key = Vec<Normalized>;

pub(super) fn key_of(values: &[Value]) -> Key {
    values.iter().map(normalize).collect()
}

/// The order engines sort keys in when asked for numbers by value and text by
/// code point ([`super::DiffDialect::binary_order`]).
pub(super) fn key_cmp(a: &Key, b: &Key) -> Ordering {
    a.iter().zip(b).map(|(a, b)| value_cmp(a, b)).find(|o| o.is_ne()).unwrap_or(a.len().cmp(&b.len()))
}

fn value_cmp(a: &Normalized, b: &Normalized) -> Ordering {
    match (a, b) {
        (Normalized::Number(a), Normalized::Number(b)) => decimal_cmp(a, b).unwrap_or_else(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}

/// Compares two canonical decimals (`-12.5`, `3`) by value; `None` when one
/// is not a plain decimal (`NaN`). Hand-rolled: canonical text compares in a
/// few lines, where a big-decimal crate would parse every key.
fn decimal_cmp(a: &str, b: &str) -> Option<Ordering> {
    fn parse(s: &str) -> Option<(bool, &str, &str)> {
        let (negative, digits) = s.strip_prefix('-').map_or((false, s), |rest| (true, rest));
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let plain = !whole.is_empty() && whole.chars().chain(fraction.chars()).all(|c| c.is_ascii_digit());
        plain.then_some((negative, whole, fraction))
    }
    let ((a_neg, a_whole, a_frac), (b_neg, b_whole, b_frac)) = (parse(a)?, parse(b)?);
    let magnitude = a_whole.len().cmp(&b_whole.len()).then(a_whole.cmp(b_whole)).then_with(|| {
        let width = a_frac.len().max(b_frac.len());
        format!("{a_frac:0<width$}").cmp(&format!("{b_frac:0<width$}"))
    });
    Some(match (a_neg, b_neg) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    })
}

/// Whether every engine orders keys of this type the same way as
/// [`key_cmp`] without being told (numbers, dates and times): then rows in
/// one key range on one engine are in the same range on every other, and a
/// row missing from a range is missing from the table. Text sorts by each
/// engine's collation.
pub(super) fn same_order_everywhere(logical_type: LogicalType) -> bool {
    matches!(
        logical_type,
        LogicalType::Int
            | LogicalType::Decimal
            | LogicalType::Date
            | LogicalType::Timestamp
            | LogicalType::Timestamptz
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(s: &str) -> Normalized {
        Normalized::Number(s.to_owned())
    }

    #[test]
    fn numbers_compare_by_value() {
        let cases =
            [("9", "10"), ("-10", "-9"), ("-1", "0"), ("1.25", "1.3"), ("0.5", "1"), ("-2.5", "-2.25")];
        for (less, more) in cases {
            assert_eq!(key_cmp(&vec![number(less)], &vec![number(more)]), Ordering::Less, "{less} < {more}");
            assert_eq!(key_cmp(&vec![number(more)], &vec![number(less)]), Ordering::Greater);
        }
        assert_eq!(key_cmp(&vec![number("7")], &vec![number("7")]), Ordering::Equal);
    }

    #[test]
    fn composite_keys_compare_column_by_column() {
        let key = |a: &str, b: &str| vec![number(a), Normalized::Text(b.to_owned())];
        assert_eq!(key_cmp(&key("1", "z"), &key("2", "a")), Ordering::Less);
        assert_eq!(key_cmp(&key("2", "a"), &key("2", "b")), Ordering::Less);
        assert_eq!(key_cmp(&key("2", "B"), &key("2", "a")), Ordering::Less, "by code point");
    }
}
