//! Latency histograms and status counts per API, stage and route.
//!
//! # Architecture
//! 1. Each worker records into its own [`RouteStats`] (no sharing, no atomics on the request path).
//! 2. Every [`crate::limits::STATS_PUBLISH_INTERVAL_MS`] a worker publishes an immutable
//!    [`WorkerStats`] (copy-on-write: only routes that changed are cloned) into its slot of a
//!    [`StatsBoard`], an `ArcSwap` per worker.
//! 3. A reader (the admin side) loads every slot and [`merge`]s them; it never stops a worker.
//!    [`merge_full`] keeps the merged histograms for exporters that need every bucket (Prometheus);
//!    [`merge`] reduces them to the percentiles of the JSON report.
//! 4. Each route keeps three histograms with 1 µs resolution (2 significant digits: exact below
//!    256 µs, within 1 % above): the total, the integration's share and the gateway's own share
//!    (total minus integration). Recording into them is an array increment: no allocation, no
//!    lock. [`RouteStats::delta`] subtracts an earlier copy, which is how the admin side turns
//!    the cumulative histograms into per-interval figures ([`IntervalPoint`]).

use std::collections::HashMap;
use std::sync::Arc;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::limits::{HISTOGRAM_MAX_US, HISTOGRAM_SIGFIG};

/// What a worker knows about one route.
#[derive(Debug, Clone)]
pub struct RouteStats {
    pub api_id: Arc<str>,
    pub stage: Arc<str>,
    pub route_key: Arc<str>,
    /// Downstream-observed latency: request head parsed → response written, µs.
    pub total_us: Histogram<u64>,
    /// Time spent in the integration (upstream exchange), µs.
    pub integration_us: Histogram<u64>,
    /// The gateway's own share: total minus the integration's (the whole total when no
    /// integration ran: a throttled, refused or cached request), µs. WebSocket events record
    /// only their integration latency, so their gateway share is 0.
    pub gateway_us: Histogram<u64>,
    pub status_2xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// 1xx and 3xx.
    pub status_other: u64,
    /// Answers with status 429: throttled (rate, burst or quota), counted within `status_4xx`.
    pub throttled: u64,
    /// REST response cache: requests answered from the cache (AWS's `CacheHitCount`), and
    /// requests of cached methods that went to the integration (`CacheMissCount`).
    pub cache_hits: u64,
    pub cache_misses: u64,
}

/// Counters that belong to no route (parse errors, unknown hosts, no route matched).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayCounters {
    pub connections_accepted: u64,
    pub requests: u64,
    pub bad_requests: u64,
    pub not_found: u64,
    pub upstream_errors: u64,
    pub upstream_timeouts: u64,
    /// REST response cache: bytes and entries held by the workers' shards (gauges, summed).
    pub cache_bytes: u64,
    pub cache_entries: u64,
}

/// One worker's published stats.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    pub worker: usize,
    pub routes: HashMap<u64, Arc<RouteStats>>,
    pub counters: GatewayCounters,
}

/// One slot per worker, written by that worker only.
#[derive(Debug)]
pub struct StatsBoard {
    slots: Vec<arc_swap::ArcSwap<WorkerStats>>,
}

/// Merged view over every worker with the full histograms, routes sorted by
/// (api, stage, route key). What the Prometheus exporter renders buckets from.
#[derive(Debug, Clone, Default)]
pub struct MergedStats {
    pub counters: GatewayCounters,
    pub routes: Vec<MergedRoute>,
}

/// One route summed over every worker: its names, status counts and both histograms.
pub type MergedRoute = RouteStats;

/// Merged view over every worker, ready to serialize.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatsReport {
    pub counters: GatewayCounters,
    pub routes: Vec<RouteReport>,
}

/// One route's merged figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteReport {
    pub api_id: String,
    pub stage: String,
    pub route_key: String,
    pub count: u64,
    pub status_2xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub cache_hit_count: u64,
    pub cache_miss_count: u64,
    /// Answers with status 429 (within `status_4xx`).
    #[serde(default)]
    pub throttled_count: u64,
    pub latency_us: Percentiles,
    pub integration_latency_us: Percentiles,
    /// The gateway's own share of each request's latency.
    #[serde(default)]
    pub gateway_latency_us: Percentiles,
}

