//! API keys and usage plans as the data plane reads them.
//!
//! # Architecture
//! 1. [`KeyTable`]: every API key by value. 256 shards, each an immutable hash map from a keyed
//!    SipHash of the value to the key, shared (`Arc`) between snapshots. Adding, changing or
//!    removing one key copies one shard (1/256 of the table), never the route structure. A
//!    lookup is one hash and one probe, whatever the number of keys, followed by a constant-time
//!    comparison of the whole value (so response time does not reveal how much of a guess was
//!    right).
//! 2. [`Plan`]: a usage plan's compiled limits and the API stages it covers.
//! 3. [`KeyPlan`]: the state one key has in one plan: its throttle buckets and its quota and
//!    day counters. It is created by the control plane and shared by every snapshot, so counts
//!    survive any publish; the control plane reads its counters to write usage to the store.
//!
//! Invariant: a [`KeyEntry`] never changes once published; a change publishes a new entry that
//! reuses the same [`KeyPlan`] states.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher as _, RandomState};
use std::sync::Arc;

use crate::limits::API_KEY_SHARDS;
use crate::model::rest::{QuotaPeriod, UsagePlanSpec};
use crate::quota::{self, DayCounters, QuotaCounter};
use crate::throttle::{Bucket, Limits};

/// Every API key, by value.
#[derive(Debug, Clone)]
pub struct KeyTable {
    /// Keyed per table (random): key values cannot be chosen to collide.
    hasher: RandomState,
    shards: Arc<[Arc<Shard>]>,
    len: usize,
}

#[derive(Debug, Default, Clone)]
struct Shard {
    /// By the 64-bit hash of the value.
    map: HashMap<u64, Arc<KeyEntry>, BuildHasherDefault<IdentityHasher>>,
    /// Keys whose hash another key in `map` already has (practically never used).
    overflow: Vec<Arc<KeyEntry>>,
}

/// An API key as the data plane sees it.
#[derive(Debug)]
pub struct KeyEntry {
    pub id: Box<str>,
    value: Box<[u8]>,
    pub enabled: bool,
    /// Its state in each usage plan it belongs to.
    pub plans: Box<[Arc<KeyPlan>]>,
}

/// A usage plan, compiled.
#[derive(Debug)]
pub struct Plan {
    pub id: Box<str>,
    /// Per key.
    pub throttle: Option<Limits>,
    pub quota: Option<Quota>,
    pub stages: Box<[PlanStage]>,
    /// Every per-method throttle of every stage, in order; [`KeyPlan::method_buckets`] has one
    /// bucket for each.
    pub method_limits: Box<[Limits]>,
}

/// A plan's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: i64,
    pub period: QuotaPeriod,
    /// Subtracted from the limit in the period that contains `first_day`.
    pub offset: i64,
    /// The day the plan was created (its first period has the offset subtracted).
    pub first_day: u64,
}

/// One API stage a plan covers.
#[derive(Debug)]
pub struct PlanStage {
    pub api_id: Box<str>,
    pub stage: Box<str>,
    /// `/{resourcePath}/{METHOD}` → index into [`Plan::method_limits`].
    pub methods: Box<[(Box<str>, usize)]>,
}

/// One key's state in one plan. Shared by every snapshot that has the key in the plan.
#[derive(Debug)]
pub struct KeyPlan {
    pub plan_id: Box<str>,
    pub key_id: Box<str>,
    /// The plan's per-key throttle, if it has one.
    pub bucket: Option<Bucket>,
    /// One per [`Plan::method_limits`].
    pub method_buckets: Box<[Bucket]>,
    pub quota: QuotaCounter,
    pub days: DayCounters,
}

/// Keys and plans: what the data plane needs to check an API key.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub keys: KeyTable,
    pub plans: HashMap<Box<str>, Arc<Plan>, foldhash::fast::FixedState>,
}

// === impl KeyTable ===

impl Default for KeyTable {
    fn default() -> KeyTable {
        KeyTable::new()
    }
}

