//! The compiled, immutable configuration the data plane reads: the types only. The compiler
//! that builds them from the configuration model is [`crate::compile`].
//!
//! Invariants: a snapshot is never mutated after [`crate::compile::compile`] returns; a failed
//! compile publishes nothing; it is published through an `ArcSwap<Snapshot>` and workers read it
//! without locking. Per-core state is keyed by stable ids ([`Route::stats_key`], upstream socket
//! address), never by indexes into a snapshot, so it survives a swap.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

use http::Method;

use crate::keys::Usage;
use crate::model::rest::ApiKeySource;
use crate::model::{ProtocolType, DEFAULT_STAGE};
use crate::router::Router;
use crate::throttle::Bucket;

pub(crate) type Hasher = foldhash::fast::FixedState;

/// Everything the data plane needs to answer requests, compiled.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases with every publish; workers notice a new snapshot by it.
    pub generation: u64,
    /// Compiled APIs, shared between snapshots: a change recompiles only the API it touches.
    pub(crate) apis: HashMap<Box<str>, Arc<Api>, Hasher>,
    /// API keys and usage plans (REST APIs), shared between snapshots: a key change does not
    /// touch the APIs, an API change does not touch the keys.
    pub usage: Arc<Usage>,
    /// IAM access keys and their principals (`AWS_IAM` authorization), shared between
    /// snapshots like `usage`.
    pub iam: Arc<crate::iam::IamTable>,
    /// Custom domain names: API mappings and TLS configurations (`domain.rs`), shared between
    /// snapshots like the keys.
    pub domains: Arc<crate::domain::Domains>,
}

/// One API, compiled.
#[derive(Debug)]
pub struct Api {
    pub id: Box<str>,
    pub protocol: ProtocolType,
    pub disable_execute_api_endpoint: bool,
    /// REST APIs: where API keys come from.
    pub api_key_source: ApiKeySource,
    /// HTTP APIs: `corsConfiguration`, answered by the gateway; `None` costs one branch.
    pub cors: Option<Box<crate::cors::CorsPolicy>>,
    /// The JWT key slots this API's stages use: the admin side's fetcher fills them.
    pub key_slots: Vec<Arc<crate::jwt::KeySlot>>,
    /// WebSocket APIs: the route selection expression; `None` for other APIs.
    pub websocket: Option<Box<crate::websocket::WsApi>>,
    /// REST APIs: the resource policy (`policy`), compiled; `None` costs one branch.
    pub resource_policy: Option<Box<crate::iam::Policy>>,
    /// REST APIs with `endpointConfiguration.types = [PRIVATE]`: served only to callers the
    /// resource policy allows (no policy: nobody).
    pub private: bool,
    /// The roles this API's Lambda integrations are invoked with: the admin side's STS task
    /// assumes them.
    pub role_slots: Vec<Arc<crate::lambda::RoleSlot>>,
    /// The VPC link pools this API's stages use: the admin side's health checker probes them.
    pub target_pools: Vec<Arc<crate::vpc_link::TargetPool>>,
    /// Named stages, selected by the first path segment.
    pub(crate) stages: HashMap<Box<str>, Stage, Hasher>,
    /// The `$default` stage, served without a path prefix.
    pub(crate) default_stage: Option<Stage>,
}

/// One stage of an API: its router and route table.
#[derive(Debug)]
pub struct Stage {
    pub name: Box<str>,
    pub router: Router,
    pub routes: Vec<Route>,
    pub variables: BTreeMap<String, String>,
    /// REST APIs: the gateway responses this stage's deployment customises.
    pub gateway_responses: crate::gateway_response::GatewayResponses,
    /// REST APIs: the stage's response cache, when `cacheClusterEnabled`.
    pub cache: Option<crate::cache::StageCache>,
    /// WebSocket APIs: the routes (the router and `routes` are empty).
    pub websocket: Option<Box<crate::websocket::WsStage>>,
    /// REST APIs: `canarySettings`; `None` (the common case) costs one branch per request.
    pub canary: Option<Box<Canary>>,
    /// This is a canary's stage: its routes' stats are reported as stage `{name}/canary`.
    pub is_canary: bool,
    /// `accessLogSettings` compiled; `None` (no access log) costs one branch per request.
    pub access_log: Option<Arc<crate::access_log::AccessLog>>,
}

