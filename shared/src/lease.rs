//! Throttle buckets shared across nodes (`serve --redis`): the node side of a lease.
//!
//! # Architecture
//! A [`Bucket`](crate::throttle::Bucket) attached to a [`Pool`] takes its tokens from the pool
//! instead of its own atomic, so the per-core leases of `throttle.rs` are unchanged on top. The
//! pool is this node's share of a bucket kept in Redis: an atomic count of tokens the node holds
//! (at most [`Pool::lease`]). When it runs low a worker asks the [`Link`] for more with one
//! atomic flag and a non-blocking send; a client thread runs one Lua script per lease (refill by
//! time, take up to the lease) and adds what it got. A worker never waits: it spends what the
//! pool holds and is refused when it is empty. A pool that holds nothing yet (cold: just created,
//! or its tokens returned after [`LEASE_POOL_WINDOW_MS`](crate::limits::LEASE_POOL_WINDOW_MS) unused) lends up to one lease on credit,
//! repaid from the first lease, so the first request to a new bucket is not refused.
//!
//! Bound: the tokens a node holds outside Redis are always within `[-L, +L]` (`L` = lease), so
//! over any interval `t` a cluster of `N` nodes admits between `r·t + B − N·L` (tokens stranded in
//! pools, when every node's demand saturates) and `r·t + B + N·L` (credit and leases taken before
//! the interval), plus the per-core leases below the pool (`N·W·l`). See ARCHITECTURE.md.
//!
//! When Redis is down ([`Link::up`] false) every pool admits through a node-local GCRA bucket of
//! rate `r / n` and burst `⌈B / n⌉`, `n` the live node count ([`Link::live_nodes`]).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::limits::LEASE_SPAN_MS;
use crate::throttle::Limits;

/// Where pools ask for leases: the Redis client (admin crate).
pub trait LeaseSink: Send + Sync + fmt::Debug {
    /// Asks for a lease for `pool` without waiting; the sink tops the pool up later.
    fn want(&self, pool: &Arc<Pool>);
}

/// The process-wide link to the shared limits, installed once at start.
#[derive(Debug)]
pub struct Link {
    sink: Box<dyn LeaseSink>,
    /// Whether Redis answered the last call.
    pub up: AtomicBool,
    /// Live nodes in the cluster (≥ 1), for the fallback share.
    pub live_nodes: AtomicU32,
}

static LINK: OnceLock<Link> = OnceLock::new();

/// Installs the link (once; later calls are ignored). Buckets made after this are shared.
pub fn install(sink: Box<dyn LeaseSink>) -> &'static Link {
    LINK.get_or_init(|| Link {
        sink,
        up: AtomicBool::new(true),
        live_nodes: AtomicU32::new(1),
    })
}

/// The installed link, if any.
pub fn link() -> Option<&'static Link> {
    LINK.get()
}

/// This node's share of one bucket kept in Redis.
#[derive(Debug)]
pub struct Pool {
    /// The bucket's name, the same on every node (its Redis key ends with it).
    pub name: Box<str>,
    pub limits: Limits,
    /// Tokens per lease (`L`).
    pub lease: u32,
    /// Tokens held (negative: owed, lent while cold).
    tokens: AtomicI64,
    /// Whether a lease has arrived since the pool was (re)made cold.
    warm: AtomicBool,
    /// A lease request is in flight.
    pending: AtomicBool,
    /// When the last request was sent (the caller's clock, ns) and how long to hold off after it.
    asked_ns: AtomicU64,
    backoff_ns: AtomicU64,
    /// The fallback bucket's GCRA state (caller's clock + offset, ns).
    fallback_tat: AtomicU64,
}

const EPOCH_OFFSET_NS: u64 = 1 << 50;

// === impl Pool ===

impl Pool {
    /// A pool for bucket `name` with `limits`, or `None` without a link.
    pub fn new(name: &str, limits: Limits) -> Option<Arc<Pool>> {
        link()?;
        let span = limits.rate * LEASE_SPAN_MS as f64 / 1e3;
        let lease = span.min((limits.burst / 4) as f64).floor().clamp(1.0, 1e6) as u32;
        Some(Arc::new(Pool {
            name: name.into(),
            limits,
            lease,
            tokens: AtomicI64::new(0),
            warm: AtomicBool::new(false),
            pending: AtomicBool::new(false),
            asked_ns: AtomicU64::new(0),
            backoff_ns: AtomicU64::new(0),
            fallback_tat: AtomicU64::new(0),
        }))
    }

