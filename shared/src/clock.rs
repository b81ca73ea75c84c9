//! Wall-clock time for quota periods and usage days, with an offset tests can set (the
//! `--clock-offset-secs` flag, hidden) to cross a period boundary without waiting for one.
//! Both sides (workers counting, the control plane reporting) read the same clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static OFFSET_SECS: AtomicI64 = AtomicI64::new(0);

/// Shifts the clock by `secs` (tests only; set once at start).
pub fn set_offset_secs(secs: i64) {
    OFFSET_SECS.store(secs, Ordering::Relaxed);
}

/// Seconds since the Unix epoch, offset.
pub fn unix_secs() -> u64 {
    let now = system_unix_secs() as i64;
    (now + OFFSET_SECS.load(Ordering::Relaxed)).max(0) as u64
}

/// Seconds since the Unix epoch, never offset: what outbound signatures and credential expiry
/// are dated by.
pub fn system_unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Today, in days since the Unix epoch (UTC), offset.
pub fn today() -> u64 {
    crate::quota::day_of(unix_secs())
}
