//! The operations on API keys, usage plans, usage plan keys and usage, as catalog methods.
//!
//! # Architecture
//! Each change runs with the catalog held (one at a time): validate → build the new records →
//! commit them to the store (durable when it returns) → update [`UsageState`] → publish
//! `current.with_usage(...)`. A key change publishes that key's entry only
//! (`KeyTable::with`/`without`, one shard copied); a plan change republishes the entries of
//! that plan's keys, with new states that keep the old ones' counters
//! (`Plan::key_state(key, previous)`). No API is ever recompiled.
//!
//! Invariants: a failed validation or commit changes neither memory, the store nor the cell;
//! a key is in at most one plan per API stage; a change that deletes a membership removes its
//! state and its usage rows with the registry held (see `flush.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use portico_shared::clock;
use portico_shared::keys::{Quota, Usage};
use portico_shared::limits::{
    API_KEY_VALUE_GENERATED_CHARS, DESCRIPTION_MAX_CHARS, USAGE_ID_CHARS, USAGE_NAME_MAX_CHARS,
    USAGE_RANGE_MAX_DAYS,
};
use portico_shared::model::rest::{ApiStage, ThrottleSettings};
use portico_shared::quota::{self, format_day, parse_day};

use super::records::{
    check_key_value, check_tags, parse_period, ApiKeyInput, ApiKeyRecord, ApiStageInput,
    QuotaInput, StoredPlan, StoredPlanKey, UsagePlanInput, UsagePlanKeyInput, UsagePlanKeyRecord,
    UsagePlanRecord, UsageReport,
};
use super::state::{compile, not_found_key, PlanState, UsageState};
use crate::error::ApiError;
use crate::ids;
use crate::page::Cursor;
use crate::patch::{unescape, Op, PatchOp};
use crate::publish::{deletion, row, Publisher};
use crate::records::check_len;
use crate::store::{Change, Kind, Row, UsageKind, UsageRow, USAGE_SCOPE};

/// What `GetUsage` needs from the catalog, taken with it held; the store is read after.
#[derive(Debug)]
pub(crate) struct UsageQuery {
    pub(crate) plan_id: String,
    pub(crate) quota: Option<Quota>,
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// The keys of this page, with their live states.
    pub(crate) keys: Vec<(String, Option<Arc<portico_shared::keys::KeyPlan>>)>,
    pub(crate) position: Option<String>,
}

/// What usage plans read of the REST APIs: a read-only view the catalog lends, so usage needs
/// nothing else of the API state.
pub(crate) trait RestStages {
    /// `None` when there is no REST API `api_id`; else whether it has the stage `stage`.
    fn rest_has_stage(&self, api_id: &str, stage: &str) -> Option<bool>;
}

/// A usage operation's reach: the usage state, the publisher it commits and publishes
/// through, and the REST API stages that plans name (read only).
pub(crate) struct UsageOps<'a, A: RestStages> {
    pub(crate) usage: &'a mut UsageState,
    pub(crate) publisher: &'a mut Publisher,
    pub(crate) apis: A,
}

/// Checks that a usage plan may name the REST API stage `api_id`/`stage`.
pub(crate) fn check_api_stage(
    apis: &impl RestStages,
    api_id: &str,
    stage: &str,
) -> Result<(), ApiError> {
    // Usage plans cover REST API stages only (HTTP APIs have no API keys).
    match apis.rest_has_stage(api_id, stage) {
        None => Err(crate::error::not_found_api(api_id)),
        Some(false) => Err(ApiError::NotFound(format!(
            "Invalid stage identifier specified {api_id}:{stage}"
        ))),
        Some(true) => Ok(()),
    }
}

// === API keys ===

