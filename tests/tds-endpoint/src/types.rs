//! T-SQL declared types, the TDS types they go out as, and value encoding.
//!
//! SQLite stores values dynamically but keeps each column's declared type, so the
//! declared T-SQL type picks the TDS type of a result column (the mapping in the
//! contract); a column without one (an expression) takes the type of its first value.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use rusqlite::types::ValueRef;

/// SQL_Latin1_General_CP1_CI_AS: the collation sent with every NVARCHAR column.
pub const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];
/// TDS length value marking a `(MAX)` type, sent as PLP.
const MAX_LEN: u16 = 0xFFFF;
const PLP_NULL: u64 = u64::MAX;
/// Decimal values always go out in the 17-byte form (sign + 16 bytes), which clients
/// accept for every precision.
const DECIMAL_LEN: u8 = 17;

/// A column's type as declared in DDL: lower-cased base name and arguments,
/// e.g. `decimal` with `["10", "2"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredType {
    base: String,
    args: Vec<String>,
}

impl DeclaredType {
    pub fn parse(declared: &str) -> DeclaredType {
        let lower = declared.trim().to_ascii_lowercase();
        let (base, args) = match lower.split_once('(') {
            Some((base, rest)) => {
                let inner = rest.trim_end().trim_end_matches(')');
                (base.trim().to_string(), inner.split(',').map(|a| a.trim().to_string()).collect())
            }
            None => (lower, Vec::new()),
        };
        DeclaredType { base, args }
    }

    fn arg(&self, i: usize) -> Option<u32> {
        self.args.get(i).and_then(|a| a.parse().ok())
    }

    /// `(MAX)`, which the rewrite stores as `(-1)` because SQLite wants a number there.
    fn is_max(&self) -> bool {
        self.args.first().is_some_and(|a| a == "max" || a == "-1")
    }

    fn is_character(&self) -> bool {
        matches!(
            self.base.as_str(),
            "char" | "varchar" | "nchar" | "nvarchar" | "character" | "text" | "ntext"
        )
    }

    fn is_binary(&self) -> bool {
        matches!(self.base.as_str(), "binary" | "varbinary" | "image" | "blob")
    }

    pub fn is_unicode(&self) -> bool {
        matches!(self.base.as_str(), "nchar" | "nvarchar" | "ntext")
    }

    /// `DATA_TYPE` of INFORMATION_SCHEMA.COLUMNS: SQL Server's lower-case type name.
    pub fn data_type(&self) -> String {
        match self.base.as_str() {
            "integer" => "int".into(),
            "boolean" | "bool" => "bit".into(),
            "double" | "double precision" => "float".into(),
            "character" => "char".into(),
            "blob" => "varbinary".into(),
            "" => "nvarchar".into(),
            other => other.into(),
        }
    }

    /// `CHARACTER_MAXIMUM_LENGTH`: -1 for MAX (and for an unbounded declaration).
    pub fn character_maximum_length(&self) -> Option<i64> {
        match self.base.as_str() {
            "text" | "image" => Some(2_147_483_647),
            "ntext" => Some(1_073_741_823),
            "xml" => Some(-1),
            _ if self.is_character() || self.is_binary() => {
                Some(if self.is_max() { -1 } else { self.arg(0).map_or(-1, i64::from) })
            }
            _ => None,
        }
    }

    pub fn numeric_precision(&self) -> Option<i64> {
        Some(match self.base.as_str() {
            "tinyint" => 3,
            "smallint" => 5,
            "int" | "integer" => 10,
            "bigint" => 19,
            "decimal" | "numeric" => self.arg(0).map_or(18, i64::from),
            "real" => 24,
            "float" => self.arg(0).map_or(53, |n| if n <= 24 { 24 } else { 53 }),
            "double" | "double precision" => 53,
            "money" => 19,
            "smallmoney" => 10,
            _ => return None,
        })
    }

    pub fn numeric_scale(&self) -> Option<i64> {
        Some(match self.base.as_str() {
            "tinyint" | "smallint" | "int" | "integer" | "bigint" => 0,
            "decimal" | "numeric" => self.arg(1).map_or(0, i64::from),
            "money" | "smallmoney" => 4,
            _ => return None,
        })
    }

