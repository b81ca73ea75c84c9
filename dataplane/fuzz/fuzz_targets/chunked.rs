//! Fuzzes `http1::body::ChunkedDecoder`, the incremental chunked-body decoder.
//!
//! Input: `[max_body selector, cut (2 bytes, big endian), wire bytes...]`.
//!
//! Beyond "no panic", each input checks:
//! 1. Where reads end does not matter: decoding the wire bytes in one call, in two pieces cut at
//!    an arbitrary offset, and one byte per call give the same result, the same consumption, the
//!    same output and the same `is_done()`.
//! 2. Consumption and output are bounded: consumed ≤ input; a decoder that is not done consumed
//!    everything it was given; output ≤ max_body and ≤ consumed.
//! 3. Round trip: the wire bytes, re-used as a payload and chunk-encoded (sizes, hex case, leading
//!    zeros, extensions and trailers chosen by the header bytes), decode back to themselves, with
//!    the exact consumption, in one call and in two pieces; one byte less of `max_body` is
//!    `TooLarge`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_dataplane::http1::body::{ChunkError, ChunkedDecoder};

/// `max_body` values the first input byte selects from: the edges and a few realistic sizes.
const MAX_BODIES: [usize; 8] = [0, 1, 2, 16, 255, 4096, 1 << 20, usize::MAX];

/// Bytes that follow a message on the wire; never part of it.
const NEXT: &[u8] = b"GET / HTTP/1.1\r\n";

/// What a decode produced: the result, the output and whether the decoder finished.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    result: Result<usize, ChunkError>,
    out: Vec<u8>,
    done: bool,
}

fuzz_target!(|data: &[u8]| {
    let Some((&[sel, cut_hi, cut_lo], wire)) = data.split_first_chunk::<3>() else {
        return;
    };
    let max_body = MAX_BODIES[usize::from(sel) % MAX_BODIES.len()];
    let cut = usize::from(u16::from_be_bytes([cut_hi, cut_lo])) % (wire.len() + 1);

    let whole = whole(wire, max_body);
    check_bounds(&whole, wire.len(), max_body);
    assert_eq!(whole, two_pieces(wire, cut, max_body), "cut at {cut}");
    assert_eq!(whole, bytewise(wire, max_body), "one byte per call");

    round_trip(wire, sel, cut_lo);
});

fn whole(wire: &[u8], max_body: usize) -> Decoded {
    let mut d = ChunkedDecoder::new(max_body);
    let mut out = Vec::new();
    let result = d.decode(wire, &mut out);
    Decoded {
        result,
        out,
        done: d.is_done(),
    }
}

fn two_pieces(wire: &[u8], cut: usize, max_body: usize) -> Decoded {
    let mut d = ChunkedDecoder::new(max_body);
    let mut out = Vec::new();
    let result = match d.decode(&wire[..cut], &mut out) {
        Err(e) => Err(e),
        Ok(a) if d.is_done() => Ok(a),
        Ok(a) => {
            assert_eq!(a, cut, "an unfinished decoder left input unconsumed");
            d.decode(&wire[cut..], &mut out).map(|b| a + b)
        }
    };
    Decoded {
        result,
        out,
        done: d.is_done(),
    }
}

fn bytewise(wire: &[u8], max_body: usize) -> Decoded {
    let mut d = ChunkedDecoder::new(max_body);
    let mut out = Vec::new();
    let mut used = 0;
    let mut result = Ok(0);
    for i in 0..wire.len() {
        if d.is_done() {
            break;
        }
        match d.decode(&wire[i..=i], &mut out) {
            Ok(n) => {
                assert_eq!(
                    n, 1,
                    "an unfinished decoder did not take the byte it was given"
                );
                used += n;
                result = Ok(used);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    Decoded {
        result,
        out,
        done: d.is_done(),
    }
}

fn check_bounds(d: &Decoded, input_len: usize, max_body: usize) {
    assert!(
        d.out.len() <= max_body,
        "output {} past max_body {max_body}",
        d.out.len()
    );
    if let Ok(n) = d.result {
        assert!(n <= input_len, "consumed {n} of {input_len}");
        assert!(
            d.done || n == input_len,
            "not done yet consumed {n} of {input_len}"
        );
        assert!(
            d.out.len() <= n,
            "output {} longer than the input consumed {n}",
            d.out.len()
        );
    }
    if d.result.is_err() {
        assert!(!d.done, "done after an error");
    }
}

/// Chunk-encodes `payload` in a shape chosen by `shape` and `size_seed`, decodes it back.
fn round_trip(payload: &[u8], shape: u8, size_seed: u8) {
    let upper = shape & 0x10 != 0;
    let zeros = shape & 0x20 != 0;
    let ext = shape & 0x40 != 0;
    let trailer = shape & 0x80 != 0;
    let mut wire = Vec::with_capacity(payload.len() * 2 + 64);
    let mut rest = payload;
    let mut i = 0usize;
    while !rest.is_empty() {
        // Sizes 1..=64 that vary from chunk to chunk.
        let size = (1 + (usize::from(size_seed) + i * 7) % 64).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        size_line(&mut wire, size, upper, zeros, ext);
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(b"\r\n");
        rest = tail;
        i += 1;
    }
    size_line(&mut wire, 0, upper, zeros, ext);
    if trailer {
        wire.extend_from_slice(b"X-Checksum: 1\r\nX-Other:\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    let message_len = wire.len();
    wire.extend_from_slice(NEXT);

    let expect = Decoded {
        result: Ok(message_len),
        out: payload.to_vec(),
        done: true,
    };
    assert_eq!(
        whole(&wire, payload.len()),
        expect,
        "round trip of {} bytes",
        payload.len()
    );
    let cut = usize::from(size_seed) * 3 % (wire.len() + 1);
    assert_eq!(
        two_pieces(&wire, cut, payload.len()),
        expect,
        "round trip cut at {cut}"
    );
    if let Some(tighter) = payload.len().checked_sub(1) {
        let d = whole(&wire, tighter);
        assert_eq!(
            d.result,
            Err(ChunkError::TooLarge),
            "max_body one below the payload"
        );
    }
}

fn size_line(wire: &mut Vec<u8>, size: usize, upper: bool, zeros: bool, ext: bool) {
    let digits = match (upper, zeros) {
        (false, false) => format!("{size:x}"),
        (true, false) => format!("{size:X}"),
        (false, true) => format!("{size:016x}"),
        (true, true) => format!("{size:016X}"),
    };
    wire.extend_from_slice(digits.as_bytes());
    if ext {
        wire.extend_from_slice(b";name=\"v a\"");
    }
    wire.extend_from_slice(b"\r\n");
}
