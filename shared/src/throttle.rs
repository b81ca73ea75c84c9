//! Token buckets shared by every worker, exact across cores.
//!
//! # Architecture
//! A [`Bucket`] is a token bucket (rate `r` per second, capacity `burst`) kept as one atomic: the
//! *theoretical arrival time* of GCRA (the generic cell rate algorithm, the token bucket written
//! as a single timestamp). Taking `n` tokens is one compare-and-swap: `tat = max(tat, now) + n/r`,
//! refused when that would pass `now + burst/r`. Every admitted request took a token from this
//! one atomic, so the admitted count over any interval `t` is at most `r·t + burst`, however
//! connections spread over cores.
//!
//! A bucket every request touches (the account bucket, a busy stage) would make that atomic a
//! cache line all cores fight over. Such buckets ([`Bucket::leased`]) hand out *leases*: a worker
//! takes `lease` tokens in one CAS and spends them locally (a slot only it writes) for at most
//! [`LEASE_WINDOW_NS`]; what is left when the lease expires goes back to the bucket. Overshoot is
//! still zero (tokens only ever come out of the shared atomic); the worst-case undershoot is the
//! tokens sitting in unexpired leases, at most `workers × lease ≤ r × LEASE_WINDOW_NS`, i.e. 1% of
//! one second's rate. Buckets too slow to need it (`lease < 2`) take single tokens directly.
//!
//! Time is a caller-supplied monotonic nanosecond count (the data plane passes its clock), so
//! the arithmetic is pure and testable.

use crate::limits::LEASE_WINDOW_NS;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

/// Timestamps are offset by this much so that `tat - k` never underflows near the epoch.
const EPOCH_OFFSET_NS: u64 = 1 << 50;

/// Throttle limits as configured: `rate` requests per second, `burst` capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub rate: f64,
    pub burst: u64,
}

/// A token bucket shared by all workers. See the module docs.
#[derive(Debug)]
pub struct Bucket {
    pub limits: Limits,
    /// Nanoseconds per token; `u64::MAX` when the rate is 0 (nothing passes), 0 when the bucket
    /// is [`Bucket::unlimited`] (everything passes).
    interval_ns: u64,
    /// Nanoseconds of credit the bucket can hold: `burst × interval`.
    capacity_ns: u64,
    /// GCRA's theoretical arrival time, offset by `EPOCH_OFFSET_NS`.
    tat: CachePadded<AtomicU64>,
    /// Tokens per lease; 0: no leases.
    lease: u32,
    /// One slot per worker, written only by that worker (empty without leases).
    slots: Box<[CachePadded<Slot>]>,
    /// With `serve --redis`: this node's share of the bucket kept in Redis, which replaces
    /// `tat` as the source of tokens (see `lease.rs`).
    shared: Option<std::sync::Arc<crate::lease::Pool>>,
}

/// A worker's lease: tokens left and when they must be returned.
#[derive(Debug, Default)]
struct Slot {
    tokens: AtomicU32,
    expires_ns: AtomicU64,
}

// === impl Bucket ===

impl Bucket {
    /// A bucket whose callers take single tokens (per-key buckets, slow buckets).
    pub fn new(limits: Limits) -> Bucket {
        Bucket::build(limits, 0, 0)
    }

    /// A bucket shared by `workers` workers that lease tokens when its rate is high enough for
    /// leases to matter (`rate × window / workers ≥ 2`).
    pub fn leased(limits: Limits, workers: usize) -> Bucket {
        let workers = workers.max(1);
        let per_window = limits.rate * (LEASE_WINDOW_NS as f64 / 1e9) / workers as f64;
        let cap = (limits.burst / (2 * workers as u64)) as f64;
        let lease = per_window.min(cap).floor();
        if lease >= 2.0 {
            Bucket::build(limits, lease.min(u32::MAX as f64) as u32, workers)
        } else {
            Bucket::build(limits, 0, 0)
        }
    }

    fn build(limits: Limits, lease: u32, workers: usize) -> Bucket {
        let interval_ns = if limits.rate > 0.0 && limits.rate.is_finite() {
            (1e9 / limits.rate).round().max(1.0) as u64
        } else {
            u64::MAX
        };
        Bucket {
            limits,
            interval_ns,
            capacity_ns: interval_ns.saturating_mul(limits.burst),
            tat: CachePadded::new(AtomicU64::new(0)),
            lease,
            slots: (0..workers)
                .map(|_| CachePadded::new(Slot::default()))
                .collect(),
            shared: None,
        }
    }