impl<A: RestStages> UsageOps<'_, A> {
    pub(crate) fn create_api_key(
        &mut self,
        mut input: ApiKeyInput,
    ) -> Result<ApiKeyRecord, ApiError> {
        let mut problems = Vec::new();
        check_len(
            &mut problems,
            "name",
            input.name.as_deref(),
            0,
            USAGE_NAME_MAX_CHARS,
        );
        check_len(
            &mut problems,
            "description",
            input.description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        check_len(
            &mut problems,
            "customerId",
            input.customer_id.as_deref(),
            0,
            USAGE_NAME_MAX_CHARS,
        );
        check_tags(&mut problems, &input.tags);
        // An empty value asks for a generated one, as on AWS (Terraform sends `value: ""`).
        input.value = input.value.filter(|v| !v.is_empty());
        if let Some(v) = &input.value {
            check_key_value(&mut problems, v);
        }
        let mut stage_keys = Vec::new();
        for sk in &input.stage_keys {
            match (&sk.rest_api_id, &sk.stage_name) {
                (Some(a), Some(s)) => match check_api_stage(&self.apis, a, s) {
                    Ok(()) => stage_keys.push(format!("{a}/{s}")),
                    Err(e) => problems.push(e.message().to_string()),
                },
                _ => problems.push("stageKeys need restApiId and stageName".into()),
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        let _ = input.generate_distinct_id;
        let value = match input.value {
            Some(v) => v,
            None => generate_key_value()?,
        };
        if self.usage.by_value.contains_key(&value) {
            return Err(ApiError::Conflict("API Key already exists".into()));
        }
        let now = clock::unix_secs();
        let id = loop {
            let id = ids::generate(USAGE_ID_CHARS);
            if !self.usage.keys.contains_key(&id) {
                break id;
            }
        };
        let record = ApiKeyRecord {
            id: id.clone(),
            value: Some(value.clone()),
            name: input.name,
            customer_id: input.customer_id,
            description: input.description,
            enabled: input.enabled.unwrap_or(false),
            created_date: now,
            last_updated_date: now,
            stage_keys,
            tags: input.tags,
        };
        self.commit_usage(&[Change::Put(doc(Kind::ApiKey, &id, &record))])?;
        self.usage.by_value.insert(value, id.clone());
        self.usage.keys.insert(id.clone(), record.clone());
        self.publish_entries([&id]);
        Ok(record)
    }

    /// `ImportApiKeys` (`format=csv`): one key per row under a header naming `Name` and `Key`
    /// (any case, any order; `Description`, `Enabled` (default true) and `UsagePlanIds` are
    /// optional, other columns ignored). A row whose key value exists updates that key, as AWS.
    /// A row that cannot be imported is a warning; with `fail_on_warnings` any warning fails
    /// the whole import before anything changes.
    pub(crate) fn import_api_keys(
        &mut self,
        csv: &str,
        fail_on_warnings: bool,
    ) -> Result<ImportedKeys, ApiError> {
        let mut rows = parse_csv(csv).into_iter();
        let header: Vec<String> = rows
            .next()
            .unwrap_or_default()
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let column = |name: &str| header.iter().position(|h| h == name);
        let (Some(name_at), Some(key_at)) = (column("name"), column("key")) else {
            return Err(ApiError::BadRequest(
                "Invalid API key file: the header must name the Name and Key columns".into(),
            ));
        };
        let (description_at, enabled_at, plans_at) = (
            column("description"),
            column("enabled"),
            column("usageplanids"),
        );
        let mut warnings = Vec::new();
        let mut accepted = Vec::new();
        for (i, row) in rows.enumerate() {
            if row.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let line = i + 2;
            let cell = |at: Option<usize>| at.and_then(|a| row.get(a)).map(|c| c.trim());
            let value = cell(Some(key_at)).unwrap_or_default().to_string();
            let name = cell(Some(name_at)).unwrap_or_default().to_string();
            let mut problems = Vec::new();
            check_key_value(&mut problems, &value);
            check_len(&mut problems, "Name", Some(&name), 0, USAGE_NAME_MAX_CHARS);
            let description = cell(description_at).unwrap_or_default().to_string();
            check_len(
                &mut problems,
                "Description",
                Some(&description),
                0,
                DESCRIPTION_MAX_CHARS,
            );
            let enabled = match cell(enabled_at) {
                None | Some("") => true,
                Some(v) if v.eq_ignore_ascii_case("true") => true,
                Some(v) if v.eq_ignore_ascii_case("false") => false,
                Some(v) => {
                    problems.push(format!("Invalid Enabled value '{v}'"));
                    true
                }
            };
            let plans: Vec<String> = cell(plans_at)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            for p in &plans {
                if self.usage.plan(p).is_err() {
                    problems.push(format!("Invalid Usage Plan ID specified: {p}"));
                }
            }
            if problems.is_empty() {
                accepted.push((value, name, description, enabled, plans));
            } else {
                warnings.push(format!("Line {line}: {}", problems.join("; ")));
            }
        }
        if fail_on_warnings && !warnings.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "Some API keys could not be imported: {}",
                warnings.join(" | ")
            )));
        }
        let mut ids = Vec::new();
        for (value, name, description, enabled, plans) in accepted {
            let id = match self.usage.by_value.get(&value).cloned() {
                Some(id) => {
                    let replace = |path: &str, v: String| PatchOp {
                        op: Op::Replace,
                        path: path.into(),
                        value: Some(v),
                        from: None,
                    };
                    let ops = vec![
                        replace("/name", name),
                        replace("/description", description),
                        replace("/enabled", enabled.to_string()),
                    ];
                    self.update_api_key(&id, ops)?;
                    id
                }
                None => {
                    let input = ApiKeyInput {
                        name: Some(name),
                        description: Some(description),
                        enabled: Some(enabled),
                        value: Some(value),
                        ..ApiKeyInput::default()
                    };
                    self.create_api_key(input)?.id
                }
            };
            for plan in plans {
                if self.usage.plan(&plan)?.keys.contains(&id) {
                    continue;
                }
                let input = UsagePlanKeyInput {
                    key_id: Some(id.clone()),
                    key_type: Some("API_KEY".into()),
                };
                if let Err(e) = self.create_usage_plan_key(&plan, input) {
                    warnings.push(format!("{id}: {}", e.message()));
                }
            }
            ids.push(id);
        }
        Ok(ImportedKeys { ids, warnings })
    }

    pub(crate) fn update_api_key(
        &mut self,
        key_id: &str,
        ops: Vec<PatchOp>,
    ) -> Result<ApiKeyRecord, ApiError> {
        let before = self.usage.key(key_id)?;
        let mut key = before.clone();
        for op in &ops {
            match (op.op, op.path.as_str()) {
                (Op::Replace, "/name") => key.name = Some(op.value()?.to_string()),
                (Op::Replace, "/description") => key.description = Some(op.value()?.to_string()),
                (Op::Replace, "/customerId") => key.customer_id = Some(op.value()?.to_string()),
                (Op::Replace, "/enabled") => key.enabled = parse_bool(op.value()?, "enabled")?,
                (Op::Add, "/stages") => {
                    let v = op.value()?;
                    let (a, s) = v.split_once('/').ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "Invalid stage key '{v}': expected restApiId/stageName"
                        ))
                    })?;
                    check_api_stage(&self.apis, a, s)?;
                    if !key.stage_keys.iter().any(|k| k == v) {
                        key.stage_keys.push(v.to_string());
                    }
                }
                (Op::Remove, "/stages") => {
                    let v = op.value()?;
                    key.stage_keys.retain(|k| k != v);
                }
                _ => return Err(op.invalid_path()),
            }
        }
        let mut problems = Vec::new();
        check_len(
            &mut problems,
            "name",
            key.name.as_deref(),
            0,
            USAGE_NAME_MAX_CHARS,
        );
        check_len(
            &mut problems,
            "description",
            key.description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        check_len(
            &mut problems,
            "customerId",
            key.customer_id.as_deref(),
            0,
            USAGE_NAME_MAX_CHARS,
        );
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        let served = key.enabled != before.enabled;
        key.last_updated_date = clock::unix_secs();
        self.commit_usage(&[Change::Put(doc(Kind::ApiKey, key_id, &key))])?;
        self.usage.keys.insert(key_id.to_string(), key.clone());
        if served {
            self.publish_entries([&key.id]);
        }
        Ok(key)
    }

    pub(crate) fn delete_api_key(&mut self, key_id: &str) -> Result<(), ApiError> {
        let value = self.usage.key(key_id)?.value().to_string();
        let plans: Vec<String> = self
            .usage
            .key_plans
            .get(key_id)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let mut changes = vec![delete(Kind::ApiKey, key_id)];
        for p in &plans {
            changes.push(delete(Kind::UsagePlanKey, &plan_key_id(p, key_id)));
            changes.push(Change::ForgetUsage {
                plan_id: p.clone(),
                key_id: Some(key_id.to_string()),
            });
        }
        {
            let counters = self.usage.counters.clone();
            let mut registry = counters.lock();
            self.commit_usage(&changes)?;
            for p in &plans {
                registry.remove(&(p.clone(), key_id.to_string()));
            }
        }
        for p in &plans {
            if let Some(plan) = self.usage.plans.get_mut(p) {
                plan.keys.remove(key_id);
            }
        }
        self.usage.key_plans.remove(key_id);
        self.usage.keys.remove(key_id);
        self.usage.by_value.remove(&value);
        let next = Usage {
            keys: self.usage.published.keys.without(value.as_bytes()),
            plans: self.usage.published.plans.clone(),
        };
        self.publish_usage(next);
        Ok(())
    }
}

