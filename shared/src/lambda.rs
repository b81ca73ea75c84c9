//! Lambda functions as integration targets, compiled: which function, where its Invoke API is,
//! how calls are signed ([`LambdaTarget`]), and what a Lambda proxy integration (`AWS_PROXY`)
//! adds ([`LambdaProxy`]: payload format, binary media types).
//!
//! # Architecture
//! 1. [`LambdaEnv`] is read once from the environment the way the AWS SDKs read it (region,
//!    `AWS_ENDPOINT_URL_LAMBDA` over `AWS_ENDPOINT_URL`, credentials) and kept in the
//!    [`crate::compile::CompileContext`]; a [`LocalLambda`] hook sends functions that Portico
//!    hosts itself to the admin listener instead.
//! 2. [`compile_target`] parses the integration URI (a function ARN, or AWS's
//!    `arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations`), picks
//!    the endpoint and resolves its host name: the request path never does DNS.
//! 3. The data plane's `lambda.rs` signs and sends the Invoke call; `lambda_proxy.rs` builds the
//!    event and maps the function's answer.
//!
//! `https` endpoints (AWS's own, the default) are served by the data plane's TLS upstream client
//! (`dataplane/src/upstream_tls.rs`), with the endpoint's host as SNI.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwapOption;

use crate::limits::LAMBDA_FUNCTION_NAME_MAX;
use crate::sigv4::Credentials;

/// How the endpoint is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    /// Needs the TLS upstream client; refused at compile time until it exists.
    Https,
}

/// Where a Lambda Invoke API is served, resolved at compile time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaEndpoint {
    pub scheme: Scheme,
    pub host: Box<str>,
    pub port: u16,
    /// Resolved when compiled: no DNS on the request path.
    pub addr: SocketAddr,
    /// The `Host` header (and the signed `host`): `host`, or `host:port` for a non-default port.
    pub host_header: Box<str>,
    /// The TLS server name for `https` (the host).
    pub sni: Box<str>,
}

/// A function to invoke: what the data plane's Lambda client needs for one call.
#[derive(Debug, Clone)]
pub struct LambdaTarget {
    /// The function as the integration names it (ARN, or the name for self-hosted ones).
    pub function: Box<str>,
    /// `/2015-03-31/functions/{name}/invocations`. The function's name, not its ARN: Lambda
    /// takes either, and local endpoints (`cargo lambda watch`) only the name.
    pub invoke_path: Box<str>,
    /// `Qualifier={version or alias}` when the ARN names one; else empty.
    pub invoke_query: Box<str>,
    /// The signing region: the ARN's, else the environment's.
    pub region: Box<str>,
    pub endpoint: Arc<LambdaEndpoint>,
    /// What the call is signed with.
    pub signer: Signer,
    /// Served by Portico's own function host on the admin listener.
    pub self_hosted: bool,
    pub timeout_ms: u32,
}

/// The credentials an Invoke call is signed with.
#[derive(Debug, Clone)]
pub enum Signer {
    /// Fixed credentials (the environment's, or the admin's for self-hosted functions);
    /// `None`: the call is sent unsigned.
    Fixed(Option<Arc<Credentials>>),
    /// The integration's `credentials` role, assumed through STS by the admin side.
    Role(Arc<RoleSlot>),
}

/// The temporary credentials of one role, assumed (and renewed before they expire) by the
/// admin side's STS task; workers only load them.
#[derive(Debug)]
pub struct RoleSlot {
    pub role_arn: Box<str>,
    /// `None` until the first `AssumeRole` succeeded.
    pub credentials: ArcSwapOption<Credentials>,
    /// When they expire, in seconds since the epoch (0: none yet).
    pub expires_s: AtomicU64,
}

/// Role slots by role ARN, kept across recompiles so assumed credentials survive them.
#[derive(Debug, Default)]
pub struct RoleRegistry {
    slots: Mutex<HashMap<Box<str>, Weak<RoleSlot>>>,
}

