//! Limits and quotas shared by the nodes of a cluster through Redis (`serve --redis`).
//!
//! # Architecture
//! One thread of its own holds a synchronous Redis connection (read and write timeouts of
//! [`REDIS_TIMEOUT_MS`]); nothing else talks to Redis, and nothing waits for this thread:
//! 1. **Leases.** A throttle bucket's node pool (`portico_shared::lease::Pool`) asks for tokens
//!    through a bounded channel (a non-blocking `try_send` from the worker). Each request runs
//!    [`LEASE_SCRIPT`] once: Redis's own clock refills the GCRA state, up to a lease is taken
//!    and the reply says how long to hold off when it was short. Every [`SHARED_LIMITS_TICK_MS`] pools unused
//!    for `LEASE_POOL_WINDOW_MS` give their tokens back through the same script.
//! 2. **Quotas.** Every [`SHARED_LIMITS_TICK_MS`] each usage plan state's period count and day counts are
//!    reconciled: `SET key base NX` (the cluster total this node last saw, so a Redis that came
//!    back empty is refilled) then `INCRBY key delta` (what this node counted since), all in one
//!    pipeline; the reply is the cluster total, and the node adds the other nodes' share to its
//!    local counters. The usage flush then writes cluster totals to the store for `GetUsage`.
//! 3. **Redis down.** A failed call marks the link down: every pool admits through its local
//!    fallback bucket (rate and burst divided by the live node count), quotas count locally, and
//!    the thread reconnects every [`REDIS_RECONNECT_MS`]; the deltas counted meanwhile are added when
//!    it is back. Logged on each transition; `GET /portico/cluster` shows it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use portico_shared::keys::KeyPlan;
use portico_shared::lease::{self, LeaseSink, Link, Pool};
use portico_shared::limits::{
    LEASE_POOL_WINDOW_MS, REDIS_RECONNECT_MS, REDIS_TIMEOUT_MS, SHARED_LIMITS_QUEUE_MAX,
    SHARED_LIMITS_TICK_MS,
};

use crate::usage::{Counters, StateKey};

/// KEYS[1]: the bucket; ARGV: interval µs (float), capacity µs, tokens wanted, tokens given
/// back. Returns `{got, hold off µs}`. The state is GCRA's theoretical arrival time in µs of
/// Redis's clock, so every node's lease refills from the same time.
pub const LEASE_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local give = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if give > 0 then tat = math.max(now, tat - give * interval) end
local room = math.floor((now + cap - tat) / interval)
if room < 0 then room = 0 end
local got = math.min(want, room)
tat = tat + got * interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
local wait = 0
if got < want then wait = math.ceil(tat + (want - got) * interval - now - cap) end
return {got, wait}
";

/// The shared limits' handle: what the admin side reads for `GET /portico/cluster`.
#[derive(Debug)]
pub struct SharedLimits {
    url: String,
    link: &'static Link,
    counters: OnceLock<Counters>,
    /// Leases granted and quota reconciliations done (for the view and tests).
    leases: AtomicU64,
    syncs: AtomicU64,
}

#[derive(Debug)]
struct Sink(SyncSender<Arc<Pool>>);

impl LeaseSink for Sink {
    fn want(&self, pool: &Arc<Pool>) {
        match self.0.try_send(Arc::clone(pool)) {
            Ok(()) => {}
            Err(TrySendError::Full(p) | TrySendError::Disconnected(p)) => p.failed(),
        }
    }
}

/// Starts the client thread for Redis at `url` and installs the lease link, so buckets made
/// from now on are shared. Redis need not be up: until it answers, limits are node-local.
pub fn start(url: &str) -> Result<Arc<SharedLimits>, String> {
    let client = redis::Client::open(url).map_err(|e| format!("--redis {url}: {e}"))?;
    let (tx, rx) = sync_channel(SHARED_LIMITS_QUEUE_MAX);
    let link = lease::install(Box::new(Sink(tx)));
    link.up.store(false, Ordering::Release);
    let shared = Arc::new(SharedLimits {
        url: redacted(url),
        link,
        counters: OnceLock::new(),
        leases: AtomicU64::new(0),
        syncs: AtomicU64::new(0),
    });
    let s = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("portico-redis".into())
        .spawn(move || Client::new(client, s).run(rx))
        .map_err(|e| e.to_string())?;
    Ok(shared)
}

fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

impl SharedLimits {
    /// Counts usage plan quotas through Redis from now on.
    pub(crate) fn attach(&self, counters: Counters) {
        let _ = self.counters.set(counters);
    }

