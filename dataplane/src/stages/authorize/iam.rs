//! Pipeline stage `authorize` for `AWS_IAM` routes and REST resource policies.
//!
//! # Architecture
//! 1. `pipeline::handle` calls [`authorize`] after `resolve` when the route is `AWS_IAM`, the
//!    API has a resource policy or is private; every other request pays one branch. For
//!    `AWS_IAM` the body is read first: its SHA-256 is part of what is signed.
//! 2. `AWS_IAM`: the SigV4 signature (header or presigned query) is verified on the request
//!    head's byte slices by `portico_shared::sigv4::verify` against the access key found in the
//!    snapshot's `IamTable` (unknown or inactive: the token is invalid), 15-minute window,
//!    constant-time comparison. Then the principal's identity policies are evaluated for
//!    `execute-api:Invoke` on `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}{path}`.
//! 3. The resource policy (REST) is evaluated for the same request, with the caller's ARN or
//!    anonymous, and joined with AWS's same-account rule: an explicit deny anywhere denies, an
//!    allow from either grants, silence denies. A private API without a policy serves nobody.
//!    The admin credentials (the account root) are allowed everything.
//! 4. A refusal is `GatewayError::Iam` (403); its message (which names the caller and the
//!    resource) is written into the caller's string, the only allocation, made on refusal.
//!
//! Invariants: no lock, no wait, nothing shared but the immutable snapshot.

use portico_shared::iam::{combine, AccessKey, Decision, Request, INVOKE};
use portico_shared::limits::IAM_SIGNING_KEYS_CACHED_MAX;
use portico_shared::sigv4::verify::{find_claim, HeaderLookup, RequestParts, SigV4Error};
use portico_shared::Snapshot;

use crate::error::{GatewayError, IamDenial};
use crate::http1::parse::{bytes, trim, HeaderSpans};
use crate::http1::RequestHead;
use crate::stages::resolve::Resolved;

/// The signing service of data plane requests.
const SERVICE: &str = "execute-api";

/// The request head's headers as `sigv4::verify` reads them.
struct SpanHeaders<'a> {
    buf: &'a [u8],
    headers: &'a HeaderSpans,
}

impl HeaderLookup for SpanHeaders<'_> {
    fn each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for (n, v) in self.headers {
            if bytes(self.buf, *n).eq_ignore_ascii_case(name.as_bytes()) {
                f(trim(bytes(self.buf, *v)));
            }
        }
    }
}

/// Whether [`authorize`] has anything to check for this route.
pub fn applies(r: &Resolved<'_>) -> bool {
    r.route.aws_iam || r.api.resource_policy.is_some() || r.api.private
}

/// Verifies and authorizes the request; `Ok(Some(key))` for an IAM caller, `Ok(None)` for an
/// anonymous caller a resource policy allowed. On refusal `message` holds AWS's message.
/// `req.body`: the body the signature covers (read first for `AWS_IAM` routes, else empty).
pub fn authorize<'s>(
    s: &'s Snapshot,
    r: &Resolved<'s>,
    req: &crate::request::Request<'_>,
    now_s: u64,
    message: &mut String,
) -> Result<Option<&'s AccessKey>, GatewayError> {
    let (head, buf, peer) = (req.head, req.buf, req.peer);
    let caller = if r.route.aws_iam {
        match verify(s, head, buf, req.headers, req.body, now_s) {
            Ok(k) => Some(k),
            Err(e) => return Err(refuse(e, message)),
        }
    } else {
        None
    };
    if caller.is_some_and(|k| k.principal.root) {
        return Ok(caller);
    }
    let resource = resource_arn(s, r, head, buf);
    let req = Request {
        action: INVOKE,
        resource: &resource,
        principal: caller.map(|k| &*k.principal.arn),
        source_ip: peer.ip(),
    };
    let identity = caller.map_or(Decision::Implicit, |k| k.decide(&req, &s.iam.account_id));
    let decision = match r.api.resource_policy.as_deref() {
        Some(p) => combine(identity, p.evaluate(&req, &s.iam.account_id)),
        // A private API without a policy serves nobody (AWS refuses to deploy one).
        None if r.api.private => combine(identity, Decision::ExplicitDeny),
        None => identity,
    };
    match decision {
        Decision::Allow => Ok(caller),
        Decision::ExplicitDeny | Decision::Implicit => {
            message.clear();
            message.push_str("User: ");
            message.push_str(caller.map_or("anonymous", |k| &k.principal.arn));
            message.push_str(" is not authorized to perform: execute-api:Invoke on resource: ");
            message.push_str(&resource);
            if decision == Decision::ExplicitDeny
                && !(r.api.private && r.api.resource_policy.is_none())
            {
                message.push_str(" with an explicit deny");
            }
            Err(GatewayError::Iam(IamDenial::AccessDenied))
        }
    }
}