/// The payload format of a Lambda proxy event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// REST APIs, and HTTP APIs with `payloadFormatVersion` 1.0.
    V1,
    /// HTTP APIs with `payloadFormatVersion` 2.0.
    V2,
}

/// An `AWS_PROXY` integration to a Lambda function.
#[derive(Debug)]
pub struct LambdaProxy {
    pub integration_id: Box<str>,
    pub target: LambdaTarget,
    pub format: PayloadFormat,
    /// A REST API's event (no `version` key; REST's errors and binary handling).
    pub rest: bool,
    /// `requestContext.accountId`.
    pub account_id: Box<str>,
    /// REST APIs: `binaryMediaTypes` (lowercase; `*/*` and `type/*` wildcards).
    pub binary_media_types: Vec<Box<str>>,
}

/// The Lambda settings of the environment, read once (the AWS SDKs' variables).
#[derive(Clone)]
pub struct LambdaEnv {
    /// `AWS_REGION`, `AWS_DEFAULT_REGION`, `PORTICO_REGION`, else `us-east-1`.
    pub region: String,
    /// `AWS_ENDPOINT_URL_LAMBDA`, else `AWS_ENDPOINT_URL`; `None`: AWS's public endpoint.
    pub endpoint_url: Option<String>,
    pub credentials: Option<Arc<Credentials>>,
    /// `PORTICO_ACCOUNT_ID`, else `000000000000`.
    pub account_id: String,
    /// The roles of integrations' `credentials`, shared by every compile.
    pub roles: Arc<RoleRegistry>,
    /// Functions Portico hosts itself; `None` until the function host fills it.
    pub local: Option<LocalLambda>,
}

/// The hook for self-hosted functions: their Invoke API is on the admin listener.
#[derive(Clone)]
pub struct LocalLambda {
    /// `http://{admin listener}`.
    pub endpoint_url: String,
    /// The admin credentials (`PORTICO_ADMIN_ACCESS_KEY_ID`/`..._SECRET_ACCESS_KEY`), if set.
    pub credentials: Option<Arc<Credentials>>,
    /// Whether a function name names a function Portico hosts.
    pub is_hosted: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

// === impl LambdaEnv ===

impl std::fmt::Debug for LambdaEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaEnv")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("credentials", &self.credentials.is_some())
            .field("account_id", &self.account_id)
            .field("local", &self.local.is_some())
            .finish()
    }
}

impl std::fmt::Debug for LocalLambda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLambda")
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

impl Default for LambdaEnv {
    fn default() -> LambdaEnv {
        LambdaEnv::from_vars(crate::system::env_var)
    }
}

impl LambdaEnv {
    /// Reads the settings through `var` (the process environment in [`Default`]).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> LambdaEnv {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let credentials = match (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some(Arc::new(Credentials::new(
                id,
                secret,
                set("AWS_SESSION_TOKEN"),
            ))),
            _ => None,
        };
        LambdaEnv {
            region: set("AWS_REGION")
                .or_else(|| set("AWS_DEFAULT_REGION"))
                .or_else(|| set("PORTICO_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
            endpoint_url: set("AWS_ENDPOINT_URL_LAMBDA").or_else(|| set("AWS_ENDPOINT_URL")),
            credentials,
            account_id: set("PORTICO_ACCOUNT_ID").unwrap_or_else(|| "000000000000".into()),
            roles: Arc::default(),
            local: None,
        }
    }
}

/// A function named by an integration URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// What the Invoke call names: the function ARN.
    pub function: String,
    /// The function's name (without qualifier): what the self-hosted predicate is asked.
    pub name: String,
    /// The version or alias the ARN ends with.
    pub qualifier: Option<String>,
    pub region: String,
}

