//! Chunked transfer coding, decoded incrementally and strictly.
//!
//! Used for downstream request bodies and upstream response bodies. Every malformed input is an
//! error: non-hex sizes, sizes past `u64`, missing CRLF after data, bare LF, over-long lines.
//! Chunk extensions are tolerated and ignored; trailers are read and dropped.

use portico_shared::limits::{CHUNK_LINE_MAX_BYTES, TRAILER_MAX_BYTES};

/// Why a chunked body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("invalid chunk size line")]
    Size,
    #[error("chunk data not followed by CRLF")]
    DataEnd,
    #[error("invalid trailer section")]
    Trailer,
    #[error("chunked body larger than allowed")]
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a size line.
    Size,
    /// After the digits: extensions up to CR.
    Ext,
    /// Saw CR of the size line.
    SizeLf,
    Data,
    /// Expect CR after data.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    TrailerLf,
    /// Saw CR at the start of a trailer line: the end.
    EndLf,
    Done,
}

/// An incremental chunked decoder.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    digits: u32,
    line_len: usize,
    /// Bytes of trailer section seen: trailers are dropped, but not read forever.
    trailer_bytes: usize,
    max_body: usize,
}

// === impl ChunkedDecoder ===

impl ChunkedDecoder {
    pub fn new(max_body: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            size: 0,
            digits: 0,
            line_len: 0,
            trailer_bytes: 0,
            max_body,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, appending data to `out`. Returns the number of input bytes consumed;
    /// when [`Self::is_done`] afterwards, the rest of `input` belongs to the next message.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            let b = input[i];
            match self.state {
                State::Size => {
                    if let Some(d) = hex(b) {
                        self.digits += 1;
                        if self.digits > 16 {
                            return Err(ChunkError::Size);
                        }
                        self.size = (self.size << 4) | u64::from(d);
                    } else if self.digits == 0 {
                        return Err(ChunkError::Size);
                    } else if b == b';' || b == b' ' || b == b'\t' {
                        self.state = State::Ext;
                    } else if b == b'\r' {
                        self.state = State::SizeLf;
                    } else {
                        return Err(ChunkError::Size);
                    }
                    self.bump_line()?;
                }
                State::Ext => {
                    if b == b'\r' {
                        self.state = State::SizeLf;
                    } else if b == b'\n' || b == 0 {
                        return Err(ChunkError::Size);
                    }
                    self.bump_line()?;
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Size);
                    }
                    self.line_len = 0;
                    self.digits = 0;
                    if self.size == 0 {
                        self.state = State::TrailerStart;
                    } else {
                        if (out.len() as u64).saturating_add(self.size) > self.max_body as u64 {
                            return Err(ChunkError::TooLarge);
                        }
                        self.state = State::Data;
                    }
                }
                State::Data => {
                    let take =
                        (input.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[i..i + take]);
                    self.size -= take as u64;
                    i += take;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                    continue;
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(ChunkError::DataEnd);
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError::DataEnd);
                    }
                    self.state = State::Size;
                }
                State::TrailerStart => {
                    if b == b'\r' {
                        self.state = State::EndLf;
                    } else if b == b'\n' || b == b' ' || b == b'\t' || b == 0 {
                        return Err(ChunkError::Trailer);
                    } else {
                        self.state = State::TrailerLine;
                        self.bump_line()?;
                    }
                }
                State::TrailerLine => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > TRAILER_MAX_BYTES {
                        return Err(ChunkError::Trailer);
                    }
                    if b == b'\r' {
                        self.state = State::TrailerLf;
                    } else if b == b'\n' || b == 0 {
                        return Err(ChunkError::Trailer);
                    }
                    self.bump_line()?;
                }
                State::TrailerLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Trailer);
                    }
                    self.line_len = 0;
                    self.state = State::TrailerStart;
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Trailer);
                    }
                    self.state = State::Done;
                }
                State::Done => unreachable!("loop condition"),
            }
            i += 1;
        }
        Ok(i)
    }

    fn bump_line(&mut self) -> Result<(), ChunkError> {
        self.line_len += 1;
        if self.line_len > CHUNK_LINE_MAX_BYTES {
            return Err(ChunkError::Size);
        }
        Ok(())
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_split(input: &[u8], max: usize) -> Result<(Vec<u8>, usize), ChunkError> {
        // Feed in every split: whole, and two pieces at every offset. All must agree.
        let mut whole = ChunkedDecoder::new(max);
        let mut out = Vec::new();
        let used = whole.decode(input, &mut out)?;
        assert!(
            whole.is_done(),
            "incomplete: {:?}",
            String::from_utf8_lossy(input)
        );
        for cut in 0..=input.len() {
            let mut d = ChunkedDecoder::new(max);
            let mut o = Vec::new();
            let a = d.decode(&input[..cut], &mut o).unwrap();
            assert_eq!(a, cut.min(used));
            let b = d.decode(&input[a..], &mut o).unwrap();
            assert_eq!(a + b, used);
            assert_eq!(o, out);
        }
        Ok((out, used))
    }

    #[test]
    fn valid_bodies() {
        let (out, used) =
            decode_split(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT", 100).unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(used, 32);
        let (out, _) = decode_split(b"A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", 100).unwrap();
        assert_eq!(out, b"0123456789");
        let (out, _) = decode_split(b"0\r\n\r\n", 100).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn invalid_bodies() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"fffffffffffffffff\r\n",
            b"-1\r\n",
            b"0x5\r\nhello\r\n",
            b"0\r\n\n",
            b"0\r\nX: 1\n\r\n",
            b"0\r\n X: 1\r\n\r\n",
            b"5;a\nb\r\n",
        ] {
            let mut d = ChunkedDecoder::new(100);
            let r = d.decode(bad, &mut Vec::new());
            assert!(r.is_err(), "{:?} accepted", String::from_utf8_lossy(bad));
        }
        let mut d = ChunkedDecoder::new(4);
        assert_eq!(
            d.decode(b"5\r\nhello\r\n", &mut Vec::new()),
            Err(ChunkError::TooLarge)
        );
        let long = format!("1;{}\r\n", "a".repeat(CHUNK_LINE_MAX_BYTES + 1));
        assert_eq!(
            ChunkedDecoder::new(4).decode(long.as_bytes(), &mut Vec::new()),
            Err(ChunkError::Size)
        );
    }
}