/// One route's figures over one interval (the difference of two merged snapshots): what the
/// admin side keeps a ring of, and what `portico top` and the console plot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IntervalPoint {
    pub api_id: String,
    pub stage: String,
    pub route_key: String,
    /// Requests answered within the interval.
    pub count: u64,
    pub status_2xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub throttled_count: u64,
    pub cache_hit_count: u64,
    pub cache_miss_count: u64,
    /// Percentiles of the requests of this interval only.
    pub latency_us: Percentiles,
    pub integration_latency_us: Percentiles,
    pub gateway_latency_us: Percentiles,
}

/// Percentiles of one histogram, µs.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

// === impl RouteStats ===

impl RouteStats {
    pub fn new(api_id: Arc<str>, stage: Arc<str>, route_key: Arc<str>) -> RouteStats {
        RouteStats {
            api_id,
            stage,
            route_key,
            total_us: new_histogram(),
            integration_us: new_histogram(),
            gateway_us: new_histogram(),
            status_2xx: 0,
            status_4xx: 0,
            status_5xx: 0,
            status_other: 0,
            throttled: 0,
            cache_hits: 0,
            cache_misses: 0,
        }
    }

    /// Records one request. Values beyond the histogram's range are clamped, never dropped.
    /// The gateway's share (total minus integration) is recorded as measured, 0 included.
    pub fn record(&mut self, status: u16, total_us: u64, integration_us: Option<u64>) {
        self.total_us.saturating_record(total_us.max(1));
        if let Some(i) = integration_us {
            self.integration_us.saturating_record(i.max(1));
        }
        self.gateway_us
            .saturating_record(total_us.saturating_sub(integration_us.unwrap_or(0)));
        match status {
            200..=299 => self.status_2xx += 1,
            429 => {
                self.status_4xx += 1;
                self.throttled += 1;
            }
            400..=499 => self.status_4xx += 1,
            500..=599 => self.status_5xx += 1,
            _ => self.status_other += 1,
        }
    }

    fn add(&mut self, other: &RouteStats) {
        // Same bounds on both sides: `add` cannot fail.
        let _ = self.total_us.add(&other.total_us);
        let _ = self.integration_us.add(&other.integration_us);
        let _ = self.gateway_us.add(&other.gateway_us);
        self.status_2xx += other.status_2xx;
        self.status_4xx += other.status_4xx;
        self.status_5xx += other.status_5xx;
        self.status_other += other.status_other;
        self.throttled += other.throttled;
        self.cache_hits += other.cache_hits;
        self.cache_misses += other.cache_misses;
    }

    /// What was recorded since `earlier` (an older copy of the same route): counts and
    /// histograms subtracted. A route whose counts went down (its stats were reset by a reload
    /// that dropped and re-added it) yields everything it holds now.
    pub fn delta(&self, earlier: &RouteStats) -> RouteStats {
        let mut d = self.clone();
        if self.total_us.len() < earlier.total_us.len() {
            return d;
        }
        // A bin that went down means a different series (a reset): keep the whole.
        let sub = |h: &mut Histogram<u64>, e: &Histogram<u64>| h.subtract(e).is_ok();
        let ok = sub(&mut d.total_us, &earlier.total_us)
            && sub(&mut d.integration_us, &earlier.integration_us)
            && sub(&mut d.gateway_us, &earlier.gateway_us);
        if !ok {
            return self.clone();
        }
        d.status_2xx = self.status_2xx.saturating_sub(earlier.status_2xx);
        d.status_4xx = self.status_4xx.saturating_sub(earlier.status_4xx);
        d.status_5xx = self.status_5xx.saturating_sub(earlier.status_5xx);
        d.status_other = self.status_other.saturating_sub(earlier.status_other);
        d.throttled = self.throttled.saturating_sub(earlier.throttled);
        d.cache_hits = self.cache_hits.saturating_sub(earlier.cache_hits);
        d.cache_misses = self.cache_misses.saturating_sub(earlier.cache_misses);
        d
    }