/// Parses a function ARN (`arn:aws:lambda:{region}:{account}:function:{name}[:{qualifier}]`)
/// or AWS's invocation URI around one. `apigateway_form_only`: REST APIs accept only the
/// invocation URI.
pub fn parse_function_uri(uri: &str, apigateway_form_only: bool) -> Result<FunctionRef, String> {
    let arn = match uri.strip_prefix("arn:") {
        Some(rest) if rest.contains(":apigateway:") => {
            // arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations
            let (_, after) = rest
                .split_once(":lambda:path/2015-03-31/functions/")
                .ok_or_else(|| format!("integration URI '{uri}' is not a Lambda invocation URI: use arn:aws:apigateway:{{region}}:lambda:path/2015-03-31/functions/{{functionArn}}/invocations"))?;
            after
                .strip_suffix("/invocations")
                .ok_or_else(|| format!("integration URI '{uri}' must end with /invocations"))?
        }
        Some(_) if !apigateway_form_only => uri,
        _ => {
            return Err(if apigateway_form_only {
                format!("AWS_PROXY integration uri '{uri}' must be arn:aws:apigateway:{{region}}:lambda:path/2015-03-31/functions/{{functionArn}}/invocations")
            } else {
                format!("AWS_PROXY integrationUri '{uri}' must be a Lambda function ARN or arn:aws:apigateway:{{region}}:lambda:path/2015-03-31/functions/{{functionArn}}/invocations")
            })
        }
    };
    let parts: Vec<&str> = arn.split(':').collect();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.len() <= LAMBDA_FUNCTION_NAME_MAX
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let qualifier_ok = |q: &str| {
        !q.is_empty()
            && q.len() <= 128
            && q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$')
    };
    match parts.as_slice() {
        ["arn", partition, "lambda", region, account, "function", name, rest @ ..]
            if !partition.is_empty()
                && !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && valid_name(name)
                && (rest.is_empty() || (rest.len() == 1 && qualifier_ok(rest[0]))) =>
        {
            Ok(FunctionRef {
                function: arn.to_string(),
                name: (*name).to_string(),
                qualifier: rest.first().map(|q| (*q).to_string()),
                region: (*region).to_string(),
            })
        }
        _ => Err(format!(
            "'{arn}' is not a Lambda function ARN (arn:aws:lambda:{{region}}:{{account}}:function:{{name}}[:{{qualifier}}])"
        )),
    }
}

/// Parses `http://host[:port]` (an endpoint URL: no path) and resolves it.
pub fn resolve_endpoint(url: &str) -> Result<LambdaEndpoint, String> {
    let (scheme, rest, default_port) = if let Some(r) = url.strip_prefix("http://") {
        (Scheme::Http, r, 80)
    } else if let Some(r) = url.strip_prefix("https://") {
        (Scheme::Https, r, 443)
    } else {
        return Err(format!(
            "Lambda endpoint '{url}' must be an http:// or https:// URL"
        ));
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty()
        || authority.contains(['/', '@', '?', '#'])
        || authority
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!(
            "Lambda endpoint '{url}' must be scheme://host[:port] (no path, no user info)"
        ));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, p) = v6.split_once(']').ok_or_else(|| {
                format!("Lambda endpoint '{url}' has an unterminated IPv6 address")
            })?;
            let port = match p.strip_prefix(':') {
                None if p.is_empty() => default_port,
                Some(p) => p
                    .parse()
                    .map_err(|_| format!("Lambda endpoint '{url}' has an invalid port"))?,
                None => return Err(format!("Lambda endpoint '{url}' has an invalid port")),
            };
            (h, port)
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("Lambda endpoint '{url}' has an invalid port"))?,
            ),
            None => (authority, default_port),
        },
    };
    if host.is_empty() || port == 0 {
        return Err(format!(
            "Lambda endpoint '{url}' must name a host and a port above 0"
        ));
    }
    let addr = crate::system::lookup(host, port)
        .map_err(|e| format!("Lambda endpoint host '{host}' did not resolve: {e}"))?
        .min_by_key(|a| !a.is_ipv4())
        .ok_or_else(|| format!("Lambda endpoint host '{host}' did not resolve"))?;
    let host_header = if port == default_port {
        host.to_string()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(LambdaEndpoint {
        scheme,
        host: host.into(),
        port,
        addr,
        host_header: host_header.into(),
        sni: host.into(),
    })
}

