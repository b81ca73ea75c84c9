//! VPC links: private upstream pools, and the state the data plane balances them with.
//!
//! # Architecture
//! 1. The admin side keeps every VPC link's [`VpcLinkSpec`] (targets for `apigateway` v1 links,
//!    pool settings from Portico's `portico:*` tags) in [`VpcLinks`], part of the
//!    `CompileContext`.
//! 2. Compiling an integration with `connectionType: VPC_LINK` resolves its targets and asks
//!    [`VpcLinks::pool`] for the [`TargetPool`]: the same link, targets and settings give back
//!    the same `Arc` across recompiles, so health and ejection state survive a publish.
//! 3. Workers call [`TargetPool::pick`] per request (round robin or least outstanding, skipping
//!    targets that are unhealthy or ejected), [`TargetPool::eject`] when a target refuses,
//!    resets or times out, and [`TargetPool::begin`] around an exchange.
//! 4. The admin side's health checker (`admin/src/vpc_link/health.rs`) probes each target and
//!    publishes the verdict with [`TargetPool::record_check`].
//!
//! Invariants: everything a worker reads or writes here is an atomic; per-worker counters
//! (round robin position, outstanding requests) are written by their worker only, so they are
//! never contended. Least outstanding is therefore per core: a worker balances its own
//! requests, not the process's (the sum would need cross-core traffic on every request).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use crossbeam_utils::CachePadded;

use crate::limits::{
    VPC_LINK_EJECT_DEFAULT_MS, VPC_LINK_HEALTH_INTERVAL_DEFAULT_MS,
    VPC_LINK_HEALTH_INTERVAL_MAX_MS, VPC_LINK_HEALTH_INTERVAL_MIN_MS,
    VPC_LINK_HEALTH_THRESHOLD_DEFAULT, VPC_LINK_HEALTH_TIMEOUT_DEFAULT_MS, VPC_LINK_TARGETS_MAX,
};

/// Which control plane a link belongs to: REST integrations use v1 links (`/vpclinks`), HTTP
/// API integrations v2 links (`/v2/vpclinks`), as on AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    V1,
    V2,
}

/// How a worker chooses among the available targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    /// The target with the fewest of this worker's requests in flight.
    LeastOutstanding,
}

/// A pool's settings, from the link's `portico:*` tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    pub balance: Balance,
    /// `None`: a TCP connect check; else `GET path` must answer 200 to 399.
    pub health_path: Option<String>,
    pub health_interval_ms: u32,
    pub health_timeout_ms: u32,
    /// Consecutive passed checks that bring an unhealthy target back.
    pub healthy_threshold: u32,
    /// Consecutive failed checks that take a target out.
    pub unhealthy_threshold: u32,
    /// How long a target that failed a request (refused, reset, timed out) is left out.
    pub eject_ms: u32,
}

/// What the admin side knows of one VPC link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcLinkSpec {
    pub id: String,
    pub plane: Plane,
    /// v1: the `targetArns`, each `host:port`. v2 links name no targets (the integration URI
    /// does).
    pub targets: Vec<String>,
    pub settings: PoolSettings,
}

/// The links and the pools compiled from them, kept across recompiles.
#[derive(Debug, Default)]
pub struct VpcLinks {
    links: HashMap<String, VpcLinkSpec>,
    /// By link id, targets and settings: a recompile gets the live pool back.
    pools: HashMap<String, Weak<TargetPool>>,
}

/// One balanced set of targets, shared by every worker.
#[derive(Debug)]
pub struct TargetPool {
    pub link_id: Box<str>,
    pub targets: Box<[Target]>,
    pub settings: PoolSettings,
    /// Per worker: where its round robin stands.
    next: Box<[CachePadded<AtomicUsize>]>,
}

/// One `host:port` of a pool.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// As configured (`host:port`): the health check's `Host`.
    pub authority: Box<str>,
    /// The active checks' verdict; written by the checker only. A new target starts healthy.
    healthy: AtomicBool,
    /// Monotonic ms (the data plane's clock) until which a passive ejection holds.
    ejected_until_ms: AtomicU64,
    /// Per worker: requests in flight to this target.
    outstanding: Box<[CachePadded<AtomicU32>]>,
    /// Checker state: consecutive results of the current run (positive: passes).
    streak: AtomicU32,
    streak_ok: AtomicBool,
    /// Checker state: wall ms of the next check.
    pub next_check_ms: AtomicU64,
}

