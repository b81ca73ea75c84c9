//! The admin side's API keys, usage plans and memberships, and what of them is published.
//!
//! # Architecture
//! 1. [`UsageState`] holds the records by id, the memberships both ways, each plan compiled
//!    ([`Plan`]) and the last published [`Usage`].
//! 2. A key's [`KeyEntry`] is built from its record and its states in the [`Counters`]
//!    registry; a change to one key publishes `usage.keys.with(entry)` (one shard of 256 is
//!    copied), a change to a plan republishes the entries of that plan's keys only.
//! 3. [`UsageState::load`] rebuilds everything from the store's documents under
//!    [`USAGE_SCOPE`] and restores each state's counters from the usage rows.
//!
//! Invariant: every membership `(plan, key)` has exactly one state in the registry, and the
//! published entry of a key lists exactly the states of its memberships.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use portico_shared::clock;
use portico_shared::keys::{KeyEntry, Plan, Usage};
use portico_shared::quota::{self, day_of};

use super::flush::Counters;
use super::records::{ApiKeyRecord, StoredPlan, StoredPlanKey};
use crate::error::ApiError;
use crate::publish::parse_doc;
use crate::store::{Kind, Row, Store, UsageKind, USAGE_SCOPE};

/// API keys, usage plans and their memberships.
#[derive(Debug)]
pub(crate) struct UsageState {
    /// By key id, in id order (stable pages).
    pub(crate) keys: BTreeMap<String, ApiKeyRecord>,
    /// Key value → key id: values are unique.
    pub(crate) by_value: HashMap<String, String>,
    /// By plan id.
    pub(crate) plans: BTreeMap<String, PlanState>,
    /// Key id → the plans it is in.
    pub(crate) key_plans: BTreeMap<String, BTreeSet<String>>,
    /// Every `(plan, key)` state, shared with the flush.
    pub(crate) counters: Counters,
    /// What the data plane has.
    pub(crate) published: Arc<Usage>,
}

/// One usage plan.
#[derive(Debug, Clone)]
pub(crate) struct PlanState {
    pub(crate) stored: StoredPlan,
    pub(crate) compiled: Arc<Plan>,
    /// The keys in the plan.
    pub(crate) keys: BTreeSet<String>,
}

// === impl UsageState ===

impl UsageState {
    /// Rebuilds the state from the documents under [`USAGE_SCOPE`] and restores the counters
    /// of the current period and the last two days. Blocking (reads the store).
    pub(crate) fn load(rows: Vec<Row>, store: Arc<dyn Store>) -> Result<UsageState, ApiError> {
        let mut state = UsageState::parse(rows, Counters::new(Arc::clone(&store)))?;
        state.restore(&*store, false)?;
        state.publish_all();
        Ok(state)
    }

    /// Brings the records up to date with `rows` (every document under [`USAGE_SCOPE`], read
    /// after another node changed one), keeping this node's live counters: a membership that
    /// still exists keeps its state (carried into its plan's new compiled form when the plan
    /// changed, so counts survive and only the buckets restart), a new one is restored from the
    /// store, a gone one is dropped. Blocking (reads the store).
    pub(crate) fn refresh(&mut self, rows: Vec<Row>) -> Result<(), ApiError> {
        let store = Arc::clone(self.counters.store());
        let mut next = UsageState::parse(rows, self.counters.clone())?;
        {
            let mut registry = next.counters.lock();
            let held: Vec<(String, String)> = registry.states.keys().cloned().collect();
            for k in held {
                let Some(plan) = next.plans.get(&k.0).filter(|p| p.keys.contains(&k.1)) else {
                    registry.remove(&k);
                    continue;
                };
                let unchanged = self
                    .plans
                    .get(&k.0)
                    .is_some_and(|old| old.stored == plan.stored);
                if !unchanged {
                    let carried = plan
                        .compiled
                        .key_state(&k.1, registry.states.get(&k).map(|s| &**s));
                    registry.insert(k, Arc::new(carried));
                }
            }
        }
        next.restore(&*store, true)?;
        next.publish_all();
        *self = next;
        Ok(())
    }

    /// The records of `rows` (documents under [`USAGE_SCOPE`]), with no membership state yet.
    fn parse(rows: Vec<Row>, counters: Counters) -> Result<UsageState, ApiError> {
        let mut state = UsageState {
            keys: BTreeMap::new(),
            by_value: HashMap::new(),
            plans: BTreeMap::new(),
            key_plans: BTreeMap::new(),
            counters,
            published: Arc::default(),
        };
        let mut members = Vec::new();
        for row in rows {
            debug_assert_eq!(row.api_id, USAGE_SCOPE);
            match row.kind {
                Kind::ApiKey => {
                    let k: ApiKeyRecord = parse_doc(&row)?;
                    state.by_value.insert(k.value().to_string(), k.id.clone());
                    state.keys.insert(k.id.clone(), k);
                }
                Kind::UsagePlan => {
                    let p: StoredPlan = parse_doc(&row)?;
                    let compiled = compile(&p);
                    state.plans.insert(
                        p.record.id.clone(),
                        PlanState {
                            stored: p,
                            compiled,
                            keys: BTreeSet::new(),
                        },
                    );
                }
                Kind::UsagePlanKey => members.push(parse_doc::<StoredPlanKey>(&row)?),
                other => tracing::warn!(kind = other.as_str(), id = %row.id,
                    "unexpected document under the usage scope; ignored"),
            }
        }
        for m in members {
            match (
                state.plans.get_mut(&m.usage_plan_id),
                state.keys.contains_key(&m.key_id),
            ) {
                (Some(plan), true) => {
                    plan.keys.insert(m.key_id.clone());
                    state
                        .key_plans
                        .entry(m.key_id)
                        .or_default()
                        .insert(m.usage_plan_id);
                }
                _ => tracing::warn!(plan = %m.usage_plan_id, key = %m.key_id,
                    "stored usage plan key names a missing plan or key; ignored"),
            }
        }
        Ok(state)
    }

