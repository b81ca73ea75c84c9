//! Metrics endpoints: Prometheus text exposition (format 0.0.4) and the JSON latency report.
//!
//! # Architecture
//! 1. A scrape merges every worker's latest stats ([`StatsBoard::merged`]); it never stops or
//!    waits on a worker. The merge and the rendering run on tokio's blocking pool so a large
//!    route table does not stall the admin runtime's other requests.
//! 2. The busiest `max_series` routes keep their own labels; the rest are summed into one series
//!    labelled `__other__` (api, stage and route), so the number of series is bounded whatever
//!    the number of routes. `portico_metrics_series_dropped` says how many routes were folded.
//! 3. Histogram buckets are fixed (5 µs to 30 s: the low ones resolve the gateway's own share,
//!    usually tens of µs) and derived from the HDR histograms: each
//!    recorded value counts at the lowest value it stands for, so a value on a bound is inside it.
//!    `_sum` is the histogram's own estimate (values at the middle of their 1 % wide bins).
//!
//! 4. For profiling, `GET /portico/histograms` answers a route's three full histograms (total,
//!    integration, gateway) in HdrHistogram's compressed V2 encoding, base64 (what every
//!    HdrHistogram implementation decodes), and `GET /portico/history` the ring of per-interval
//!    figures kept by [`history`]. Both are signed like the rest of the admin API.
//!
//! Invariant: rendering is a pure function of the merged stats; no state is kept between scrapes.

use std::fmt::Write as _;
use std::sync::Arc;

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;
use portico_shared::limits::METRICS_ROUTE_SERIES_MAX;
use portico_shared::stats::{
    percentiles, GatewayCounters, MergedRoute, Percentiles, StatsBoard, StatsReport,
};
use serde::Serialize;

use crate::error::ApiError;

pub mod history;

pub use history::History;

/// The Prometheus text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Label value of the series that sums the routes past the cardinality cap.
pub const OTHER: &str = "__other__";

