//! Request ids in the shape of `apigw-requestid` (`Mc7UVioPPHcEKPA=`): 11 bytes, base64.
//!
//! 5 random bytes drawn per worker at start (so processes and restarts differ) and a 6-byte
//! per-worker counter: no coordination between cores and no allocation.

use std::cell::Cell;

use crate::text::hex_lower;

/// A worker's request id source.
#[derive(Debug)]
pub struct RequestIds {
    /// Random per worker and process.
    prefix: [u8; 5],
    next: Cell<u64>,
    /// The current epoch second, refreshed by the worker's housekeeping ([`RequestIds::tick`])
    /// rather than read per request (a clock read saved on every request; trace ids carry the
    /// second, which may lag the request by up to the housekeeping interval).
    second: Cell<u32>,
}

/// A request id: 16 ASCII bytes (`apigw-requestid`, REST's `x-amz-apigw-id`), the raw
/// bytes it encodes (REST's `x-amzn-RequestId` is the same id in UUID form), and the second it
/// was drawn in (the epoch part of the X-Ray trace id the gateway creates, [`RequestId::trace_root`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 16], [u8; 11], u32);

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// === impl RequestIds ===

impl RequestIds {
    /// `seed` must differ between workers and processes (see [`RequestIds::random_seed`]).
    pub fn new(seed: u64) -> RequestIds {
        let b = seed.to_be_bytes();
        RequestIds {
            prefix: [b[3], b[4], b[5], b[6], b[7]],
            next: Cell::new(0),
            second: Cell::new(portico_shared::clock::system_unix_secs() as u32),
        }
    }

    /// Refreshes the epoch second new ids carry (called once a second).
    pub fn tick(&self) {
        self.second
            .set(portico_shared::clock::system_unix_secs() as u32);
    }

    /// A seed from the OS's randomness (std's per-process hash keys) mixed with the worker id.
    pub fn random_seed(worker: usize) -> u64 {
        use std::hash::BuildHasher;
        std::hash::RandomState::new().hash_one((worker, std::process::id()))
    }

    pub fn next(&self) -> RequestId {
        let n = self.next.get();
        self.next.set(n.wrapping_add(1));
        let c = n.to_be_bytes();
        let p = &self.prefix;
        // 11 bytes → 15 base64 characters and a '=' (a 12th, zero byte pads the last group),
        // three bytes to four characters, unrolled (every request draws one).
        let mut out = [b'='; 16];
        let groups = [
            [p[0], p[1], p[2]],
            [p[3], p[4], c[2]],
            [c[3], c[4], c[5]],
            [c[6], c[7], 0],
        ];
        for (i, g) in groups.iter().enumerate() {
            let v = (u32::from(g[0]) << 16) | (u32::from(g[1]) << 8) | u32::from(g[2]);
            let o = &mut out[4 * i..4 * i + 4];
            o[0] = B64[(v >> 18) as usize & 63];
            o[1] = B64[(v >> 12) as usize & 63];
            o[2] = B64[(v >> 6) as usize & 63];
            o[3] = B64[v as usize & 63];
        }
        out[15] = b'=';
        let raw = [
            p[0], p[1], p[2], p[3], p[4], c[2], c[3], c[4], c[5], c[6], c[7],
        ];
        RequestId(out, raw, self.second.get())
    }
}

// === impl RequestId ===

impl RequestId {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The X-Ray trace id the gateway gives a request that came without `X-Amzn-Trace-Id`:
    /// `1-{8 hex digits of the epoch second}-{24 hex digits}` (the id's 11 bytes and one more
    /// mixed from them), as unique as the request id.
    pub fn trace_root(&self) -> [u8; 35] {
        let mut out = [b'-'; 35];
        out[0] = b'1';
        let r = &self.1;
        hex_lower(&mut out[2..10], &self.2.to_be_bytes());
        hex_lower(&mut out[11..33], r);
        hex_lower(&mut out[33..35], &[r[0] ^ r[5] ^ r[10]]);
        out
    }