// === usage plans ===

impl<A: RestStages> UsageOps<'_, A> {
    pub(crate) fn create_usage_plan(
        &mut self,
        input: UsagePlanInput,
    ) -> Result<UsagePlanRecord, ApiError> {
        let mut problems = Vec::new();
        let api_stages = self.api_stages(input.api_stages, &mut problems);
        let quota = match input.quota.as_ref().map(QuotaInput::to_settings) {
            Some(Err(e)) => {
                problems.push(e.message().to_string());
                None
            }
            Some(Ok(q)) => Some(q),
            None => None,
        };
        if input.name.is_none() {
            problems.push("name is required".into());
        }
        check_tags(&mut problems, &input.tags);
        let id = loop {
            let id = ids::generate(USAGE_ID_CHARS);
            if !self.usage.plans.contains_key(&id) {
                break id;
            }
        };
        let record = UsagePlanRecord {
            id: id.clone(),
            name: input.name.unwrap_or_default(),
            description: input.description,
            api_stages,
            throttle: input.throttle,
            quota,
            product_code: input.product_code,
            tags: input.tags,
        };
        if let Err(e) = record.check() {
            problems.push(e.message().to_string());
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        let stored = StoredPlan {
            record: record.clone(),
            created_date: clock::unix_secs(),
        };
        self.commit_usage(&[Change::Put(doc(Kind::UsagePlan, &id, &stored))])?;
        let compiled = compile(&stored);
        self.usage.plans.insert(
            id.clone(),
            PlanState {
                stored,
                compiled: Arc::clone(&compiled),
                keys: BTreeSet::new(),
            },
        );
        let mut next = Usage::clone(&self.usage.published);
        next.plans.insert(id.as_str().into(), compiled);
        self.publish_usage(next);
        Ok(record)
    }

    pub(crate) fn update_usage_plan(
        &mut self,
        plan_id: &str,
        ops: Vec<PatchOp>,
    ) -> Result<UsagePlanRecord, ApiError> {
        let plan = self.usage.plan(plan_id)?;
        let before = plan.stored.record.clone();
        let mut record = before.clone();
        let mut quota = record.quota.as_ref().map(QuotaInput::from_settings);
        for op in &ops {
            self.patch_plan(&mut record, &mut quota, op)?;
        }
        record.quota = quota.as_ref().map(QuotaInput::to_settings).transpose()?;
        record.check()?;
        for s in &record.api_stages {
            if !before
                .api_stages
                .iter()
                .any(|b| b.api_id == s.api_id && b.stage == s.stage)
            {
                for key_id in &plan.keys {
                    self.check_one_plan_per_stage(key_id, plan_id, std::slice::from_ref(s))?;
                }
            }
        }
        let stored = StoredPlan {
            record: record.clone(),
            created_date: plan.stored.created_date,
        };
        let served = record.spec() != before.spec();
        self.commit_usage(&[Change::Put(doc(Kind::UsagePlan, plan_id, &stored))])?;
        let compiled = if served {
            compile(&stored)
        } else {
            Arc::clone(&plan.compiled)
        };
        let keys = plan.keys.clone();
        if served {
            // New states for the plan's keys, keeping their counters.
            let counters = self.usage.counters.clone();
            let mut registry = counters.lock();
            for key_id in &keys {
                let k = (plan_id.to_string(), key_id.clone());
                let previous = registry.states.get(&k).cloned();
                let state = compiled.key_state(key_id, previous.as_deref());
                registry.insert(k, Arc::new(state));
            }
        }
        if let Some(p) = self.usage.plans.get_mut(plan_id) {
            p.stored = stored;
            p.compiled = Arc::clone(&compiled);
        }
        if served {
            let mut base = Usage::clone(&self.usage.published);
            base.plans.insert(plan_id.into(), compiled);
            let next = self.usage.with_entries(base, &keys);
            self.publish_usage(next);
        }
        Ok(record)
    }

    pub(crate) fn delete_usage_plan(&mut self, plan_id: &str) -> Result<(), ApiError> {
        let keys = self.usage.plan(plan_id)?.keys.clone();
        let mut changes = vec![delete(Kind::UsagePlan, plan_id)];
        for k in &keys {
            changes.push(delete(Kind::UsagePlanKey, &plan_key_id(plan_id, k)));
        }
        changes.push(Change::ForgetUsage {
            plan_id: plan_id.to_string(),
            key_id: None,
        });
        {
            let counters = self.usage.counters.clone();
            let mut registry = counters.lock();
            self.commit_usage(&changes)?;
            for k in &keys {
                registry.remove(&(plan_id.to_string(), k.clone()));
            }
        }
        self.usage.plans.remove(plan_id);
        for k in &keys {
            if let Some(set) = self.usage.key_plans.get_mut(k) {
                set.remove(plan_id);
            }
        }
        let mut base = Usage::clone(&self.usage.published);
        base.plans.remove(plan_id);
        let next = self.usage.with_entries(base, &keys);
        self.publish_usage(next);
        Ok(())
    }

    /// Applies one patch operation to a plan being updated.
    fn patch_plan(
        &self,
        record: &mut UsagePlanRecord,
        quota: &mut Option<QuotaInput>,
        op: &PatchOp,
    ) -> Result<(), ApiError> {
        let kind = op.op;
        if !matches!(kind, Op::Add | Op::Remove | Op::Replace) {
            return Err(op.invalid_path());
        }
        match (kind, op.path.as_str()) {
            (Op::Replace, "/name") => record.name = op.value()?.to_string(),
            (Op::Replace, "/description") => record.description = Some(op.value()?.to_string()),
            (Op::Replace, "/productCode") => record.product_code = Some(op.value()?.to_string()),
            (Op::Remove, "/throttle") => record.throttle = None,
            (Op::Remove, "/quota") => *quota = None,
            (Op::Replace, "/throttle/rateLimit") => {
                record
                    .throttle
                    .get_or_insert_with(Default::default)
                    .rate_limit = Some(parse_f64(op.value()?, "rateLimit")?);
            }
            (Op::Replace, "/throttle/burstLimit") => {
                record
                    .throttle
                    .get_or_insert_with(Default::default)
                    .burst_limit = Some(parse_i64(op.value()?, "burstLimit")?);
            }
            (Op::Replace, "/quota/limit") => {
                quota.get_or_insert_with(Default::default).limit =
                    Some(parse_i64(op.value()?, "limit")?);
            }
            (Op::Replace, "/quota/offset") => {
                quota.get_or_insert_with(Default::default).offset =
                    Some(parse_i64(op.value()?, "offset")?);
            }
            (Op::Replace, "/quota/period") => {
                let p = op.value()?;
                parse_period(p)?;
                quota.get_or_insert_with(Default::default).period = Some(p.to_string());
            }
            (Op::Add, "/apiStages") => {
                let (api_id, stage) = split_api_stage(op.value()?)?;
                check_api_stage(&self.apis, &api_id, &stage)?;
                if record
                    .api_stages
                    .iter()
                    .any(|s| s.api_id == api_id && s.stage == stage)
                {
                    return Err(ApiError::Conflict(format!(
                        "API stage {api_id}:{stage} is already in usage plan {}",
                        record.id
                    )));
                }
                record.api_stages.push(ApiStage {
                    api_id,
                    stage,
                    throttle: BTreeMap::new(),
                });
            }
            (Op::Remove, "/apiStages") => {
                let (api_id, stage) = split_api_stage(op.value()?)?;
                let before = record.api_stages.len();
                record
                    .api_stages
                    .retain(|s| !(s.api_id == api_id && s.stage == stage));
                if record.api_stages.len() == before {
                    return Err(ApiError::NotFound(format!(
                        "Invalid API stage specified {api_id}:{stage}"
                    )));
                }
            }
            _ => patch_method_throttle(record, kind, op)?,
        }
        Ok(())
    }

    /// Checked API stages of a create, problems reported into `problems`.
    fn api_stages(&self, input: Vec<ApiStageInput>, problems: &mut Vec<String>) -> Vec<ApiStage> {
        let mut out = Vec::with_capacity(input.len());
        for s in input {
            match (s.api_id, s.stage) {
                (Some(api_id), Some(stage)) => {
                    if let Err(e) = check_api_stage(&self.apis, &api_id, &stage) {
                        problems.push(e.message().to_string());
                    }
                    out.push(ApiStage {
                        api_id,
                        stage,
                        throttle: s.throttle,
                    });
                }
                _ => problems.push("apiStages entries need apiId and stage".into()),
            }
        }
        out
    }

    /// 400 if key `key_id` is in a plan other than `plan_id` that covers one of `stages`.
    fn check_one_plan_per_stage(
        &self,
        key_id: &str,
        plan_id: &str,
        stages: &[ApiStage],
    ) -> Result<(), ApiError> {
        for other in self.usage.key_plans.get(key_id).into_iter().flatten() {
            if other == plan_id {
                continue;
            }
            let Some(o) = self.usage.plans.get(other) else {
                continue;
            };
            for s in stages {
                if o.stored
                    .record
                    .api_stages
                    .iter()
                    .any(|x| x.api_id == s.api_id && x.stage == s.stage)
                {
                    return Err(ApiError::BadRequest(format!(
                        "Usage Plan {plan_id} cannot be added because API Key {key_id} cannot reference multiple Usage Plans with the same API Stage: {}:{}",
                        s.api_id, s.stage
                    )));
                }
            }
        }
        Ok(())
    }
}