/// Whether the verified caller `key` may perform `action` (e.g. `execute-api:InvalidateCache`)
/// on this request's resource, by its identity policies and the API's resource policy.
pub fn allows(
    s: &Snapshot,
    r: &Resolved<'_>,
    req: &crate::request::Request<'_>,
    key: &AccessKey,
    action: &str,
) -> bool {
    if key.principal.root {
        return true;
    }
    let (peer, resource) = (req.peer, resource_arn(s, r, req.head, req.buf));
    let req = Request {
        action,
        resource: &resource,
        principal: Some(&key.principal.arn),
        source_ip: peer.ip(),
    };
    let resource_decision = r
        .api
        .resource_policy
        .as_deref()
        .map_or(Decision::Implicit, |p| p.evaluate(&req, &s.iam.account_id));
    combine(key.decide(&req, &s.iam.account_id), resource_decision) == Decision::Allow
}

/// `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}{path}` of this request.
fn resource_arn(s: &Snapshot, r: &Resolved<'_>, head: &RequestHead, buf: &[u8]) -> String {
    let mut resource = String::with_capacity(128);
    s.iam.write_resource_arn(
        &mut resource,
        &r.api.id,
        &r.stage.name,
        head.method.as_str(),
        r.route_path(buf),
    );
    resource
}

/// The SigV4 check: the access key the signature names, if the signature is good (also
/// `@connections`, `ws::manage`).
pub(crate) fn verify<'s>(
    s: &'s Snapshot,
    head: &RequestHead,
    buf: &[u8],
    headers: &HeaderSpans,
    body: &[u8],
    now_s: u64,
) -> Result<&'s AccessKey, SigV4Error> {
    let text = |span| std::str::from_utf8(bytes(buf, span)).ok();
    let (Some(path), Some(query)) = (text(head.path), text(head.query)) else {
        return Err(SigV4Error::SignatureMismatch);
    };
    let parts = RequestParts {
        method: head.method.as_str(),
        path,
        query,
        authority: None,
    };
    let headers = SpanHeaders { buf, headers };
    let claim = find_claim(&parts, &headers)?;
    let key = s
        .iam
        .key(&claim.access_key_id)
        .filter(|k| k.active)
        .ok_or(SigV4Error::UnrecognizedClient)?;
    claim.check_window(now_s)?;
    if claim.service != SERVICE {
        return Err(SigV4Error::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{SERVICE}'. "
        )));
    }
    let signing_key = SIGNING_KEYS.with(|cache| cache.borrow_mut().get(&claim, key.secret()));
    claim.verify_with_key(&parts, &headers, body, &signing_key)?;
    Ok(key)
}

thread_local! {
    /// This worker's derived SigV4 signing keys. Per core, so no lock; a worker's thread is its
    /// core's only user.
    static SIGNING_KEYS: std::cell::RefCell<SigningKeys> =
        const { std::cell::RefCell::new(SigningKeys { entries: Vec::new(), next: 0 }) };
}

/// A small cache of derived signing keys (`kSigning`), replaced round robin. An entry matches on
/// the secret too, so a key id whose secret differs (a rebuilt store) never gets a stale key.
struct SigningKeys {
    entries: Vec<SigningKeyEntry>,
    next: usize,
}

struct SigningKeyEntry {
    access_key_id: String,
    secret: String,
    scope_date: String,
    region: String,
    service: String,
    key: [u8; 32],
}

impl SigningKeys {
    fn get(&mut self, claim: &portico_shared::sigv4::verify::Claim, secret: &str) -> [u8; 32] {
        let hit = self.entries.iter().find(|e| {
            e.access_key_id == claim.access_key_id
                && e.scope_date == claim.scope_date
                && e.region == claim.region
                && e.service == claim.service
                && e.secret == secret
        });
        if let Some(e) = hit {
            return e.key;
        }
        let key = portico_shared::sigv4::signing_key(
            secret,
            &claim.scope_date,
            &claim.region,
            &claim.service,
        );
        let entry = SigningKeyEntry {
            access_key_id: claim.access_key_id.clone(),
            secret: secret.to_owned(),
            scope_date: claim.scope_date.clone(),
            region: claim.region.clone(),
            service: claim.service.clone(),
            key,
        };
        if self.entries.len() < IAM_SIGNING_KEYS_CACHED_MAX {
            self.entries.push(entry);
        } else {
            self.entries[self.next] = entry;
            self.next = (self.next + 1) % IAM_SIGNING_KEYS_CACHED_MAX;
        }
        key
    }
}