    /// The shared limits' state for `GET /portico/cluster`.
    pub fn view(&self) -> serde_json::Value {
        let up = self.link.up.load(Ordering::Acquire);
        let n = self.link.live_nodes.load(Ordering::Relaxed).max(1);
        serde_json::json!({
            "redis": self.url,
            "redisReachable": up,
            "mode": if up { "shared" } else { "local-fallback" },
            "liveNodes": n,
            "fallbackDivisor": n,
            "leases": self.leases.load(Ordering::Relaxed),
            "quotaSyncs": self.syncs.load(Ordering::Relaxed),
        })
    }

    /// Sets the live node count the fallback divides by.
    pub fn set_live_nodes(&self, n: u32) {
        self.link.live_nodes.store(n.max(1), Ordering::Relaxed);
    }
}

/// The client thread's state.
struct Client {
    client: redis::Client,
    con: Option<redis::Connection>,
    shared: Arc<SharedLimits>,
    script: redis::Script,
    /// Pools that asked, by name, with when their last lease arrived.
    pools: HashMap<Box<str>, (Weak<Pool>, Instant)>,
    /// The cluster total last seen per counter (Redis key): the `SET NX` base.
    bases: HashMap<String, i64>,
    /// States seen by an earlier tick: a new period or day of theirs starts from 0 here.
    known: HashMap<StateKey, ()>,
    next_connect: Instant,
    last_tick: Instant,
}

impl Client {
    fn new(client: redis::Client, shared: Arc<SharedLimits>) -> Client {
        Client {
            client,
            con: None,
            shared,
            script: redis::Script::new(LEASE_SCRIPT),
            pools: HashMap::new(),
            bases: HashMap::new(),
            known: HashMap::new(),
            next_connect: Instant::now(),
            last_tick: Instant::now(),
        }
    }

