//! Fuzzes `ws::frame::decode`, the WebSocket frame decoder (client frames, unmasked in place).
//!
//! Input: `[max_payload selector, wire bytes...]`.
//!
//! Beyond "no panic", each input checks:
//! 1. A decoded frame lies within the input, its payload within the frame and under the limit;
//!    every shorter prefix of it decodes as incomplete (`Ok(None)`), never as another frame or
//!    an error that the whole frame did not give.
//! 2. Round trip: the wire bytes, used as a payload, masked into a binary frame with the
//!    selector's bytes as the mask, decode back to themselves with the exact length, or are
//!    `TooLarge` exactly when longer than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_dataplane::ws::frame::{decode, FrameError, Opcode};

const MAX_PAYLOADS: [usize; 6] = [0, 1, 125, 126, 32 * 1024, 1 << 20];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, wire)) = data.split_first() else {
        return;
    };
    let max = MAX_PAYLOADS[usize::from(sel) % MAX_PAYLOADS.len()];

    let mut whole = wire.to_vec();
    let result = decode(&mut whole, max);
    if let Ok(Some(f)) = result {
        assert!(f.len <= wire.len(), "frame past the input");
        assert!(f.payload.0 <= f.payload.1 && f.payload.1 == f.len);
        assert!(f.payload.1 - f.payload.0 <= max, "payload past the limit");
        assert!(!f.opcode.is_control() || (f.fin && f.payload.1 - f.payload.0 <= 125));
        for cut in [0, f.len / 2, f.len.saturating_sub(1)] {
            if cut < f.len {
                let mut part = wire[..cut].to_vec();
                match decode(&mut part, max) {
                    Ok(None) => {}
                    // A header error shows up as soon as the header is there.
                    Err(FrameError::Protocol(_) | FrameError::TooLarge) => {
                        panic!("a prefix of a valid frame was refused")
                    }
                    Ok(Some(_)) => panic!("a prefix decoded as a whole frame"),
                }
            }
        }
    }

    // Round trip.
    let mask = [sel, sel.wrapping_add(85), sel.wrapping_mul(3), !sel];
    let mut frame = vec![0x82];
    let n = wire.len();
    if n < 126 {
        frame.push(0x80 | n as u8);
    } else if n <= 65535 {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        frame.push(0x80 | 127);
        frame.extend_from_slice(&(n as u64).to_be_bytes());
    }
    frame.extend_from_slice(&mask);
    frame.extend(wire.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    let total = frame.len();
    frame.extend_from_slice(b"\x81\x80next");
    match decode(&mut frame, max) {
        Ok(Some(f)) => {
            assert!(n <= max);
            assert_eq!((f.fin, f.opcode, f.len), (true, Opcode::Binary, total));
            assert_eq!(&frame[f.payload.0..f.payload.1], wire);
        }
        Err(FrameError::TooLarge) => assert!(n > max),
        other => panic!("round trip of {n} bytes gave {other:?}"),
    }
});
