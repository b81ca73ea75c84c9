//! API keys, usage plans, usage plan keys and usage reports in the wire shapes of botocore's
//! `apigateway` (v1) model: lowerCamelCase members, dates as epoch seconds (numbers),
//! collections as `{"item": [...], "position": ...}`. Inputs ignore unknown members (a
//! newer SDK's) and are validated here, reporting every problem at once.

use std::collections::BTreeMap;

use portico_shared::limits::{
    API_KEY_VALUE_MAX_CHARS, API_KEY_VALUE_MIN_CHARS, DESCRIPTION_MAX_CHARS, TAGS_MAX,
    USAGE_NAME_MAX_CHARS, USAGE_PLAN_API_STAGES_MAX, USAGE_PLAN_METHOD_THROTTLES_MAX,
};
use portico_shared::model::rest::{
    ApiStage, QuotaPeriod, QuotaSettings, ThrottleSettings, UsagePlanSpec,
};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::records::check_len;

/// An API key as stored (with its value) and answered (value only on request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKeyRecord {
    pub(crate) id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    pub(crate) enabled: bool,
    pub(crate) created_date: u64,
    pub(crate) last_updated_date: u64,
    /// `{restApiId}/{stageName}` (deprecated by AWS; kept as given).
    #[serde(default)]
    pub(crate) stage_keys: Vec<String>,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
}

/// A usage plan as answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsagePlanRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) api_stages: Vec<ApiStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) throttle: Option<ThrottleSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quota: Option<QuotaSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) product_code: Option<String>,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
}

/// A usage plan as stored: the record plus the day it was created (the first quota period
/// has `quota.offset` subtracted, so the plan must remember when it began).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredPlan {
    #[serde(flatten)]
    pub(crate) record: UsagePlanRecord,
    /// Epoch seconds.
    pub(crate) created_date: u64,
}

/// A key's membership of a plan, as stored (`{planId}/{keyId}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredPlanKey {
    pub(crate) usage_plan_id: String,
    pub(crate) key_id: String,
}

/// `UsagePlanKey`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct UsagePlanKeyRecord {
    pub(crate) id: String,
    #[serde(rename = "type")]
    pub(crate) key_type: &'static str,
    pub(crate) value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
}

/// `Usage`: per key, one `[used, remaining]` pair per day of the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageReport {
    pub(crate) usage_plan_id: String,
    pub(crate) start_date: String,
    pub(crate) end_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) position: Option<String>,
    pub(crate) values: BTreeMap<String, Vec<[i64; 2]>>,
}

/// `CreateApiKey`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKeyInput {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) enabled: Option<bool>,
    /// Accepted; every key gets its own id anyway.
    pub(crate) generate_distinct_id: Option<bool>,
    pub(crate) value: Option<String>,
    #[serde(default)]
    pub(crate) stage_keys: Vec<StageKeyInput>,
    pub(crate) customer_id: Option<String>,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
}

/// `StageKey`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageKeyInput {
    pub(crate) rest_api_id: Option<String>,
    pub(crate) stage_name: Option<String>,
}

/// `CreateUsagePlan`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsagePlanInput {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) api_stages: Vec<ApiStageInput>,
    pub(crate) throttle: Option<ThrottleSettings>,
    pub(crate) quota: Option<QuotaInput>,
    pub(crate) product_code: Option<String>,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
}

/// `ApiStage` as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiStageInput {
    pub(crate) api_id: Option<String>,
    pub(crate) stage: Option<String>,
    #[serde(default)]
    pub(crate) throttle: BTreeMap<String, ThrottleSettings>,
}

/// `QuotaSettings` as sent (and as a patch builds it up): every member optional until checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QuotaInput {
    pub(crate) limit: Option<i64>,
    pub(crate) offset: Option<i64>,
    pub(crate) period: Option<String>,
}

/// `CreateUsagePlanKey`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsagePlanKeyInput {
    pub(crate) key_id: Option<String>,
    pub(crate) key_type: Option<String>,
}

// === impl ApiKeyRecord ===

impl ApiKeyRecord {
    /// The record as answered: the value only when asked for.
    pub(crate) fn view(&self, include_value: bool) -> ApiKeyRecord {
        let mut r = self.clone();
        if !include_value {
            r.value = None;
        }
        r
    }

    /// The key's value (always present in a stored record).
    pub(crate) fn value(&self) -> &str {
        self.value.as_deref().unwrap_or_default()
    }
}

// === impl UsagePlanRecord ===

impl UsagePlanRecord {
    /// What the data plane enforces.
    pub(crate) fn spec(&self) -> UsagePlanSpec {
        UsagePlanSpec {
            id: self.id.clone(),
            api_stages: self.api_stages.clone(),
            throttle: self.throttle,
            quota: self.quota,
        }
    }