    fn run(mut self, rx: Receiver<Arc<Pool>>) {
        let tick = Duration::from_millis(SHARED_LIMITS_TICK_MS);
        loop {
            let mut batch = Vec::new();
            match rx.recv_timeout(tick.saturating_sub(self.last_tick.elapsed())) {
                Ok(p) => batch.push(p),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            batch.extend(rx.try_iter());
            self.connect();
            for p in batch {
                self.lease(&p);
            }
            if self.last_tick.elapsed() >= tick {
                self.last_tick = Instant::now();
                self.connect();
                self.expire();
                self.sync_quotas();
            }
        }
    }

    fn connect(&mut self) {
        if self.con.is_some() || Instant::now() < self.next_connect {
            return;
        }
        self.next_connect = Instant::now() + Duration::from_millis(REDIS_RECONNECT_MS);
        let timeout = Duration::from_millis(REDIS_TIMEOUT_MS);
        let con = self
            .client
            .get_connection_with_timeout(timeout)
            .and_then(|c| {
                c.set_read_timeout(Some(timeout))?;
                c.set_write_timeout(Some(timeout))?;
                Ok(c)
            });
        match con {
            Ok(c) => {
                self.con = Some(c);
                self.shared.link.up.store(true, Ordering::Release);
                tracing::info!(redis = %self.shared.url, "shared limits: Redis reachable; throttles and quotas are cluster-wide");
            }
            Err(e) => {
                tracing::debug!(error = %e, "shared limits: cannot reach Redis");
            }
        }
    }

    fn down(&mut self, e: &redis::RedisError) {
        self.con = None;
        if self.shared.link.up.swap(false, Ordering::AcqRel) {
            let n = self.shared.link.live_nodes.load(Ordering::Relaxed).max(1);
            tracing::warn!(error = %e, live_nodes = n,
                "shared limits: Redis unreachable; throttles fall back to node-local buckets at rate/{n}, quotas count locally until it returns");
        }
    }

    fn call(&mut self, pool: &Pool, want: u64, give: u64) -> Option<(u64, u64)> {
        let con = self.con.as_mut()?;
        let interval_us = 1e6 / pool.limits.rate;
        let cap_us = interval_us * pool.limits.burst as f64;
        let r: redis::RedisResult<(i64, i64)> = self
            .script
            .key(format!("portico:tb:{}", pool.name))
            .arg(interval_us)
            .arg(cap_us)
            .arg(want)
            .arg(give)
            .invoke(con);
        match r {
            Ok((got, wait)) => Some((got.max(0) as u64, wait.max(0) as u64)),
            Err(e) => {
                self.down(&e);
                None
            }
        }
    }

    fn lease(&mut self, pool: &Arc<Pool>) {
        let want = pool.wanted();
        let (got, wait_us) = if want == 0 {
            (0, 0)
        } else {
            match self.call(pool, want, 0) {
                Some(r) => r,
                None => return pool.failed(),
            }
        };
        self.shared.leases.fetch_add(1, Ordering::Relaxed);
        pool.granted(got, wait_us.saturating_mul(1000));
        self.pools
            .insert(pool.name.clone(), (Arc::downgrade(pool), Instant::now()));
    }

    /// Gives back the tokens of pools unused for `LEASE_POOL_WINDOW_MS`; forgets dropped pools.
    fn expire(&mut self) {
        if self.con.is_none() {
            return;
        }
        let window = Duration::from_millis(LEASE_POOL_WINDOW_MS);
        let stale: Vec<Arc<Pool>> = self
            .pools
            .values()
            .filter(|(_, at)| at.elapsed() >= window)
            .filter_map(|(w, _)| w.upgrade())
            .collect();
        self.pools
            .retain(|_, (w, at)| w.strong_count() > 0 && at.elapsed() < window);
        for p in stale {
            let n = p.reclaim();
            if n > 0 && self.call(&p, 0, n).is_none() {
                p.give_back(n);
                return;
            }
        }
    }

    /// Reconciles every usage plan state's counts with Redis (see the module docs).
    fn sync_quotas(&mut self) {
        let Some(counters) = self.shared.counters.get() else {
            return;
        };
        if self.con.is_none() {
            return;
        }
        // Never wait behind a store flush: skip this tick instead.
        let Some(states) = counters.try_states() else {
            return;
        };
        let mut items: Vec<(String, i64, Item)> = Vec::new();
        for (key, state, origin) in &states {
            let seen = self.known.insert(key.clone(), ()).is_some();
            let first = items.len();
            let start = state.quota.period();
            if start != 0 {
                let k = format!("portico:q:{}:{}:p{start}", key.0, key.1);
                items.push((
                    k,
                    state.quota.used(start),
                    Item::Period(Arc::clone(state), start),
                ));
            }
            for (day, n) in state.days.both() {
                if day != 0 {
                    let k = format!("portico:q:{}:{}:d{day}", key.0, key.1);
                    items.push((k, n as i64, Item::Day(Arc::clone(state), day)));
                }
            }
            if !seen {
                // What came from the store is merged by maximum (other nodes may have counted
                // it already); what requests counted since the state was added is added.
                let origin = origin.unwrap_or_default();
                for (k, _, item) in &items[first..] {
                    let stored = match item {
                        Item::Period(_, start) => origin.period(*start),
                        Item::Day(_, day) => origin.day(*day) as i64,
                    };
                    self.bases.entry(k.clone()).or_insert(-stored - 1);
                }
            }
        }
        if items.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for (k, v, item) in &items {
            let ttl = match item {
                Item::Period(..) => 40 * 86_400,
                Item::Day(..) => 3 * 86_400,
            };
            // A state seen before whose counter is new (a new period or day): all local.
            let base = *self.bases.get(k).unwrap_or(&0);
            let (base, delta) = if base < 0 {
                // First contact: the stored part is the `SET NX` base (merged by maximum below),
                // what was counted since is added.
                (-base - 1, v - (-base - 1))
            } else {
                (base, v - base)
            };
            pipe.cmd("SET")
                .arg(k)
                .arg(base)
                .arg("NX")
                .arg("EX")
                .arg(ttl)
                .ignore();
            pipe.cmd("INCRBY").arg(k).arg(delta);
        }
        let con = self.con.as_mut().expect("connected");
        let totals: Vec<i64> = match pipe.query(con) {
            Ok(t) => t,
            Err(e) => return self.down(&e),
        };
        let mut raise = redis::pipe();
        let mut raised = false;
        for ((k, v, item), total) in items.into_iter().zip(totals) {
            let total = if total < v && self.bases.get(&k).is_some_and(|b| *b < 0) {
                raise.cmd("INCRBY").arg(&k).arg(v - total).ignore();
                raised = true;
                v
            } else {
                total
            };
            match item {
                Item::Period(s, start) => s.quota.adjust(start, total - v),
                Item::Day(s, day) => s.days.adjust(day, total - v),
            }
            self.bases.insert(k, total);
        }
        if raised {
            if let Err(e) = raise.query::<()>(self.con.as_mut().expect("connected")) {
                self.down(&e);
            }
        }
        self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        // Forget counters of periods and days no state is on any more.
        if self.bases.len() > 4 * states.len() + 64 {
            let live: std::collections::HashSet<String> = states
                .iter()
                .flat_map(|(key, s, _)| {
                    let p = s.quota.period();
                    let mut v = vec![format!("portico:q:{}:{}:p{p}", key.0, key.1)];
                    for (d, _) in s.days.both() {
                        v.push(format!("portico:q:{}:{}:d{d}", key.0, key.1));
                    }
                    v
                })
                .collect();
            self.bases.retain(|k, _| live.contains(k));
        }
    }
}

enum Item {
    Period(Arc<KeyPlan>, u64),
    Day(Arc<KeyPlan>, u64),
}
