//! Dates and times in their ISO 8601 text (`%Y-%m-%d`, `%H:%M:%S%.f`,
//! joined by `T`, with `Z` for UTC), written into a buffer on the stack.
//!
//! Hand-written because chrono's formatter interprets its format items for
//! every value it writes and goes through `fmt::Display` for each field:
//! it was the largest single cost of a CSV export with one timestamp column
//! (BENCHMARKS.md, "Fixed-layout dates"). Digits are written here for the
//! common case, years 0 to 9999 without a leap second; anything else goes
//! through chrono, so the text is chrono's in every case (a property test
//! checks that).

use std::fmt::Write as _;

use chrono::format::{Fixed, Item, Numeric, Pad};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

const YEAR_MONTH_DAY: [Item<'static>; 5] = [
    Item::Numeric(Numeric::Year, Pad::Zero),
    Item::Literal("-"),
    Item::Numeric(Numeric::Month, Pad::Zero),
    Item::Literal("-"),
    Item::Numeric(Numeric::Day, Pad::Zero),
];
const HOUR_MINUTE_SECOND: [Item<'static>; 6] = [
    Item::Numeric(Numeric::Hour, Pad::Zero),
    Item::Literal(":"),
    Item::Numeric(Numeric::Minute, Pad::Zero),
    Item::Literal(":"),
    Item::Numeric(Numeric::Second, Pad::Zero),
    Item::Fixed(Fixed::Nanosecond),
];

/// The longest text: a signed six-digit year (chrono's range), a time with
/// nanoseconds and a `Z`.
const CAPACITY: usize = 40;

/// The text of one date or time.
pub struct IsoText {
    bytes: [u8; CAPACITY],
    len: usize,
}

impl IsoText {
    fn new() -> Self {
        IsoText { bytes: [0; CAPACITY], len: 0 }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators, or chrono's text, are written.
        std::str::from_utf8(&self.bytes[..self.len]).expect("ISO 8601 text is ASCII")
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// `value` in exactly `width` digits; callers keep it below 10^width.
    fn digits(&mut self, mut value: u32, width: usize) {
        for slot in self.bytes[self.len..self.len + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
    }

    fn date(&mut self, date: NaiveDate) {
        match u32::try_from(date.year()) {
            Ok(year) if year <= 9999 => {
                self.digits(year, 4);
                self.push(b'-');
                self.digits(date.month(), 2);
                self.push(b'-');
                self.digits(date.day(), 2);
            }
            _ => self.chrono(date.format_with_items(YEAR_MONTH_DAY.iter())),
        }
    }

    fn time(&mut self, time: NaiveTime) {
        let nano = time.nanosecond();
        if nano >= 1_000_000_000 {
            // A leap second: chrono writes it as second 60.
            return self.chrono(time.format_with_items(HOUR_MINUTE_SECOND.iter()));
        }
        self.digits(time.hour(), 2);
        self.push(b':');
        self.digits(time.minute(), 2);
        self.push(b':');
        self.digits(time.second(), 2);
        // As chrono's `%.f`: nothing, or 3, 6 or 9 digits, the fewest exact.
        if nano.is_multiple_of(1_000_000) {
            if nano != 0 {
                self.push(b'.');
                self.digits(nano / 1_000_000, 3);
            }
        } else if nano.is_multiple_of(1_000) {
            self.push(b'.');
            self.digits(nano / 1_000, 6);
        } else {
            self.push(b'.');
            self.digits(nano, 9);
        }
    }

    fn chrono(&mut self, formatted: impl std::fmt::Display) {
        // The buffer holds the longest form chrono writes for these items.
        let _ = write!(self, "{formatted}");
    }
}

impl std::fmt::Write for IsoText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

pub fn date(date: NaiveDate) -> IsoText {
    let mut text = IsoText::new();
    text.date(date);
    text
}

pub fn time(time: NaiveTime) -> IsoText {
    let mut text = IsoText::new();
    text.time(time);
    text
}

/// `utc` adds the `Z` of a timestamp with time zone, which dbfleet gives in UTC.
pub fn date_time(value: NaiveDateTime, utc: bool) -> IsoText {
    let mut text = IsoText::new();
    text.date(value.date());
    text.push(b'T');
    text.time(value.time());
    if utc {
        text.push(b'Z');
    }
    text
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn chrono_text(value: NaiveDateTime) -> String {
        let items = YEAR_MONTH_DAY.iter().chain([Item::Literal("T")].iter()).chain(HOUR_MINUTE_SECOND.iter());
        format!("{}Z", value.format_with_items(items))
    }

    fn any_date_time() -> impl Strategy<Value = NaiveDateTime> {
        // Mostly years 0 to 9999 (written here), some of chrono's whole range.
        let days = prop_oneof![
            4 => -366..=3_652_059,
            1 => NaiveDate::MIN.num_days_from_ce()..=NaiveDate::MAX.num_days_from_ce(),
        ];
        let nanos = prop_oneof![
            Just(0u32),
            (0u32..1000).prop_map(|ms| ms * 1_000_000),
            (0u32..1_000_000).prop_map(|us| us * 1_000),
            0u32..2_000_000_000,
        ];
        (days, 0u32..86_400, nanos).prop_map(|(days, secs, nano)| {
            let date = NaiveDate::from_num_days_from_ce_opt(days).expect("a day in chrono's range");
            // chrono allows a leap second only in a day's last second of a minute.
            let nano = if secs % 60 == 59 { nano } else { nano % 1_000_000_000 };
            let time = NaiveTime::from_num_seconds_from_midnight_opt(secs, nano).expect("a time of day");
            date.and_time(time)
        })
    }

    proptest! {
        #[test]
        fn the_text_is_chronos(value in any_date_time()) {
            let (ours, theirs) = (date_time(value, true), chrono_text(value));
            prop_assert_eq!(ours.as_str(), theirs);
            let (ours, theirs) = (date(value.date()), value.date().format_with_items(YEAR_MONTH_DAY.iter()));
            prop_assert_eq!(ours.as_str(), theirs.to_string());
            let (ours, theirs) = (time(value.time()), value.time().format_with_items(HOUR_MINUTE_SECOND.iter()));
            prop_assert_eq!(ours.as_str(), theirs.to_string());
        }
    }

    #[test]
    fn edges_are_chronos() {
        for (y, m, d) in [(0, 1, 1), (9999, 12, 31), (10000, 1, 1), (-1, 12, 31), (1, 2, 3)] {
            let day = NaiveDate::from_ymd_opt(y, m, d).expect("a valid date");
            for nano in [0, 1, 1_000, 1_000_000, 999_999_999, 120_000_000, 1_500_000_000] {
                let time = NaiveTime::from_hms_nano_opt(23, 59, 59, nano).expect("a valid time");
                let value = day.and_time(time);
                assert_eq!(date_time(value, true).as_str(), chrono_text(value), "{value:?}");
            }
        }
        assert_eq!(
            date_time(NaiveDate::MIN.and_hms_opt(0, 0, 0).unwrap(), false).as_str(),
            "-262143-01-01T00:00:00"
        );
    }
}
