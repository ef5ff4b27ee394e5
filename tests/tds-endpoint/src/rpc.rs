//! Parsing of RPC requests (`sp_executesql`) and their typed parameters.
//!
//! tiberius sends every `query`/`execute` as RPC `sp_executesql` (procedure id 10):
//! the statement, the parameter declaration (`@P1 int,...`), then `@P1..@Pn`, each
//! with its TYPE_INFO. Values become SQLite values: numbers as numbers, strings and
//! date/time values as text in the formats the result encoder reads back, GUIDs as
//! their canonical text.

use chrono::NaiveTime;
use rusqlite::types::Value;

use crate::types::{date_from_1900_days, date_from_days};

const SP_EXECUTESQL_ID: u16 = 10;
const PROC_ID_MARKER: u16 = 0xFFFF;
const PLP_NULL: u64 = u64::MAX;
const LIMITED_NULL: u16 = 0xFFFF;

/// An RPC call of `sp_executesql`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteSql {
    pub statement: String,
    /// `(name, value)`; names as sent, e.g. `@P1`.
    pub params: Vec<(String, Value)>,
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len()).ok_or("RPC request truncated")?;
        let slice = &self.data[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| "RPC request truncated")?))
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        let mut bytes = [0u8; 8];
        bytes[..n].copy_from_slice(self.take(n)?);
        Ok(u64::from_le_bytes(bytes))
    }

    fn b_varchar(&mut self) -> Result<String, String> {
        let chars = usize::from(self.u8()?);
        utf16(self.take(chars * 2)?)
    }

    /// PLP: total length (or NULL marker), chunks, zero terminator.
    fn plp(&mut self) -> Result<Option<Vec<u8>>, String> {
        if self.u64()? == PLP_NULL {
            return Ok(None);
        }
        let mut data = Vec::new();
        loop {
            let chunk = self.u32()? as usize;
            if chunk == 0 {
                return Ok(Some(data));
            }
            data.extend_from_slice(self.take(chunk)?);
        }
    }
}

pub fn utf16(bytes: &[u8]) -> Result<String, String> {
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16(&units).map_err(|_| "invalid UTF-16 in request".to_string())
}

/// Skips ALL_HEADERS (a `u32` total length that includes itself).
pub fn skip_all_headers(payload: &[u8]) -> Result<&[u8], String> {
    let total = payload
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or("request truncated")?;
    payload.get(total..).ok_or_else(|| "ALL_HEADERS longer than the request".to_string())
}

pub fn parse(payload: &[u8]) -> Result<ExecuteSql, String> {
    let mut r = Reader { data: skip_all_headers(payload)?, at: 0 };
    let name_len = r.u16()?;
    if name_len == PROC_ID_MARKER {
        let id = r.u16()?;
        if id != SP_EXECUTESQL_ID {
            return Err(format!("Could not find stored procedure with id {id}."));
        }
    } else {
        let name = utf16(r.take(usize::from(name_len) * 2)?)?;
        let bare = name.rsplit('.').next().unwrap_or(&name);
        if !bare.eq_ignore_ascii_case("sp_executesql") {
            return Err(format!("Could not find stored procedure '{name}'."));
        }
    }
    r.u16()?;
    let mut values = Vec::new();
    while r.at < r.data.len() {
        let name = r.b_varchar()?;
        r.u8()?;
        values.push((name, value(&mut r)?));
    }
    let mut values = values.into_iter();
    let statement = match values.next() {
        Some((_, Value::Text(sql))) => sql,
        _ => return Err("sp_executesql needs a statement".into()),
    };
    Ok(ExecuteSql { statement, params: values.skip(1).collect() })
}