// === usage plan keys ===

impl<A: RestStages> UsageOps<'_, A> {
    pub(crate) fn create_usage_plan_key(
        &mut self,
        plan_id: &str,
        input: UsagePlanKeyInput,
    ) -> Result<UsagePlanKeyRecord, ApiError> {
        let plan = self.usage.plan(plan_id)?;
        match input.key_type.as_deref() {
            Some("API_KEY") => {}
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid keyType '{other}': must be API_KEY"
                )))
            }
            None => return Err(ApiError::BadRequest("keyType is required".into())),
        }
        let key_id = input
            .key_id
            .ok_or_else(|| ApiError::BadRequest("keyId is required".into()))?;
        let key = self.usage.key(&key_id)?;
        if plan.keys.contains(&key_id) {
            return Err(ApiError::Conflict(format!(
                "Usage Plan {plan_id} already contains API Key {key_id}"
            )));
        }
        self.check_one_plan_per_stage(&key_id, plan_id, &plan.stored.record.api_stages)?;
        let answer = plan_key_record(key);
        let state = Arc::new(plan.compiled.key_state(&key_id, None));
        let member = StoredPlanKey {
            usage_plan_id: plan_id.to_string(),
            key_id: key_id.clone(),
        };
        self.commit_usage(&[Change::Put(doc(
            Kind::UsagePlanKey,
            &plan_key_id(plan_id, &key_id),
            &member,
        ))])?;
        self.usage
            .counters
            .lock()
            .insert((plan_id.to_string(), key_id.clone()), state);
        if let Some(p) = self.usage.plans.get_mut(plan_id) {
            p.keys.insert(key_id.clone());
        }
        self.usage
            .key_plans
            .entry(key_id.clone())
            .or_default()
            .insert(plan_id.to_string());
        self.publish_entries([&key_id]);
        Ok(answer)
    }

    pub(crate) fn delete_usage_plan_key(
        &mut self,
        plan_id: &str,
        key_id: &str,
    ) -> Result<(), ApiError> {
        self.usage.usage_plan_key(plan_id, key_id)?;
        {
            let counters = self.usage.counters.clone();
            let mut registry = counters.lock();
            self.commit_usage(&[
                delete(Kind::UsagePlanKey, &plan_key_id(plan_id, key_id)),
                Change::ForgetUsage {
                    plan_id: plan_id.to_string(),
                    key_id: Some(key_id.to_string()),
                },
            ])?;
            registry.remove(&(plan_id.to_string(), key_id.to_string()));
        }
        if let Some(p) = self.usage.plans.get_mut(plan_id) {
            p.keys.remove(key_id);
        }
        if let Some(set) = self.usage.key_plans.get_mut(key_id) {
            set.remove(plan_id);
        }
        let key_id = key_id.to_string();
        self.publish_entries([&key_id]);
        Ok(())
    }
}