    /// The `X-Amzn-Trace-Id` value an integration gets: the client's as sent, else
    /// `Root={trace_root}` (on the stack: nothing allocated).
    pub fn trace_header<'a>(&self, client: Option<&'a [u8]>) -> TraceHeader<'a> {
        match client {
            Some(v) if !v.is_empty() => TraceHeader::Client(v),
            _ => {
                let mut made = [0; 40];
                made[..5].copy_from_slice(b"Root=");
                made[5..].copy_from_slice(&self.trace_root());
                TraceHeader::Made(made)
            }
        }
    }

    /// The id as a version-4-shaped UUID (`x-amzn-RequestId`): the 5 random bytes, fixed
    /// version and variant bytes, then the 6-byte counter, so it is as unique as the id.
    pub fn uuid(&self) -> [u8; 36] {
        let r = &self.1;
        let b: [u8; 16] = [
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[0] ^ r[1],
            0x40 | (r[2] & 0x0f),
            r[3],
            0x80 | (r[4] & 0x3f),
            r[0] ^ r[4],
            r[5],
            r[6],
            r[7],
            r[8],
            r[9],
            r[10],
        ];
        let mut out = [b'-'; 36];
        hex_lower(&mut out[0..8], &b[0..4]);
        hex_lower(&mut out[9..13], &b[4..6]);
        hex_lower(&mut out[14..18], &b[6..8]);
        hex_lower(&mut out[19..23], &b[8..10]);
        hex_lower(&mut out[24..36], &b[10..16]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id is the base64 of its raw bytes (a reference encoder, byte by byte), for counters
    /// that carry into every byte.
    #[test]
    fn id_is_the_base64_of_its_bytes() {
        let ids = RequestIds::new(0x0123_4567_89ab_cdef);
        for start in [
            0u64,
            1,
            255,
            256,
            65_535,
            1 << 24,
            (1 << 40) - 1,
            (1 << 48) - 2,
        ] {
            ids.next.set(start);
            let id = ids.next();
            let mut bits = 0u32;
            let mut nbits = 0;
            let mut want = Vec::new();
            for &b in id.1.iter().chain([0u8].iter()) {
                bits = (bits << 8) | u32::from(b);
                nbits += 8;
                while nbits >= 6 {
                    nbits -= 6;
                    want.push(B64[(bits >> nbits) as usize & 63]);
                }
            }
            want.truncate(15);
            want.push(b'=');
            assert_eq!(id.as_bytes(), &want[..], "counter {start}");
            let counter =
                u64::from_be_bytes([0, 0, id.1[5], id.1[6], id.1[7], id.1[8], id.1[9], id.1[10]]);
            assert_eq!(counter, start & ((1 << 48) - 1));
            assert_eq!(id.1[..5], [0x67, 0x89, 0xab, 0xcd, 0xef]);
        }
    }

    #[test]
    fn unique_and_shaped() {
        let ids = RequestIds::new(RequestIds::random_seed(3));
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(a.as_bytes().len(), 16);
        assert_eq!(a.as_bytes()[15], b'=');
        assert!(a.as_bytes()[..15].iter().all(|c| B64.contains(c)));
        let u = a.uuid();
        assert_eq!(u[8], b'-');
        assert_eq!(u[14], b'4');
        assert_ne!(u, b.uuid());
        let t = a.trace_root();
        assert_eq!((t[0], t[1], t[10]), (b'1', b'-', b'-'));
        assert!(t[2..10].iter().chain(&t[11..]).all(u8::is_ascii_hexdigit));
        assert_ne!(t, b.trace_root());
        assert_ne!(
            RequestIds::new(RequestIds::random_seed(4)).next(),
            RequestIds::new(RequestIds::random_seed(4)).next()
        );
    }
}

/// A request's `X-Amzn-Trace-Id` value ([`RequestId::trace_header`]).
#[derive(Debug, Clone, Copy)]
pub enum TraceHeader<'a> {
    /// The client sent one: kept as sent.
    Client(&'a [u8]),
    /// The gateway made one: `Root=1-{8 hex}-{24 hex}`.
    Made([u8; 40]),
}

impl TraceHeader<'_> {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            TraceHeader::Client(v) => v,
            TraceHeader::Made(m) => m,
        }
    }
}