    /// Builds what the data plane reads from the records and the membership states.
    fn publish_all(&mut self) {
        let entries: Vec<Arc<KeyEntry>> = self.keys.keys().map(|id| self.entry(id)).collect();
        self.published = Arc::new(Usage {
            keys: portico_shared::keys::KeyTable::build(entries),
            plans: self
                .plans
                .iter()
                .map(|(id, p)| (id.as_str().into(), Arc::clone(&p.compiled)))
                .collect(),
        });
    }

    /// Creates each membership's state (only those without one when `only_missing`) with the
    /// stored counts of today's period and days.
    fn restore(&mut self, store: &dyn Store, only_missing: bool) -> Result<(), ApiError> {
        let today = clock::today();
        let yesterday = today.saturating_sub(1);
        let mut registry = self.counters.lock();
        for (plan_id, plan) in &self.plans {
            if plan.keys.is_empty() {
                continue;
            }
            let start = plan
                .compiled
                .quota
                .map(|q| quota::period_start_day(today, q.period));
            let from = start.map_or(yesterday, |s| s.min(yesterday));
            let rows = store
                .load_usage(plan_id, from, today)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            for key_id in &plan.keys {
                if only_missing
                    && registry
                        .states
                        .contains_key(&(plan_id.clone(), key_id.clone()))
                {
                    continue;
                }
                let state = plan.compiled.key_state(key_id, None);
                for r in rows.iter().filter(|r| &r.key_id == key_id) {
                    match r.kind {
                        UsageKind::Period if Some(r.day) == start => {
                            state.quota.set(r.day, r.used);
                        }
                        UsageKind::Day if r.day == today || r.day == yesterday => {
                            state.days.set(r.day, r.used.max(0) as u64);
                        }
                        _ => continue,
                    }
                    registry.mark_written(r);
                }
                registry.insert((plan_id.clone(), key_id.clone()), Arc::new(state));
            }
        }
        Ok(())
    }

    /// The data plane's entry for key `key_id`: its value, whether it is enabled and its state
    /// in each of its plans.
    pub(crate) fn entry(&self, key_id: &str) -> Arc<KeyEntry> {
        let registry = self.counters.lock();
        let plans = self
            .key_plans
            .get(key_id)
            .into_iter()
            .flatten()
            .filter_map(|p| registry.states.get(&(p.clone(), key_id.to_string())))
            .cloned()
            .collect();
        let (value, enabled) = self
            .keys
            .get(key_id)
            .map_or(("", false), |k| (k.value(), k.enabled));
        Arc::new(KeyEntry::new(key_id, value, enabled, plans))
    }

    /// The published usage with the entries of `key_ids` rebuilt (each touched shard is
    /// copied once).
    pub(crate) fn with_entries<'a>(
        &self,
        base: Usage,
        key_ids: impl IntoIterator<Item = &'a String>,
    ) -> Usage {
        let mut next = base;
        next.keys = next
            .keys
            .with_many(key_ids.into_iter().map(|id| self.entry(id)));
        next
    }

    /// The plan `plan_id`, or 404.
    pub(crate) fn plan(&self, plan_id: &str) -> Result<&PlanState, ApiError> {
        self.plans
            .get(plan_id)
            .ok_or_else(|| not_found_plan(plan_id))
    }

    /// The key `key_id`, or 404.
    pub(crate) fn key(&self, key_id: &str) -> Result<&ApiKeyRecord, ApiError> {
        self.keys.get(key_id).ok_or_else(|| not_found_key(key_id))
    }
}

/// A plan compiled for the data plane, with its creation day.
pub(crate) fn compile(p: &StoredPlan) -> Arc<Plan> {
    Arc::new(Plan::compile(&p.record.spec(), day_of(p.created_date)))
}

/// AWS's 404 names no id.
pub(crate) fn not_found_plan(_plan_id: &str) -> ApiError {
    ApiError::NotFound("Invalid Usage Plan ID specified".into())
}

/// AWS's 404 names no id.
pub(crate) fn not_found_key(_key_id: &str) -> ApiError {
    ApiError::NotFound("Invalid API Key identifier specified".into())
}