    pub fn datetime_precision(&self) -> Option<i64> {
        Some(match self.base.as_str() {
            "date" | "smalldatetime" => 0,
            "datetime" => 3,
            "time" | "datetime2" | "datetimeoffset" => self.arg(0).map_or(7, i64::from),
            _ => return None,
        })
    }

    /// The TDS type a column declared like this goes out as, if the name is known.
    pub fn tds_type(&self) -> Option<TdsType> {
        let scale = || self.arg(0).map_or(7, |n| n.min(7) as u8);
        Some(match self.base.as_str() {
            "bit" | "boolean" | "bool" => TdsType::Bit,
            "tinyint" => TdsType::TinyInt,
            "smallint" => TdsType::SmallInt,
            "int" | "integer" | "mediumint" => TdsType::Int,
            "bigint" => TdsType::BigInt,
            "real" => TdsType::Real,
            "float" if self.arg(0).is_some_and(|n| n <= 24) => TdsType::Real,
            "float" | "double" | "double precision" => TdsType::Float,
            "decimal" | "numeric" | "dec" => TdsType::Decimal {
                precision: self.arg(0).map_or(18, |p| p.clamp(1, 38) as u8),
                scale: self.arg(1).map_or(0, |s| s.min(38) as u8),
            },
            "money" | "smallmoney" => TdsType::Money,
            "date" => TdsType::Date,
            "time" => TdsType::Time(scale()),
            "datetime2" => TdsType::DateTime2(scale()),
            "datetimeoffset" => TdsType::DateTimeOffset(scale()),
            "datetime" => TdsType::DateTime,
            "smalldatetime" => TdsType::SmallDateTime,
            "uniqueidentifier" => TdsType::Guid,
            "xml" => TdsType::Xml,
            _ if self.is_character() => {
                let limited =
                    self.arg(0).filter(|&n| !self.is_max() && n <= 4000 && !self.base.ends_with("text"));
                TdsType::NVarChar(limited.map(|n| n as u16))
            }
            _ if self.is_binary() => {
                TdsType::VarBinary(self.arg(0).filter(|&n| !self.is_max() && n <= 8000).map(|n| n as u16))
            }
            _ => return None,
        })
    }
}

/// The TDS type of a result column. `NVarChar(None)` / `VarBinary(None)` are `(MAX)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TdsType {
    Bit,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Real,
    Float,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Money,
    /// Maximum length in characters.
    NVarChar(Option<u16>),
    /// Maximum length in bytes.
    VarBinary(Option<u16>),
    Date,
    Time(u8),
    DateTime2(u8),
    DateTimeOffset(u8),
    DateTime,
    SmallDateTime,
    Guid,
    Xml,
}

impl TdsType {
    /// The type of a column without a declared type, from its first value.
    pub fn of_value(value: ValueRef<'_>) -> TdsType {
        match value {
            ValueRef::Integer(_) => TdsType::BigInt,
            ValueRef::Real(_) => TdsType::Float,
            ValueRef::Blob(_) => TdsType::VarBinary(None),
            ValueRef::Text(_) | ValueRef::Null => TdsType::NVarChar(None),
        }
    }

    /// TYPE_INFO as in COLMETADATA.
    pub fn encode_type_info(self, out: &mut Vec<u8>) {
        match self {
            TdsType::Bit => out.extend([0x68, 1]),
            TdsType::TinyInt => out.extend([0x26, 1]),
            TdsType::SmallInt => out.extend([0x26, 2]),
            TdsType::Int => out.extend([0x26, 4]),
            TdsType::BigInt => out.extend([0x26, 8]),
            TdsType::Real => out.extend([0x6D, 4]),
            TdsType::Float => out.extend([0x6D, 8]),
            TdsType::Decimal { precision, scale } => out.extend([0x6A, DECIMAL_LEN, precision, scale]),
            TdsType::Money => out.extend([0x6E, 8]),
            TdsType::NVarChar(len) => {
                out.push(0xE7);
                out.extend(len.map_or(MAX_LEN, |n| n * 2).to_le_bytes());
                out.extend(COLLATION);
            }
            TdsType::VarBinary(len) => {
                out.push(0xA5);
                out.extend(len.unwrap_or(MAX_LEN).to_le_bytes());
            }
            TdsType::Date => out.push(0x28),
            TdsType::Time(scale) => out.extend([0x29, scale]),
            TdsType::DateTime2(scale) => out.extend([0x2A, scale]),
            TdsType::DateTimeOffset(scale) => out.extend([0x2B, scale]),
            TdsType::DateTime => out.extend([0x6F, 8]),
            TdsType::SmallDateTime => out.extend([0x6F, 4]),
            TdsType::Guid => out.extend([0x24, 16]),
            TdsType::Xml => out.extend([0xF1, 0]),
        }
    }