// === usage ===

impl<A: RestStages> UsageOps<'_, A> {
    /// `UpdateUsage`: sets the remaining quota of the current period of key `key_id` in plan
    /// `plan_id`, durably; answers the key's usage today.
    pub(crate) fn update_usage(
        &mut self,
        plan_id: &str,
        key_id: &str,
        ops: Vec<PatchOp>,
    ) -> Result<UsageReport, ApiError> {
        self.usage.usage_plan_key(plan_id, key_id)?;
        let plan = self.usage.plan(plan_id)?;
        let Some(q) = plan.compiled.quota else {
            return Err(ApiError::BadRequest(format!(
                "Usage Plan {plan_id} has no quota to update"
            )));
        };
        let mut remaining = None;
        for op in &ops {
            match (op.op, op.path.as_str()) {
                (Op::Replace, "/remaining") => {
                    remaining = Some(parse_i64(op.value()?, "remaining")?);
                }
                _ => return Err(op.invalid_path()),
            }
        }
        let Some(remaining) = remaining else {
            return Err(ApiError::BadRequest(
                "Expected a replace operation on /remaining".into(),
            ));
        };
        let today = clock::today();
        let start = quota::period_start_day(today, q.period);
        let limit = q.limit_for(start);
        let used = limit.saturating_sub(remaining);
        let row = UsageRow {
            plan_id: plan_id.to_string(),
            key_id: key_id.to_string(),
            kind: UsageKind::Period,
            day: start,
            used,
        };
        let counters = self.usage.counters.clone();
        let mut registry = counters.lock();
        let state = registry
            .states
            .get(&(plan_id.to_string(), key_id.to_string()))
            .cloned()
            .ok_or_else(|| ApiError::Internal(format!("no usage state for {plan_id}/{key_id}")))?;
        counters
            .store()
            .put_usage(std::slice::from_ref(&row))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        state.quota.set(start, used);
        registry.mark_written(&row);
        let today_used = state.days.get(today).map_or(0, |n| n as i64);
        Ok(UsageReport {
            usage_plan_id: plan_id.to_string(),
            start_date: format_day(today),
            end_date: format_day(today),
            position: None,
            values: [(key_id.to_string(), vec![[today_used, remaining.max(0)]])].into(),
        })
    }
}

