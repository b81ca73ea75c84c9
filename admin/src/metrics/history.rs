//! The stats history: a ring of per-interval figures per route, kept on the admin side so the
//! console and `portico top` can show latency percentiles and rates over time.
//!
//! # Architecture
//! 1. A sampler thread (`portico-stats-history`) wakes every [`METRICS_HISTORY_INTERVAL_MS`], merges
//!    every worker's latest stats ([`StatsBoard::merged`]: it never waits on a worker) and
//!    subtracts the previous merge route by route ([`RouteStats::delta`]): what each route did
//!    in that interval, reduced to an [`IntervalPoint`] (counts and percentiles).
//! 2. The ring keeps the last [`METRICS_HISTORY_INTERVALS`] intervals, each with at most
//!    [`METRICS_HISTORY_ROUTES_MAX`] routes (the busiest of that interval; routes with no request are not
//!    stored). Memory is bounded by `METRICS_HISTORY_INTERVALS × METRICS_HISTORY_ROUTES_MAX` points of about 400 bytes:
//!    12 MB at worst, a few kB for a gateway with a handful of busy routes.
//! 3. The sampler holds the board weakly: it ends within one interval of the board being
//!    dropped (an admin app built by a test).
//!
//! Workers publish once a second on their own timers, so one interval may hold a little more
//! or less than a second's requests; rates over several intervals are exact.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portico_shared::limits::{
    METRICS_HISTORY_INTERVALS, METRICS_HISTORY_INTERVAL_MS, METRICS_HISTORY_ROUTES_MAX,
};
use portico_shared::stats::{IntervalPoint, RouteStats, StatsBoard};
use serde::Serialize;

/// The ring, shared by the sampler (writer) and the handlers (readers). The lock is held for a
/// push or a copy of the asked-for points, never across I/O.
#[derive(Debug, Default)]
pub struct History {
    ring: Mutex<VecDeque<Interval>>,
}

/// One interval's figures.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Interval {
    /// Increases by one per interval from the sampler's start: `since=` asks for newer ones.
    pub seq: u64,
    /// Wall-clock end of the interval, ms since the Unix epoch.
    pub end_unix_ms: u64,
    /// How long the interval really was, ms (the sampler's sleep is not exact).
    pub length_ms: u64,
    /// Routes with at least one request in the interval, busiest first.
    pub routes: Vec<IntervalPoint>,
}

/// What `GET /portico/history` answers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryReport {
    pub interval_ms: u64,
    /// The newest interval's `seq` (0: none yet).
    pub latest: u64,
    pub intervals: Vec<Interval>,
}

/// Which routes a reader wants: each `Some` must match.
#[derive(Debug, Clone, Default)]
pub struct RouteFilter {
    pub api_id: Option<String>,
    pub stage: Option<String>,
    pub route_key: Option<String>,
}

// === impl History ===

impl History {
    /// Starts the sampler thread for `board` and returns the ring it fills.
    pub fn spawn(board: &Arc<StatsBoard>) -> Arc<History> {
        let history = Arc::new(History::default());
        let weak_board = Arc::downgrade(board);
        let weak_history = Arc::downgrade(&history);
        // The first merge is the baseline, taken now: what came before is not an interval.
        let baseline = by_name(board.merged().routes);
        let spawned = std::thread::Builder::new()
            .name("portico-stats-history".into())
            .spawn(move || sample_loop(&weak_board, &weak_history, baseline));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "stats history sampler failed to start");
        }
        history
    }

    /// Appends one interval, dropping the oldest past [`METRICS_HISTORY_INTERVALS`].
    pub fn push(&self, interval: Interval) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == METRICS_HISTORY_INTERVALS {
            ring.pop_front();
        }
        ring.push_back(interval);
    }

    /// The intervals newer than `since`, with only the routes `filter` matches.
    pub fn report(&self, since: u64, filter: &RouteFilter) -> HistoryReport {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        HistoryReport {
            interval_ms: METRICS_HISTORY_INTERVAL_MS,
            latest: ring.back().map_or(0, |i| i.seq),
            intervals: ring
                .iter()
                .filter(|i| i.seq > since)
                .map(|i| Interval {
                    seq: i.seq,
                    end_unix_ms: i.end_unix_ms,
                    length_ms: i.length_ms,
                    routes: i
                        .routes
                        .iter()
                        .filter(|p| filter.matches(p))
                        .cloned()
                        .collect(),
                })
                .collect(),
        }
    }
}

// === impl RouteFilter ===

impl RouteFilter {
    fn matches(&self, p: &IntervalPoint) -> bool {
        let ok = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        ok(&self.api_id, &p.api_id)
            && ok(&self.stage, &p.stage)
            && ok(&self.route_key, &p.route_key)
    }
}

type RouteName = (Arc<str>, Arc<str>, Arc<str>);

/// Computes one interval from two merges: each route's delta, busiest first, capped.
pub fn interval_points(
    previous: &HashMap<RouteName, RouteStats>,
    now: &[RouteStats],
) -> Vec<IntervalPoint> {
    let mut points: Vec<IntervalPoint> = now
        .iter()
        .filter_map(|r| {
            let name = (
                Arc::clone(&r.api_id),
                Arc::clone(&r.stage),
                Arc::clone(&r.route_key),
            );
            let d = match previous.get(&name) {
                Some(p) => r.delta(p),
                None => r.clone(),
            };
            (!d.total_us.is_empty()).then(|| d.point())
        })
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.count));
    points.truncate(METRICS_HISTORY_ROUTES_MAX);
    points
}

fn sample_loop(
    board: &Weak<StatsBoard>,
    history: &Weak<History>,
    mut previous: HashMap<RouteName, RouteStats>,
) {
    let mut seq = 0u64;
    let mut last = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(METRICS_HISTORY_INTERVAL_MS));
        let (Some(board), Some(history)) = (board.upgrade(), history.upgrade()) else {
            return;
        };
        let merged = board.merged();
        drop(board);
        let routes = interval_points(&previous, &merged.routes);
        let now = std::time::Instant::now();
        seq += 1;
        history.push(Interval {
            seq,
            end_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            length_ms: u64::try_from(now.duration_since(last).as_millis()).unwrap_or(u64::MAX),
            routes,
        });
        last = now;
        previous = by_name(merged.routes);
    }
}

fn by_name(routes: Vec<RouteStats>) -> HashMap<RouteName, RouteStats> {
    routes
        .into_iter()
        .map(|r| {
            (
                (
                    Arc::clone(&r.api_id),
                    Arc::clone(&r.stage),
                    Arc::clone(&r.route_key),
                ),
                r,
            )
        })
        .collect()
}