    fn is_plp(self) -> bool {
        matches!(self, TdsType::NVarChar(None) | TdsType::VarBinary(None) | TdsType::Xml)
    }

    /// Writes one value of this type as in a ROW token, converting SQLite's storage
    /// class where needed (e.g. a DATE stored as text).
    pub fn encode_value(self, value: ValueRef<'_>, out: &mut Vec<u8>) -> Result<(), String> {
        if value == ValueRef::Null {
            self.encode_null(out);
            return Ok(());
        }
        match self {
            TdsType::Bit => out.extend([1, u8::from(as_f64(value)? != 0.0)]),
            TdsType::TinyInt => {
                let v = u8::try_from(as_i64(value)?).map_err(|_| "value out of range for tinyint")?;
                out.extend([1, v]);
            }
            TdsType::SmallInt => {
                let v = i16::try_from(as_i64(value)?).map_err(|_| "value out of range for smallint")?;
                out.push(2);
                out.extend(v.to_le_bytes());
            }
            TdsType::Int => {
                let v = i32::try_from(as_i64(value)?).map_err(|_| "value out of range for int")?;
                out.push(4);
                out.extend(v.to_le_bytes());
            }
            TdsType::BigInt => {
                out.push(8);
                out.extend(as_i64(value)?.to_le_bytes());
            }
            TdsType::Real => {
                out.push(4);
                out.extend((as_f64(value)? as f32).to_le_bytes());
            }
            TdsType::Float => {
                out.push(8);
                out.extend(as_f64(value)?.to_le_bytes());
            }
            TdsType::Decimal { scale, .. } => {
                let scaled = scaled_decimal(value, scale)?;
                out.extend([DECIMAL_LEN, u8::from(scaled >= 0)]);
                out.extend(scaled.unsigned_abs().to_le_bytes());
            }
            TdsType::Money => {
                let cents = (as_f64(value)? * 10_000.0).round() as i64;
                out.push(8);
                out.extend(((cents >> 32) as i32).to_le_bytes());
                out.extend((cents as u32).to_le_bytes());
            }
            TdsType::NVarChar(len) => {
                let units = utf16(&as_text(value));
                encode_bytes(len.is_none(), &units, out)?;
            }
            TdsType::Xml => encode_bytes(true, &utf16(&as_text(value)), out)?,
            TdsType::VarBinary(len) => {
                let bytes = match value {
                    ValueRef::Blob(b) => b.to_vec(),
                    other => as_text(other).into_bytes(),
                };
                encode_bytes(len.is_none(), &bytes, out)?;
            }
            TdsType::Date => {
                let date = parse_date(&as_text(value))?;
                out.push(3);
                out.extend(&days_since_year_one(date).to_le_bytes()[..3]);
            }
            TdsType::Time(scale) => {
                let time = parse_time(&as_text(value))?;
                out.push(time_len(scale));
                encode_time(time, scale, out);
            }
            TdsType::DateTime2(scale) => {
                let dt = parse_datetime(&as_text(value))?;
                out.push(time_len(scale) + 3);
                encode_time(dt.time(), scale, out);
                out.extend(&days_since_year_one(dt.date()).to_le_bytes()[..3]);
            }
            TdsType::DateTimeOffset(scale) => {
                let dto = parse_datetimeoffset(&as_text(value))?;
                let utc = dto.naive_utc();
                out.push(time_len(scale) + 5);
                encode_time(utc.time(), scale, out);
                out.extend(&days_since_year_one(utc.date()).to_le_bytes()[..3]);
                out.extend(((dto.offset().local_minus_utc() / 60) as i16).to_le_bytes());
            }
            TdsType::DateTime => {
                let dt = parse_datetime(&as_text(value))?;
                let days = (dt.date() - base_1900()).num_days() as i32;
                let nanos =
                    u64::from(dt.num_seconds_from_midnight()) * 1_000_000_000 + u64::from(dt.nanosecond());
                out.push(8);
                out.extend(days.to_le_bytes());
                out.extend(((nanos * 300 / 1_000_000_000) as u32).to_le_bytes());
            }
            TdsType::SmallDateTime => {
                let dt = parse_datetime(&as_text(value))?;
                let days = u16::try_from((dt.date() - base_1900()).num_days())
                    .map_err(|_| "smalldatetime out of range")?;
                out.push(4);
                out.extend(days.to_le_bytes());
                out.extend(((dt.num_seconds_from_midnight() / 60) as u16).to_le_bytes());
            }
            TdsType::Guid => {
                let uuid = match value {
                    ValueRef::Blob(b) => uuid::Uuid::from_slice(b).map_err(|e| e.to_string())?,
                    other => uuid::Uuid::parse_str(as_text(other).trim()).map_err(|e| e.to_string())?,
                };
                let mut bytes = *uuid.as_bytes();
                // SQL Server GUIDs store the first three groups little-endian.
                bytes[0..4].reverse();
                bytes[4..6].reverse();
                bytes[6..8].reverse();
                out.push(16);
                out.extend(bytes);
            }
        }
        Ok(())
    }

