//! The account's API Gateway settings (`apigateway` v1 `GetAccount`/`UpdateAccount`, `/account`),
//! so Terraform's `aws_api_gateway_account` and `aws apigateway get-account` work.
//!
//! `cloudwatchRoleArn` is stored (under [`ACCOUNT_SCOPE`]) and echoed; Portico writes its access
//! logs and metrics itself, so no role is assumed. `throttleSettings` shows the data plane's
//! account-level bucket as `portico serve` was started with it (`--account-rate-limit`,
//! `--account-burst-limit`), and is absent when that throttle is off, the default on a
//! self-hosted gateway; it is not changed here (AWS does not let an account change it through
//! the API either). `features` is `UsagePlans` and
//! `apiKeyVersion` is `4`, as on every current AWS account.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use portico_shared::throttle::Limits as ThrottleLimits;

use crate::error::ApiError;
use crate::patch::{Op, PatchInput};
use crate::publish::{parse_doc, row, Publisher};
use crate::store::{Change, Kind, Row};
use crate::wire::{ok, Body};
use crate::AdminState;

/// The `api_id` under which the account document is stored.
pub(crate) const ACCOUNT_SCOPE: &str = "$account";
/// The one account document's id.
const ACCOUNT_ID: &str = "account";

/// The stored settings. Each region has its own (`region.rs`), as on AWS.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccountRecord {
    /// The default region's role (a document stored before regions were kept holds only this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cloudwatch_role_arn: Option<String>,
    /// The other regions' roles, by region.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) regions: BTreeMap<String, String>,
}

/// Which region's settings a call reads or changes, and the node's default region.
#[derive(Debug, Clone)]
struct Regional {
    region: std::sync::Arc<str>,
    default: std::sync::Arc<str>,
}

/// Loads the stored document (or the defaults).
pub(crate) fn load(rows: &[Row]) -> Result<AccountRecord, ApiError> {
    match rows.iter().find(|r| r.kind == Kind::Account) {
        Some(r) => parse_doc(r),
        None => Ok(AccountRecord::default()),
    }
}

pub(crate) fn router() -> Router<AdminState> {
    Router::new().route("/account", get(get_account).patch(update_account))
}

async fn get_account(State(s): State<AdminState>) -> Response {
    let throttle = s.endpoint().account_throttle;
    let at = regional(&s);
    ok(s.read(move |c| Ok(view(&c.account, &at, throttle))).await)
}

fn regional(s: &AdminState) -> Regional {
    Regional {
        region: crate::region::current(),
        default: std::sync::Arc::clone(s.regions().default_region()),
    }
}

/// `UpdateAccount`: `replace` of `/cloudwatchRoleArn` (an absent or empty value clears it).
async fn update_account(State(s): State<AdminState>, Body(b): Body<PatchInput>) -> Response {
    let throttle = s.endpoint().account_throttle;
    let at = regional(&s);
    ok(s.write(move |c| {
        c.account
            .update(&c.publisher, b, &at)
            .map(|a| view(&a, &at, throttle))
    })
    .await)
}

impl AccountRecord {
    /// `UpdateAccount`: validates `input` against the settings, commits them if they changed.
    fn update(
        &mut self,
        publisher: &Publisher,
        input: PatchInput,
        at: &Regional,
    ) -> Result<AccountRecord, ApiError> {
        let mut next = self.clone();
        let mut problems = Vec::new();
        for op in input.ops()?.iter().cloned() {
            match (op.op, op.path.as_str()) {
                (Op::Replace, "/cloudwatchRoleArn") => {
                    let arn = op.value.filter(|v| !v.is_empty());
                    if let Some(a) = &arn {
                        if !a.starts_with("arn:") || !a.contains(":iam::") || !a.contains(":role/") {
                            problems.push(format!(
                                "The role ARN is not well formed: {a}"
                            ));
                        }
                    }
                    if at.region == at.default {
                        next.cloudwatch_role_arn = arn;
                    } else if let Some(a) = arn {
                        next.regions.insert(at.region.to_string(), a);
                    } else {
                        next.regions.remove(&*at.region);
                    }
                }
                (_, "/features") => problems.push(
                    "Portico's account always has the UsagePlans feature; /features cannot be changed"
                        .into(),
                ),
                (op, path) => problems.push(format!(
                    "Invalid patch path '{path}' for op '{op}': UpdateAccount supports replace of /cloudwatchRoleArn"
                )),
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        if next != *self {
            publisher
                .store()
                .commit(&[Change::Put(row(
                    ACCOUNT_SCOPE,
                    Kind::Account,
                    ACCOUNT_ID,
                    &next,
                ))])
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            *self = next;
        }
        Ok(self.clone())
    }
}

/// `Account` as AWS shapes it, for the region `at` names.
fn view(a: &AccountRecord, at: &Regional, throttle: Option<ThrottleLimits>) -> Value {
    let mut out = json!({
        "features": ["UsagePlans"],
        "apiKeyVersion": "4",
    });
    if let Some(t) = throttle {
        out["throttleSettings"] = json!({ "burstLimit": t.burst, "rateLimit": t.rate });
    }
    let role = if at.region == at.default {
        a.cloudwatch_role_arn.as_ref()
    } else {
        a.regions.get(&*at.region)
    };
    if let Some(arn) = role {
        out["cloudwatchRoleArn"] = json!(arn);
    }
    out
}