/// A REST stage's canary release.
#[derive(Debug)]
pub struct Canary {
    /// `percentTraffic` in hundredths of a percent, 0 to 10,000: a request goes to the canary
    /// when a roll in `0..10_000` falls below it (0 never, 10,000 always).
    pub share_bp: u32,
    /// The canary deployment compiled with the canary's variables.
    pub stage: Stage,
}

/// One route as the data plane needs it.
#[derive(Debug)]
pub struct Route {
    pub route_key: Box<str>,
    /// Stable across snapshots: a hash of (api id, stage name, route key). Stats are keyed by it.
    pub stats_key: u64,
    /// `None`: the route has no target; answered 500 as AWS does.
    pub integration: Option<Arc<Integration>>,
    /// The stage's throttle for this route (its own settings, else the stage default), shared
    /// by every worker.
    pub throttle: Option<Arc<Bucket>>,
    /// REST APIs: the method's settings.
    pub rest: Option<RestMethod>,
    /// HTTP APIs: the route's JWT authorizer; `None` (open) costs the data plane one branch.
    pub auth: Option<Box<crate::jwt::RouteAuth>>,
    /// `authorizationType: CUSTOM`: the Lambda authorizer deciding; `None` costs one branch.
    pub lambda_auth: Option<Arc<crate::authorizer::LambdaAuthorizer>>,
    /// `authorizationType: AWS_IAM`: the request must be SigV4-signed by an IAM principal
    /// allowed `execute-api:Invoke` on it.
    pub aws_iam: bool,
}

/// What a REST method adds to a route.
#[derive(Debug)]
pub struct RestMethod {
    /// The resource path, `/pets/{id}` (`$context.resourcePath`).
    pub resource_path: Box<str>,
    /// The resource's id (`$context.resourceId`, Lambda's `requestContext.resourceId`).
    pub resource_id: Box<str>,
    pub http_method: Box<str>,
    /// The usage plan per-method throttle key: `/pets/{id}/GET`.
    pub plan_method_key: Box<str>,
    pub api_key_required: bool,
    /// How the method uses the stage cache; `None`: not cached (or the stage has no cache).
    pub caching: Option<crate::cache::MethodCache>,
    /// What the method's request validator checks; `None` (the common case) costs the data
    /// plane one branch.
    pub validation: Option<Box<crate::validation::Validation>>,
    /// Execution logging (`logging/loglevel`, `logging/dataTrace`); `Off` costs one branch.
    pub trace: Trace,
}

/// A REST method's execution logging: which steps are recorded, and whether bodies are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trace {
    pub level: TraceLevel,
    /// `dataTraceEnabled`: request and response bodies and headers too (truncated).
    pub data: bool,
}

/// `loggingLevel`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum TraceLevel {
    #[default]
    Off,
    /// Failed steps only.
    Error,
    /// Every step.
    Info,
    /// `TestInvokeMethod`: every step, handed back in the response to the admin side instead
    /// of the log sinks.
    Capture,
}

/// The internal `loglevel` of the stage `TestInvokeMethod` compiles (never accepted from a user).
pub const TEST_INVOKE_LOG_LEVEL: &str = "TEST_INVOKE";

impl Trace {
    /// From a method setting's `loggingLevel` and `dataTraceEnabled`.
    pub fn from_setting(level: &str, data: bool) -> Trace {
        let level = match level {
            "ERROR" => TraceLevel::Error,
            "INFO" => TraceLevel::Info,
            TEST_INVOKE_LOG_LEVEL => TraceLevel::Capture,
            _ => TraceLevel::Off,
        };
        Trace {
            level,
            data: data && level != TraceLevel::Off,
        }
    }
}