    fn encode_null(self, out: &mut Vec<u8>) {
        if self.is_plp() {
            out.extend(PLP_NULL.to_le_bytes());
        } else if matches!(self, TdsType::NVarChar(_) | TdsType::VarBinary(_)) {
            out.extend(MAX_LEN.to_le_bytes());
        } else {
            out.push(0);
        }
    }
}

/// A variable-length value: `u16` length for limited types, PLP (total length, one
/// chunk, zero terminator) for `(MAX)` ones.
fn encode_bytes(plp: bool, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    if plp {
        out.extend((bytes.len() as u64).to_le_bytes());
        if !bytes.is_empty() {
            out.extend((bytes.len() as u32).to_le_bytes());
            out.extend(bytes);
        }
        out.extend(0u32.to_le_bytes());
    } else {
        let len = u16::try_from(bytes.len())
            .ok()
            .filter(|&l| l < MAX_LEN)
            .ok_or("value too long for its column type")?;
        out.extend(len.to_le_bytes());
        out.extend(bytes);
    }
    Ok(())
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn as_text(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
    }
}

fn as_i64(value: ValueRef<'_>) -> Result<i64, String> {
    match value {
        ValueRef::Integer(i) => Ok(i),
        ValueRef::Real(f) if f.fract() == 0.0 => Ok(f as i64),
        other => {
            let text = as_text(other);
            text.trim().parse().map_err(|_| format!("cannot convert '{text}' to an integer"))
        }
    }
}

fn as_f64(value: ValueRef<'_>) -> Result<f64, String> {
    match value {
        ValueRef::Integer(i) => Ok(i as f64),
        ValueRef::Real(f) => Ok(f),
        other => {
            let text = as_text(other);
            match text.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(1.0),
                "false" => Ok(0.0),
                t => t.parse().map_err(|_| format!("cannot convert '{text}' to a number")),
            }
        }
    }
}

/// The value times 10^scale, exact for integers and decimal text.
fn scaled_decimal(value: ValueRef<'_>, scale: u8) -> Result<i128, String> {
    let factor = 10i128.pow(u32::from(scale));
    match value {
        ValueRef::Integer(i) => Ok(i128::from(i) * factor),
        ValueRef::Real(f) => Ok((f * factor as f64).round() as i128),
        other => {
            let text = as_text(other);
            let bad = || format!("cannot convert '{text}' to a decimal");
            let t = text.trim();
            let (negative, t) = t.strip_prefix('-').map_or((false, t), |r| (true, r));
            let (int, frac) = t.split_once('.').unwrap_or((t, ""));
            let mut digits: String = frac.chars().take(scale as usize).collect();
            while digits.len() < scale as usize {
                digits.push('0');
            }
            let int: i128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
            let frac: i128 = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| bad())? };
            let magnitude = int * factor + frac;
            Ok(if negative { -magnitude } else { magnitude })
        }
    }
}