// === reads ===

impl UsageState {
    /// The key `key_id` of plan `plan_id`, or 404.
    pub(crate) fn usage_plan_key(
        &self,
        plan_id: &str,
        key_id: &str,
    ) -> Result<UsagePlanKeyRecord, ApiError> {
        let plan = self.plan(plan_id)?;
        if !plan.keys.contains(key_id) {
            return Err(not_found_key(key_id));
        }
        Ok(plan_key_record(self.key(key_id)?))
    }

    /// Checks a `GetUsage` request and takes what it needs from the catalog.
    pub(crate) fn usage_query(
        &self,
        plan_id: &str,
        start_date: Option<&str>,
        end_date: Option<&str>,
        key_id: Option<&str>,
        cursor: &Cursor,
    ) -> Result<UsageQuery, ApiError> {
        let plan = self.plan(plan_id)?;
        let (start, end) = match (start_date, end_date) {
            (Some(s), Some(e)) => (date(s, "startDate")?, date(e, "endDate")?),
            _ => {
                return Err(ApiError::BadRequest(
                    "startDate and endDate are required".into(),
                ))
            }
        };
        if start > end {
            return Err(ApiError::BadRequest(
                "The startDate must be before or on the endDate".into(),
            ));
        }
        if end - start >= USAGE_RANGE_MAX_DAYS {
            return Err(ApiError::BadRequest(format!(
                "The date range can be at most {USAGE_RANGE_MAX_DAYS} days"
            )));
        }
        let registry = self.counters.lock();
        let asked = plan
            .keys
            .iter()
            .filter(|k| key_id.is_none_or(|id| id == k.as_str()))
            .map(|k| (k, k));
        let (keys, position) = cursor.take(asked, |k| {
            let state = registry
                .states
                .get(&(plan_id.to_string(), k.clone()))
                .cloned();
            (k.clone(), state)
        });
        Ok(UsageQuery {
            plan_id: plan_id.to_string(),
            quota: plan.compiled.quota,
            start,
            end,
            keys,
            position,
        })
    }
}