/// Compiles the target of `uri` (stage variables already substituted).
pub fn compile_target(
    env: &LambdaEnv,
    uri: &str,
    apigateway_form_only: bool,
    role_arn: Option<&str>,
    timeout_ms: u32,
) -> Result<LambdaTarget, String> {
    let f = parse_function_uri(uri, apigateway_form_only)?;
    let local = env.local.as_ref().filter(|l| (l.is_hosted)(&f.name));
    let (url, signer) = match local {
        Some(l) => (l.endpoint_url.clone(), Signer::Fixed(l.credentials.clone())),
        None => (
            env.endpoint_url
                .clone()
                .unwrap_or_else(|| format!("https://lambda.{}.amazonaws.com", f.region)),
            match role_arn {
                Some(role) => Signer::Role(env.roles.slot(role)?),
                None => Signer::Fixed(env.credentials.clone()),
            },
        ),
    };
    let endpoint = resolve_endpoint(&url)?;
    let mut invoke_path = String::from("/2015-03-31/functions/");
    invoke_path.push_str(&f.name);
    invoke_path.push_str("/invocations");
    let mut invoke_query = String::new();
    if let Some(q) = &f.qualifier {
        invoke_query.push_str("Qualifier=");
        crate::sigv4::percent_encode(&mut invoke_query, q.as_bytes(), false);
    }
    Ok(LambdaTarget {
        function: f.function.into(),
        invoke_path: invoke_path.into(),
        invoke_query: invoke_query.into(),
        region: f.region.into(),
        endpoint: Arc::new(endpoint),
        signer,
        self_hosted: local.is_some(),
        timeout_ms,
    })
}

// === impl Signer ===

impl Signer {
    /// The credentials to sign with now: the fixed ones (`None`: unsigned), or the role's as
    /// last assumed (one atomic load). `Err` while STS has not answered for the role yet: the
    /// caller fails the call rather than send it unsigned or with the gateway's own keys.
    pub fn load(&self) -> Result<Option<Arc<Credentials>>, &'static str> {
        match self {
            Signer::Fixed(c) => Ok(c.clone()),
            Signer::Role(slot) => slot
                .credentials
                .load_full()
                .map(Some)
                .ok_or("role credentials not assumed yet"),
        }
    }
}

// === impl RoleRegistry ===

impl RoleRegistry {
    /// The slot of `role_arn` (`arn:aws:iam::{account}:role/{name}`), shared with earlier
    /// compiles while any snapshot uses it.
    pub fn slot(&self, role_arn: &str) -> Result<Arc<RoleSlot>, String> {
        let valid = role_arn
            .strip_prefix("arn:")
            .and_then(|r| r.split_once(":iam::"))
            .and_then(|(_, r)| r.split_once(":role/"))
            .is_some_and(|(account, name)| {
                account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && !name.is_empty()
                    && name.len() <= 512
                    && name.bytes().all(|b| b.is_ascii_graphic())
            });
        if !valid {
            return Err(format!(
                "credentials '{role_arn}' must be an IAM role ARN (arn:aws:iam::{{account}}:role/{{name}})"
            ));
        }
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|_, w| w.strong_count() > 0);
        if let Some(s) = slots.get(role_arn).and_then(Weak::upgrade) {
            return Ok(s);
        }
        let slot = Arc::new(RoleSlot {
            role_arn: role_arn.into(),
            credentials: ArcSwapOption::empty(),
            expires_s: AtomicU64::new(0),
        });
        slots.insert(role_arn.into(), Arc::downgrade(&slot));
        Ok(slot)
    }
}