/// Histogram bucket upper bounds in µs, with their `le` label in seconds.
const BUCKETS: [(u64, &str); 21] = [
    (5, "0.000005"),
    (10, "0.00001"),
    (25, "0.000025"),
    (50, "0.00005"),
    (100, "0.0001"),
    (250, "0.00025"),
    (500, "0.0005"),
    (1_000, "0.001"),
    (2_500, "0.0025"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
    (5_000_000, "5"),
    (10_000_000, "10"),
    (30_000_000, "30"),
];

const _: () = {
    let mut i = 1;
    while i < BUCKETS.len() {
        assert!(BUCKETS[i - 1].0 < BUCKETS[i].0, "bucket bounds ascend");
        i += 1;
    }
    assert!(BUCKETS[BUCKETS.len() - 1].0 <= portico_shared::limits::HISTOGRAM_MAX_US);
};

/// One series' worth of figures: a route's, or the sum of the routes past the cap.
#[derive(Debug, Clone, Default)]
struct Series {
    status_2xx: u64,
    status_4xx: u64,
    status_5xx: u64,
    status_other: u64,
    throttled: u64,
    cache_hits: u64,
    cache_misses: u64,
    total: Buckets,
    integration: Buckets,
    gateway: Buckets,
}

/// A histogram reduced to the fixed buckets: counts per bucket (not yet cumulative; the last
/// slot is above the highest bound), the total count and the estimated sum.
#[derive(Debug, Clone, Default)]
struct Buckets {
    per_bucket: [u64; BUCKETS.len() + 1],
    count: u64,
    sum_us: u64,
}

// === impl Buckets ===

impl Buckets {
    fn from_histogram(h: &Histogram<u64>) -> Buckets {
        let mut b = Buckets::default();
        for v in h.iter_recorded() {
            let bin = v.value_iterated_to();
            let n = v.count_at_value();
            let lowest = h.lowest_equivalent(bin);
            let slot = BUCKETS
                .iter()
                .position(|&(le_us, _)| lowest <= le_us)
                .unwrap_or(BUCKETS.len());
            b.per_bucket[slot] += n;
            b.count += n;
            b.sum_us = b
                .sum_us
                .saturating_add(h.median_equivalent(bin).saturating_mul(n));
        }
        b
    }

    fn add(&mut self, o: &Buckets) {
        for (a, b) in self.per_bucket.iter_mut().zip(o.per_bucket) {
            *a += b;
        }
        self.count += o.count;
        self.sum_us = self.sum_us.saturating_add(o.sum_us);
    }
}

// === impl Series ===

impl Series {
    fn from_route(r: &MergedRoute) -> Series {
        Series {
            status_2xx: r.status_2xx,
            status_4xx: r.status_4xx,
            status_5xx: r.status_5xx,
            status_other: r.status_other,
            throttled: r.throttled,
            cache_hits: r.cache_hits,
            cache_misses: r.cache_misses,
            total: Buckets::from_histogram(&r.total_us),
            integration: Buckets::from_histogram(&r.integration_us),
            gateway: Buckets::from_histogram(&r.gateway_us),
        }
    }

    fn add(&mut self, o: &Series) {
        self.status_2xx += o.status_2xx;
        self.status_4xx += o.status_4xx;
        self.status_5xx += o.status_5xx;
        self.status_other += o.status_other;
        self.throttled += o.throttled;
        self.cache_hits += o.cache_hits;
        self.cache_misses += o.cache_misses;
        self.total.add(&o.total);
        self.integration.add(&o.integration);
        self.gateway.add(&o.gateway);
    }
}

// === rendering ===

/// Renders every worker's merged stats in the Prometheus text format 0.0.4, with at most
/// `max_series` routes labelled individually (the busiest; ties by name) and the rest summed into
/// `api="__other__",stage="__other__",route="__other__"`.
pub fn render_prometheus(board: &StatsBoard, max_series: usize) -> String {
    let merged = board.merged();
    render(&merged.counters, &merged.routes, max_series)
}

fn render(counters: &GatewayCounters, routes: &[MergedRoute], max_series: usize) -> String {
    // Keep the busiest routes; `routes` is sorted by name, and the sort is stable, so ties keep
    // name order and a scrape is deterministic.
    let mut order: Vec<usize> = (0..routes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(routes[i].total_us.len()));
    let mut kept: Vec<usize> = order.iter().copied().take(max_series).collect();
    kept.sort_unstable();
    let dropped = routes.len() - kept.len();

    let mut series: Vec<(String, Series)> = kept
        .iter()
        .map(|&i| {
            let r = &routes[i];
            (
                labels(&r.api_id, &r.stage, &r.route_key),
                Series::from_route(r),
            )
        })
        .collect();
    if dropped > 0 {
        let mut other = Series::default();
        for &i in order.iter().skip(max_series) {
            other.add(&Series::from_route(&routes[i]));
        }
        series.push((labels(OTHER, OTHER, OTHER), other));
    }

    let mut out = String::with_capacity(1024 + series.len() * 4096);
    family(
        &mut out,
        "portico_requests_total",
        "counter",
        "Requests answered per API, stage, route and status class.",
    );
    for (l, s) in &series {
        for (class, n) in [
            ("2xx", s.status_2xx),
            ("4xx", s.status_4xx),
            ("5xx", s.status_5xx),
            ("other", s.status_other),
        ] {
            let _ = writeln!(
                out,
                "portico_requests_total{{{l},status_class=\"{class}\"}} {n}"
            );
        }
    }
    for (name, help, value) in [
        (
            "portico_cache_hits_total",
            "REST requests answered from the response cache (CacheHitCount).",
            (|s: &Series| s.cache_hits) as fn(&Series) -> u64,
        ),
        (
            "portico_cache_misses_total",
            "REST requests of cached methods sent to the integration (CacheMissCount).",
            |s: &Series| s.cache_misses,
        ),
        (
            "portico_throttled_total",
            "Requests answered 429 (rate, burst or quota), within the 4xx class.",
            |s: &Series| s.throttled,
        ),
    ] {
        family(&mut out, name, "counter", help);
        for (l, s) in &series {
            let _ = writeln!(out, "{name}{{{l}}} {}", value(s));
        }
    }
    family(
        &mut out,
        "portico_request_duration_seconds",
        "histogram",
        "Downstream-observed latency: request head parsed to response written.",
    );
    for (l, s) in &series {
        histogram(&mut out, "portico_request_duration_seconds", l, &s.total);
    }
    family(
        &mut out,
        "portico_integration_duration_seconds",
        "histogram",
        "Time spent in the integration (the upstream exchange).",
    );
    for (l, s) in &series {
        histogram(
            &mut out,
            "portico_integration_duration_seconds",
            l,
            &s.integration,
        );
    }
    family(
        &mut out,
        "portico_gateway_duration_seconds",
        "histogram",
        "The gateway's own share of each request: total latency minus the integration's.",
    );
    for (l, s) in &series {
        histogram(&mut out, "portico_gateway_duration_seconds", l, &s.gateway);
    }
    for (name, help, value) in [
        (
            "portico_downstream_requests_total",
            "Requests the data plane parsed, routed or not.",
            counters.requests,
        ),
        (
            "portico_connections_accepted_total",
            "Downstream connections accepted.",
            counters.connections_accepted,
        ),
        (
            "portico_bad_requests_total",
            "Requests rejected as malformed.",
            counters.bad_requests,
        ),
        (
            "portico_not_found_total",
            "Requests no route matched.",
            counters.not_found,
        ),
        (
            "portico_upstream_errors_total",
            "Integration exchanges that failed.",
            counters.upstream_errors,
        ),
        (
            "portico_upstream_timeouts_total",
            "Integration exchanges that timed out.",
            counters.upstream_timeouts,
        ),
    ] {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    for (name, help, value) in [
        (
            "portico_cache_bytes",
            "Bytes held by the REST response cache shards of every worker.",
            counters.cache_bytes,
        ),
        (
            "portico_cache_entries",
            "Entries held by the REST response cache shards of every worker.",
            counters.cache_entries,
        ),
    ] {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
    for (name, help, value) in [
        (
            "portico_access_log_lines_total",
            "Access log lines rendered and queued for a writer.",
            &portico_shared::access_log::LINES_QUEUED,
        ),
        (
            "portico_access_log_lines_shipped_total",
            "Access log lines a sink (CloudWatch Logs, Firehose, a file) accepted.",
            &portico_shared::access_log::LINES_SHIPPED,
        ),
        (
            "portico_access_log_lines_dropped_total",
            "Access log lines dropped: a worker's queue was full or a sink failed.",
            &portico_shared::access_log::LINES_DROPPED,
        ),
        (
            "portico_execution_log_lines_total",
            "Execution log lines rendered and queued for a writer.",
            &portico_shared::access_log::EXEC_LINES_QUEUED,
        ),
        (
            "portico_execution_log_lines_shipped_total",
            "Execution log lines every sink (the file, CloudWatch Logs when set) accepted.",
            &portico_shared::access_log::EXEC_LINES_SHIPPED,
        ),
        (
            "portico_execution_log_lines_dropped_total",
            "Execution log lines dropped: a worker's queue was full or a sink failed.",
            &portico_shared::access_log::EXEC_LINES_DROPPED,
        ),
    ] {
        family(&mut out, name, "counter", help);
        let value = value.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(out, "{name} {value}");
    }
    family(
        &mut out,
        "portico_metrics_series_dropped",
        "gauge",
        "Routes summed into route=\"__other__\" by the label cardinality cap.",
    );
    let _ = writeln!(out, "portico_metrics_series_dropped {dropped}");
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    // HELP text escapes only `\` and newlines; ours has neither.
    debug_assert!(!help.contains(['\\', '\n']));
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, labels: &str, b: &Buckets) {
    let mut cumulative = 0;
    for (&(_, le), n) in BUCKETS.iter().zip(b.per_bucket) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", b.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", seconds(b.sum_us));
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", b.count);
}

/// µs as decimal seconds, exactly: `1234567` → `1.234567`.
fn seconds(us: u64) -> String {
    let frac = us % 1_000_000;
    if frac == 0 {
        return (us / 1_000_000).to_string();
    }
    let s = format!("{}.{frac:06}", us / 1_000_000);
    s.trim_end_matches('0').to_string()
}

/// `api="...",stage="...",route="..."` with each value escaped.
fn labels(api: &str, stage: &str, route: &str) -> String {
    let mut s = String::with_capacity(api.len() + stage.len() + route.len() + 24);
    for (i, (k, v)) in [("api", api), ("stage", stage), ("route", route)]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            s.push(',');
        }
        s.push_str(k);
        s.push_str("=\"");
        escape_label_value(&mut s, v);
        s.push('"');
    }
    s
}

