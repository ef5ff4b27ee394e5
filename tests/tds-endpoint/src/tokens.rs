//! Encoders for the server's TDS tokens.

use crate::types::{COLLATION, TdsType};

const COLMETADATA: u8 = 0x81;
const ERROR: u8 = 0xAA;
const LOGINACK: u8 = 0xAD;
const ROW: u8 = 0xD1;
const NBCROW: u8 = 0xD2;
const ENVCHANGE: u8 = 0xE3;
const RETURNSTATUS: u8 = 0x79;
pub const DONE: u8 = 0xFD;
pub const DONEPROC: u8 = 0xFE;
pub const DONEINPROC: u8 = 0xFF;

pub const DONE_FINAL: u16 = 0x00;
pub const DONE_MORE: u16 = 0x01;
pub const DONE_ERROR: u16 = 0x02;
pub const DONE_COUNT: u16 = 0x10;
pub const DONE_ATTENTION: u16 = 0x20;

/// TDS 7.4, sent big-endian in LOGINACK (clients check it against known versions).
const TDS_VERSION_74: u32 = 0x7400_0004;
/// COLMETADATA flag: the column is nullable.
const NULLABLE: u16 = 0x0001;

pub const ENV_DATABASE: u8 = 1;
pub const ENV_PACKET_SIZE: u8 = 4;
const ENV_COLLATION: u8 = 7;
const ENV_BEGIN_TRANSACTION: u8 = 8;
const ENV_COMMIT_TRANSACTION: u8 = 9;
const ENV_ROLLBACK_TRANSACTION: u8 = 10;

/// Server name carried in ERROR tokens.
const SERVER_NAME: &str = "dbfleet-tds-endpoint";

fn b_varchar(out: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().take(255).collect();
    out.push(units.len() as u8);
    out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
}

fn us_varchar(out: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().take(usize::from(u16::MAX)).collect();
    out.extend((units.len() as u16).to_le_bytes());
    out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
}

/// Appends `token` followed by a `u16` length of `body`.
fn with_length(out: &mut Vec<u8>, token: u8, body: &[u8]) {
    out.push(token);
    out.extend((body.len() as u16).to_le_bytes());
    out.extend(body);
}

pub fn done(out: &mut Vec<u8>, token: u8, status: u16, rows: Option<u64>) {
    let status = if rows.is_some() { status | DONE_COUNT } else { status };
    out.push(token);
    out.extend(status.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(rows.unwrap_or(0).to_le_bytes());
}

pub fn error(out: &mut Vec<u8>, number: u32, state: u8, class: u8, message: &str) {
    let mut body = Vec::new();
    body.extend(number.to_le_bytes());
    body.extend([state, class]);
    us_varchar(&mut body, message);
    b_varchar(&mut body, SERVER_NAME);
    b_varchar(&mut body, "");
    body.extend(1u32.to_le_bytes());
    with_length(out, ERROR, &body);
}

pub fn login_ack(out: &mut Vec<u8>, program: &str) {
    let mut body = vec![1];
    body.extend(TDS_VERSION_74.to_be_bytes());
    b_varchar(&mut body, program);
    body.extend([16, 0, 0, 0]);
    with_length(out, LOGINACK, &body);
}

/// ENVCHANGE with two B_VARCHAR values (database, packet size, ...).
pub fn env_change_text(out: &mut Vec<u8>, kind: u8, new: &str, old: &str) {
    let mut body = vec![kind];
    b_varchar(&mut body, new);
    b_varchar(&mut body, old);
    with_length(out, ENVCHANGE, &body);
}

pub fn env_change_collation(out: &mut Vec<u8>) {
    let mut body = vec![ENV_COLLATION, COLLATION.len() as u8];
    body.extend(COLLATION);
    body.push(0);
    with_length(out, ENVCHANGE, &body);
}

pub fn env_change_begin_transaction(out: &mut Vec<u8>, descriptor: [u8; 8]) {
    let mut body = vec![ENV_BEGIN_TRANSACTION, 8];
    body.extend(descriptor);
    body.push(0);
    with_length(out, ENVCHANGE, &body);
}

/// Commit or rollback: the new value is empty, the old one the ended transaction.
pub fn env_change_end_transaction(out: &mut Vec<u8>, commit: bool, descriptor: [u8; 8]) {
    let kind = if commit { ENV_COMMIT_TRANSACTION } else { ENV_ROLLBACK_TRANSACTION };
    let mut body = vec![kind, 0, 8];
    body.extend(descriptor);
    with_length(out, ENVCHANGE, &body);
}

pub fn return_status(out: &mut Vec<u8>, status: i32) {
    out.push(RETURNSTATUS);
    out.extend(status.to_le_bytes());
}

pub fn col_metadata(out: &mut Vec<u8>, columns: &[(String, TdsType)]) {
    out.push(COLMETADATA);
    out.extend((columns.len() as u16).to_le_bytes());
    for (name, ty) in columns {
        out.extend(0u32.to_le_bytes());
        out.extend(NULLABLE.to_le_bytes());
        ty.encode_type_info(out);
        b_varchar(out, name);
    }
}

/// Starts a row: ROW, or NBCROW with its null bitmap when some values are NULL
/// (NULL columns are then omitted from the row data).
pub fn row_start(out: &mut Vec<u8>, nulls: &[bool]) {
    if nulls.iter().any(|&n| n) {
        out.push(NBCROW);
        let mut bitmap = vec![0u8; nulls.len().div_ceil(8)];
        for (i, _) in nulls.iter().enumerate().filter(|(_, n)| **n) {
            bitmap[i / 8] |= 1 << (i % 8);
        }
        out.extend(bitmap);
    } else {
        out.push(ROW);
    }
}