/// Reads one parameter's TYPE_INFO and value.
fn value(r: &mut Reader<'_>) -> Result<Value, String> {
    let ty = r.u8()?;
    let fixed_len = match ty {
        0x1F => return Ok(Value::Null),
        0x30 | 0x32 => Some(1),
        0x34 => Some(2),
        0x38 | 0x3A | 0x3B | 0x7A => Some(4),
        0x3C | 0x3D | 0x3E | 0x7F => Some(8),
        _ => None,
    };
    if let Some(len) = fixed_len {
        return scalar(ty, len, r.take(len)?, 0);
    }
    match ty {
        // INTN, BITN, FLTN, MONEYN, DATETIMEN, GUID: max length, then length + data.
        0x26 | 0x68 | 0x6D | 0x6E | 0x6F | 0x24 => {
            r.u8()?;
            let len = usize::from(r.u8()?);
            if len == 0 { Ok(Value::Null) } else { scalar(ty, len, r.take(len)?, 0) }
        }
        // DECIMALN / NUMERICN: max length, precision, scale.
        0x6A | 0x6C => {
            r.u8()?;
            r.u8()?;
            let scale = r.u8()?;
            let len = usize::from(r.u8()?);
            if len == 0 { Ok(Value::Null) } else { scalar(ty, len, r.take(len)?, scale) }
        }
        // DATEN has no length in its TYPE_INFO.
        0x28 => {
            let len = usize::from(r.u8()?);
            if len == 0 { Ok(Value::Null) } else { scalar(ty, len, r.take(len)?, 0) }
        }
        // TIMEN, DATETIME2N, DATETIMEOFFSETN: scale.
        0x29..=0x2B => {
            let scale = r.u8()?;
            let len = usize::from(r.u8()?);
            if len == 0 { Ok(Value::Null) } else { scalar(ty, len, r.take(len)?, scale) }
        }
        // BIGVARCHAR, BIGCHAR, NVARCHAR, NCHAR (with collation), BIGVARBINARY, BIGBINARY.
        0xA7 | 0xAF | 0xE7 | 0xEF | 0xA5 | 0xAD => {
            let max = r.u16()?;
            if matches!(ty, 0xA7 | 0xAF | 0xE7 | 0xEF) {
                r.take(5)?;
            }
            let data = if max == LIMITED_NULL {
                r.plp()?
            } else {
                let len = r.u16()?;
                if len == LIMITED_NULL { None } else { Some(r.take(usize::from(len))?.to_vec()) }
            };
            data.map_or(Ok(Value::Null), |d| bytes_value(ty, d))
        }
        // XML: schema flag, then PLP UTF-16.
        0xF1 => {
            if r.u8()? == 1 {
                r.b_varchar()?;
                r.b_varchar()?;
                let len = usize::from(r.u16()?);
                r.take(len * 2)?;
            }
            r.plp()?.map_or(Ok(Value::Null), |d| utf16(&d).map(Value::Text))
        }
        // TEXT, NTEXT (with collation), IMAGE: text pointer, timestamp, u32 length.
        0x23 | 0x63 | 0x22 => {
            r.u32()?;
            if ty != 0x22 {
                r.take(5)?;
            }
            let pointer = usize::from(r.u8()?);
            if pointer == 0 {
                return Ok(Value::Null);
            }
            r.take(pointer + 8)?;
            let len = r.u32()? as usize;
            bytes_value(ty, r.take(len)?.to_vec())
        }
        other => Err(format!("unsupported parameter type 0x{other:02X}")),
    }
}

fn bytes_value(ty: u8, data: Vec<u8>) -> Result<Value, String> {
    match ty {
        0xE7 | 0xEF | 0x63 => utf16(&data).map(Value::Text),
        0xA7 | 0xAF | 0x23 => Ok(Value::Text(String::from_utf8_lossy(&data).into_owned())),
        _ => Ok(Value::Blob(data)),
    }
}

