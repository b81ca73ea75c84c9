//! Durable usage counts: the registry of every key's state in every plan, and the background
//! flush that writes their counters to the store.
//!
//! # Architecture
//! 1. The data plane counts into [`KeyPlan`] atomics (`quota`: the period's used count, `days`:
//!    the last two days). The admin side keeps every live [`KeyPlan`] in [`Counters`], by
//!    `(planId, keyId)`.
//! 2. Every [`USAGE_FLUSH_INTERVAL_MS`] a task on the admin runtime runs [`Counters::flush`] on
//!    a blocking thread: it reads each counter, compares it with what it last wrote and writes
//!    only the rows that changed, in one transaction ([`Store::put_usage`]). Nothing on a
//!    request path waits for it; a `kill -9` loses at most one interval of counts.
//! 3. `AdminState::flush_usage_blocking` runs one last flush at graceful shutdown, after the
//!    workers have drained, so a restart loses nothing.
//! 4. At start, each [`KeyPlan`] is restored from the store's rows for the current period and
//!    the last two days.
//!
//! Invariant: the registry's mutex is held across a flush's write, and by every change that
//! removes a state and forgets its rows (`Change::ForgetUsage`) across that commit, so a flush
//! never writes back the counts of a membership that was just deleted.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use portico_shared::keys::KeyPlan;
use portico_shared::limits::USAGE_FLUSH_INTERVAL_MS;

use crate::store::{Store, StoreError, UsageKind, UsageRow};

/// `(planId, keyId)`.
pub(crate) type StateKey = (String, String);

/// A state, with what the store held for it when it was added (the first time it is handed
/// out).
pub(crate) type StateEntry = (StateKey, Arc<KeyPlan>, Option<Written>);

/// Every key's state in every plan, shared by the catalog (which replaces states) and the
/// flush (which reads them).
#[derive(Debug, Clone)]
pub(crate) struct Counters {
    inner: Arc<Mutex<Registry>>,
    store: Arc<dyn Store>,
}

/// What [`Counters`] guards.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// The live states, shared with every snapshot's key entries.
    pub(crate) states: BTreeMap<StateKey, Arc<KeyPlan>>,
    /// What the store holds for each state, so a flush writes only what changed.
    written: HashMap<StateKey, Written>,
    /// What the store held for each state when it was added, until the shared limits' thread
    /// takes it ([`Counters::try_states`]): the counts that came from the store, as opposed to
    /// those requests made since.
    origin: HashMap<StateKey, Written>,
}

/// The counts last written for one state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    /// `(period start, used)`.
    period: Option<(u64, i64)>,
    /// `(day, count)` by `day % 2`, like [`portico_shared::quota::DayCounters`].
    days: [Option<(u64, u64)>; 2],
}

// === impl Counters ===

impl Counters {
    pub(crate) fn new(store: Arc<dyn Store>) -> Counters {
        Counters {
            inner: Arc::default(),
            store,
        }
    }

    /// The registry, held (see the module invariant).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes every counter that changed since the last flush; returns how many rows. Blocking.
    pub(crate) fn flush(&self) -> Result<usize, StoreError> {
        let mut registry = self.lock();
        let mut rows = Vec::new();
        let mut next = Vec::new();
        for (key, state) in &registry.states {
            let before = registry.written.get(key).copied().unwrap_or_default();
            let mut after = before;
            let start = state.quota.period();
            let used = state.quota.used(start);
            // A counter that never counted is (0, 0): nothing to write.
            if (start, used) != (0, 0) && before.period != Some((start, used)) {
                rows.push(row(key, UsageKind::Period, start, used));
                after.period = Some((start, used));
            }
            for (day, n) in state.days.both() {
                let slot = (day % 2) as usize;
                if (day, n) != (0, 0) && before.days[slot] != Some((day, n)) {
                    rows.push(row(key, UsageKind::Day, day, n as i64));
                    after.days[slot] = Some((day, n));
                }
            }
            if after != before {
                next.push((key.clone(), after));
            }
        }
        if rows.is_empty() {
            return Ok(0);
        }
        self.store.put_usage(&rows)?;
        registry.written.extend(next);
        Ok(rows.len())
    }

    /// Every state, with what the store held for it when it was added if this is the first
    /// call since (see [`Registry::origin`]), unless the registry is held (a flush is
    /// writing): then `None`, never waiting.
    pub(crate) fn try_states(&self) -> Option<Vec<StateEntry>> {
        let mut registry = match self.inner.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        let mut origin = std::mem::take(&mut registry.origin);
        Some(
            registry
                .states
                .iter()
                .map(|(k, v)| (k.clone(), Arc::clone(v), origin.remove(k)))
                .collect(),
        )
    }

    /// The store the counts are written to.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

// === impl Written ===

impl Written {
    /// The count held for the period starting `start` (0 if none).
    pub(crate) fn period(&self, start: u64) -> i64 {
        self.period
            .filter(|(s, _)| *s == start)
            .map_or(0, |(_, n)| n)
    }

    /// The count held for `day` (0 if none).
    pub(crate) fn day(&self, day: u64) -> u64 {
        self.days[(day % 2) as usize]
            .filter(|(d, _)| *d == day)
            .map_or(0, |(_, n)| n)
    }
}

// === impl Registry ===

impl Registry {
    /// Adds or replaces a state.
    pub(crate) fn insert(&mut self, key: StateKey, state: Arc<KeyPlan>) {
        let stored = self.written.get(&key).copied().unwrap_or_default();
        self.origin.insert(key.clone(), stored);
        self.states.insert(key, state);
    }

    /// Removes a state and forgets what was written for it (its rows are being deleted).
    pub(crate) fn remove(&mut self, key: &StateKey) {
        self.states.remove(key);
        self.written.remove(key);
        self.origin.remove(key);
    }

    /// Records that the store holds `row` (restored at start, or written by `UpdateUsage`).
    pub(crate) fn mark_written(&mut self, r: &UsageRow) {
        let w = self
            .written
            .entry((r.plan_id.clone(), r.key_id.clone()))
            .or_default();
        match r.kind {
            UsageKind::Period => w.period = Some((r.day, r.used)),
            UsageKind::Day => w.days[(r.day % 2) as usize] = Some((r.day, r.used.max(0) as u64)),
        }
    }
}

fn row(key: &StateKey, kind: UsageKind, day: u64, used: i64) -> UsageRow {
    UsageRow {
        plan_id: key.0.clone(),
        key_id: key.1.clone(),
        kind,
        day,
        used,
    }
}

/// Flushes `counters` every [`USAGE_FLUSH_INTERVAL_MS`], forever, on blocking threads.
pub(crate) async fn flush_loop(counters: Counters) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(USAGE_FLUSH_INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let c = counters.clone();
        match tokio::task::spawn_blocking(move || c.flush()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "usage flush failed; retrying"),
            Err(e) => tracing::error!(error = %e, "usage flush task failed"),
        }
    }
}