/// The role slots `routes` use (each once): what the admin side's STS task keeps filled.
/// Lambda proxies, HTTP API first-class integrations and REST `AWS` integrations sign with
/// their `credentials` role.
pub fn role_slots<'a>(
    integrations: impl Iterator<Item = &'a crate::snapshot::Integration>,
) -> Vec<Arc<RoleSlot>> {
    use crate::snapshot::Integration;
    let mut out: Vec<Arc<RoleSlot>> = Vec::new();
    for i in integrations {
        let signer = match i {
            Integration::Lambda(p) => &p.target.signer,
            Integration::AwsService(s) => &s.target.signer,
            Integration::Http(h) => match &h.aws {
                Some(aws) => &aws.target.signer,
                None => continue,
            },
            Integration::HttpProxy(_) | Integration::Mock(_) => continue,
        };
        if let Signer::Role(slot) = signer {
            if !out.iter().any(|s| Arc::ptr_eq(s, slot)) {
                out.push(Arc::clone(slot));
            }
        }
    }
    out
}

/// What an `AWS_PROXY` integration is compiled from (REST and HTTP APIs alike).
#[derive(Debug, Clone, Copy)]
pub struct ProxyInput<'a> {
    pub integration_id: &'a str,
    /// The integration URI, `${stageVariables.x}` not yet substituted.
    pub uri: &'a str,
    pub vars: &'a BTreeMap<String, String>,
    /// A REST API: only AWS's invocation URI is accepted.
    pub rest: bool,
    pub role_arn: Option<&'a str>,
    pub timeout_ms: u32,
    pub format: PayloadFormat,
    /// REST APIs' `binaryMediaTypes`.
    pub binary_media_types: &'a [String],
}

/// Compiles an `AWS_PROXY` integration.
pub fn compile_proxy(env: &LambdaEnv, input: ProxyInput<'_>) -> Result<LambdaProxy, String> {
    let uri = substitute(input.uri, input.vars)?;
    let target = compile_target(env, &uri, input.rest, input.role_arn, input.timeout_ms)?;
    Ok(LambdaProxy {
        integration_id: input.integration_id.into(),
        target,
        format: input.format,
        rest: input.rest,
        account_id: env.account_id.as_str().into(),
        binary_media_types: binary_media_types(input.binary_media_types),
    })
}

/// Whether `content_type` (as sent; parameters allowed) matches one of REST's
/// `binaryMediaTypes` (`type/subtype`, `type/*` or `*/*`).
pub fn is_binary_media_type(types: &[Box<str>], content_type: &[u8]) -> bool {
    if types.is_empty() {
        return false;
    }
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let Some(slash) = essence.iter().position(|&b| b == b'/') else {
        return false;
    };
    types.iter().any(|t| {
        let t = t.as_bytes();
        t == b"*/*"
            || t.eq_ignore_ascii_case(essence)
            || (t.ends_with(b"/*") && t[..t.len() - 1].eq_ignore_ascii_case(&essence[..=slash]))
    })
}