/// The text format's label value escapes: `\` → `\\`, `"` → `\"`, newline → `\n`.
fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

// === axum ===

/// `GET /metrics`: the Prometheus text exposition, capped at [`METRICS_ROUTE_SERIES_MAX`] routes.
pub async fn prometheus(State(board): State<Arc<StatsBoard>>) -> impl IntoResponse {
    match tokio::task::spawn_blocking(move || render_prometheus(&board, METRICS_ROUTE_SERIES_MAX))
        .await
    {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics rendering failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The JSON report: per route p50, p90, p99, p99.9, max and mean latency (µs), plus counters.
pub async fn json(State(board): State<Arc<StatsBoard>>) -> Response {
    match tokio::task::spawn_blocking(move || board.report()).await {
        Ok(report) => Json::<StatsReport>(report).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "stats merge failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /metrics` (Prometheus) and `GET /portico/metrics` (JSON), ready to merge into an app of
/// any state type.
pub fn router<S>(board: Arc<StatsBoard>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/metrics", get(prometheus))
        .route("/portico/metrics", get(json))
        .with_state(board)
}

// === profiling ===

/// One route's histogram as `GET /portico/histograms` answers it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EncodedHistogram {
    /// HdrHistogram's compressed V2 encoding (cookie `0x1c849304`), base64: what
    /// `Histogram.decodeFromCompressedByteBuffer` (Java), `hdrh` (Python), `hdr-histogram-js`
    /// and the `hdrhistogram` crate's `Deserializer` read.
    pub encoded: String,
    pub count: u64,
    pub percentiles: Percentiles,
    /// Every non-empty bin: `[highest value of the bin, count]`, µs, ascending (the console
    /// draws the log-axis histogram from these).
    pub bins: Vec<[u64; 2]>,
}

/// A route's three histograms.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteHistograms {
    pub api_id: String,
    pub stage: String,
    pub route_key: String,
    /// The histograms' unit.
    pub unit: &'static str,
    pub total: EncodedHistogram,
    pub integration: EncodedHistogram,
    pub gateway: EncodedHistogram,
}

/// Encodes `h` for [`EncodedHistogram`].
pub fn encode(h: &Histogram<u64>) -> Result<EncodedHistogram, String> {
    let mut bytes = Vec::with_capacity(256);
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| format!("histogram encoding failed: {e:?}"))?;
    Ok(EncodedHistogram {
        encoded: base64::engine::general_purpose::STANDARD.encode(&bytes),
        count: h.len(),
        percentiles: percentiles(h),
        bins: h
            .iter_recorded()
            .map(|v| [v.value_iterated_to(), v.count_at_value()])
            .collect(),
    })
}

/// The state of the profiling endpoints.
#[derive(Debug, Clone)]
struct Profiling {
    board: Arc<StatsBoard>,
    history: Arc<History>,
}

fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    q.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("Missing query parameter {name}")))
}

