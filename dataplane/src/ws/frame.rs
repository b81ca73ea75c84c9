//! The RFC 6455 frame codec: [`decode`] parses one client frame from a buffer (unmasking in
//! place), [`encode`] appends one server frame.
//!
//! Written here rather than taken from a crate: the well-kept codecs (tungstenite, its async
//! wrappers, `websocket-codec`) own the socket through `std::io::Read`/`Write` or tokio's
//! `AsyncRead`, and monoio reads into owned buffers. Decoding from the connection's own buffer
//! keeps a message's bytes where they were read, with no copy and no second buffer per
//! connection. Tested with tables, split at every byte offset, and fuzzed
//! (`dataplane/fuzz/fuzz_targets/ws_frame.rs`).
//!
//! A partial frame is `Ok(None)`; a frame that breaks the protocol is an error naming the close
//! code to answer with.

/// The frame opcodes of RFC 6455 §5.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

/// One decoded frame header; the payload is `buf[payload.0..payload.1]`, already unmasked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: Opcode,
    pub payload: (usize, usize),
    /// Bytes of the buffer this frame used (header and payload).
    pub len: usize,
}

/// Why a frame is refused: the close code to send (RFC 6455 §7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// 1002: reserved bits, an unknown opcode, an unmasked client frame, a fragmented or long
    /// control frame.
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// 1009: a frame larger than the limit.
    #[error("frame too large")]
    TooLarge,
}

impl FrameError {
    pub fn close_code(self) -> u16 {
        match self {
            FrameError::Protocol(_) => 1002,
            FrameError::TooLarge => 1009,
        }
    }
}

impl Opcode {
    fn from_bits(b: u8) -> Option<Opcode> {
        Some(match b {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// Decodes the client frame at the start of `buf`, unmasking its payload in place.
/// `Ok(None)`: not all of it is buffered yet.
pub fn decode(buf: &mut [u8], max_payload: usize) -> Result<Option<Frame>, FrameError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::Protocol("reserved bits set"));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(FrameError::Protocol("unknown opcode"))?;
    if b1 & 0x80 == 0 {
        return Err(FrameError::Protocol("client frames must be masked"));
    }
    let short = u64::from(b1 & 0x7F);
    if opcode.is_control() && (!fin || short > 125) {
        return Err(FrameError::Protocol(
            "control frames must be whole and short",
        ));
    }
    let (len, mut at) = match short {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Ok(None);
            };
            (u64::from(u16::from_be_bytes([b[0], b[1]])), 4)
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            let n = u64::from_be_bytes(a);
            if n >> 63 != 0 {
                return Err(FrameError::Protocol("payload length has its top bit set"));
            }
            (n, 10)
        }
        n => (n, 2),
    };
    if len > max_payload as u64 {
        return Err(FrameError::TooLarge);
    }
    let len = len as usize;
    let Some(mask) = buf.get(at..at + 4) else {
        return Ok(None);
    };
    let mask = [mask[0], mask[1], mask[2], mask[3]];
    at += 4;
    let end = at + len;
    let Some(payload) = buf.get_mut(at..end) else {
        return Ok(None);
    };
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
    Ok(Some(Frame {
        fin,
        opcode,
        payload: (at, end),
        len: end,
    }))
}

/// Appends one unfragmented, unmasked server frame.
pub fn encode(opcode: Opcode, payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x80 | opcode.bits());
    let n = payload.len();
    if n < 126 {
        out.push(n as u8);
    } else if n <= usize::from(u16::MAX) {
        out.push(126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// Appends a close frame with `code` and `reason` (at most 123 bytes, cut on a char boundary).
pub fn encode_close(code: u16, reason: &str, out: &mut Vec<u8>) {
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = [0u8; 125];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + cut].copy_from_slice(&reason.as_bytes()[..cut]);
    encode(Opcode::Close, &payload[..2 + cut], out);
}

/// Whether a close code received from a client is one it may send (RFC 6455 §7.4).
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![first];
        let n = payload.len();
        if n < 126 {
            out.push(0x80 | n as u8);
        } else if n <= 65535 {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    #[test]
    fn decodes_at_every_split() {
        for payload in [&b""[..], b"Hello", &[7u8; 200], &[9u8; 70_000]] {
            let wire = masked(0x81, payload);
            for cut in 0..wire.len() {
                let mut part = wire[..cut].to_vec();
                assert_eq!(decode(&mut part, 1 << 20), Ok(None), "cut {cut}");
            }
            let mut whole = wire.clone();
            let f = decode(&mut whole, 1 << 20).unwrap().unwrap();
            assert_eq!((f.fin, f.opcode, f.len), (true, Opcode::Text, wire.len()));
            assert_eq!(&whole[f.payload.0..f.payload.1], payload);
        }
    }

    #[test]
    fn refuses() {
        let table: &[(Vec<u8>, FrameError)] = &[
            (
                masked(0xC1, b"x"),
                FrameError::Protocol("reserved bits set"),
            ),
            (masked(0x83, b"x"), FrameError::Protocol("unknown opcode")),
            (
                vec![0x81, 0x01, b'x'],
                FrameError::Protocol("client frames must be masked"),
            ),
            (
                masked(0x09, b"x"),
                FrameError::Protocol("control frames must be whole and short"),
            ),
            (
                masked(0x89, &[0u8; 126]),
                FrameError::Protocol("control frames must be whole and short"),
            ),
            (masked(0x82, &[0u8; 33]), FrameError::TooLarge),
        ];
        for (wire, want) in table {
            let mut w = wire.clone();
            assert_eq!(decode(&mut w, 32), Err(*want));
        }
    }

    #[test]
    fn encodes_lengths() {
        for n in [0usize, 125, 126, 65535, 65536] {
            let mut out = Vec::new();
            encode(Opcode::Binary, &vec![1u8; n], &mut out);
            let header = match n {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            };
            assert_eq!(out.len(), header + n);
            assert_eq!(out[0], 0x82);
        }
        let mut out = Vec::new();
        encode_close(1009, "é".repeat(100).as_str(), &mut out);
        assert!(out.len() <= 127);
        assert!(std::str::from_utf8(&out[4..]).is_ok());
    }
}
