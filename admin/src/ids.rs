//! Identifiers and timestamps in AWS's shapes.
//!
//! AWS gives an HTTP API a 10-character id and its routes, integrations and deployments 7
//! characters, all lowercase letters and digits. Ids only need to be unique within their scope
//! (the caller checks and draws again), not unpredictable, so a seeded xorshift is enough.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use portico_shared::limits::ID_MAX_CHARS;
use portico_shared::quota::format_day;

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A new random id of `len` lowercase letters and digits.
pub(crate) fn generate(len: usize) -> String {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        x = nanos ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    }
    let mut out = String::with_capacity(len);
    for _ in 0..len {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        out.push(ALPHABET[(r >> 32) as usize % ALPHABET.len()] as char);
    }
    STATE.store(x, Ordering::Relaxed);
    out
}

/// A fresh request id in AWS's shape (a UUID, version 4 layout), unique per process run: a
/// per-process random seed mixed with a counter. For `x-amzn-RequestId` and Lambda's request
/// ids; not a secret.
pub(crate) fn request_id() -> String {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut bytes = [0u8; 8];
        let urandom = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        match urandom {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(_) => nanos ^ (u64::from(std::process::id()) << 32),
        }
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let a = splitmix(seed ^ n);
    let b = splitmix(a ^ n.rotate_left(17));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// SplitMix64's finalizer: spreads a counter's bits over the whole word.
pub(crate) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `len` characters of `alphabet` (at most 248 of them) from the kernel's CSPRNG: for secrets
/// (API key values, IAM secret access keys), where [`generate`]'s ids are not enough.
pub(crate) fn random_string(alphabet: &[u8], len: usize) -> Result<String, crate::ApiError> {
    use std::io::Read as _;
    assert!(!alphabet.is_empty() && alphabet.len() <= 248);
    // Rejecting bytes at or above the largest multiple of the alphabet keeps characters equally likely.
    let bound = 256 - 256 % alphabet.len();
    let mut f = std::fs::File::open("/dev/urandom")
        .map_err(|e| crate::ApiError::Internal(format!("open /dev/urandom: {e}")))?;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        f.read_exact(&mut buf)
            .map_err(|e| crate::ApiError::Internal(format!("read /dev/urandom: {e}")))?;
        for b in buf.iter().filter(|b| usize::from(**b) < bound) {
            if out.len() == len {
                break;
            }
            out.push(char::from(alphabet[usize::from(*b) % alphabet.len()]));
        }
    }
    Ok(out)
}

/// Whether `id` can name an API: 1 to 63 lowercase letters and digits (a host name label).
pub(crate) fn valid_api_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= ID_MAX_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Whether `id` can name a route, integration or deployment: 1 to 63 letters, digits, `-`, `_`.
pub(crate) fn valid_child_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= ID_MAX_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Now, in seconds since the epoch: the wall clock, without the test offset of
/// `portico_shared::clock` (that one moves quota periods, not creation dates).
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Now, in epoch seconds as `apigateway` (v1) timestamps are written.
pub(crate) fn now_epoch() -> i64 {
    i64::try_from(now_secs()).unwrap_or(i64::MAX)
}

/// Now, as ISO-8601 UTC with seconds (`2024-05-01T12:34:56Z`): the `apigatewayv2` timestamp
/// format.
pub(crate) fn now_iso8601() -> String {
    iso8601(now_secs())
}

/// Seconds since the epoch as ISO-8601 UTC.
pub(crate) fn iso8601(secs: u64) -> String {
    let rem = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        format_day(secs / 86_400),
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_shared::limits::{API_ID_CHARS, CHILD_ID_CHARS};

    #[test]
    fn timestamps() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_714_566_896), "2024-05-01T12:34:56Z");
    }

    #[test]
    fn ids() {
        let a = generate(API_ID_CHARS);
        let b = generate(API_ID_CHARS);
        assert_ne!(a, b);
        assert!(valid_api_id(&a), "{a}");
        assert_eq!(generate(CHILD_ID_CHARS).len(), 7);
        assert!(!valid_api_id("ABC"));
        assert!(valid_child_id("backend-1"));
        assert!(!valid_child_id("a/b"));
    }
}