    /// This bucket, taking its tokens from the cluster-wide bucket `name` when a shared-limits
    /// link is installed (`serve --redis`); unchanged otherwise, or when it is unlimited.
    pub fn shared_as(mut self, name: &str) -> Bucket {
        if !self.is_unlimited() {
            self.shared = crate::lease::Pool::new(name, self.limits);
        }
        self
    }

    /// This node's share of the cluster-wide bucket, if shared.
    pub fn pool(&self) -> Option<&std::sync::Arc<crate::lease::Pool>> {
        self.shared.as_ref()
    }

    /// A bucket that admits everything: the account-level throttle when none is configured.
    /// Taking a token touches no shared state.
    pub fn unlimited() -> Bucket {
        Bucket {
            limits: Limits {
                rate: f64::INFINITY,
                burst: u64::MAX,
            },
            interval_ns: 0,
            capacity_ns: u64::MAX,
            tat: CachePadded::new(AtomicU64::new(0)),
            lease: 0,
            slots: Box::default(),
            shared: None,
        }
    }

    /// Whether this bucket admits everything ([`Bucket::unlimited`]).
    pub fn is_unlimited(&self) -> bool {
        self.interval_ns == 0
    }

    /// Tokens per lease (0: none).
    pub fn lease_size(&self) -> u32 {
        self.lease
    }

    /// Takes one token for worker `worker` at `now_ns`; `false`: throttled.
    pub fn try_acquire(&self, worker: usize, now_ns: u64) -> bool {
        let Some(slot) = self.slots.get(worker) else {
            return self.take(1, now_ns) == 1;
        };
        let left = slot.tokens.load(Ordering::Relaxed);
        let expires = slot.expires_ns.load(Ordering::Relaxed);
        if left > 0 && now_ns < expires {
            slot.tokens.store(left - 1, Ordering::Relaxed);
            return true;
        }
        if left > 0 {
            self.give_back(u64::from(left));
        }
        let got = self.take(u64::from(self.lease), now_ns);
        if got == 0 {
            slot.tokens.store(0, Ordering::Relaxed);
            return false;
        }
        slot.tokens.store((got - 1) as u32, Ordering::Relaxed);
        slot.expires_ns
            .store(now_ns.saturating_add(LEASE_WINDOW_NS), Ordering::Relaxed);
        true
    }

    /// Returns one token taken by [`Bucket::try_acquire`] for a request refused by a later check.
    pub fn release(&self, worker: usize) {
        match self.slots.get(worker) {
            Some(slot) => {
                let left = slot.tokens.load(Ordering::Relaxed);
                slot.tokens.store(left.saturating_add(1), Ordering::Relaxed);
            }
            None => self.give_back(1),
        }
    }

    /// Returns worker `worker`'s expired lease, if any (housekeeping, so an idle worker does not
    /// sit on tokens).
    pub fn expire_lease(&self, worker: usize, now_ns: u64) {
        if let Some(slot) = self.slots.get(worker) {
            if now_ns >= slot.expires_ns.load(Ordering::Relaxed) {
                let left = slot.tokens.swap(0, Ordering::Relaxed);
                if left > 0 {
                    self.give_back(u64::from(left));
                }
            }
        }
    }