    /// Checks the limits of a plan (after a create or a patch), reporting every problem.
    pub(crate) fn check(&self) -> Result<(), ApiError> {
        let mut problems = Vec::new();
        check_len(
            &mut problems,
            "name",
            Some(&self.name),
            1,
            USAGE_NAME_MAX_CHARS,
        );
        check_len(
            &mut problems,
            "description",
            self.description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        if let Some(t) = &self.throttle {
            check_throttle(&mut problems, "throttle", t);
        }
        if let Some(q) = &self.quota {
            if q.limit < 0 {
                problems.push("quota limit must be 0 or more".into());
            }
            if q.offset < 0 {
                problems.push("quota offset must be 0 or more".into());
            } else if q.offset > 0 && q.offset >= q.limit {
                problems.push("quota offset must be less than the quota limit".into());
            }
        }
        if self.api_stages.len() > USAGE_PLAN_API_STAGES_MAX {
            problems.push(format!(
                "a usage plan can have at most {USAGE_PLAN_API_STAGES_MAX} API stages"
            ));
        }
        for (i, s) in self.api_stages.iter().enumerate() {
            if self.api_stages[..i]
                .iter()
                .any(|o| o.api_id == s.api_id && o.stage == s.stage)
            {
                problems.push(format!(
                    "API stage {}:{} is listed more than once",
                    s.api_id, s.stage
                ));
            }
            if s.throttle.len() > USAGE_PLAN_METHOD_THROTTLES_MAX {
                problems.push(format!(
                    "API stage {}:{} has more than {USAGE_PLAN_METHOD_THROTTLES_MAX} method throttles",
                    s.api_id, s.stage
                ));
            }
            for (path, t) in &s.throttle {
                if !valid_method_path(path) {
                    problems.push(format!(
                        "Invalid method throttle path '{path}': expected /{{resourcePath}}/{{METHOD}}"
                    ));
                }
                check_throttle(&mut problems, &format!("throttle of {path}"), t);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(&problems))
        }
    }
}

// === impl QuotaInput ===

impl QuotaInput {
    /// Checked quota settings.
    pub(crate) fn to_settings(&self) -> Result<QuotaSettings, ApiError> {
        let period = match self.period.as_deref() {
            Some(p) => parse_period(p)?,
            None => return Err(ApiError::BadRequest("quota period is required".into())),
        };
        let limit = self
            .limit
            .ok_or_else(|| ApiError::BadRequest("quota limit is required".into()))?;
        Ok(QuotaSettings {
            limit,
            offset: self.offset.unwrap_or(0),
            period,
        })
    }

    pub(crate) fn from_settings(q: &QuotaSettings) -> QuotaInput {
        QuotaInput {
            limit: Some(q.limit),
            offset: Some(q.offset),
            period: Some(period_name(q.period).to_string()),
        }
    }
}

// === validation ===

/// `DAY`, `WEEK` or `MONTH`.
pub(crate) fn parse_period(s: &str) -> Result<QuotaPeriod, ApiError> {
    match s {
        "DAY" => Ok(QuotaPeriod::Day),
        "WEEK" => Ok(QuotaPeriod::Week),
        "MONTH" => Ok(QuotaPeriod::Month),
        other => Err(ApiError::BadRequest(format!(
            "Invalid quota period '{other}': must be one of DAY, WEEK, MONTH"
        ))),
    }
}

pub(crate) fn period_name(p: QuotaPeriod) -> &'static str {
    match p {
        QuotaPeriod::Day => "DAY",
        QuotaPeriod::Week => "WEEK",
        QuotaPeriod::Month => "MONTH",
    }
}

/// Checks an API key value: 20 to 128 ASCII letters and digits.
pub(crate) fn check_key_value(problems: &mut Vec<String>, value: &str) {
    if value.len() < API_KEY_VALUE_MIN_CHARS {
        problems.push(format!(
            "API Key value should be at least {API_KEY_VALUE_MIN_CHARS} characters"
        ));
    } else if value.len() > API_KEY_VALUE_MAX_CHARS {
        problems.push(format!(
            "API Key value should be at most {API_KEY_VALUE_MAX_CHARS} characters"
        ));
    }
    if !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        problems.push("API Key value must contain only letters and digits".into());
    }
}

pub(crate) fn check_tags(problems: &mut Vec<String>, tags: &BTreeMap<String, String>) {
    if tags.len() > TAGS_MAX {
        problems.push(format!("at most {TAGS_MAX} tags are allowed"));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            problems.push(format!(
                "tag '{k}': keys must be 1 to 128 characters and values at most 256"
            ));
        }
    }
}

fn check_throttle(problems: &mut Vec<String>, at: &str, t: &ThrottleSettings) {
    if t.rate_limit.is_some_and(|r| !(r >= 0.0 && r.is_finite())) {
        problems.push(format!("{at}: rateLimit must be 0 or more"));
    }
    if t.burst_limit.is_some_and(|b| b < 0) {
        problems.push(format!("{at}: burstLimit must be 0 or more"));
    }
}

/// `/{resourcePath}/{METHOD}`: `//GET`, `/pets/{id}/PUT`, `/*/*`.
fn valid_method_path(path: &str) -> bool {
    let Some((resource, method)) = path.rsplit_once('/') else {
        return false;
    };
    resource.starts_with('/')
        && !method.is_empty()
        && (method == "*" || method.bytes().all(|b| b.is_ascii_uppercase()))
}