/// `GET /portico/histograms?api=ID&stage=NAME&route=KEY`: the route's full histograms.
async fn get_histograms(
    State(p): State<Profiling>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<RouteHistograms>, ApiError> {
    let (api, stage, route) = (
        param(&q, "api")?.to_string(),
        param(&q, "stage")?.to_string(),
        param(&q, "route")?.to_string(),
    );
    let board = Arc::clone(&p.board);
    tokio::task::spawn_blocking(move || {
        let merged = board.merged();
        let r = merged
            .routes
            .iter()
            .find(|r| *r.api_id == *api && *r.stage == *stage && *r.route_key == *route)
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "No requests recorded for route {route:?} of API {api} stage {stage}"
                ))
            })?;
        Ok(Json(RouteHistograms {
            api_id: api.clone(),
            stage: stage.clone(),
            route_key: route.clone(),
            unit: "microseconds",
            total: encode(&r.total_us).map_err(ApiError::Internal)?,
            integration: encode(&r.integration_us).map_err(ApiError::Internal)?,
            gateway: encode(&r.gateway_us).map_err(ApiError::Internal)?,
        }))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("histogram task failed: {e}")))?
}

/// `GET /portico/history[?since=SEQ][&api=ID][&stage=NAME][&route=KEY]`: the per-interval ring.
async fn get_history(
    State(p): State<Profiling>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<history::HistoryReport>, ApiError> {
    let since = match q.get("since") {
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| ApiError::BadRequest(format!("since must be a number, got {s:?}")))?,
        None => 0,
    };
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    let filter = history::RouteFilter {
        api_id: get("api"),
        stage: get("stage"),
        route_key: get("route"),
    };
    Ok(Json(p.history.report(since, &filter)))
}

/// `GET /portico/histograms` and `GET /portico/history` (signed: the admin app puts them behind
/// SigV4). Starts the history sampler for `board`.
pub fn profiling_router<S>(board: Arc<StatsBoard>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let history = History::spawn(&board);
    Router::new()
        .route("/portico/histograms", get(get_histograms))
        .route("/portico/history", get(get_history))
        .with_state(Profiling { board, history })
}

#[cfg(test)]
mod tests;