/// Keeps a target's outstanding count up while a request is in flight (a dropped, timed out
/// exchange counts down too).
#[derive(Debug)]
pub struct InFlight<'a> {
    counter: &'a AtomicU32,
}

// === impl PoolSettings ===

impl Default for PoolSettings {
    fn default() -> PoolSettings {
        PoolSettings {
            balance: Balance::RoundRobin,
            health_path: None,
            health_interval_ms: VPC_LINK_HEALTH_INTERVAL_DEFAULT_MS,
            health_timeout_ms: VPC_LINK_HEALTH_TIMEOUT_DEFAULT_MS,
            healthy_threshold: VPC_LINK_HEALTH_THRESHOLD_DEFAULT,
            unhealthy_threshold: VPC_LINK_HEALTH_THRESHOLD_DEFAULT,
            eject_ms: VPC_LINK_EJECT_DEFAULT_MS,
        }
    }
}

impl PoolSettings {
    /// Settings from a link's tags (`portico:balance`, `portico:healthCheckPath`,
    /// `portico:healthCheckIntervalMs`, `portico:healthCheckTimeoutMs`,
    /// `portico:healthyThreshold`, `portico:unhealthyThreshold`, `portico:ejectMs`); other tags
    /// are the user's. Every problem is reported.
    pub fn from_tags<'a>(
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<PoolSettings, Vec<String>> {
        let mut s = PoolSettings::default();
        let mut problems = Vec::new();
        for (k, v) in tags {
            let Some(name) = k.strip_prefix("portico:") else {
                continue;
            };
            let number = |min: u32, max: u32, problems: &mut Vec<String>| -> u32 {
                match v.parse::<u32>() {
                    Ok(n) if (min..=max).contains(&n) => n,
                    _ => {
                        problems.push(format!("tag {k} must be a number from {min} to {max}"));
                        min
                    }
                }
            };
            match name {
                "balance" => match v {
                    "ROUND_ROBIN" => s.balance = Balance::RoundRobin,
                    "LEAST_OUTSTANDING" => s.balance = Balance::LeastOutstanding,
                    _ => problems.push(format!("tag {k} must be ROUND_ROBIN or LEAST_OUTSTANDING")),
                },
                "healthCheckPath" => {
                    if !v.starts_with('/')
                        || v.len() > 1024
                        || v.bytes().any(|b| !b.is_ascii_graphic())
                    {
                        problems.push(format!(
                            "tag {k} must be a path starting with '/', without spaces"
                        ));
                    } else {
                        s.health_path = Some(v.to_string());
                    }
                }
                "healthCheckIntervalMs" => {
                    s.health_interval_ms = number(
                        VPC_LINK_HEALTH_INTERVAL_MIN_MS,
                        VPC_LINK_HEALTH_INTERVAL_MAX_MS,
                        &mut problems,
                    )
                }
                "healthCheckTimeoutMs" => {
                    s.health_timeout_ms = number(
                        VPC_LINK_HEALTH_INTERVAL_MIN_MS,
                        VPC_LINK_HEALTH_INTERVAL_MAX_MS,
                        &mut problems,
                    )
                }
                "healthyThreshold" => s.healthy_threshold = number(1, 10, &mut problems),
                "unhealthyThreshold" => s.unhealthy_threshold = number(1, 10, &mut problems),
                "ejectMs" => s.eject_ms = number(0, 3_600_000, &mut problems),
                _ => problems.push(format!(
                    "unknown tag {k}: Portico reads portico:balance, portico:healthCheckPath, \
                     portico:healthCheckIntervalMs, portico:healthCheckTimeoutMs, \
                     portico:healthyThreshold, portico:unhealthyThreshold and portico:ejectMs"
                )),
            }
        }
        if problems.is_empty() {
            Ok(s)
        } else {
            Err(problems)
        }
    }
}

// === impl VpcLinks ===

impl VpcLinks {
    /// Adds or replaces a link.
    pub fn set(&mut self, spec: VpcLinkSpec) {
        self.links.insert(spec.id.clone(), spec);
    }

    pub fn remove(&mut self, id: &str) {
        self.links.remove(id);
    }