/// A SigV4 failure as the gateway error, with its message (also `ws::auth`).
pub(crate) fn refuse(e: SigV4Error, message: &mut String) -> GatewayError {
    let denial = match &e {
        SigV4Error::MissingAuthenticationToken => IamDenial::MissingAuthenticationToken,
        SigV4Error::IncompleteSignature(_) => IamDenial::IncompleteSignature,
        SigV4Error::UnrecognizedClient => IamDenial::UnrecognizedClient,
        SigV4Error::SignatureExpired { .. } | SigV4Error::SignatureNotYetCurrent { .. } => {
            IamDenial::Expired
        }
        SigV4Error::SignatureMismatch
        | SigV4Error::InvalidSignature(_)
        | SigV4Error::PayloadTooLarge
        | SigV4Error::UnreadableBody => IamDenial::InvalidSignature,
    };
    *message = e.message();
    GatewayError::Iam(denial)
}

/// Writes a refusal: 403, AWS's `x-amzn-ErrorType` and `{"message": ...}`.
pub fn write_denial(
    denial: IamDenial,
    message: &str,
    rest: bool,
    a: &crate::respond::Answer<'_>,
    out: &mut Vec<u8>,
) {
    let crate::respond::Answer {
        request_id,
        connection,
        head_only,
        cors,
    } = *a;
    use crate::http1::write;
    let mut body = Vec::with_capacity(message.len() + 16);
    body.extend_from_slice(b"{\"message\":\"");
    crate::request::escape_json(&mut body, message.as_bytes());
    body.extend_from_slice(b"\"}");
    write::status_line(out, 403, write::reason(403));
    write::header(out, b"content-type", b"application/json");
    write::header(out, b"x-amzn-errortype", denial.error_type().as_bytes());
    write::header_u64(out, b"content-length", body.len() as u64);
    if rest {
        crate::respond::write_id_headers(out, request_id);
    } else {
        write::header(out, b"apigw-requestid", request_id.as_bytes());
    }
    if let Some((policy, origin)) = cors {
        policy.write_actual(origin, out);
    }
    connection.end_head(out);
    if !head_only {
        out.extend_from_slice(&body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_shared::sigv4::verify::{Claim, Timestamp};

    fn claim(id: &str, date: &str) -> Claim {
        Claim {
            access_key_id: id.into(),
            scope_date: date.into(),
            region: "us-east-1".into(),
            service: SERVICE.into(),
            signed_headers: "host".into(),
            signature: String::new(),
            timestamp: Timestamp {
                unix_s: 0,
                iso: format!("{date}T000000Z"),
            },
            expires_s: None,
        }
    }

    #[test]
    fn cached_signing_keys_are_the_derived_ones() {
        let mut cache = SigningKeys {
            entries: Vec::new(),
            next: 0,
        };
        let derive = |c: &Claim, secret: &str| {
            portico_shared::sigv4::signing_key(secret, &c.scope_date, &c.region, &c.service)
        };
        let a = claim("AKIDA", "20261126");
        assert_eq!(cache.get(&a, "s1"), derive(&a, "s1"));
        // A hit, and a different secret or day for the same id is never served the cached key.
        assert_eq!(cache.get(&a, "s1"), derive(&a, "s1"));
        assert_eq!(cache.get(&a, "s2"), derive(&a, "s2"));
        let next_day = claim("AKIDA", "20261127");
        assert_eq!(cache.get(&next_day, "s1"), derive(&next_day, "s1"));
        // Past capacity the oldest entries are replaced and answers stay right.
        for i in 0..(IAM_SIGNING_KEYS_CACHED_MAX * 2) {
            let c = claim(&format!("AKID{i}"), "20261126");
            assert_eq!(cache.get(&c, "s"), derive(&c, "s"));
        }
        assert_eq!(cache.entries.len(), IAM_SIGNING_KEYS_CACHED_MAX);
        assert_eq!(cache.get(&a, "s1"), derive(&a, "s1"));
    }
}