fn time_len(scale: u8) -> u8 {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

fn encode_time(time: NaiveTime, scale: u8, out: &mut Vec<u8>) {
    let nanos = u64::from(time.num_seconds_from_midnight()) * 1_000_000_000 + u64::from(time.nanosecond());
    let increments = nanos / 10u64.pow(9 - u32::from(scale));
    out.extend(&increments.to_le_bytes()[..time_len(scale) as usize]);
}

fn year_one() -> NaiveDate {
    NaiveDate::MIN.with_year(1).and_then(|d| d.with_ordinal(1)).unwrap_or(NaiveDate::MIN)
}

fn base_1900() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

pub fn days_since_year_one(date: NaiveDate) -> u32 {
    (date - year_one()).num_days() as u32
}

pub fn date_from_days(days: u32) -> NaiveDate {
    year_one() + chrono::Duration::days(i64::from(days))
}

pub fn date_from_1900_days(days: i64) -> NaiveDate {
    base_1900() + chrono::Duration::days(days)
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let t = text.trim();
    let date = t.get(..10).unwrap_or(t);
    NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| format!("cannot convert '{text}' to a date"))
}

fn parse_time(text: &str) -> Result<NaiveTime, String> {
    let t = text.trim();
    NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
        .map_err(|_| format!("cannot convert '{text}' to a time"))
}

fn parse_datetime(text: &str) -> Result<NaiveDateTime, String> {
    let t = text.trim().replace('T', " ");
    NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M"))
        .or_else(|_| parse_date(&t).map(|d| d.and_time(NaiveTime::MIN)))
        .map_err(|_| format!("cannot convert '{text}' to a datetime"))
}

/// `YYYY-MM-DD hh:mm:ss[.f] [+|-]hh:mm` (or `Z`, or no offset meaning UTC).
fn parse_datetimeoffset(text: &str) -> Result<DateTime<FixedOffset>, String> {
    let t = text.trim().replace('T', " ");
    let t = t.strip_suffix('Z').map_or(t.clone(), |s| format!("{s} +00:00"));
    DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f %:z")
        .or_else(|_| DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .or_else(|_| parse_datetime(&t).map(|dt| dt.and_utc().fixed_offset()))
        .map_err(|_| format!("cannot convert '{text}' to a datetimeoffset"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_declared_types() {
        let t = |d: &str| DeclaredType::parse(d).tds_type();
        assert_eq!(t("DECIMAL(10,2)"), Some(TdsType::Decimal { precision: 10, scale: 2 }));
        assert_eq!(t("NVARCHAR(MAX)"), Some(TdsType::NVarChar(None)));
        assert_eq!(t("NVARCHAR(-1)"), Some(TdsType::NVarChar(None)));
        assert_eq!(t("nvarchar(100)"), Some(TdsType::NVarChar(Some(100))));
        assert_eq!(t("VARBINARY(64)"), Some(TdsType::VarBinary(Some(64))));
        assert_eq!(t("TIME(3)"), Some(TdsType::Time(3)));
        assert_eq!(t("whatever"), None);
        let decimal = DeclaredType::parse("DECIMAL(10,2)");
        assert_eq!(
            (decimal.data_type(), decimal.numeric_precision(), decimal.numeric_scale()),
            ("decimal".to_string(), Some(10), Some(2))
        );
        assert_eq!(DeclaredType::parse("NVARCHAR(MAX)").character_maximum_length(), Some(-1));
    }

    #[test]
    fn encodes_decimal_text_exactly() {
        assert_eq!(scaled_decimal(ValueRef::Text(b"-12.5"), 2), Ok(-1250));
        assert_eq!(scaled_decimal(ValueRef::Real(7.25), 2), Ok(725));
    }

    #[test]
    fn datetimeoffset_goes_out_in_utc() {
        let dto = parse_datetimeoffset("2024-05-01 13:45:00.123 +02:00").unwrap();
        assert_eq!(dto.naive_utc().to_string(), "2024-05-01 11:45:00.123");
        assert_eq!(days_since_year_one(date_from_days(738_000)), 738_000);
    }
}