    /// Takes up to `n` tokens at `now_ns`; returns how many it got. Never waits.
    pub fn take(self: &Arc<Self>, n: u64, now_ns: u64) -> u64 {
        let Some(link) = link() else { return 0 };
        if !link.up.load(Ordering::Relaxed) {
            return self.fallback_take(link, n, now_ns);
        }
        let floor = if self.warm.load(Ordering::Relaxed) {
            0
        } else {
            -i64::from(self.lease)
        };
        let mut cur = self.tokens.load(Ordering::Relaxed);
        loop {
            let room = (cur - floor).max(0) as u64;
            let got = n.min(room);
            if got == 0 {
                self.ask(link, now_ns);
                return 0;
            }
            let next = cur - got as i64;
            match self
                .tokens
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    if next * 2 <= i64::from(self.lease) {
                        self.ask(link, now_ns);
                    }
                    return got;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Puts back `n` unused tokens.
    pub fn give_back(&self, n: u64) {
        match link() {
            Some(l) if !l.up.load(Ordering::Relaxed) => {
                let (interval, _) = self.fallback_params(l);
                let credit = interval.saturating_mul(n);
                let _ = self
                    .fallback_tat
                    .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |t| {
                        Some(t.saturating_sub(credit))
                    });
            }
            _ => {
                self.tokens.fetch_add(n as i64, Ordering::AcqRel);
            }
        }
    }

    fn ask(self: &Arc<Self>, link: &Link, now_ns: u64) {
        if self.pending.load(Ordering::Relaxed) {
            return;
        }
        let after = self
            .asked_ns
            .load(Ordering::Relaxed)
            .saturating_add(self.backoff_ns.load(Ordering::Relaxed));
        if now_ns < after || self.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        self.asked_ns.store(now_ns, Ordering::Relaxed);
        link.sink.want(self);
    }

    /// How many tokens to ask for: up to a full lease.
    pub fn wanted(&self) -> u64 {
        (i64::from(self.lease) - self.tokens.load(Ordering::Acquire)).max(0) as u64
    }

    /// A lease arrived (the client thread): `got` tokens; ask again no sooner than `backoff_ns`
    /// after the request.
    pub fn granted(&self, got: u64, backoff_ns: u64) {
        self.tokens.fetch_add(got as i64, Ordering::AcqRel);
        if got > 0 {
            self.warm.store(true, Ordering::Release);
        }
        self.backoff_ns.store(backoff_ns, Ordering::Relaxed);
        self.pending.store(false, Ordering::Release);
    }

    /// The request failed (Redis down): ask again on the next take.
    pub fn failed(&self) {
        self.backoff_ns.store(0, Ordering::Relaxed);
        self.pending.store(false, Ordering::Release);
    }

    /// Takes back the tokens the pool holds (unused for [`LEASE_POOL_WINDOW_MS`](crate::limits::LEASE_POOL_WINDOW_MS)) and makes it cold;
    /// returns them (0 when it holds none or owes).
    pub fn reclaim(&self) -> u64 {
        let got = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |t| {
                (t > 0).then_some(0)
            })
            .map_or(0, |t| t as u64);
        if self.tokens.load(Ordering::Acquire) >= 0 {
            self.warm.store(false, Ordering::Release);
        }
        got
    }

    /// Tokens held now (negative: owed).
    pub fn held(&self) -> i64 {
        self.tokens.load(Ordering::Acquire)
    }

    /// The fallback bucket's (interval, capacity) in ns: rate `r / n`, burst `⌈B / n⌉`.
    fn fallback_params(&self, link: &Link) -> (u64, u64) {
        let n = u64::from(link.live_nodes.load(Ordering::Relaxed).max(1));
        if self.limits.rate <= 0.0 || !self.limits.rate.is_finite() {
            return (u64::MAX, 0);
        }
        let interval = ((1e9 / self.limits.rate).round().max(1.0) as u64).saturating_mul(n);
        let burst = self.limits.burst.div_ceil(n);
        (interval, interval.saturating_mul(burst))
    }

    fn fallback_take(&self, link: &Link, n: u64, now_ns: u64) -> u64 {
        let (interval, capacity) = self.fallback_params(link);
        if interval == u64::MAX || capacity == 0 {
            return 0;
        }
        let now = now_ns + EPOCH_OFFSET_NS;
        let limit = now + capacity;
        let mut cur = self.fallback_tat.load(Ordering::Relaxed);
        loop {
            let base = cur.max(now);
            let got = n.min(limit.saturating_sub(base) / interval);
            if got == 0 {
                return 0;
            }
            match self.fallback_tat.compare_exchange_weak(
                cur,
                base + got * interval,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return got,
                Err(actual) => cur = actual,
            }
        }
    }
}
