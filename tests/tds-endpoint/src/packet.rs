//! TDS packet framing: an 8-byte header (type, status, big-endian length, SPID,
//! packet id, window) before each chunk of a message. A message ends with the packet
//! whose status has the end-of-message bit.

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

pub const HEADER_LEN: usize = 8;
pub const DEFAULT_PACKET_SIZE: usize = 4096;
const END_OF_MESSAGE: u8 = 0x01;
/// Requests larger than this are refused, so a client cannot make us buffer without bound.
const MAX_REQUEST: usize = 256 * 1024 * 1024;

pub const TYPE_SQL_BATCH: u8 = 0x01;
pub const TYPE_RPC: u8 = 0x03;
pub const TYPE_TABULAR_RESULT: u8 = 0x04;
pub const TYPE_ATTENTION: u8 = 0x06;
pub const TYPE_TRANSACTION_MANAGER: u8 = 0x0E;
pub const TYPE_LOGIN7: u8 = 0x10;
pub const TYPE_PRELOGIN: u8 = 0x12;

/// A reassembled client message.
#[derive(Debug)]
pub struct Message {
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// Reads the next whole message; `None` when the client closed the connection cleanly.
pub async fn read_message<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Message>> {
    let mut payload = Vec::new();
    let mut kind = None;
    loop {
        let mut header = [0u8; HEADER_LEN];
        match reader.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && kind.is_none() => return Ok(None),
            Err(e) => return Err(e),
        }
        let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let body = length.checked_sub(HEADER_LEN).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "TDS packet shorter than its header")
        })?;
        if payload.len() + body > MAX_REQUEST {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "TDS request too large"));
        }
        let start = payload.len();
        payload.resize(start + body, 0);
        reader.read_exact(&mut payload[start..]).await?;
        kind.get_or_insert(header[0]);
        if header[1] & END_OF_MESSAGE != 0 {
            return Ok(kind.map(|kind| Message { kind, payload }));
        }
    }
}

/// Splits a whole response message into tabular-result packets.
pub fn frame(payload: &[u8], packet_size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + HEADER_LEN);
    let chunk = packet_size - HEADER_LEN;
    let chunks: Vec<&[u8]> = if payload.is_empty() { vec![&[][..]] } else { payload.chunks(chunk).collect() };
    for (i, part) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        push_packet(&mut out, part, last, (i + 1) as u8);
    }
    out
}

fn push_packet(out: &mut Vec<u8>, body: &[u8], last: bool, id: u8) {
    let length = (body.len() + HEADER_LEN) as u16;
    out.extend([TYPE_TABULAR_RESULT, if last { END_OF_MESSAGE } else { 0 }]);
    out.extend(length.to_be_bytes());
    out.extend([0, 0, id, 0]);
    out.extend(body);
}

/// The client is gone: the session dropped the receiving end of the packet channel.
#[derive(Debug)]
pub struct Disconnected;

/// Builds response messages on the SQLite worker thread and hands them to the session
/// task one packet at a time. The channel is bounded, so a client that does not read
/// stalls the worker (TCP backpressure) instead of growing memory.
pub struct PacketSink {
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
    packet_size: usize,
    next_id: u8,
}

impl PacketSink {
    pub fn new(tx: mpsc::Sender<Vec<u8>>, packet_size: usize) -> PacketSink {
        PacketSink { tx, buf: Vec::with_capacity(packet_size), packet_size, next_id: 1 }
    }

    /// Where tokens are appended.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Sends every full packet buffered so far.
    pub fn flush_full(&mut self) -> Result<(), Disconnected> {
        let body = self.packet_size - HEADER_LEN;
        if self.buf.len() <= body {
            return Ok(());
        }
        let full = self.buf.len() / body * body;
        let pending: Vec<u8> = self.buf.drain(..full).collect();
        for part in pending.chunks(body) {
            self.send(part, false)?;
        }
        Ok(())
    }

    /// Sends the rest of the message, the last packet with the end-of-message bit.
    pub fn end_message(&mut self) -> Result<(), Disconnected> {
        let body = self.packet_size - HEADER_LEN;
        let pending = std::mem::take(&mut self.buf);
        let mut parts = pending.chunks(body).peekable();
        if parts.peek().is_none() {
            return self.send(&[], true);
        }
        while let Some(part) = parts.next() {
            self.send(part, parts.peek().is_none())?;
        }
        Ok(())
    }

    fn send(&mut self, body: &[u8], last: bool) -> Result<(), Disconnected> {
        let mut packet = Vec::with_capacity(body.len() + HEADER_LEN);
        push_packet(&mut packet, body, last, self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        self.tx.blocking_send(packet).map_err(|_| Disconnected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_message_leaves_in_packets_of_the_negotiated_size() {
        let (tx, mut rx) = mpsc::channel(64);
        let mut sink = PacketSink::new(tx, 512);
        sink.buf().extend(std::iter::repeat_n(7u8, 5000));
        sink.flush_full().unwrap();
        sink.buf().extend([1, 2, 3]);
        sink.end_message().unwrap();
        drop(sink);
        let mut packets = Vec::new();
        while let Ok(packet) = rx.try_recv() {
            packets.push(packet);
        }
        assert_eq!(packets.len(), 5003usize.div_ceil(512 - HEADER_LEN));
        for (i, packet) in packets.iter().enumerate() {
            let last = i + 1 == packets.len();
            assert!(packet.len() <= 512);
            assert_eq!(usize::from(u16::from_be_bytes([packet[2], packet[3]])), packet.len());
            assert_eq!((packet[0], packet[1] & END_OF_MESSAGE != 0), (TYPE_TABULAR_RESULT, last));
        }
        let payload: usize = packets.iter().map(|p| p.len() - HEADER_LEN).sum();
        assert_eq!(payload, 5003);
    }
}
