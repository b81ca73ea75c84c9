//! IAM for `execute-api`: policy documents compiled for evaluation on the request path, and the
//! credential table the data plane verifies SigV4 signatures against.
//!
//! # Architecture
//! 1. [`Policy::parse`] reads an IAM policy document (identity policies from the admin's IAM
//!    store, resource policies from a REST API's `policy`) into statements with glob patterns
//!    (`*`, `?`) for actions and resources, principals and conditions. Anything Portico cannot
//!    evaluate (an unknown condition operator or key) is refused here, never ignored.
//! 2. [`Policy::evaluate`] answers one request: explicit `Deny` wins, then `Allow`, else
//!    [`Decision::Implicit`]. [`combine`] joins an identity and a resource policy decision the
//!    way AWS does within one account (deny anywhere denies; an allow from either grants).
//! 3. [`IamTable`]: access key id → [`AccessKey`] (secret, status, [`Principal`] with its
//!    compiled policies), immutable and published in the `Snapshot`. A change copies the table's
//!    map of pointers and replaces one principal's keys; policies are compiled once and shared.
//!
//! Invariants: no allocation in [`glob`]; a secret never appears in a `Debug` output.

use crate::limits::POLICY_MAX_CHARS;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

/// The action every data plane request is checked for.
pub const INVOKE: &str = "execute-api:Invoke";

/// A compiled policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    statements: Box<[Statement]>,
}

/// What a policy (or a pair of them) says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A `Deny` statement matched.
    ExplicitDeny,
    /// Nothing matched.
    Implicit,
}

/// What a request is, for evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub action: &'a str,
    /// `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{path}`.
    pub resource: &'a str,
    /// The caller's ARN; `None` for an anonymous caller.
    pub principal: Option<&'a str>,
    pub source_ip: IpAddr,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    deny: bool,
    /// `None`: an identity policy's statement (no `Principal` element).
    principals: Option<Principals>,
    actions: Patterns,
    resources: Patterns,
    conditions: Box<[Condition]>,
}

/// Glob patterns, or their complement (`NotAction`, `NotResource`).
#[derive(Debug, Clone, PartialEq)]
struct Patterns {
    patterns: Box<[Box<str>]>,
    negated: bool,
    /// Actions compare case-insensitively, resources exactly.
    case_insensitive: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Principals {
    /// `"*"` or `{"AWS": "*"}`: anyone, signed or not.
    Anyone,
    /// IAM principals: exact ARNs, or accounts (`123456789012`, `arn:aws:iam::123456789012:root`)
    /// which stand for every principal of that account.
    Aws(Box<[Box<str>]>),
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    /// `IpAddress` (`negated: false`) / `NotIpAddress` on `aws:SourceIp`.
    SourceIp { nets: Box<[Cidr]>, negated: bool },
    /// `StringEquals` / `StringNotEquals` on `aws:SourceVpc` / `aws:SourceVpce`. A self-hosted
    /// gateway has no VPC: the key is always absent, so `StringEquals` never matches and
    /// `StringNotEquals` always does (IAM's rule for a missing key).
    VpcKey { negated: bool },
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Every access key the data plane accepts, by id. Immutable once published.
#[derive(Debug, Clone, Default)]
pub struct IamTable {
    /// `PORTICO_ACCOUNT_ID`: the account in every ARN.
    pub account_id: Box<str>,
    /// `PORTICO_REGION`: the region in `execute-api` ARNs.
    pub region: Box<str>,
    keys: HashMap<Box<str>, Arc<AccessKey>, foldhash::fast::FixedState>,
}

/// One access key as the data plane sees it.
pub struct AccessKey {
    pub id: Box<str>,
    /// Kept in the clear: SigV4 verification derives signing keys from it.
    secret: Box<str>,
    pub active: bool,
    pub principal: Arc<Principal>,
}

/// A user (or the account root) with its effective policies.
#[derive(Debug)]
pub struct Principal {
    /// `arn:aws:iam::{account}:user/{path}{name}` or `arn:aws:iam::{account}:root`.
    pub arn: Box<str>,
    /// `$context.identity.user` / `caller`: the user id (`AIDA...`), the account for root.
    pub user_id: Box<str>,
    /// The admin credentials: allowed everything.
    pub root: bool,
    /// Attached managed policies and inline policies, compiled.
    pub policies: Box<[Arc<Policy>]>,
}

/// `PORTICO_ACCOUNT_ID`, else `000000000000`: the account in every ARN.
pub fn account_id() -> String {
    crate::system::env_var("PORTICO_ACCOUNT_ID")
        .filter(|v| v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| "000000000000".into())
}

/// `PORTICO_REGION`, else `AWS_REGION`, else `us-east-1`: the region in `execute-api` ARNs.
pub fn region() -> String {
    ["PORTICO_REGION", "AWS_REGION"]
        .iter()
        .find_map(|n| crate::system::env_var_set(n))
        .unwrap_or_else(|| "us-east-1".into())
}

// === impl Policy ===

impl Policy {
    /// Parses and compiles a policy document. `resource_policy`: statements must name a
    /// `Principal` and `execute-api:/...` resources expand with `arn_prefix`
    /// (`arn:aws:execute-api:{region}:{account}:{apiId}`); identity policies must not name one.
    pub fn parse(
        text: &str,
        resource_policy: bool,
        arn_prefix: &str,
    ) -> Result<Policy, Vec<String>> {
        if text.len() > POLICY_MAX_CHARS {
            return Err(vec![format!(
                "Policy document must be at most {POLICY_MAX_CHARS} characters"
            )]);
        }
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| vec![format!("Syntax errors in policy: {e}")])?;
        let Some(obj) = doc.as_object() else {
            return Err(vec!["Policy document must be a JSON object".into()]);
        };
        let mut problems = Vec::new();
        if let Some(v) = obj.get("Version") {
            if !matches!(v.as_str(), Some("2012-10-17" | "2008-10-17")) {
                problems.push("Policy Version must be 2012-10-17 or 2008-10-17".into());
            }
        }
        let statements: Vec<&Value> = match obj.get("Statement") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(s @ Value::Object(_)) => vec![s],
            _ => {
                problems.push("Policy document must contain a Statement".into());
                Vec::new()
            }
        };
        let mut compiled = Vec::new();
        for (i, s) in statements.into_iter().enumerate() {
            match Statement::parse(s, resource_policy, arn_prefix) {
                Ok(s) => compiled.push(s),
                Err(p) => problems.extend(p.into_iter().map(|m| format!("Statement {i}: {m}"))),
            }
        }
        if problems.is_empty() {
            Ok(Policy {
                statements: compiled.into(),
            })
        } else {
            Err(problems)
        }
    }

