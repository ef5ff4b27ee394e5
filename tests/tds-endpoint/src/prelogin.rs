//! The PRELOGIN answer.
//!
//! The endpoint speaks plain TCP only, so it answers encryption NOT_SUP (0x02);
//! clients must be configured not to require TLS (tiberius `EncryptionLevel::NotSupported`).

const VERSION: u8 = 0x00;
const ENCRYPTION: u8 = 0x01;
const INSTOPT: u8 = 0x02;
const THREADID: u8 = 0x03;
const MARS: u8 = 0x04;
const TERMINATOR: u8 = 0xFF;
const ENCRYPT_NOT_SUP: u8 = 0x02;

/// The PRELOGIN response payload: options table, then their data.
pub fn response() -> Vec<u8> {
    let options: [(u8, Vec<u8>); 5] = [
        (VERSION, vec![16, 0, 0x0F, 0xA0, 0, 0]),
        (ENCRYPTION, vec![ENCRYPT_NOT_SUP]),
        // An empty instance name (lone terminator) means "instance accepted".
        (INSTOPT, vec![0]),
        // The server sends no thread id: an empty option.
        (THREADID, vec![]),
        (MARS, vec![0]),
    ];
    let mut offset = options.len() * 5 + 1;
    let mut table = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    for (token, value) in &options {
        table.push(*token);
        table.extend((offset as u16).to_be_bytes());
        table.extend((value.len() as u16).to_be_bytes());
        offset += value.len();
        data.extend(value);
    }
    table.push(TERMINATOR);
    table.extend(data);
    table
}