/// HTTP APIs: whether a body of `content_type` is sent as text (else base64). AWS treats text
/// types, JSON, XML and JavaScript as text.
pub fn is_text_content_type(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let lower = |prefix: &[u8]| {
        essence.len() >= prefix.len() && essence[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    let ends = |suffix: &[u8]| {
        essence.len() >= suffix.len()
            && essence[essence.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    lower(b"text/")
        || ends(b"/json")
        || ends(b"+json")
        || ends(b"/xml")
        || ends(b"+xml")
        || ends(b"/javascript")
}

/// The binary media types of a REST API, lowercased.
pub fn binary_media_types(types: &[String]) -> Vec<Box<str>> {
    types
        .iter()
        .map(|t| t.trim().to_ascii_lowercase().into_boxed_str())
        .collect()
}

/// Stage variables substituted into `uri` (`${stageVariables.name}`).
pub fn substitute(uri: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    crate::compile::substitute_stage_variables(uri, vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_uris() {
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:echo";
        let f = parse_function_uri(arn, false).unwrap();
        assert_eq!((f.name.as_str(), f.region.as_str()), ("echo", "eu-west-1"));
        let uri = format!(
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/{arn}:live/invocations"
        );
        let f = parse_function_uri(&uri, true).unwrap();
        assert_eq!(f.function, format!("{arn}:live"));
        assert_eq!(f.name, "echo");
        for bad in [
            arn, // REST wants the invocation URI
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/x/invocations",
            "arn:aws:apigateway:eu-west-1:s3:path/bucket",
            "http://example.com",
        ] {
            assert!(parse_function_uri(bad, true).is_err(), "{bad}");
        }
        for bad in [
            "arn:aws:lambda:eu-west-1:1234:function:echo",
            "arn:aws:lambda:eu-west-1:123456789012:function:e/cho",
            "arn:aws:lambda:eu-west-1:123456789012:function:echo:a:b",
            "echo",
        ] {
            assert!(parse_function_uri(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints() {
        let e = resolve_endpoint("http://127.0.0.1:9001/").unwrap();
        assert_eq!((&*e.host_header, e.port), ("127.0.0.1:9001", 9001));
        let e = resolve_endpoint("http://127.0.0.1").unwrap();
        assert_eq!(&*e.host_header, "127.0.0.1");
        let https = resolve_endpoint("https://127.0.0.1").unwrap();
        assert_eq!(
            (https.scheme, https.port, &*https.sni),
            (Scheme::Https, 443, "127.0.0.1")
        );
        assert!(resolve_endpoint("http://h:1/path").is_err());
        assert!(resolve_endpoint("ftp://h").is_err());
    }

    #[test]
    fn targets_and_local_hook() {
        let mut env = LambdaEnv::from_vars(|n| {
            (n == "AWS_ENDPOINT_URL").then(|| "http://127.0.0.1:9001".to_string())
        });
        assert_eq!(env.region, "us-east-1");
        assert!(env.credentials.is_none());
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:echo";
        let t = compile_target(&env, arn, false, None, 1000).unwrap();
        assert_eq!(&*t.invoke_path, "/2015-03-31/functions/echo/invocations");
        assert_eq!(&*t.invoke_query, "");
        let live = compile_target(&env, &format!("{arn}:live"), false, None, 1000).unwrap();
        assert_eq!(&*live.invoke_query, "Qualifier=live");
        assert_eq!((&*t.region, t.self_hosted), ("eu-west-1", false));
        env.local = Some(LocalLambda {
            endpoint_url: "http://127.0.0.1:9002".into(),
            credentials: None,
            is_hosted: Arc::new(|name| name == "echo"),
        });
        let t = compile_target(&env, arn, false, None, 1000).unwrap();
        assert!(t.self_hosted);
        assert_eq!(t.endpoint.port, 9002);
        // Without an endpoint override the default is AWS's https endpoint in the ARN's region
        // (resolved when compiled: without DNS, the error names it).
        let plain = LambdaEnv::from_vars(|_| None);
        match compile_target(&plain, arn, false, None, 1000) {
            Ok(t) => assert_eq!(
                (t.endpoint.scheme, &*t.endpoint.sni),
                (Scheme::Https, "lambda.eu-west-1.amazonaws.com")
            ),
            Err(e) => assert!(e.contains("lambda.eu-west-1.amazonaws.com"), "{e}"),
        }
    }

    #[test]
    fn media_types() {
        let types = binary_media_types(&["image/png".into(), "application/*".into()]);
        assert!(is_binary_media_type(&types, b"image/png"));
        assert!(is_binary_media_type(
            &types,
            b"Application/Octet-Stream; x=1"
        ));
        assert!(!is_binary_media_type(&types, b"text/plain"));
        assert!(is_binary_media_type(
            &binary_media_types(&["*/*".into()]),
            b"text/plain"
        ));
        assert!(is_text_content_type(b"application/json; charset=utf-8"));
        assert!(is_text_content_type(b"text/html"));
        assert!(is_text_content_type(b"application/vnd.api+json"));
        assert!(!is_text_content_type(b"application/octet-stream"));
        assert!(!is_text_content_type(b"image/png"));
    }
}