    pub fn get(&self, id: &str) -> Option<&VpcLinkSpec> {
        self.links.get(id)
    }

    /// The pool of `link` over `targets` (`authority`, resolved address): the live one when an
    /// earlier compile made the same, else a new one whose targets start healthy.
    pub fn pool(
        &mut self,
        link: &VpcLinkSpec,
        targets: &[(String, SocketAddr)],
        workers: usize,
    ) -> Arc<TargetPool> {
        debug_assert!(targets.len() <= VPC_LINK_TARGETS_MAX);
        let mut key = format!("{}|{:?}|", link.id, link.settings);
        for (a, addr) in targets {
            key.push_str(a);
            key.push('=');
            key.push_str(&addr.to_string());
            key.push(',');
        }
        if let Some(p) = self.pools.get(&key).and_then(Weak::upgrade) {
            return p;
        }
        self.pools.retain(|_, w| w.strong_count() > 0);
        let workers = workers.max(1);
        let pool = Arc::new(TargetPool {
            link_id: link.id.as_str().into(),
            targets: targets
                .iter()
                .map(|(a, addr)| Target {
                    addr: *addr,
                    authority: a.as_str().into(),
                    healthy: AtomicBool::new(true),
                    ejected_until_ms: AtomicU64::new(0),
                    outstanding: (0..workers).map(|_| Default::default()).collect(),
                    streak: AtomicU32::new(0),
                    streak_ok: AtomicBool::new(true),
                    next_check_ms: AtomicU64::new(0),
                })
                .collect(),
            settings: link.settings.clone(),
            next: (0..workers).map(|_| Default::default()).collect(),
        });
        self.pools.insert(key, Arc::downgrade(&pool));
        pool
    }
}

/// Parses a `host:port` target (`[v6]:port` too); the port is required.
pub fn parse_target(t: &str) -> Result<(&str, u16), String> {
    let bad = || format!("target '{t}' must be host:port");
    let (host, port) = if let Some(v6) = t.strip_prefix('[') {
        let (h, rest) = v6.split_once(']').ok_or_else(bad)?;
        (h, rest.strip_prefix(':').ok_or_else(bad)?)
    } else {
        t.rsplit_once(':').ok_or_else(bad)?
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty()
        || port == 0
        || host
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'/' || b == b'@')
    {
        return Err(bad());
    }
    Ok((host, port))
}

// === impl TargetPool ===

impl TargetPool {
    /// Whether target `i` may take requests at `now_ms`.
    pub fn available(&self, i: usize, now_ms: u64) -> bool {
        let t = &self.targets[i];
        t.healthy.load(Ordering::Relaxed) && t.ejected_until_ms.load(Ordering::Relaxed) <= now_ms
    }