    /// Takes up to `n` tokens from the shared state; returns how many it got.
    fn take(&self, n: u64, now_ns: u64) -> u64 {
        if self.interval_ns == 0 {
            return n;
        }
        if self.interval_ns == u64::MAX || self.limits.burst == 0 {
            return 0;
        }
        if let Some(pool) = &self.shared {
            return pool.take(n, now_ns);
        }
        let now = now_ns + EPOCH_OFFSET_NS;
        let limit = now + self.capacity_ns;
        let mut cur = self.tat.load(Ordering::Relaxed);
        loop {
            let base = cur.max(now);
            let room = limit.saturating_sub(base) / self.interval_ns;
            let got = n.min(room);
            if got == 0 {
                return 0;
            }
            let next = base + got * self.interval_ns;
            match self
                .tat
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return got,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Puts `n` unused tokens back.
    fn give_back(&self, n: u64) {
        if self.interval_ns == 0 {
            return;
        }
        if let Some(pool) = &self.shared {
            return pool.give_back(n);
        }
        let credit = n.saturating_mul(self.interval_ns);
        let mut cur = self.tat.load(Ordering::Relaxed);
        loop {
            let next = cur.saturating_sub(credit);
            match self
                .tat
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

/// Keeps buckets alive across recompiles: a route whose limits did not change keeps its bucket
/// (and its state) when its API is recompiled. Owned by the control plane.
#[derive(Debug, Default)]
pub struct BucketRegistry {
    buckets: std::collections::HashMap<String, std::sync::Arc<Bucket>>,
}

// === impl BucketRegistry ===

impl BucketRegistry {
    /// The bucket named `key` with `limits`: the existing one if its limits are the same, else a
    /// new one (leased across `workers` when its rate is high enough).
    pub fn get(&mut self, key: &str, limits: Limits, workers: usize) -> std::sync::Arc<Bucket> {
        if let Some(b) = self.buckets.get(key) {
            if b.limits == limits {
                return std::sync::Arc::clone(b);
            }
        }
        let b = std::sync::Arc::new(Bucket::leased(limits, workers).shared_as(key));
        self.buckets
            .insert(key.to_string(), std::sync::Arc::clone(&b));
        b
    }

    /// Forgets buckets nothing else holds any more (no snapshot serves them).
    pub fn sweep(&mut self) {
        self.buckets
            .retain(|_, b| std::sync::Arc::strong_count(b) > 1);
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn unlimited_admits_everything_without_touching_the_shared_state() {
        let b = Bucket::unlimited();
        assert!(b.is_unlimited());
        for i in 0..100_000 {
            assert!(b.try_acquire(i % 4, i as u64));
            b.release(i % 4);
        }
        assert_eq!(b.tat.load(Ordering::Relaxed), 0);
        assert!(!Bucket::leased(
            Limits {
                rate: 1e9,
                burst: u64::MAX
            },
            2
        )
        .is_unlimited());
    }

    fn admitted(b: &Bucket, workers: usize, rps: u64, secs: u64) -> u64 {
        let step = SEC / rps;
        let mut ok = 0;
        for i in 0..rps * secs {
            if b.try_acquire((i as usize) % workers.max(1), i * step) {
                ok += 1;
            }
        }
        ok
    }

    #[test]
    fn burst_then_rate() {
        let b = Bucket::new(Limits {
            rate: 100.0,
            burst: 50,
        });
        // 300 rps for 10 s against 100 rps burst 50: the burst, then the rate.
        let ok = admitted(&b, 2, 300, 10);
        assert!((1049..=1051).contains(&ok), "{ok}");
    }

    #[test]
    fn leases_never_overshoot() {
        let limits = Limits {
            rate: 10_000.0,
            burst: 5_000,
        };
        let b = Bucket::leased(limits, 2);
        assert!(b.lease_size() >= 2);
        let ok = admitted(&b, 2, 30_000, 5);
        let max = 10_000 * 5 + 5_000;
        let min = max - (10_000.0 * LEASE_WINDOW_NS as f64 / 1e9) as u64 - 1;
        assert!(ok <= max && ok >= min, "{ok} not in {min}..={max}");
    }

    #[test]
    fn zero_rate_or_burst_admits_nothing() {
        for limits in [
            Limits {
                rate: 0.0,
                burst: 10,
            },
            Limits {
                rate: 10.0,
                burst: 0,
            },
        ] {
            let b = Bucket::new(limits);
            assert!(!b.try_acquire(0, SEC));
        }
    }

    #[test]
    fn released_tokens_come_back() {
        let b = Bucket::new(Limits {
            rate: 1.0,
            burst: 1,
        });
        assert!(b.try_acquire(0, SEC));
        assert!(!b.try_acquire(0, SEC));
        b.release(0);
        assert!(b.try_acquire(0, SEC));
    }

    #[test]
    fn expired_leases_are_returned() {
        let b = Bucket::leased(
            Limits {
                rate: 1000.0,
                burst: 100,
            },
            1,
        );
        let lease = u64::from(b.lease_size());
        assert!(lease >= 2);
        assert!(b.try_acquire(0, SEC));
        b.expire_lease(0, SEC + LEASE_WINDOW_NS);
        // The unspent part of the lease is back: right after taking it, the shared state has
        // burst - lease tokens; once returned (and 10 ms refilled), the bucket is full again.
        let mut ok = 0;
        while b.take(1, SEC + LEASE_WINDOW_NS) == 1 {
            ok += 1;
        }
        assert_eq!(ok, 100, "lease {lease}");
    }
}