    /// This route's figures as one interval's point (for a [`Self::delta`]).
    pub fn point(&self) -> IntervalPoint {
        IntervalPoint {
            api_id: self.api_id.to_string(),
            stage: self.stage.to_string(),
            route_key: self.route_key.to_string(),
            count: self.total_us.len(),
            status_2xx: self.status_2xx,
            status_4xx: self.status_4xx,
            status_5xx: self.status_5xx,
            throttled_count: self.throttled,
            cache_hit_count: self.cache_hits,
            cache_miss_count: self.cache_misses,
            latency_us: percentiles(&self.total_us),
            integration_latency_us: percentiles(&self.integration_us),
            gateway_latency_us: percentiles(&self.gateway_us),
        }
    }
}

/// A histogram with Portico's bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, HISTOGRAM_SIGFIG)
        .expect("constant bounds are valid")
}

// === impl GatewayCounters ===

impl GatewayCounters {
    fn add(&mut self, o: &GatewayCounters) {
        self.connections_accepted += o.connections_accepted;
        self.requests += o.requests;
        self.bad_requests += o.bad_requests;
        self.not_found += o.not_found;
        self.upstream_errors += o.upstream_errors;
        self.upstream_timeouts += o.upstream_timeouts;
        self.cache_bytes += o.cache_bytes;
        self.cache_entries += o.cache_entries;
    }
}

// === impl StatsBoard ===

impl StatsBoard {
    pub fn new(workers: usize) -> StatsBoard {
        StatsBoard {
            slots: (0..workers).map(|_| arc_swap::ArcSwap::default()).collect(),
        }
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.slots.len()
    }

    /// Called by worker `worker` only.
    pub fn publish(&self, worker: usize, stats: Arc<WorkerStats>) {
        self.slots[worker].store(stats);
    }

    /// Merges every worker's latest stats. Never waits on a worker.
    pub fn report(&self) -> StatsReport {
        self.merged().report()
    }

    /// Merges every worker's latest stats, keeping the histograms. Never waits on a worker.
    pub fn merged(&self) -> MergedStats {
        let all: Vec<Arc<WorkerStats>> = self.slots.iter().map(|s| s.load_full()).collect();
        merge_full(&all)
    }
}

// === impl MergedStats ===

impl MergedStats {
    /// Reduces the histograms to percentiles: the JSON report.
    pub fn report(&self) -> StatsReport {
        StatsReport {
            counters: self.counters,
            routes: self
                .routes
                .iter()
                .map(|r| RouteReport {
                    api_id: r.api_id.to_string(),
                    stage: r.stage.to_string(),
                    route_key: r.route_key.to_string(),
                    count: r.total_us.len(),
                    status_2xx: r.status_2xx,
                    status_4xx: r.status_4xx,
                    status_5xx: r.status_5xx,
                    cache_hit_count: r.cache_hits,
                    cache_miss_count: r.cache_misses,
                    throttled_count: r.throttled,
                    latency_us: percentiles(&r.total_us),
                    integration_latency_us: percentiles(&r.integration_us),
                    gateway_latency_us: percentiles(&r.gateway_us),
                })
                .collect(),
        }
    }
}

/// Merges per-worker stats into one report, routes sorted by (api, stage, route key).
pub fn merge(workers: &[Arc<WorkerStats>]) -> StatsReport {
    merge_full(workers).report()
}

/// Merges per-worker stats keeping the histograms, routes sorted by (api, stage, route key).
/// Routes are matched across workers by their stats key, as in [`merge`].
pub fn merge_full(workers: &[Arc<WorkerStats>]) -> MergedStats {
    let mut counters = GatewayCounters::default();
    let mut routes: HashMap<u64, RouteStats> = HashMap::new();
    for w in workers {
        counters.add(&w.counters);
        for (key, r) in &w.routes {
            match routes.get_mut(key) {
                Some(acc) => acc.add(r),
                None => {
                    routes.insert(*key, (**r).clone());
                }
            }
        }
    }
    let mut routes: Vec<MergedRoute> = routes.into_values().collect();
    routes.sort_by(|a, b| {
        (&a.api_id, &a.stage, &a.route_key).cmp(&(&b.api_id, &b.stage, &b.route_key))
    });
    MergedStats { counters, routes }
}