    /// Explicit deny, else allow, else implicit.
    pub fn evaluate(&self, req: &Request<'_>, account_id: &str) -> Decision {
        let mut allowed = false;
        for s in self.statements.iter() {
            if s.applies(req, account_id) {
                if s.deny {
                    return Decision::ExplicitDeny;
                }
                allowed = true;
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::Implicit
        }
    }
}

/// Several policies' decisions as one (a principal's identity policies).
pub fn evaluate_all<'p>(
    policies: impl IntoIterator<Item = &'p Policy>,
    req: &Request<'_>,
    account_id: &str,
) -> Decision {
    let mut d = Decision::Implicit;
    for p in policies {
        d = combine(d, p.evaluate(req, account_id));
        if d == Decision::ExplicitDeny {
            break;
        }
    }
    d
}

/// Two decisions in one account: a deny in either denies; an allow in either grants.
pub fn combine(a: Decision, b: Decision) -> Decision {
    match (a, b) {
        (Decision::ExplicitDeny, _) | (_, Decision::ExplicitDeny) => Decision::ExplicitDeny,
        (Decision::Allow, _) | (_, Decision::Allow) => Decision::Allow,
        (Decision::Implicit, Decision::Implicit) => Decision::Implicit,
    }
}

// === impl Statement ===