/// A compiled integration.
#[derive(Debug)]
pub enum Integration {
    HttpProxy(HttpProxy),
    /// REST `MOCK`: answered by the gateway from the integration response.
    Mock(Mock),
    /// REST `HTTP` (non-proxy): parameter mapping in, integration responses out; REST `AWS`
    /// too (`HttpMapped::aws` says how to sign).
    Http(HttpMapped),
    /// HTTP API first-class integrations (`AWS_PROXY` with an `integrationSubtype`).
    AwsService(crate::aws::AwsService),
    /// `AWS_PROXY` to a Lambda function (REST, and HTTP APIs with payload format 1.0 or 2.0).
    Lambda(crate::lambda::LambdaProxy),
}

/// How a REST `AWS` integration's requests are signed and typed.
#[derive(Debug)]
pub struct RestAws {
    pub target: crate::aws::AwsTarget,
    /// `X-Amz-Target` and content type of a JSON-protocol action.
    pub json_target: Option<(Box<str>, &'static str)>,
}

/// A REST `HTTP` integration: only mapped parameters reach the upstream, and its answer is
/// mapped by the integration response its status selects.
#[derive(Debug)]
pub struct HttpMapped {
    /// Upstream address, host, path template (parameters already mapped to the method's path
    /// parameters), fixed query, method and timeout.
    pub target: HttpProxy,
    /// `integration.request.header.NAME` ← source.
    pub headers: Vec<(Box<str>, crate::template::Source)>,
    /// `integration.request.querystring.NAME` ← source.
    pub query: Vec<(Box<str>, crate::template::Source)>,
    /// Request templates by content type (lowercase).
    pub templates: Vec<(Box<str>, crate::template::Template)>,
    pub passthrough: Passthrough,
    pub responses: Vec<MappedResponse>,
    /// Upstream status (100 to 599, index `status - 100`) → index into `responses`; `u16::MAX`:
    /// no integration response matches (answered 500, as AWS).
    pub select: Box<[u16]>,
    /// A REST `AWS` integration: the request is signed for this service.
    pub aws: Option<Box<RestAws>>,
}

/// `passthroughBehavior`: what a request whose content type has no template gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passthrough {
    /// Sent as is (the default).
    WhenNoMatch,
    /// Sent as is only if the integration has no templates at all; else 415.
    WhenNoTemplates,
    /// Always 415.
    Never,
}

/// One integration response of an `HTTP` or `MOCK` integration: the method response it makes.
#[derive(Debug)]
pub struct MappedResponse {
    pub status: u16,
    /// `method.response.header.NAME` ← source.
    pub headers: Vec<(Box<str>, crate::template::Source)>,
    /// The `application/json` response template; `None` passes the upstream body through (a
    /// mock has none: an empty body).
    pub body: Option<crate::template::Template>,
}

impl HttpMapped {
    /// The integration response for upstream status `status`.
    pub fn response_for(&self, status: u16) -> Option<&MappedResponse> {
        let i = *self.select.get(usize::from(status).checked_sub(100)?)?;
        self.responses.get(usize::from(i))
    }
}

/// A `MOCK` integration, its response chosen at compile time.
#[derive(Debug)]
pub struct Mock {
    /// `None`: no integration response matches; answered 500 as AWS does.
    pub response: Option<MappedResponse>,
}

/// `HTTP_PROXY` (payload format 1.0): forward the request to an HTTP upstream.
#[derive(Debug)]
pub struct HttpProxy {
    pub integration_id: Box<str>,
    /// `None` forwards the downstream method (`ANY`).
    pub method: Option<Method>,
    /// The URI's host and its current address, kept fresh by the admin side's resolver
    /// (`dns.rs`): no DNS on the request path. With a VPC link, the pool's first target (the
    /// pool decides per request).
    pub upstream: Arc<crate::dns::HostSlot>,
    /// `https://` URIs: the server name (SNI and certificate check) from the URI's host.
    pub tls: Option<Box<str>>,
    /// `connectionType: VPC_LINK`: the targets to balance across.
    pub pool: Option<Arc<crate::vpc_link::TargetPool>>,
    /// The `Host` header sent upstream (`host` or `host:port`).
    pub host_header: Box<str>,
    /// The upstream path, stage variables already substituted.
    pub path: Vec<PathPart>,
    /// Query string fixed in the integration URI (without `?`), merged before the downstream one.
    pub query: Box<str>,
    /// The URI's path has no `{param}`: a greedy or `$default` match appends the request path.
    pub append_request_path: bool,
    pub timeout_ms: u32,
    /// HTTP APIs: `requestParameters`; `None` forwards the request as received.
    pub request_mapping: Option<Box<crate::mapping::RequestMapping>>,
    /// HTTP APIs: `responseParameters` by upstream status; `None` passes responses through.
    pub response_mapping: Option<Box<crate::mapping::ResponseMappings>>,
}

