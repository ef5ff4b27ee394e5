//! NUMERIC values in PostgreSQL's own text form, read from the binary wire
//! format.
//!
//! Written by hand because the crate path (sqlx's `BigDecimal`, then its
//! plain string at the wire's display scale) goes through a big integer and
//! a division per value: on a result of decimals it took more time than
//! every other column together. The wire format is small and fixed
//! (PostgreSQL's `numeric_send`): a header of four 16-bit fields, then
//! base-10000 digits.

/// Sign values of the header.
const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const INFINITY: u16 = 0xD000;
const NEGATIVE_INFINITY: u16 = 0xF000;

/// Decimal digits per base-10000 digit.
const DIGITS_PER_GROUP: usize = 4;

/// The text PostgreSQL's `numeric_out` writes for this wire value: `12.50`
/// at the value's display scale, `-0.001`, `NaN`, `Infinity`. `None` for a
/// malformed payload.
pub fn numeric_text(bytes: &[u8]) -> Option<String> {
    let field = |i: usize| bytes.get(i * 2..i * 2 + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let ndigits = usize::from(field(0)?);
    let weight = field(1)? as i16;
    let sign = field(2)?;
    let dscale = usize::from(field(3)?);
    match sign {
        NAN => return Some("NaN".into()),
        INFINITY => return Some("Infinity".into()),
        NEGATIVE_INFINITY => return Some("-Infinity".into()),
        POSITIVE | NEGATIVE => {}
        _ => return None,
    }
    if bytes.len() != 8 + 2 * ndigits {
        return None;
    }
    // Digit `i` of the value counts 10000^(weight - i); digits past the
    // payload are zeros.
    let digit = |i: i32| match usize::try_from(i) {
        Ok(i) if i < ndigits => field(4 + i),
        _ => Some(0),
    };
    let weight = i32::from(weight);

    let mut text = String::with_capacity(2 + (weight.max(0) as usize + 1) * DIGITS_PER_GROUP + dscale + 1);
    if sign == NEGATIVE {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        // The first group without its leading zeros, the others whole.
        let first = check(digit(0)?)?;
        let mut started = false;
        for (place, d) in
            [first / 1000, first / 100 % 10, first / 10 % 10, first % 10].into_iter().enumerate()
        {
            started |= d != 0 || place == DIGITS_PER_GROUP - 1;
            if started {
                text.push(char::from(b'0' + d as u8));
            }
        }
        for i in 1..=weight {
            push_group(&mut text, check(digit(i)?)?);
        }
    }
    if dscale > 0 {
        text.push('.');
        let end = text.len() + dscale;
        let mut i = weight + 1;
        while text.len() < end {
            push_group(&mut text, check(digit(i)?)?);
            i += 1;
        }
        text.truncate(end);
    }
    Some(text)
}

/// A base-10000 digit, which cannot pass 9999.
fn check(group: u16) -> Option<u16> {
    (group < 10_000).then_some(group)
}

/// One base-10000 digit as four decimal digits, zero-padded.
fn push_group(text: &mut String, group: u16) {
    let group = [group / 1000, group / 100 % 10, group / 10 % 10, group % 10];
    text.extend(group.iter().map(|&d| char::from(b'0' + d as u8)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let header = [digits.len() as u16, weight as u16, sign, dscale];
        header.iter().chain(digits).flat_map(|v| v.to_be_bytes()).collect()
    }

    #[test]
    fn values_print_like_numeric_out() {
        let cases: &[(i16, u16, u16, &[u16], &str)] = &[
            (0, POSITIVE, 2, &[12, 5000], "12.50"),
            (0, POSITIVE, 0, &[0], "0"),
            (0, POSITIVE, 0, &[], "0"),
            (-1, POSITIVE, 3, &[10], "0.001"),
            (-1, NEGATIVE, 3, &[10], "-0.001"),
            (-2, POSITIVE, 9, &[1234], "0.000012340"),
            (1, POSITIVE, 0, &[1, 0], "10000"),
            (2, POSITIVE, 0, &[12], "1200000000"),
            (1, NEGATIVE, 4, &[9999, 9999, 1], "-99999999.0001"),
            (0, POSITIVE, 1, &[7, 1234], "7.1"),
            (0, POSITIVE, 6, &[7], "7.000000"),
        ];
        for (weight, sign, dscale, digits, text) in cases {
            assert_eq!(numeric_text(&wire(*weight, *sign, *dscale, digits)).as_deref(), Some(*text));
        }
        assert_eq!(numeric_text(&wire(0, NAN, 0, &[])).as_deref(), Some("NaN"));
        assert_eq!(numeric_text(&wire(0, INFINITY, 0, &[])).as_deref(), Some("Infinity"));
        assert_eq!(numeric_text(&wire(0, NEGATIVE_INFINITY, 0, &[])).as_deref(), Some("-Infinity"));
    }

    #[test]
    fn malformed_payloads_are_refused() {
        assert_eq!(numeric_text(&[0, 1]), None);
        assert_eq!(numeric_text(&wire(0, POSITIVE, 0, &[10_000])), None);
        assert_eq!(numeric_text(&wire(0, 0x1234, 0, &[1])), None);
        let mut short = wire(0, POSITIVE, 0, &[1, 2]);
        short.truncate(short.len() - 1);
        assert_eq!(numeric_text(&short), None);
    }
}
