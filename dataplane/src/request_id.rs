//! Request ids in the shape of `apigw-requestid` (`Mc7UVioPPHcEKPA=`): 11 bytes, base64.
//!
//! Unique per process start (seconds since the epoch), per worker and per request: no
//! coordination between cores and no allocation.

use std::cell::Cell;

/// A worker's request id source.
#[derive(Debug)]
pub struct RequestIds {
    worker: u8,
    epoch_s: u32,
    next: Cell<u64>,
}

/// A request id: 16 ASCII bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 16]);

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// === impl RequestIds ===

impl RequestIds {
    pub fn new(worker: usize, epoch_s: u64) -> RequestIds {
        RequestIds { worker: (worker & 0xff) as u8, epoch_s: (epoch_s & 0xffff_ffff) as u32, next: Cell::new(0) }
    }

    pub fn next(&self) -> RequestId {
        let n = self.next.get();
        self.next.set(n.wrapping_add(1));
        let mut raw = [0u8; 12];
        raw[0..4].copy_from_slice(&self.epoch_s.to_be_bytes());
        raw[4] = self.worker;
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
        let ids = RequestIds::new(3, 1_700_000_000);
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(a.as_bytes().len(), 16);
        assert_eq!(a.as_bytes()[15], b'=');
        assert!(a.as_bytes()[..15].iter().all(|c| B64.contains(c)));
        assert_ne!(RequestIds::new(4, 1_700_000_000).next(), RequestIds::new(3, 1_700_000_000).next());
    }
}