/// A piece of an upstream path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    Literal(Box<str>),
    /// `{name}` or `{name+}`: replaced by the captured parameter's raw value.
    Param(Box<str>),
}

// === impl Snapshot ===

impl Snapshot {
    /// A snapshot that serves nothing (every request: 404).
    pub fn empty(generation: u64) -> Snapshot {
        Snapshot {
            generation,
            apis: HashMap::default(),
            usage: Arc::default(),
            iam: Arc::default(),
            domains: Arc::default(),
        }
    }

    pub fn api(&self, id: &str) -> Option<&Api> {
        self.apis.get(id).map(|a| &**a)
    }

    pub fn apis(&self) -> impl Iterator<Item = &Arc<Api>> {
        self.apis.values()
    }

    /// A snapshot of already compiled APIs.
    pub fn from_apis(generation: u64, apis: impl IntoIterator<Item = Arc<Api>>) -> Snapshot {
        Snapshot {
            generation,
            apis: apis.into_iter().map(|a| (a.id.clone(), a)).collect(),
            usage: Arc::default(),
            iam: Arc::default(),
            domains: Arc::default(),
        }
    }

    /// This snapshot with `usage` (keys and plans) replaced; the APIs are shared, not copied.
    pub fn with_usage(&self, generation: u64, usage: Arc<Usage>) -> Snapshot {
        Snapshot {
            generation,
            apis: self.apis.clone(),
            usage,
            iam: Arc::clone(&self.iam),
            domains: Arc::clone(&self.domains),
        }
    }

    /// This snapshot with `iam` (access keys and principals) replaced; nothing else copied.
    pub fn with_iam(&self, generation: u64, iam: Arc<crate::iam::IamTable>) -> Snapshot {
        Snapshot {
            generation,
            apis: self.apis.clone(),
            usage: Arc::clone(&self.usage),
            iam,
            domains: Arc::clone(&self.domains),
        }
    }

    /// This snapshot with the custom domain names replaced; the APIs are shared, not copied.
    pub fn with_domains(&self, generation: u64, domains: Arc<crate::domain::Domains>) -> Snapshot {
        Snapshot {
            generation,
            apis: self.apis.clone(),
            usage: Arc::clone(&self.usage),
            iam: Arc::clone(&self.iam),
            domains,
        }
    }

    /// This snapshot with `api` added or replaced; every other API is shared, not copied.
    /// This snapshot with `api` also reachable under `key` (which names no API: `TestInvokeMethod`
    /// publishes its draft compilation under a key holding a per-process secret).
    pub fn with_api_as(&self, generation: u64, key: &str, api: Arc<Api>) -> Snapshot {
        let mut apis = self.apis.clone();
        apis.insert(key.into(), api);
        Snapshot {
            generation,
            apis,
            usage: Arc::clone(&self.usage),
            iam: Arc::clone(&self.iam),
            domains: Arc::clone(&self.domains),
        }
    }

    pub fn with_api(&self, generation: u64, api: Arc<Api>) -> Snapshot {
        let mut apis = self.apis.clone();
        apis.insert(api.id.clone(), api);
        Snapshot {
            generation,
            apis,
            usage: Arc::clone(&self.usage),
            iam: Arc::clone(&self.iam),
            domains: Arc::clone(&self.domains),
        }
    }

    /// This snapshot without the API `id`.
    pub fn without_api(&self, generation: u64, id: &str) -> Snapshot {
        let mut apis = self.apis.clone();
        apis.remove(id);
        Snapshot {
            generation,
            apis,
            usage: Arc::clone(&self.usage),
            iam: Arc::clone(&self.iam),
            domains: Arc::clone(&self.domains),
        }
    }
}