// === publication ===

impl<A: RestStages> UsageOps<'_, A> {
    /// Commits usage documents; a failure is a 500 and changes nothing.
    fn commit_usage(&self, changes: &[Change]) -> Result<(), ApiError> {
        self.publisher.commit(changes)
    }

    /// Publishes the entries of `key_ids` (each shard of the key table they touch is copied
    /// once).
    fn publish_entries<'a>(&mut self, key_ids: impl IntoIterator<Item = &'a String>) {
        let mut next = Usage::clone(&self.usage.published);
        let entries: Vec<_> = key_ids
            .into_iter()
            .filter(|id| self.usage.keys.contains_key(*id))
            .map(|id| self.usage.entry(id))
            .collect();
        next.keys = next.keys.with_many(entries);
        self.publish_usage(next);
    }

    /// Publishes `next` as the data plane's keys and plans; the APIs are shared.
    fn publish_usage(&mut self, next: Usage) {
        let usage = Arc::new(next);
        self.usage.published = Arc::clone(&usage);
        self.publisher
            .publish(|current, generation| current.with_usage(generation, usage));
    }
}

// === helpers ===

/// Computes `GetUsage`'s answer from the stored rows and the live states (the live counter
/// wins for the days and the period it holds).
pub(crate) fn usage_report(q: UsageQuery, stored: &[UsageRow]) -> UsageReport {
    let mut values = BTreeMap::new();
    for (key_id, state) in &q.keys {
        let mut days: BTreeMap<u64, i64> = BTreeMap::new();
        let mut periods: BTreeMap<u64, i64> = BTreeMap::new();
        for r in stored.iter().filter(|r| &r.key_id == key_id) {
            match r.kind {
                UsageKind::Day => days.insert(r.day, r.used),
                UsageKind::Period => periods.insert(r.day, r.used),
            };
        }
        if let Some(s) = state {
            for (day, n) in s.days.both() {
                if (day, n) != (0, 0) {
                    days.insert(day, n as i64);
                }
            }
            let start = s.quota.period();
            let used = s.quota.used(start);
            if (start, used) != (0, 0) {
                periods.insert(start, used);
            }
        }
        let mut pairs = Vec::new();
        for d in q.start..=q.end {
            let used = days.get(&d).copied().unwrap_or(0);
            let remaining = match &q.quota {
                None => 0,
                Some(quota) => {
                    let p = quota::period_start_day(d, quota.period);
                    let next = quota::next_period_start_day(p, quota.period);
                    let period_used = periods
                        .get(&p)
                        .copied()
                        .unwrap_or_else(|| days.range(p..next).map(|(_, n)| n).sum());
                    let later: i64 = days.range(d + 1..next).map(|(_, n)| n).sum();
                    (quota.limit_for(p) - period_used + later).max(0)
                }
            };
            pairs.push([used, remaining]);
        }
        values.insert(key_id.clone(), pairs);
    }
    UsageReport {
        usage_plan_id: q.plan_id,
        start_date: format_day(q.start),
        end_date: format_day(q.end),
        position: q.position,
        values,
    }
}

/// The days of stored rows `GetUsage` needs: whole quota periods around the range.
pub(crate) fn usage_span(q: &UsageQuery) -> (u64, u64) {
    match &q.quota {
        None => (q.start, q.end),
        Some(quota) => {
            let from = quota::period_start_day(q.start, quota.period);
            let last = quota::period_start_day(q.end, quota.period);
            (from, quota::next_period_start_day(last, quota.period) - 1)
        }
    }
}

fn plan_key_record(key: &ApiKeyRecord) -> UsagePlanKeyRecord {
    UsagePlanKeyRecord {
        id: key.id.clone(),
        key_type: "API_KEY",
        value: key.value().to_string(),
        name: key.name.clone(),
    }
}

