//! LOGIN7 parsing.

/// `TypeFlags` bit for ApplicationIntent=ReadOnly.
const READ_ONLY_INTENT: u8 = 0x20;
/// Offsets in the fixed part of LOGIN7.
const PACKET_SIZE_AT: usize = 8;
const TYPE_FLAGS_AT: usize = 26;
const USER_NAME_AT: usize = 40;
const PASSWORD_AT: usize = 44;
const DATABASE_AT: usize = 68;

/// What the endpoint needs from a LOGIN7 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: String,
    pub database: String,
    pub read_only: bool,
    /// Requested packet size (0 = server default).
    pub packet_size: u32,
}

pub fn parse(payload: &[u8]) -> Result<Login, String> {
    let u16_at = |at: usize| -> Result<usize, String> {
        payload
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or("LOGIN7 too short".into())
    };
    let field = |at: usize, scramble: bool| -> Result<String, String> {
        let offset = u16_at(at)?;
        let chars = u16_at(at + 2)?;
        let bytes = payload.get(offset..offset + chars * 2).ok_or("LOGIN7 field out of bounds")?;
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| {
                let [a, b] = [c[0], c[1]].map(|x| if scramble { unscramble(x) } else { x });
                u16::from_le_bytes([a, b])
            })
            .collect();
        String::from_utf16(&units).map_err(|_| "LOGIN7 field is not UTF-16".to_string())
    };
    let packet_size = payload
        .get(PACKET_SIZE_AT..PACKET_SIZE_AT + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or("LOGIN7 too short")?;
    Ok(Login {
        user: field(USER_NAME_AT, false)?,
        password: field(PASSWORD_AT, true)?,
        database: field(DATABASE_AT, false)?,
        read_only: payload.get(TYPE_FLAGS_AT).is_some_and(|f| f & READ_ONLY_INTENT != 0),
        packet_size,
    })
}

/// Undoes the password obfuscation: each byte was nibble-swapped, then XORed with 0xA5.
fn unscramble(byte: u8) -> u8 {
    (byte ^ 0xA5).rotate_left(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscrambles_passwords() {
        let scrambled = (b'a'.rotate_left(4)) ^ 0xA5;
        assert_eq!(unscramble(scrambled), b'a');
    }
}