/// A string or an array of strings.
fn strings(v: &Value) -> Option<Vec<&str>> {
    match v {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(a) => a.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

impl Statement {
    fn parse(v: &Value, resource_policy: bool, arn_prefix: &str) -> Result<Statement, Vec<String>> {
        let mut problems = Vec::new();
        let Some(o) = v.as_object() else {
            return Err(vec!["a statement must be a JSON object".into()]);
        };
        let deny = match o.get("Effect").and_then(Value::as_str) {
            Some("Allow") => false,
            Some("Deny") => true,
            _ => {
                problems.push("Effect must be \"Allow\" or \"Deny\"".into());
                false
            }
        };
        let mut patterns = |yes: &str, no: &str, ci: bool, expand: bool| -> Patterns {
            let (v, negated) = match (o.get(yes), o.get(no)) {
                (Some(v), None) => (v, false),
                (None, Some(v)) => (v, true),
                _ => {
                    problems.push(format!("exactly one of {yes} and {no} is required"));
                    return Patterns {
                        patterns: Box::new([]),
                        negated: false,
                        case_insensitive: ci,
                    };
                }
            };
            let list = strings(v).unwrap_or_else(|| {
                problems.push(format!("{yes} must be a string or a list of strings"));
                Vec::new()
            });
            let patterns = list
                .into_iter()
                .map(|p| match p.strip_prefix("execute-api:") {
                    Some(rest) if expand && rest.starts_with('/') => {
                        format!("{arn_prefix}{rest}").into_boxed_str()
                    }
                    _ => p.into(),
                })
                .collect();
            Patterns {
                patterns,
                negated,
                case_insensitive: ci,
            }
        };
        let actions = patterns("Action", "NotAction", true, false);
        let resources = patterns("Resource", "NotResource", false, resource_policy);
        let principals = match (o.get("Principal"), resource_policy) {
            (Some(p), true) => match parse_principals(p) {
                Some(p) => Some(p),
                None => {
                    problems.push(
                        "Principal must be \"*\" or {\"AWS\": ARN, account id or a list of them}"
                            .into(),
                    );
                    None
                }
            },
            (None, true) => {
                problems.push("a resource policy statement must name a Principal".into());
                None
            }
            (Some(_), false) => {
                problems.push("an identity policy may not name a Principal".into());
                None
            }
            (None, false) => None,
        };
        if o.contains_key("NotPrincipal") {
            problems.push("NotPrincipal is not supported".into());
        }
        let conditions = match o.get("Condition") {
            None => Vec::new(),
            Some(c) => parse_conditions(c, &mut problems),
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Statement {
            deny,
            principals,
            actions,
            resources,
            conditions: conditions.into(),
        })
    }

    fn applies(&self, req: &Request<'_>, account_id: &str) -> bool {
        if let Some(p) = &self.principals {
            if !p.matches(req.principal, account_id) {
                return false;
            }
        }
        self.actions.matches(req.action)
            && self.resources.matches(req.resource)
            && self.conditions.iter().all(|c| c.holds(req))
    }
}

fn parse_principals(v: &Value) -> Option<Principals> {
    match v {
        Value::String(s) if s == "*" => Some(Principals::Anyone),
        Value::Object(o) if o.len() == 1 => {
            let list = strings(o.get("AWS")?)?;
            if list.contains(&"*") {
                return Some(Principals::Anyone);
            }
            Some(Principals::Aws(list.into_iter().map(Into::into).collect()))
        }
        _ => None,
    }
}

fn parse_conditions(v: &Value, problems: &mut Vec<String>) -> Vec<Condition> {
    let Some(ops) = v.as_object() else {
        problems.push("Condition must be a JSON object".into());
        return Vec::new();
    };
    let mut out = Vec::new();
    for (op, keys) in ops {
        let Some(keys) = keys.as_object() else {
            problems.push(format!("Condition {op} must map keys to values"));
            continue;
        };
        for (key, values) in keys {
            let Some(values) = strings(values) else {
                problems.push(format!("Condition {op} {key}: values must be strings"));
                continue;
            };
            let key_l = key.to_ascii_lowercase();
            match (op.as_str(), key_l.as_str()) {
                ("IpAddress" | "NotIpAddress", "aws:sourceip") => {
                    let mut nets = Vec::new();
                    for v in values {
                        match Cidr::parse(v) {
                            Some(c) => nets.push(c),
                            None => problems.push(format!(
                                "Condition {op} aws:SourceIp: '{v}' is not an IP address or CIDR"
                            )),
                        }
                    }
                    out.push(Condition::SourceIp {
                        nets: nets.into(),
                        negated: op == "NotIpAddress",
                    });
                }
                ("StringEquals" | "StringNotEquals", "aws:sourcevpc" | "aws:sourcevpce") => out
                    .push(Condition::VpcKey {
                        negated: op == "StringNotEquals",
                    }),
                _ => problems.push(format!(
                    "Condition {op} on {key} is not supported: Portico evaluates IpAddress and \
                     NotIpAddress on aws:SourceIp, StringEquals and StringNotEquals on \
                     aws:SourceVpc and aws:SourceVpce"
                )),
            }
        }
    }
    out
}

// === impl Patterns, Principals, Condition ===

impl Patterns {
    fn matches(&self, value: &str) -> bool {
        let any = self.patterns.iter().any(|p| {
            if self.case_insensitive {
                glob_ci(p.as_bytes(), value.as_bytes())
            } else {
                glob(p.as_bytes(), value.as_bytes())
            }
        });
        any != self.negated
    }
}

impl Principals {
    fn matches(&self, principal: Option<&str>, account_id: &str) -> bool {
        match self {
            Principals::Anyone => true,
            Principals::Aws(list) => {
                let Some(arn) = principal else {
                    return false;
                };
                list.iter().any(|p| {
                    let p: &str = p;
                    p == arn
                        || (p == account_id
                            || p.strip_prefix("arn:aws:iam::")
                                .and_then(|r| r.strip_suffix(":root"))
                                == Some(account_id))
                            && arn
                                .strip_prefix("arn:aws:iam::")
                                .and_then(|r| r.strip_prefix(account_id))
                                .is_some_and(|r| r.starts_with(':'))
                })
            }
        }
    }
}

impl Condition {
    fn holds(&self, req: &Request<'_>) -> bool {
        match self {
            Condition::SourceIp { nets, negated } => {
                nets.iter().any(|n| n.contains(req.source_ip)) != *negated
            }
            Condition::VpcKey { negated } => *negated,
        }
    }
}

// === impl Cidr ===

impl Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

// === glob ===

/// `*` matches any run of bytes (also none), `?` exactly one; everything else itself.
pub fn glob(pattern: &[u8], value: &[u8]) -> bool {
    glob_by(pattern, value, |a, b| a == b)
}

/// [`glob`], ASCII case-insensitive (IAM actions).
pub fn glob_ci(pattern: &[u8], value: &[u8]) -> bool {
    glob_by(pattern, value, |a, b| a.eq_ignore_ascii_case(&b))
}

/// Linear backtracking matcher (one saved star position): O(pattern × value) worst case.
fn glob_by(p: &[u8], v: &[u8], eq: impl Fn(u8, u8) -> bool) -> bool {
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == b'?' || (p[pi] != b'*' && eq(p[pi], v[vi]))) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

// === impl IamTable ===

impl IamTable {
    pub fn new(account_id: &str, region: &str) -> IamTable {
        IamTable {
            account_id: account_id.into(),
            region: region.into(),
            keys: HashMap::default(),
        }
    }

    pub fn key(&self, id: &str) -> Option<&AccessKey> {
        self.keys.get(id).map(|k| &**k)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The ids of the keys whose principal's ARN satisfies `f` (a scan: admin side only).
    pub fn key_ids_where(&self, f: impl Fn(&str) -> bool) -> Vec<Box<str>> {
        self.keys
            .values()
            .filter(|k| f(&k.principal.arn))
            .map(|k| k.id.clone())
            .collect()
    }

    /// This table with `keys` added or replaced and `removed` gone; every other entry is shared.
    pub fn with(&self, keys: Vec<AccessKey>, removed: &[&str]) -> IamTable {
        let mut next = self.clone();
        for id in removed {
            next.keys.remove(*id);
        }
        for k in keys {
            next.keys.insert(k.id.clone(), Arc::new(k));
        }
        next
    }

    /// `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}{path}` into `out`.
    pub fn write_resource_arn(
        &self,
        out: &mut String,
        api_id: &str,
        stage: &str,
        method: &str,
        path: &str,
    ) {
        out.clear();
        out.push_str("arn:aws:execute-api:");
        out.push_str(&self.region);
        out.push(':');
        out.push_str(&self.account_id);
        out.push(':');
        out.push_str(api_id);
        out.push('/');
        out.push_str(stage);
        out.push('/');
        out.push_str(method);
        if !path.starts_with('/') {
            out.push('/');
        }
        out.push_str(path);
    }

    /// The prefix `execute-api:/...` resources expand to for API `api_id`.
    pub fn api_arn_prefix(&self, api_id: &str) -> String {
        format!(
            "arn:aws:execute-api:{}:{}:{api_id}",
            self.region, self.account_id
        )
    }
}

// === impl AccessKey ===

impl AccessKey {
    pub fn new(id: &str, secret: &str, active: bool, principal: Arc<Principal>) -> AccessKey {
        AccessKey {
            id: id.into(),
            secret: secret.into(),
            active,
            principal,
        }
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The principal's identity policies' decision (root: always allowed).
    pub fn decide(&self, req: &Request<'_>, account_id: &str) -> Decision {
        if self.principal.root {
            return Decision::Allow;
        }
        evaluate_all(
            self.principal.policies.iter().map(|p| &**p),
            req,
            account_id,
        )
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("active", &self.active)
            .field("principal", &self.principal.arn)
            .finish()
    }
}

#[cfg(test)]
mod tests;