/// Decodes a fixed-size value of type `ty` from its `len` data bytes.
fn scalar(ty: u8, len: usize, data: &[u8], scale: u8) -> Result<Value, String> {
    let mut r = Reader { data, at: 0 };
    Ok(match ty {
        0x30 | 0x32 | 0x34 | 0x38 | 0x7F | 0x26 | 0x68 => {
            let raw = r.uint(len)?;
            let shift = 64 - 8 * len as u32;
            // Sign-extend, except for TINYINT and BIT which are unsigned.
            let value = if ty == 0x30 || ty == 0x32 || ty == 0x68 || len == 1 {
                raw as i64
            } else {
                ((raw << shift) as i64) >> shift
            };
            Value::Integer(value)
        }
        0x3B | 0x3E | 0x6D => {
            Value::Real(if len == 4 { f64::from(f32::from_bits(r.u32()?)) } else { f64::from_bits(r.u64()?) })
        }
        0x3C | 0x7A | 0x6E => {
            let units = if len == 4 {
                i64::from(r.u32()? as i32)
            } else {
                let high = i64::from(r.u32()? as i32);
                (high << 32) | i64::from(r.u32()?)
            };
            Value::Real(units as f64 / 10_000.0)
        }
        0x6A | 0x6C => {
            let positive = r.u8()? == 1;
            let mut bytes = [0u8; 16];
            bytes[..len - 1].copy_from_slice(r.take(len - 1)?);
            let magnitude = u128::from_le_bytes(bytes) as i128;
            let value = if positive { magnitude } else { -magnitude };
            match i64::try_from(value) {
                Ok(v) if scale == 0 => Value::Integer(v),
                _ => Value::Real(value as f64 / 10f64.powi(i32::from(scale))),
            }
        }
        0x24 => {
            let mut bytes: [u8; 16] = r.take(16)?.try_into().map_err(|_| "bad GUID")?;
            bytes[0..4].reverse();
            bytes[4..6].reverse();
            bytes[6..8].reverse();
            Value::Text(uuid::Uuid::from_bytes(bytes).to_string())
        }
        0x3A | 0x3D | 0x6F => {
            let (days, time) = if len == 4 {
                let days = i64::from(r.u16()?);
                (days, NaiveTime::MIN + chrono::Duration::minutes(i64::from(r.u16()?)))
            } else {
                let days = i64::from(r.u32()? as i32);
                let ticks = i64::from(r.u32()?);
                (days, NaiveTime::MIN + chrono::Duration::nanoseconds(ticks * 1_000_000_000 / 300))
            };
            Value::Text(date_from_1900_days(days).and_time(time).format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        }
        0x28 => Value::Text(date_from_days(r.uint(3)? as u32).format("%Y-%m-%d").to_string()),
        0x29 => Value::Text(time(&mut r, len, scale)?.format("%H:%M:%S%.f").to_string()),
        0x2A => {
            let t = time(&mut r, len - 3, scale)?;
            let date = date_from_days(r.uint(3)? as u32);
            Value::Text(date.and_time(t).format("%Y-%m-%d %H:%M:%S%.f").to_string())
        }
        0x2B => {
            let t = time(&mut r, len - 5, scale)?;
            let utc = date_from_days(r.uint(3)? as u32).and_time(t);
            let minutes = i32::from(r.u16()? as i16);
            let offset = chrono::FixedOffset::east_opt(minutes * 60).ok_or("bad datetimeoffset offset")?;
            let local = chrono::DateTime::<chrono::FixedOffset>::from_naive_utc_and_offset(utc, offset);
            Value::Text(local.format("%Y-%m-%d %H:%M:%S%.f %:z").to_string())
        }
        other => return Err(format!("unsupported parameter type 0x{other:02X}")),
    })
}

/// A TIME value of `len` bytes counting 10^-scale seconds since midnight.
fn time(r: &mut Reader<'_>, len: usize, scale: u8) -> Result<NaiveTime, String> {
    let increments = r.uint(len)?;
    let nanos = increments * 10u64.pow(9 - u32::from(scale.min(7)));
    Ok(NaiveTime::MIN + chrono::Duration::nanoseconds(nanos as i64))
}