/// `/apiStages/{apiId}:{stage}/throttle/{resourcePath}/{METHOD}[/rateLimit|/burstLimit]`,
/// with `~1` for `/` in the resource path (`~1pets/GET`, root `~1/GET`).
fn patch_method_throttle(
    record: &mut UsagePlanRecord,
    kind: Op,
    op: &PatchOp,
) -> Result<(), ApiError> {
    let Some(rest) = op.path.strip_prefix("/apiStages/") else {
        return Err(op.invalid_path());
    };
    let Some((stage_key, rest)) = rest.split_once("/throttle") else {
        return Err(op.invalid_path());
    };
    let (api_id, stage) = split_api_stage(stage_key)?;
    let Some(s) = record
        .api_stages
        .iter_mut()
        .find(|s| s.api_id == api_id && s.stage == stage)
    else {
        return Err(ApiError::NotFound(format!(
            "Invalid API stage specified {api_id}:{stage}"
        )));
    };
    let segments: Vec<String> = rest.split('/').skip(1).map(unescape).collect();
    match (kind, segments.as_slice()) {
        // The whole map: `remove .../throttle`, or `replace .../throttle` with a JSON map.
        (Op::Remove, []) => s.throttle.clear(),
        (Op::Add | Op::Replace, []) => {
            s.throttle = serde_json::from_str::<BTreeMap<String, ThrottleSettings>>(op.value()?)
                .map_err(|e| ApiError::BadRequest(format!("Invalid throttle map: {e}")))?;
        }
        (Op::Remove, [resource, method]) => {
            if s.throttle.remove(&format!("{resource}/{method}")).is_none() {
                return Err(op.invalid_path());
            }
        }
        (Op::Add | Op::Replace, [resource, method, member]) => {
            let t = s
                .throttle
                .entry(format!("{resource}/{method}"))
                .or_default();
            match member.as_str() {
                "rateLimit" => t.rate_limit = Some(parse_f64(op.value()?, "rateLimit")?),
                "burstLimit" => t.burst_limit = Some(parse_i64(op.value()?, "burstLimit")?),
                _ => return Err(op.invalid_path()),
            }
        }
        _ => return Err(op.invalid_path()),
    }
    Ok(())
}

/// `apiId:stage`.
fn split_api_stage(v: &str) -> Result<(String, String), ApiError> {
    v.split_once(':')
        .map(|(a, s)| (a.to_string(), s.to_string()))
        .ok_or_else(|| {
            ApiError::BadRequest(format!("Invalid API stage '{v}': expected apiId:stage"))
        })
}

fn date(s: &str, member: &str) -> Result<u64, ApiError> {
    parse_day(s)
        .ok_or_else(|| ApiError::BadRequest(format!("Invalid {member} '{s}': expected YYYY-MM-DD")))
}

pub(crate) fn parse_bool(v: &str, member: &str) -> Result<bool, ApiError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "Invalid {member} '{v}': must be true or false"
        ))),
    }
}

fn parse_i64(v: &str, member: &str) -> Result<i64, ApiError> {
    v.trim()
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("Invalid {member} '{v}': must be an integer")))
}

fn parse_f64(v: &str, member: &str) -> Result<f64, ApiError> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .ok_or_else(|| ApiError::BadRequest(format!("Invalid {member} '{v}': must be a number")))
}

fn plan_key_id(plan_id: &str, key_id: &str) -> String {
    format!("{plan_id}/{key_id}")
}

/// A usage record as a store row: usage documents live under [`USAGE_SCOPE`].
fn doc(kind: Kind, id: &str, doc: &impl serde::Serialize) -> Row {
    row(USAGE_SCOPE, kind, id, doc)
}

fn delete(kind: Kind, id: &str) -> Change {
    deletion(USAGE_SCOPE, kind, id)
}

/// A new API key value: [`API_KEY_VALUE_GENERATED_CHARS`] letters and digits from the kernel's CSPRNG
/// (key values are secrets; ids are not).
fn generate_key_value() -> Result<String, ApiError> {
    crate::ids::random_string(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        API_KEY_VALUE_GENERATED_CHARS,
    )
}

/// `ApiKeyIds`: what `ImportApiKeys` answers.
#[derive(Debug, serde::Serialize)]
pub(crate) struct ImportedKeys {
    pub(crate) ids: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

/// Rows of comma-separated cells; a cell may be enclosed in double or single quotes (AWS's API
/// key files quote `UsagePlanIds` lists either way), with a doubled quote inside standing for
/// one.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                if chars.peek() == Some(&q) {
                    cell.push(q);
                    chars.next();
                } else {
                    quote = None;
                }
            }
            (Some(_), c) => cell.push(c),
            (None, '"' | '\'') if cell.trim().is_empty() => {
                cell.clear();
                quote = Some(c);
            }
            (None, ',') => row.push(std::mem::take(&mut cell)),
            (None, '\r') => {}
            (None, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (None, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}