/// p50, p90, p99, p99.9, max and mean of `h` (zeros when empty).
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
        mean: h.mean(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_workers() {
        let mut a = RouteStats::new("a".into(), "s".into(), "GET /".into());
        a.record(200, 100, Some(50));
        a.record(503, 1_000, None);
        let mut b = a.clone();
        b.record(404, 10, None);
        let w = |i, r: &RouteStats| {
            Arc::new(WorkerStats {
                worker: i,
                routes: [(7u64, Arc::new(r.clone()))].into(),
                counters: GatewayCounters {
                    requests: 3,
                    ..Default::default()
                },
            })
        };
        let board = StatsBoard::new(2);
        board.publish(0, w(0, &a));
        board.publish(1, w(1, &b));
        let report = board.report();
        assert_eq!(report.counters.requests, 6);
        assert_eq!(report.routes.len(), 1);
        let r = &report.routes[0];
        assert_eq!(
            (r.count, r.status_2xx, r.status_4xx, r.status_5xx),
            (5, 2, 1, 2)
        );
        assert!(
            r.latency_us.max >= 1_000 && r.latency_us.max < 1_010,
            "{:?}",
            r.latency_us
        );

        // The full merge keeps the histograms and agrees with the report.
        let merged = board.merged();
        assert_eq!(merged.counters, report.counters);
        assert_eq!(merged.routes.len(), 1);
        let m = &merged.routes[0];
        assert_eq!((&*m.api_id, &*m.stage, &*m.route_key), ("a", "s", "GET /"));
        assert_eq!((m.total_us.len(), m.integration_us.len()), (5, 2));
        assert_eq!((m.status_2xx, m.status_4xx, m.status_5xx), (2, 1, 2));
        assert_eq!(merged.report(), report);
    }

    #[test]
    fn gateway_share_throttled_and_delta() {
        let mut r = RouteStats::new("a".into(), "s".into(), "GET /".into());
        r.record(200, 130, Some(100));
        r.record(429, 7, None);
        assert_eq!(r.gateway_us.len(), 2);
        assert_eq!((r.gateway_us.min(), r.gateway_us.max()), (7, 30));
        assert_eq!((r.throttled, r.status_4xx), (1, 1));
        let earlier = r.clone();
        r.record(502, 2_000, Some(1_500));
        let d = r.delta(&earlier);
        assert_eq!((d.total_us.len(), d.gateway_us.len()), (1, 1));
        assert_eq!((d.status_5xx, d.status_4xx, d.throttled), (1, 0, 0));
        let p = d.point();
        assert_eq!(p.count, 1);
        assert!(p.gateway_latency_us.max >= 500 && p.gateway_latency_us.max < 505);
        // A reset series (fewer requests than before) yields what it holds.
        assert_eq!(earlier.delta(&r).total_us.len(), 2);
    }

    #[test]
    fn merge_full_sorts_and_keeps_routes_apart() {
        let route = |api: &str, key: &str, n: u64| {
            let mut r = RouteStats::new(api.into(), "$default".into(), key.into());
            for i in 0..n {
                r.record(200, 10 * (i + 1), Some(5));
            }
            Arc::new(r)
        };
        let w0 = Arc::new(WorkerStats {
            worker: 0,
            routes: [
                (1u64, route("b", "GET /x", 2)),
                (2, route("a", "GET /y", 1)),
            ]
            .into(),
            counters: GatewayCounters::default(),
        });
        let w1 = Arc::new(WorkerStats {
            worker: 1,
            routes: [(1u64, route("b", "GET /x", 3))].into(),
            counters: GatewayCounters {
                not_found: 4,
                ..Default::default()
            },
        });
        let merged = merge_full(&[w0, w1]);
        assert_eq!(merged.counters.not_found, 4);
        let names: Vec<(&str, u64)> = merged
            .routes
            .iter()
            .map(|r| (&*r.api_id, r.total_us.len()))
            .collect();
        assert_eq!(names, [("a", 1), ("b", 5)]);
        assert_eq!(merged.routes[1].total_us.max(), 30);
        assert!(merge_full(&[]).routes.is_empty());
    }
}
