//! Pipeline stage `admit`: the API key check, every throttle that applies, and the usage plan
//! quota, in AWS's order (most specific bucket first).
//!
//! Synchronous and lock-free: keys are one hash probe in the snapshot's key table; buckets and
//! quota counters are atomics shared by every worker (see `portico_shared::throttle` and
//! `portico_shared::quota`), so the admitted rate is exact however connections spread over
//! cores. A request refused by a later check gives back the tokens the earlier ones took.

use std::sync::Arc;

use portico_shared::keys::{KeyEntry, KeyPlan, Plan};
use portico_shared::model::rest::ApiKeySource;
use portico_shared::throttle::Bucket;
use portico_shared::{clock, quota, Snapshot};

use crate::error::GatewayError;
use crate::http1::parse::HeaderSpans;
use crate::stages::resolve::Resolved;

/// This core's side of admission: the worker id the shared buckets lease tokens under, and
/// the account-level bucket every request takes a token from.
#[derive(Debug)]
pub struct AdmitState {
    pub worker: usize,
    pub account: Arc<Bucket>,
}

/// Who a request was admitted as: the API key and its plan, when the method requires a key.
#[derive(Debug, Clone, Copy, Default)]
pub struct Admitted<'s> {
    pub key: Option<&'s KeyEntry>,
}

/// Checks the API key (when the method requires one), takes a token from every applicable
/// bucket and counts the request against the quota.
pub fn admit<'s>(
    state: &AdmitState,
    snapshot: &'s Snapshot,
    resolved: &Resolved<'s>,
    buf: &[u8],
    headers: &HeaderSpans,
    authorizer_key: Option<&[u8]>,
    now_ns: u64,
) -> Result<Admitted<'s>, GatewayError> {
    let rest = resolved.route.rest.as_ref();
    let keyed = match rest {
        Some(m) if m.api_key_required => {
            Some(check_key(snapshot, resolved, buf, headers, authorizer_key)?)
        }
        _ => None,
    };
    // Most specific first: the plan's per-method and per-key buckets, the stage's, the account's.
    let mut taken: [Option<&Bucket>; 4] = [None; 4];
    let mut n = 0;
    let mut candidates: [Option<&Bucket>; 4] = [None; 4];
    if let (Some((_, plan, kp)), Some(m)) = (keyed, rest) {
        candidates[0] = plan
            .stage(&resolved.api.id, &resolved.stage.name)
            .and_then(|s| {
                s.methods
                    .iter()
                    .find(|(k, _)| **k == *m.plan_method_key)
                    .map(|(_, i)| *i)
            })
            .and_then(|i| kp.method_buckets.get(i));
        candidates[1] = kp.bucket.as_ref();
    }
    candidates[2] = resolved.route.throttle.as_deref();
    candidates[3] = Some(&state.account);
    for bucket in candidates.into_iter().flatten() {
        if !bucket.try_acquire(state.worker, now_ns) {
            for b in taken[..n].iter().flatten() {
                b.release(state.worker);
            }
            return Err(GatewayError::Throttled);
        }
        taken[n] = Some(bucket);
        n += 1;
    }
    if let Some((entry, plan, kp)) = keyed {
        if let Some(q) = &plan.quota {
            let today = clock::today();
            let start = quota::period_start_day(today, q.period);
            if !kp.quota.try_take(start, q.limit_for(start)) {
                for b in taken[..n].iter().flatten() {
                    b.release(state.worker);
                }
                return Err(GatewayError::QuotaExceeded);
            }
            kp.days.add(today);
        } else {
            kp.days.add(clock::today());
        }
        return Ok(Admitted { key: Some(entry) });
    }
    Ok(Admitted::default())
}

/// The key, its plan and its state in that plan for this API stage, or 403 Forbidden.
fn check_key<'s>(
    snapshot: &'s Snapshot,
    resolved: &Resolved<'s>,
    buf: &[u8],
    headers: &HeaderSpans,
    authorizer_key: Option<&[u8]>,
) -> Result<(&'s KeyEntry, &'s Plan, &'s KeyPlan), GatewayError> {
    // AUTHORIZER keys come from the Lambda authorizer's `usageIdentifierKey`.
    let value = match resolved.api.api_key_source {
        ApiKeySource::Header => crate::request::header(buf, headers, b"x-api-key"),
        ApiKeySource::Authorizer => authorizer_key,
    }
    .ok_or(GatewayError::InvalidApiKey)?;
    let usage = &*snapshot.usage;
    let entry = usage
        .keys
        .get(value)
        .filter(|e| e.enabled)
        .ok_or(GatewayError::InvalidApiKey)?;
    entry
        .plans
        .iter()
        .find_map(|kp| {
            let plan = usage.plans.get(&*kp.plan_id)?;
            plan.stage(&resolved.api.id, &resolved.stage.name)?;
            Some((&**entry, &**plan, &**kp))
        })
        .ok_or(GatewayError::InvalidApiKey)
}

#[cfg(test)]
mod tests {
    use portico_shared::throttle::Limits;

    use super::*;
    use crate::stages::testing;

    /// Requests of the table, in order, through `admit` with the worker state of each step: the
    /// stage's route bucket (burst 2, no refill within the test) and the account bucket of the
    /// state (burst 1, or unlimited). A request the account refuses gives back the route token
    /// it took, so the route bucket still admits a later request.
    #[test]
    fn takes_the_route_then_the_account_token_and_gives_back_on_refusal() {
        let snapshot = testing::snapshot(
            r#"{"apis":[{"apiId":"abc","routes":[{"routeKey":"GET /pets",
                "target":"integrations/up"}],
              "integrations":[{"integrationId":"up","integrationType":"HTTP_PROXY",
                "integrationUri":"http://127.0.0.1:9"}],
              "stages":[{"stageName":"$default","defaultRouteSettings":
                {"throttlingBurstLimit":2,"throttlingRateLimit":0.001}}]}]}"#,
        );
        let tight = AdmitState {
            worker: 0,
            account: Arc::new(Bucket::new(Limits {
                rate: 0.001,
                burst: 1,
            })),
        };
        let free = AdmitState {
            worker: 0,
            account: Arc::new(Bucket::unlimited()),
        };
        let raw = b"GET /pets HTTP/1.1\r\nHost: abc.execute-api.localhost\r\n\r\n";
        let (head, headers) = testing::head(raw);
        let rng = std::cell::Cell::new(1);
        let resolved = crate::stages::resolve::resolve(
            &snapshot,
            "execute-api.localhost",
            &head,
            raw,
            None,
            &rng,
        )
        .map_err(|m| m.error)
        .expect("resolves");
        let throttled = Err(GatewayError::Throttled);
        // (state, outcome): route tokens left after each step in the comment.
        let cases: &[(&AdmitState, Result<(), GatewayError>)] = &[
            (&tight, Ok(())),    // route 1, account 0
            (&tight, throttled), // the account refuses: route back to 1
            (&tight, throttled), // again: route still 1
            (&free, Ok(())),     // route 0
            (&free, throttled),  // the route refuses
        ];
        let now_ns = 1_000_000_000;
        for (i, (state, want)) in cases.iter().enumerate() {
            let got = admit(state, &snapshot, &resolved, raw, &headers, None, now_ns);
            assert_eq!(got.map(|a| assert!(a.key.is_none())), *want, "step {i}");
        }
    }
}
