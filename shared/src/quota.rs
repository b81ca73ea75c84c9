//! Usage plan quotas: calendar periods in UTC and the per-key counters the data plane spends.
//!
//! # Architecture
//! A [`QuotaCounter`] is one atomic: the period it counts (its start, in days since the Unix
//! epoch) and the requests admitted in it, packed so that rolling over to a new period and
//! counting are the same compare-and-swap, exact across cores. [`DayCounters`] keeps the two most
//! recent days' counts the same way, for `GetUsage`'s per-day figures; the control plane reads
//! both and writes them to its store in the background.
//!
//! Periods: `DAY` starts at 00:00 UTC, `WEEK` on Sunday 00:00 UTC, `MONTH` on the 1st 00:00 UTC.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::rest::QuotaPeriod;

const DAY_SECS: u64 = 86_400;

/// Bits of the packed word that hold the count.
const COUNT_BITS: u32 = 43;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// Counts are biased so that `UpdateUsage` can grant more than the limit (a negative "used").
const BIAS: u64 = 1 << (COUNT_BITS - 1);

/// Days since the Unix epoch of `secs`.
pub fn day_of(secs: u64) -> u64 {
    secs / DAY_SECS
}

/// The first day (days since the epoch) of the period that contains day `day`.
pub fn period_start_day(day: u64, period: QuotaPeriod) -> u64 {
    match period {
        QuotaPeriod::Day => day,
        // 1970-01-01 was a Thursday: day 3 was a Sunday.
        QuotaPeriod::Week => day - (day + 4) % 7,
        QuotaPeriod::Month => {
            let (y, m, _) = civil_from_days(day);
            days_from_civil(y, m, 1)
        }
    }
}

/// The first day of the period after the one that starts on `start`.
pub fn next_period_start_day(start: u64, period: QuotaPeriod) -> u64 {
    match period {
        QuotaPeriod::Day => start + 1,
        QuotaPeriod::Week => start + 7,
        QuotaPeriod::Month => {
            let (y, m, _) = civil_from_days(start);
            if m == 12 {
                days_from_civil(y + 1, 1, 1)
            } else {
                days_from_civil(y, m + 1, 1)
            }
        }
    }
}

/// `YYYY-MM-DD` of day `day`.
pub fn format_day(day: u64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Day number of `YYYY-MM-DD`.
pub fn parse_day(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    // Digits only: `str::parse` would take a sign ("2026-+1-25").
    if !b
        .iter()
        .enumerate()
        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return None;
    }
    let y: i64 = s[0..4].parse().ok()?;
    let m: u32 = s[5..7].parse().ok()?;
    let d: u32 = s[8..10].parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || y < 1970 {
        return None;
    }
    let day = days_from_civil(y, m, d);
    (civil_from_days(day) == (y, m, d)).then_some(day)
}

// Howard Hinnant's civil calendar algorithms (public domain), for days since 1970-01-01.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as u64
}

/// The UTC (year, month, day) of day `z` since the epoch.
pub fn civil_from_days(z: u64) -> (i64, u32, u32) {
    let z = z as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn pack(day: u64, used: i64) -> u64 {
    (day << COUNT_BITS) | ((BIAS as i64 + used) as u64 & COUNT_MASK)
}

fn unpack(word: u64) -> (u64, i64) {
    (word >> COUNT_BITS, (word & COUNT_MASK) as i64 - BIAS as i64)
}

/// Requests counted against one key's quota in one usage plan, for the current period.
#[derive(Debug)]
pub struct QuotaCounter {
    /// `(period start day, used)`, packed.
    word: AtomicU64,
}

impl Default for QuotaCounter {
    fn default() -> QuotaCounter {
        QuotaCounter::new(0, 0)
    }
}

// === impl QuotaCounter ===

impl QuotaCounter {
    /// A counter that has counted `used` in the period starting on day `start`.
    pub fn new(start: u64, used: i64) -> QuotaCounter {
        QuotaCounter {
            word: AtomicU64::new(pack(start, used)),
        }
    }

    /// Counts one request in the period starting on day `start` if fewer than `limit` were
    /// counted in it; a counter still on an earlier period starts over.
    pub fn try_take(&self, start: u64, limit: i64) -> bool {
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            let (day, used) = unpack(cur);
            let used = if day == start { used } else { 0 };
            if day > start || used >= limit {
                return false;
            }
            match self.word.compare_exchange_weak(
                cur,
                pack(start, used + 1),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Gives back one request counted by [`QuotaCounter::try_take`] (a later check refused it).
    pub fn untake(&self, start: u64) {
        let _ = self
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
                let (day, used) = unpack(w);
                (day == start).then(|| pack(day, used - 1))
            });
    }

    /// The first day of the period the counter is on.
    pub fn period(&self) -> u64 {
        unpack(self.word.load(Ordering::Acquire)).0
    }

    /// What was counted in the period starting on `start` (0 if the counter is on another one).
    pub fn used(&self, start: u64) -> i64 {
        let (day, used) = unpack(self.word.load(Ordering::Acquire));
        if day == start {
            used
        } else {
            0
        }
    }

    /// Adds `delta` to the count of the period starting on `start` (the other nodes' counts,
    /// learnt from the shared limits); nothing if the counter is on another period.
    pub fn adjust(&self, start: u64, delta: i64) {
        let _ = self
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
                let (day, used) = unpack(w);
                (day == start && delta != 0).then(|| pack(day, used + delta))
            });
    }

    /// Sets the count of the period starting on `start` (restoring from the store, or
    /// `UpdateUsage`: `used = limit - remaining`, negative to grant more than the limit).
    pub fn set(&self, start: u64, used: i64) {
        self.word.store(pack(start, used), Ordering::Release);
    }
}