// === impl Api ===

impl Api {
    /// An API of `stages` (the one named `$default`, if any, serves unprefixed paths).
    pub(crate) fn new(
        id: &str,
        protocol: ProtocolType,
        disable_execute_api_endpoint: bool,
        api_key_source: ApiKeySource,
        stages: Vec<Stage>,
    ) -> Api {
        let mut api = Api {
            id: id.into(),
            protocol,
            disable_execute_api_endpoint,
            api_key_source,
            cors: None,
            key_slots: Vec::new(),
            websocket: None,
            resource_policy: None,
            private: false,
            role_slots: Vec::new(),
            target_pools: Vec::new(),
            stages: HashMap::default(),
            default_stage: None,
        };
        api.role_slots = crate::lambda::role_slots(
            stages
                .iter()
                .flat_map(|s| std::iter::once(s).chain(s.canary.iter().map(|c| &c.stage)))
                .flat_map(|s| s.routes.iter())
                .filter_map(|r| r.integration.as_deref()),
        );
        for stage in stages {
            stage.collect_pools(&mut api.target_pools);
            if &*stage.name == DEFAULT_STAGE {
                api.default_stage = Some(stage);
            } else {
                api.stages.insert(stage.name.clone(), stage);
            }
        }
        api
    }

    /// Stage selection as HTTP APIs do it: a named stage by the first path segment, else the
    /// `$default` stage. Returns the stage and the path with the stage prefix removed.
    pub fn select_stage<'s, 'p>(&'s self, path: &'p str) -> Option<(&'s Stage, &'p str)> {
        if !self.stages.is_empty() {
            let rest = path.strip_prefix('/').unwrap_or(path);
            let (first, tail) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            if let Some(stage) = self.stages.get(first) {
                return Some((stage, if tail.is_empty() { "/" } else { tail }));
            }
        }
        self.default_stage.as_ref().map(|s| (s, path))
    }

    /// The stage named `name` (`$default` included).
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        if name == DEFAULT_STAGE {
            return self.default_stage.as_ref();
        }
        self.stages.get(name)
    }

    pub fn stages(&self) -> impl Iterator<Item = &Stage> {
        self.stages.values().chain(self.default_stage.iter())
    }

    /// Whether a Lambda integration of this API (canaries' included) names the function
    /// `name` and was compiled for the other side than `hosted` says: a self-hosted function
    /// was created or deleted since, and the API must be recompiled to follow it.
    pub fn lambda_target_stale(&self, name: &str, hosted: bool) -> bool {
        self.stages()
            .flat_map(|s| std::iter::once(s).chain(s.canary.iter().map(|c| &c.stage)))
            .flat_map(|s| s.routes.iter())
            .any(|r| match r.integration.as_deref() {
                Some(Integration::Lambda(p)) => {
                    p.target.self_hosted != hosted
                        && crate::functions::function_name(&p.target.function) == name
                }
                _ => false,
            })
    }
}

// === impl Stage ===

impl Stage {
    /// Adds the VPC link pools this stage's integrations use to `out` (each once).
    pub(crate) fn collect_pools(&self, out: &mut Vec<Arc<crate::vpc_link::TargetPool>>) {
        if let Some(c) = &self.canary {
            c.stage.collect_pools(out);
        }
        for r in &self.routes {
            let pool = match r.integration.as_deref() {
                Some(Integration::HttpProxy(p)) => p.pool.as_ref(),
                Some(Integration::Http(h)) => h.target.pool.as_ref(),
                _ => None,
            };
            if let Some(p) = pool {
                if !out.iter().any(|o| Arc::ptr_eq(o, p)) {
                    out.push(Arc::clone(p));
                }
            }
        }
    }
}

/// The stable stats key of a route.
pub fn stats_key(api_id: &str, stage: &str, route_key: &str) -> u64 {
    Hasher::with_seed(0x706f_7274_6963_6f00).hash_one((api_id, stage, route_key))
}