impl KeyTable {
    pub fn new() -> KeyTable {
        KeyTable {
            hasher: RandomState::new(),
            shards: (0..API_KEY_SHARDS)
                .map(|_| Arc::new(Shard::default()))
                .collect(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn hash(&self, value: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(value);
        h.finish()
    }

    /// The key whose value is `value`. One hash, one probe, one constant-time comparison.
    pub fn get(&self, value: &[u8]) -> Option<&Arc<KeyEntry>> {
        let h = self.hash(value);
        let shard = &self.shards[(h >> 56) as usize % API_KEY_SHARDS];
        if let Some(e) = shard.map.get(&h) {
            if constant_time_eq(&e.value, value) {
                return Some(e);
            }
        }
        if shard.overflow.is_empty() {
            return None;
        }
        shard
            .overflow
            .iter()
            .find(|e| constant_time_eq(&e.value, value))
    }

    /// This table with `entry` added, or replacing the key with the same value. Copies one shard.
    pub fn with(&self, entry: Arc<KeyEntry>) -> KeyTable {
        let mut next = self.clone();
        let h = self.hash(&entry.value);
        let i = (h >> 56) as usize % API_KEY_SHARDS;
        let mut shard = Shard::clone(&self.shards[i]);
        let mut added = true;
        match shard.map.get(&h) {
            Some(e) if e.value != entry.value => {
                if let Some(o) = shard.overflow.iter_mut().find(|o| o.value == entry.value) {
                    *o = entry;
                    added = false;
                } else {
                    shard.overflow.push(entry);
                }
            }
            Some(_) => {
                shard.map.insert(h, entry);
                added = false;
            }
            None => {
                shard.map.insert(h, entry);
            }
        }
        next.set_shard(i, shard);
        next.len += usize::from(added);
        next
    }

    /// This table with every entry of `entries` added or replacing the key with the same value.
    /// Copies each shard it touches once, however many entries land in it (a plan change that
    /// rebuilds a million keys copies the table once, not once per key).
    pub fn with_many(&self, entries: impl IntoIterator<Item = Arc<KeyEntry>>) -> KeyTable {
        let mut touched: HashMap<usize, Shard> = HashMap::new();
        let mut len = self.len;
        for entry in entries {
            let h = self.hash(&entry.value);
            let i = (h >> 56) as usize % API_KEY_SHARDS;
            let shard = touched
                .entry(i)
                .or_insert_with(|| Shard::clone(&self.shards[i]));
            match shard.map.get(&h) {
                Some(e) if e.value != entry.value => {
                    if let Some(o) = shard.overflow.iter_mut().find(|o| o.value == entry.value) {
                        *o = entry;
                    } else {
                        shard.overflow.push(entry);
                        len += 1;
                    }
                }
                Some(_) => {
                    shard.map.insert(h, entry);
                }
                None => {
                    shard.map.insert(h, entry);
                    len += 1;
                }
            }
        }
        if touched.is_empty() {
            return self.clone();
        }
        let mut shards: Vec<Arc<Shard>> = self.shards.to_vec();
        for (i, shard) in touched {
            shards[i] = Arc::new(shard);
        }
        KeyTable {
            hasher: self.hasher.clone(),
            shards: shards.into(),
            len,
        }
    }

    /// This table without the key whose value is `value`. Copies one shard.
    pub fn without(&self, value: &[u8]) -> KeyTable {
        let h = self.hash(value);
        let i = (h >> 56) as usize % API_KEY_SHARDS;
        let mut shard = Shard::clone(&self.shards[i]);
        let before = shard.map.len() + shard.overflow.len();
        if shard.map.get(&h).is_some_and(|e| &*e.value == value) {
            shard.map.remove(&h);
            // Promote an overflow key with the same hash, if any.
            if let Some(pos) = shard.overflow.iter().position(|o| self.hash(&o.value) == h) {
                let o = shard.overflow.remove(pos);
                shard.map.insert(h, o);
            }
        } else {
            shard.overflow.retain(|o| &*o.value != value);
        }
        let removed = before - (shard.map.len() + shard.overflow.len());
        let mut next = self.clone();
        next.set_shard(i, shard);
        next.len -= removed;
        next
    }

    /// A table of `entries` (a whole load: each shard is built once).
    pub fn build(entries: impl IntoIterator<Item = Arc<KeyEntry>>) -> KeyTable {
        let empty = KeyTable::new();
        let mut shards: Vec<Shard> = (0..API_KEY_SHARDS).map(|_| Shard::default()).collect();
        let mut len = 0;
        for e in entries {
            let h = empty.hash(&e.value);
            let shard = &mut shards[(h >> 56) as usize % API_KEY_SHARDS];
            match shard.map.get(&h) {
                Some(x) if x.value == e.value => {
                    shard.map.insert(h, e);
                }
                Some(_) => {
                    shard.overflow.retain(|o| o.value != e.value);
                    shard.overflow.push(e);
                    len += 1;
                }
                None => {
                    shard.map.insert(h, e);
                    len += 1;
                }
            }
        }
        KeyTable {
            hasher: empty.hasher,
            shards: shards.into_iter().map(Arc::new).collect(),
            len,
        }
    }

    /// How many shards this table shares (the same allocation) with `other`: a change to one
    /// key shares all but one. For tests of incremental publication.
    pub fn shared_shards(&self, other: &KeyTable) -> usize {
        self.shards
            .iter()
            .zip(other.shards.iter())
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count()
    }

    fn set_shard(&mut self, i: usize, shard: Shard) {
        let mut shards: Vec<Arc<Shard>> = self.shards.to_vec();
        shards[i] = Arc::new(shard);
        self.shards = shards.into();
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// The hash map's hasher for keys that already are uniform 64-bit hashes.
#[derive(Debug, Default, Clone, Copy)]
struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
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

// === impl KeyEntry ===

impl KeyEntry {
    pub fn new(id: &str, value: &str, enabled: bool, plans: Vec<Arc<KeyPlan>>) -> KeyEntry {
        KeyEntry {
            id: id.into(),
            value: value.as_bytes().into(),
            enabled,
            plans: plans.into(),
        }
    }

    pub fn value(&self) -> &[u8] {
        &self.value
    }
}

// === impl Plan ===

impl Plan {
    /// Compiles a usage plan created on day `first_day`. Limits are validated by the control
    /// plane; a negative rate or burst here admits nothing.
    pub fn compile(spec: &UsagePlanSpec, first_day: u64) -> Plan {
        let mut method_limits = Vec::new();
        let stages = spec
            .api_stages
            .iter()
            .map(|s| PlanStage {
                api_id: s.api_id.as_str().into(),
                stage: s.stage.as_str().into(),
                methods: s
                    .throttle
                    .iter()
                    .filter_map(|(k, t)| {
                        limits_of(t.rate_limit, t.burst_limit).map(|l| {
                            method_limits.push(l);
                            (k.as_str().into(), method_limits.len() - 1)
                        })
                    })
                    .collect(),
            })
            .collect();
        Plan {
            id: spec.id.as_str().into(),
            throttle: spec
                .throttle
                .and_then(|t| limits_of(t.rate_limit, t.burst_limit)),
            quota: spec.quota.map(|q| Quota {
                limit: q.limit,
                period: q.period,
                offset: q.offset,
                first_day,
            }),
            stages,
            method_limits: method_limits.into(),
        }
    }

    /// The stage of this plan for `(api_id, stage)`.
    pub fn stage(&self, api_id: &str, stage: &str) -> Option<&PlanStage> {
        self.stages
            .iter()
            .find(|s| &*s.api_id == api_id && &*s.stage == stage)
    }

    /// A fresh state for key `key_id` in this plan, keeping `previous`'s counters if given.
    pub fn key_state(&self, key_id: &str, previous: Option<&KeyPlan>) -> KeyPlan {
        let state = KeyPlan {
            plan_id: self.id.clone(),
            key_id: key_id.into(),
            bucket: self
                .throttle
                .map(|l| Bucket::new(l).shared_as(&format!("plan/{}/{key_id}", self.id))),
            method_buckets: self
                .method_limits
                .iter()
                .enumerate()
                .map(|(i, l)| Bucket::new(*l).shared_as(&format!("plan/{}/{key_id}/m{i}", self.id)))
                .collect(),
            quota: QuotaCounter::default(),
            days: DayCounters::default(),
        };
        if let Some(p) = previous {
            let start = p.quota.period();
            state.quota.set(start, p.quota.used(start));
            for (day, n) in p.days.both() {
                if n > 0 {
                    state.days.set(day, n);
                }
            }
        }
        state
    }
}

impl Quota {
    /// The limit of the period that starts on `start`.
    pub fn limit_for(&self, start: u64) -> i64 {
        if start == quota::period_start_day(self.first_day, self.period) {
            self.limit - self.offset
        } else {
            self.limit
        }
    }
}

/// Limits from AWS's optional `rateLimit`/`burstLimit`; `None` when neither is set.
pub fn limits_of(rate: Option<f64>, burst: Option<i64>) -> Option<Limits> {
    if rate.is_none() && burst.is_none() {
        return None;
    }
    Some(Limits {
        rate: rate.unwrap_or(0.0).max(0.0),
        burst: burst.unwrap_or(0).max(0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, value: &str) -> Arc<KeyEntry> {
        Arc::new(KeyEntry::new(id, value, true, Vec::new()))
    }

    #[test]
    fn add_find_remove() {
        let t = KeyTable::new();
        let t = t.with(entry("a", "value-aaaaaaaaaaaaaaaaaaaa"));
        let t2 = t.with(entry("b", "value-bbbbbbbbbbbbbbbbbbbb"));
        assert_eq!(t.len(), 1);
        assert_eq!(t2.len(), 2);
        assert_eq!(&*t2.get(b"value-aaaaaaaaaaaaaaaaaaaa").unwrap().id, "a");
        assert!(t.get(b"value-bbbbbbbbbbbbbbbbbbbb").is_none());
        assert!(t2.get(b"value-aaaaaaaaaaaaaaaaaaa").is_none());
        let t3 = t2.without(b"value-aaaaaaaaaaaaaaaaaaaa");
        assert_eq!(t3.len(), 1);
        assert!(t3.get(b"value-aaaaaaaaaaaaaaaaaaaa").is_none());
        // Replacing a key with the same value does not grow the table.
        let t4 = t3.with(entry("b2", "value-bbbbbbbbbbbbbbbbbbbb"));
        assert_eq!(t4.len(), 1);
        assert_eq!(&*t4.get(b"value-bbbbbbbbbbbbbbbbbbbb").unwrap().id, "b2");
    }

    #[test]
    fn with_many_matches_with() {
        let base = KeyTable::new().with(entry("a", "value-aaaaaaaaaaaaaaaaaaaa"));
        let many: Vec<_> = (0..3000)
            .map(|i| entry(&format!("k{i}"), &format!("value-{i:030}")))
            .chain([entry("a2", "value-aaaaaaaaaaaaaaaaaaaa")])
            .collect();
        let t = base.with_many(many.iter().cloned());
        let mut one_by_one = base.clone();
        for e in &many {
            one_by_one = one_by_one.with(Arc::clone(e));
        }
        assert_eq!(t.len(), 3001);
        assert_eq!(one_by_one.len(), 3001);
        assert_eq!(&*t.get(b"value-aaaaaaaaaaaaaaaaaaaa").unwrap().id, "a2");
        for i in (0..3000).step_by(101) {
            let v = format!("value-{i:030}");
            assert_eq!(
                t.get(v.as_bytes()).unwrap().id,
                one_by_one.get(v.as_bytes()).unwrap().id
            );
        }
    }

    #[test]
    fn build_matches_incremental() {
        let entries: Vec<_> = (0..5000)
            .map(|i| entry(&format!("k{i}"), &format!("value-{i:030}")))
            .collect();
        let t = KeyTable::build(entries.iter().cloned());
        assert_eq!(t.len(), 5000);
        for i in (0..5000).step_by(97) {
            assert_eq!(
                &*t.get(format!("value-{i:030}").as_bytes()).unwrap().id,
                format!("k{i}")
            );
        }
        assert!(t.get(b"value-nope").is_none());
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
