//! Pipeline stage `observe`: per-worker latency histograms and status counts per route, and
//! their periodic publication to the [`StatsBoard`] the admin side merges.
//!
//! Recording touches only this worker's memory; publishing clones only the routes that changed
//! since the last publication (copy-on-write through `Arc`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use portico_shared::snapshot::{Api, Route, Stage};
use portico_shared::stats::{GatewayCounters, RouteStats, StatsBoard, WorkerStats};

/// Stats keys are already well-mixed hashes: use them as they are.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// One worker's stats, owned by the worker.
#[derive(Debug, Default)]
pub struct LocalStats {
    /// Recorded into on the request path; never shared, so recording never copies.
    routes: KeyMap<Local>,
    /// What was last published; a route's entry is replaced only when it changed.
    published: KeyMap<Arc<RouteStats>>,
    dirty: bool,
    pub counters: GatewayCounters,
}

#[derive(Debug)]
struct Local {
    stats: RouteStats,
    changed: bool,
}

// === impl LocalStats ===

impl LocalStats {
    /// Records a request that matched a route.
    pub fn record_route(
        &mut self,
        api: &Api,
        stage: &Stage,
        route: &Route,
        status: u16,
        total_us: u64,
        integration_us: Option<u64>,
    ) {
        let entry = self.routes.entry(route.stats_key).or_insert_with(|| Local {
            stats: RouteStats::new(
                api.id.as_ref().into(),
                if stage.is_canary {
                    format!("{}/canary", stage.name).into()
                } else {
                    stage.name.as_ref().into()
                },
                route.route_key.as_ref().into(),
            ),
            changed: false,
        });
        entry.stats.record(status, total_us, integration_us);
        entry.changed = true;
        self.dirty = true;
    }

    /// Records a WebSocket event (`$connect`, a message, `$disconnect`) on its route: count,
    /// status class and integration latency.
    pub fn record_ws(
        &mut self,
        names: (&str, &str, &str),
        stats_key: u64,
        status: u16,
        integration_us: u64,
    ) {
        let entry = self.routes.entry(stats_key).or_insert_with(|| Local {
            stats: RouteStats::new(names.0.into(), names.1.into(), names.2.into()),
            changed: false,
        });
        entry
            .stats
            .record(status, integration_us, Some(integration_us));
        entry.changed = true;
        self.dirty = true;
    }

    /// Counts a cached method's request as a hit or a miss (after [`Self::record_route`]).
    pub fn record_cache(&mut self, route: &Route, hit: bool) {
        if let Some(l) = self.routes.get_mut(&route.stats_key) {
            if hit {
                l.stats.cache_hits += 1;
            } else {
                l.stats.cache_misses += 1;
            }
        }
    }

    pub fn mark(&mut self) {
        self.dirty = true;
    }

    /// Publishes to `board` if anything changed since the last call. Runs on the worker's
    /// once-a-second timer: the copies are made here, not on the request path.
    pub fn publish(&mut self, worker: usize, board: &StatsBoard) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        for (key, local) in self.routes.iter_mut().filter(|(_, l)| l.changed) {
            local.changed = false;
            self.published.insert(*key, Arc::new(local.stats.clone()));
        }
        let routes = self
            .published
            .iter()
            .map(|(k, v)| (*k, Arc::clone(v)))
            .collect();
        board.publish(
            worker,
            Arc::new(WorkerStats {
                worker,
                routes,
                counters: self.counters,
            }),
        );
    }

    /// Forgets routes that are no longer configured (after a snapshot swap).
    pub fn retain(&mut self, keep: impl Fn(u64) -> bool) {
        let before = self.routes.len();
        self.routes.retain(|k, _| keep(*k));
        self.published.retain(|k, _| keep(*k));
        if self.routes.len() != before {
            self.dirty = true;
        }
    }
}
