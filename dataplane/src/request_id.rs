//! Request ids in the shape of `apigw-requestid` (`Mc7UVioPPHcEKPA=`): 11 bytes, base64.
//!
//! 5 random bytes drawn per worker at start (so processes and restarts differ) and a 6-byte
//! per-worker counter: no coordination between cores and no allocation.

use std::cell::Cell;

/// A worker's request id source.
#[derive(Debug)]
pub struct RequestIds {
    /// Random per worker and process.
    prefix: [u8; 5],
    next: Cell<u64>,
}

/// A request id: 16 ASCII bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 16]);

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// === impl RequestIds ===

impl RequestIds {
    /// `seed` must differ between workers and processes (see [`RequestIds::random_seed`]).
    pub fn new(seed: u64) -> RequestIds {
        let b = seed.to_be_bytes();
        RequestIds {
            prefix: [b[3], b[4], b[5], b[6], b[7]],
            next: Cell::new(0),
        }
    }

    /// A seed from the OS's randomness (std's per-process hash keys) mixed with the worker id.
    pub fn random_seed(worker: usize) -> u64 {
        use std::hash::BuildHasher;
        std::hash::RandomState::new().hash_one((worker, std::process::id()))
    }

    pub fn next(&self) -> RequestId {
        let n = self.next.get();
        self.next.set(n.wrapping_add(1));
        let mut raw = [0u8; 12];
        raw[0..5].copy_from_slice(&self.prefix);
        raw[5..11].copy_from_slice(&n.to_be_bytes()[2..8]);
        let mut out = [b'='; 16];
        // 11 bytes → 15 base64 chars + '=' (the 12th byte is padding).
        for (i, chunk) in raw.chunks(3).enumerate() {
            let v = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
            for j in 0..4 {
                let idx = 4 * i + j;
                if idx < 15 {
                    out[idx] = B64[((v >> (18 - 6 * j)) & 63) as usize];
                }
            }
        }
        RequestId(out)
    }
}

// === impl RequestId ===

impl RequestId {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_and_shaped() {
        let ids = RequestIds::new(RequestIds::random_seed(3));
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(a.as_bytes().len(), 16);
        assert_eq!(a.as_bytes()[15], b'=');
        assert!(a.as_bytes()[..15].iter().all(|c| B64.contains(c)));
        assert_ne!(
            RequestIds::new(RequestIds::random_seed(4)).next(),
            RequestIds::new(RequestIds::random_seed(4)).next()
        );
    }
}