/// Requests admitted per day for one key in one plan: the last two days, for `GetUsage`.
#[derive(Debug, Default)]
pub struct DayCounters {
    /// Slot `day % 2` holds `(day, count)`, packed.
    slots: [AtomicU64; 2],
}

// === impl DayCounters ===

impl DayCounters {
    /// Counts one request on day `day`.
    pub fn add(&self, day: u64) {
        let slot = &self.slots[(day % 2) as usize];
        let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
            let (d, n) = unpack(w);
            Some(if d == day {
                pack(d, n + 1)
            } else {
                pack(day, 1)
            })
        });
    }

    /// Removes one request counted by [`DayCounters::add`].
    pub fn remove(&self, day: u64) {
        let slot = &self.slots[(day % 2) as usize];
        let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
            let (d, n) = unpack(w);
            (d == day && n > 0).then(|| pack(d, n - 1))
        });
    }

    /// The count of day `day`, if one of the slots holds it.
    pub fn get(&self, day: u64) -> Option<u64> {
        let (d, n) = unpack(self.slots[(day % 2) as usize].load(Ordering::Acquire));
        (d == day).then_some(n.max(0) as u64)
    }

    /// Both slots: `(day, count)`.
    pub fn both(&self) -> [(u64, u64); 2] {
        self.slots.each_ref().map(|s| {
            let (d, n) = unpack(s.load(Ordering::Acquire));
            (d, n.max(0) as u64)
        })
    }

    /// Adds `delta` to day `day`'s count (the other nodes' counts); nothing if no slot holds it.
    pub fn adjust(&self, day: u64, delta: i64) {
        let slot = &self.slots[(day % 2) as usize];
        let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
            let (d, n) = unpack(w);
            (d == day && delta != 0).then(|| pack(d, (n + delta).max(0)))
        });
    }

    /// Restores day `day`'s count from the store.
    pub fn set(&self, day: u64, count: u64) {
        self.slots[(day % 2) as usize].store(pack(day, count as i64), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        let d = parse_day("2026-11-25").unwrap();
        assert_eq!(format_day(d), "2026-11-25");
        assert_eq!(
            format_day(period_start_day(d, QuotaPeriod::Month)),
            "2026-11-01"
        );
        // 2026-11-25 is a Wednesday; its week starts Sunday 2026-11-22.
        assert_eq!(
            format_day(period_start_day(d, QuotaPeriod::Week)),
            "2026-11-22"
        );
        let dec = parse_day("2026-12-01").unwrap();
        assert_eq!(
            next_period_start_day(period_start_day(d, QuotaPeriod::Month), QuotaPeriod::Month),
            dec
        );
        let jan = parse_day("2027-01-01").unwrap();
        assert_eq!(next_period_start_day(dec, QuotaPeriod::Month), jan);
        assert_eq!(parse_day("2026-02-30"), None);
        assert_eq!(parse_day("2026-2-03"), None);
        assert_eq!(parse_day("2026-+1-25"), None);
        assert_eq!(parse_day("+026-01-25"), None);
        assert_eq!(day_of(0), 0);
        assert_eq!(format_day(0), "1970-01-01");
        let leap = parse_day("2028-02-29").unwrap();
        assert_eq!(
            format_day(period_start_day(leap, QuotaPeriod::Month)),
            "2028-02-01"
        );
    }

    #[test]
    fn counts_to_the_limit_then_rolls_over() {
        let q = QuotaCounter::new(10, 0);
        for _ in 0..1000 {
            assert!(q.try_take(10, 1000));
        }
        assert!(!q.try_take(10, 1000));
        assert_eq!(q.used(10), 1000);
        // The next period starts over.
        assert!(q.try_take(11, 1000));
        assert_eq!(q.used(11), 1);
        // A late request for the old period does not count against the new one.
        assert!(!q.try_take(10, 1000));
        q.untake(11);
        assert_eq!(q.used(11), 0);
    }

    #[test]
    fn update_usage_can_grant_beyond_the_limit() {
        let q = QuotaCounter::new(10, 5);
        q.set(10, -3);
        assert_eq!(q.used(10), -3);
        for _ in 0..8 {
            assert!(q.try_take(10, 5));
        }
        assert!(!q.try_take(10, 5));
    }

    #[test]
    fn day_counters_keep_two_days() {
        let c = DayCounters::default();
        c.add(100);
        c.add(100);
        c.add(101);
        assert_eq!(c.get(100), Some(2));
        assert_eq!(c.get(101), Some(1));
        c.add(102);
        assert_eq!(c.get(100), None);
        assert_eq!(c.get(102), Some(1));
    }
}