    /// The target for worker `worker`'s next request, skipping those in `tried` (bit `i`) and
    /// those unavailable; `None`: no target is healthy.
    pub fn pick(&self, worker: usize, now_ms: u64, tried: u64) -> Option<usize> {
        let n = self.targets.len();
        let w = worker % self.next.len();
        // Uncontended: only this worker touches its slot.
        let start = self.next[w].fetch_add(1, Ordering::Relaxed);
        let mut best: Option<(usize, u32)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            if tried & (1u64 << i) != 0 || !self.available(i, now_ms) {
                continue;
            }
            match self.settings.balance {
                Balance::RoundRobin => return Some(i),
                Balance::LeastOutstanding => {
                    let load = self.targets[i].outstanding[w].load(Ordering::Relaxed);
                    if best.is_none_or(|(_, b)| load < b) {
                        best = Some((i, load));
                    }
                }
            }
        }
        best.map(|(i, _)| i)
    }

    /// Takes target `i` out until `now_ms + eject_ms` (a request to it failed).
    pub fn eject(&self, i: usize, now_ms: u64) {
        let until = now_ms + u64::from(self.settings.eject_ms);
        self.targets[i]
            .ejected_until_ms
            .fetch_max(until, Ordering::Relaxed);
    }

    /// Counts a request to target `i` from `worker` until the guard drops.
    pub fn begin(&self, i: usize, worker: usize) -> InFlight<'_> {
        let counter = &self.targets[i].outstanding[worker % self.next.len()];
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight { counter }
    }

    /// Records one active check of target `i`; returns the target's health after it.
    pub fn record_check(&self, i: usize, ok: bool) -> bool {
        let t = &self.targets[i];
        let streak = if t.streak_ok.swap(ok, Ordering::Relaxed) == ok {
            t.streak.fetch_add(1, Ordering::Relaxed).saturating_add(1)
        } else {
            t.streak.store(1, Ordering::Relaxed);
            1
        };
        let healthy = t.healthy.load(Ordering::Relaxed);
        if healthy && !ok && streak >= self.settings.unhealthy_threshold {
            t.healthy.store(false, Ordering::Relaxed);
            return false;
        }
        if !healthy && ok && streak >= self.settings.healthy_threshold {
            // Back in: a passive ejection from before it went down no longer applies.
            t.ejected_until_ms.store(0, Ordering::Relaxed);
            t.healthy.store(true, Ordering::Relaxed);
            return true;
        }
        healthy
    }

    /// The active checks' verdict on target `i`.
    pub fn healthy(&self, i: usize) -> bool {
        self.targets[i].healthy.load(Ordering::Relaxed)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(balance: Balance, n: usize) -> Arc<TargetPool> {
        let link = VpcLinkSpec {
            id: "l1".into(),
            plane: Plane::V1,
            targets: vec![],
            settings: PoolSettings {
                balance,
                ..PoolSettings::default()
            },
        };
        let targets: Vec<(String, SocketAddr)> = (0..n)
            .map(|i| {
                let a = format!("127.0.0.1:{}", 9000 + i);
                let addr = a.parse().unwrap();
                (a, addr)
            })
            .collect();
        VpcLinks::default().pool(&link, &targets, 2)
    }

    #[test]
    fn round_robin_skips_unavailable_targets() {
        let p = pool(Balance::RoundRobin, 3);
        let picks: Vec<usize> = (0..6).map(|_| p.pick(0, 0, 0).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        p.eject(1, 0);
        let picks: Vec<usize> = (0..4).map(|_| p.pick(0, 100, 0).unwrap()).collect();
        assert!(!picks.contains(&1), "{picks:?}");
        // The ejection ends after its cool-down.
        let later = u64::from(p.settings.eject_ms) + 1;
        assert!((0..3).any(|_| p.pick(0, later, 0) == Some(1)));
        assert_eq!(p.pick(0, later, 0b111), None);
    }

    #[test]
    fn least_outstanding_prefers_idle_targets() {
        let p = pool(Balance::LeastOutstanding, 3);
        let _a = p.begin(0, 0);
        let _b = p.begin(1, 0);
        assert_eq!(p.pick(0, 0, 0), Some(2));
        // Per worker: worker 1 sees nothing in flight.
        let g = p.begin(2, 0);
        let _c = p.begin(2, 0);
        assert_ne!(p.pick(0, 0, 0), Some(2));
        drop(g);
    }

    #[test]
    fn health_thresholds() {
        let p = pool(Balance::RoundRobin, 2);
        assert!(p.record_check(0, false));
        assert!(!p.record_check(0, false));
        assert_eq!(p.pick(0, 0, 0), Some(1));
        assert_eq!(p.pick(0, 0, 0), Some(1));
        assert!(!p.record_check(0, true));
        assert!(p.record_check(0, true));
        for _ in 0..2 {
            p.record_check(0, false);
            p.record_check(1, false);
        }
        assert_eq!(p.pick(0, 0, 0), None);
    }

    #[test]
    fn tags_and_targets() {
        let s = PoolSettings::from_tags([
            ("portico:balance", "LEAST_OUTSTANDING"),
            ("portico:healthCheckPath", "/health"),
            ("team", "x"),
        ])
        .unwrap();
        assert_eq!(s.balance, Balance::LeastOutstanding);
        assert_eq!(s.health_path.as_deref(), Some("/health"));
        let e =
            PoolSettings::from_tags([("portico:balance", "X"), ("portico:nope", "1")]).unwrap_err();
        assert_eq!(e.len(), 2);
        assert_eq!(parse_target("a.b:80").unwrap(), ("a.b", 80));
        assert_eq!(parse_target("[::1]:8080").unwrap(), ("::1", 8080));
        for bad in ["a", "a:0", "a:x", ":80", "a b:80", "arn:aws:elb:x"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }
}
