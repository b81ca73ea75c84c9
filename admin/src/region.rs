//! Regions: AWS keeps each region's resources apart, and so does the admin API. A top-level
//! resource (an API of any kind, an API key, a usage plan, a VPC link, a custom domain name)
//! belongs to the region its creating request was signed for; an ACM certificate's region is the
//! one its ARN names. Everything under an API (routes, stages, authorizers, ...) follows it.
//!
//! # Architecture
//! 1. [`scope`] (middleware, inside the SigV4 check) takes each admin request's region from its
//!    SigV4 credential scope (`Credential=AKID/date/REGION/service/aws4_request`, in the
//!    `Authorization` header or `X-Amz-Credential`), else the node's default region (`serve
//!    --region`), and runs the request with it as [`current`].
//! 2. [`Regions`] maps each top-level resource to its region. It is kept in the store as rows
//!    under [`REGION_SCOPE`] (`{class}/{id}` → `"region"`), beside the resources' own documents,
//!    so no record's wire shape changes. The catalog writes through [`Regions`] (a [`Store`]): a
//!    commit that creates a top-level resource stores its region ([`current`]; on the catalog's
//!    blocking thread through [`within`]) in the same transaction, one that deletes it drops it.
//!    A resource without a row (stored before regions were kept, or imported with `--config`)
//!    is in the default region.
//! 3. [`scope`] answers the 404 the handler gives for an unknown id when a request's path names
//!    a resource of another region, so no get, update, delete or child call reaches it. List
//!    handlers keep only [`Regions::here`]'s resources.
//!
//! Invariants: ids stay globally unique (a new id is unique across regions), so the data plane
//! keeps routing by id alone; a region is `[a-z0-9-]{1,32}`, anything else in a scope is taken
//! as the default region. Enforced by `tests/aws/test_regions.py`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use portico_shared::limits::REGION_NAME_MAX_CHARS;

use crate::error::ApiError;
use crate::store::{Change, Kind, Row, Store, StoreError, UsageRow};
use crate::AdminState;

/// The `api_id` under which resources' regions are stored (a `$` scope: `DeleteAll` spares it).
pub(crate) const REGION_SCOPE: &str = "$regions";

tokio::task_local! {
    /// The region of the admin request this task serves.
    static REQUEST_REGION: Arc<str>;
}

thread_local! {
    /// The region of the catalog operation this blocking thread runs ([`within`]).
    static BLOCKING_REGION: std::cell::RefCell<Option<Arc<str>>> =
        const { std::cell::RefCell::new(None) };
}

/// The node's default region, set once by [`Regions::load`].
static DEFAULT: OnceLock<Arc<str>> = OnceLock::new();

/// What kind of top-level resource an id names (each has its own id space).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    /// REST, HTTP and WebSocket APIs share one id space.
    Api,
    ApiKey,
    UsagePlan,
    /// v1 and v2 VPC links share one id space.
    VpcLink,
    /// v1 and v2 custom domain names share one name space.
    DomainName,
}

/// Every top-level resource's region, and the store the catalog writes through: a commit that
/// creates a top-level resource stores its region in the same transaction.
#[derive(Debug)]
pub(crate) struct Regions {
    default: Arc<str>,
    store: Arc<dyn Store>,
    /// By class, then id: every top-level resource, with its stored region (`None`: the default
    /// region, none stored). A read lock per list or guarded request; written after commits.
    map: RwLock<Map>,
}

type Map = HashMap<Class, HashMap<String, Option<Arc<str>>>>;

/// One class's view for one region, to filter a list with (it holds no lock across an await).
#[derive(Debug)]
pub(crate) struct Here {
    regions: Arc<Regions>,
    class: Class,
    region: Arc<str>,
    is_default: bool,
}

// === impl Class ===

impl Class {
    const ALL: [Class; 5] = [
        Class::Api,
        Class::ApiKey,
        Class::UsagePlan,
        Class::VpcLink,
        Class::DomainName,
    ];

    /// The stored name; never change one (it is on disk).
    fn as_str(self) -> &'static str {
        match self {
            Class::Api => "api",
            Class::ApiKey => "apikey",
            Class::UsagePlan => "usageplan",
            Class::VpcLink => "vpclink",
            Class::DomainName => "domainname",
        }
    }

    fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

// === impl Regions ===

impl Regions {
    /// Loads the stored regions and the ids of every top-level resource. Blocking.
    pub(crate) fn load(store: Arc<dyn Store>, default: &str) -> Result<Regions, ApiError> {
        let default: Arc<str> = Arc::from(default);
        let _ = DEFAULT.set(Arc::clone(&default));
        let mut map = Map::new();
        let rows = store
            .load()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut stored = Vec::new();
        for row in rows {
            if let Some((class, id)) = top_level(row.kind, &row.api_id, &row.id) {
                map.entry(class)
                    .or_default()
                    .entry(id.to_string())
                    .or_insert(None);
            } else if row.api_id == REGION_SCOPE {
                stored.push(row);
            }
        }
        for row in stored {
            let parsed = row
                .id
                .split_once('/')
                .and_then(|(c, id)| Some((Class::parse(c)?, id)));
            let (Some((class, id)), Ok(region)) =
                (parsed, serde_json::from_str::<String>(&row.doc))
            else {
                continue;
            };
            if let Some(slot) = map.get_mut(&class).and_then(|m| m.get_mut(id)) {
                *slot = Some(Arc::from(region));
            }
        }
        Ok(Regions {
            default,
            store,
            map: RwLock::new(map),
        })
    }

    /// Takes in the region rows another node of a cluster committed (`cluster/`).
    pub(crate) fn refresh(&self, rows: Vec<Row>) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        for row in rows.into_iter().filter(|r| r.api_id == REGION_SCOPE) {
            let parsed = row
                .id
                .split_once('/')
                .and_then(|(c, id)| Some((Class::parse(c)?, id)));
            if let (Some((class, id)), Ok(region)) =
                (parsed, serde_json::from_str::<String>(&row.doc))
            {
                let region = Some(Arc::from(region));
                map.entry(class).or_default().insert(id.to_string(), region);
            }
        }
    }

    /// The node's default region.
    pub(crate) fn default_region(&self) -> &Arc<str> {
        &self.default
    }

    /// The region of resource `id` of `class` (the default one when none is stored).
    pub(crate) fn of(&self, class: Class, id: &str) -> Arc<str> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        match map.get(&class).and_then(|m| m.get(id)) {
            Some(Some(r)) => Arc::clone(r),
            _ => Arc::clone(&self.default),
        }
    }

    /// The resources of `class` in the current request's region.
    pub(crate) fn here(self: &Arc<Self>, class: Class) -> Here {
        let region = current();
        Here {
            regions: Arc::clone(self),
            class,
            is_default: region == self.default,
            region,
        }
    }
}

/// The class and id of a top-level resource's own document.
fn top_level<'r>(kind: Kind, api_id: &str, id: &'r str) -> Option<(Class, &'r str)> {
    let class = match kind {
        Kind::Api | Kind::RestApi if api_id == id => Class::Api,
        Kind::ApiKey => Class::ApiKey,
        Kind::UsagePlan => Class::UsagePlan,
        Kind::VpcLink => Class::VpcLink,
        Kind::DomainName => Class::DomainName,
        _ => return None,
    };
    Some((class, id))
}

fn region_key(class: Class, id: &str) -> String {
    format!("{}/{id}", class.as_str())
}

impl Store for Regions {
    fn data_dir(&self) -> Option<&std::path::Path> {
        self.store.data_dir()
    }

    fn load_code(&self, function: &str, revision: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.load_code(function, revision)
    }

    fn load(&self) -> Result<Vec<Row>, StoreError> {
        self.store.load()
    }

    /// Commits `changes` with the regions of what they create (in [`current`]'s region) and
    /// without those of what they delete, in the same transaction.
    fn commit(&self, changes: &[Change]) -> Result<(), StoreError> {
        // (class, id, region): `Some` created here, `None` gone.
        let mut edits: Vec<(Class, String, Option<Arc<str>>)> = Vec::new();
        {
            let map = self.map.read().unwrap_or_else(|p| p.into_inner());
            let known =
                |class: Class, id: &str, edits: &[(Class, String, Option<Arc<str>>)]| match edits
                    .iter()
                    .rev()
                    .find(|(c, i, _)| *c == class && i == id)
                {
                    Some((_, _, r)) => r.is_some(),
                    None => map.get(&class).is_some_and(|m| m.contains_key(id)),
                };
            for change in changes {
                match change {
                    Change::Put(r) => {
                        if let Some((class, id)) = top_level(r.kind, &r.api_id, &r.id) {
                            if !known(class, id, &edits) {
                                edits.push((class, id.to_string(), Some(current())));
                            }
                        }
                    }
                    Change::Delete { api_id, kind, id } => {
                        if let Some((class, id)) = top_level(*kind, api_id, id) {
                            edits.push((class, id.to_string(), None));
                        }
                    }
                    Change::DeleteApi { api_id } => {
                        edits.push((Class::Api, api_id.clone(), None));
                    }
                    Change::DeleteAll => {
                        let apis = map.get(&Class::Api).into_iter().flat_map(|m| m.keys());
                        let gone: Vec<_> = apis.map(|id| (Class::Api, id.clone(), None)).collect();
                        edits.extend(gone);
                    }
                    Change::ForgetUsage { .. }
                    | Change::PutCode { .. }
                    | Change::DeleteCode { .. } => {}
                }
            }
        }
        if edits.is_empty() {
            return self.store.commit(changes);
        }
        let mut all = changes.to_vec();
        for (class, id, region) in &edits {
            all.push(match region {
                Some(r) => Change::Put(Row {
                    api_id: REGION_SCOPE.into(),
                    kind: Kind::Region,
                    id: region_key(*class, id),
                    doc: serde_json::Value::String(r.to_string()).to_string(),
                }),
                None => Change::Delete {
                    api_id: REGION_SCOPE.into(),
                    kind: Kind::Region,
                    id: region_key(*class, id),
                },
            });
        }
        self.store.commit(&all)?;
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        for (class, id, region) in edits {
            let m = map.entry(class).or_default();
            match region {
                Some(r) => {
                    m.insert(id, Some(r));
                }
                None => {
                    m.remove(&id);
                }
            }
        }
        Ok(())
    }

    fn put_usage(&self, rows: &[UsageRow]) -> Result<(), StoreError> {
        self.store.put_usage(rows)
    }

    fn load_usage(&self, plan_id: &str, from: u64, to: u64) -> Result<Vec<UsageRow>, StoreError> {
        self.store.load_usage(plan_id, from, to)
    }
}

// === impl Here ===

impl Here {
    /// Whether resource `id` is in this region.
    pub(crate) fn contains(&self, id: &str) -> bool {
        let map = self.regions.map.read().unwrap_or_else(|p| p.into_inner());
        match map.get(&self.class).and_then(|m| m.get(id)) {
            Some(Some(r)) => *r == self.region,
            _ => self.is_default,
        }
    }
}

/// The region of the admin request being served; outside one, the node's default region.
pub(crate) fn current() -> Arc<str> {
    REQUEST_REGION
        .try_with(Arc::clone)
        .ok()
        .or_else(|| BLOCKING_REGION.with(|r| r.borrow().clone()))
        .or_else(|| DEFAULT.get().cloned())
        .unwrap_or_else(|| Arc::from(portico_shared::aws::default_region()))
}

/// The region a request is signed for: its credential scope's, when well formed.
fn signed_region(req: &Request) -> Option<&str> {
    let credential = match req.headers().get(axum::http::header::AUTHORIZATION) {
        Some(v) => {
            let v = v.to_str().ok()?;
            let at = v.find("Credential=")? + "Credential=".len();
            let rest = &v[at..];
            &rest[..rest.find([',', ' ']).unwrap_or(rest.len())]
        }
        None => {
            let q = req.uri().query()?;
            q.split('&')
                .find_map(|p| p.strip_prefix("X-Amz-Credential="))?
        }
    };
    // `AKID/date/region/service/aws4_request`, `/` percent-encoded in a query string.
    let mut parts = credential.split("%2F").flat_map(|p| p.split('/'));
    let region = parts.nth(2)?;
    let ok = (1..=REGION_NAME_MAX_CHARS).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(region)
}

/// A top-level resource a request path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Named<'p> {
    class: Class,
    id: &'p str,
    /// The path is the resource itself, not something under it.
    whole: bool,
    /// An `apigatewayv2` path (its 404 texts differ).
    v2: bool,
}

/// The top-level resource a request path names, if any.
fn named(path: &str) -> Option<Named<'_>> {
    let mut segs = path.trim_start_matches('/').split('/');
    let (class, v2) = match (segs.next()?, segs.clone().next()) {
        ("v2", Some("apis")) => (Class::Api, true),
        ("v2", Some("vpclinks")) => (Class::VpcLink, true),
        ("v2", Some("domainnames")) => (Class::DomainName, true),
        ("restapis", _) => return tail(Class::Api, segs, false),
        ("apikeys", _) => return tail(Class::ApiKey, segs, false),
        ("usageplans", _) => return tail(Class::UsagePlan, segs, false),
        ("vpclinks", _) => return tail(Class::VpcLink, segs, false),
        ("domainnames", _) => return tail(Class::DomainName, segs, false),
        _ => return None,
    };
    segs.next();
    tail(class, segs, v2)
}

fn tail<'a>(class: Class, mut segs: impl Iterator<Item = &'a str>, v2: bool) -> Option<Named<'a>> {
    let id = segs.next().filter(|s| !s.is_empty())?;
    Some(Named {
        class,
        id,
        whole: segs.next().is_none(),
        v2,
    })
}

/// The 404 the handlers give for an unknown id of `class`.
fn not_found(class: Class, id: &str, v2: bool) -> ApiError {
    match class {
        Class::Api if v2 => crate::error::not_found_api(id),
        Class::Api => crate::error::not_found_rest_api(id),
        Class::ApiKey => ApiError::NotFound("Invalid API Key identifier specified".into()),
        Class::UsagePlan => ApiError::NotFound("Invalid Usage Plan ID specified".into()),
        Class::VpcLink => ApiError::NotFound("Invalid Vpc Link identifier specified".into()),
        Class::DomainName => ApiError::NotFound("Invalid domain name identifier specified".into()),
    }
}

/// Axum middleware: runs the request in its region, keeps it from other regions' resources and
/// records the region of what it creates (see the module's architecture).
pub(crate) async fn scope(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    let regions = Arc::clone(state.regions());
    let region: Arc<str> = match signed_region(&req) {
        Some(r) if *r == *regions.default => Arc::clone(&regions.default),
        Some(r) => Arc::from(r),
        None => Arc::clone(&regions.default),
    };
    REQUEST_REGION
        .scope(Arc::clone(&region), guarded(regions, region, req, next))
        .await
}

async fn guarded(regions: Arc<Regions>, region: Arc<str>, req: Request, next: Next) -> Response {
    if let Some(n) = named(req.uri().path()) {
        if regions.of(n.class, n.id) != region {
            return not_found(n.class, n.id, n.v2).into_response();
        }
    }
    next.run(req).await
}

/// Runs `f` (a catalog operation on a blocking thread) in `region`, so [`current`] answers it
/// there too.
pub(crate) fn within<T>(region: Arc<str>, f: impl FnOnce() -> T) -> T {
    struct Reset(Option<Arc<str>>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0.take();
            BLOCKING_REGION.with(|r| *r.borrow_mut() = previous);
        }
    }
    let previous = BLOCKING_REGION.with(|r| r.borrow_mut().replace(region));
    let _reset = Reset(previous);
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(auth: Option<&str>, uri: &str) -> Request {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn the_region_is_the_credential_scopes() {
        let header =
            "AWS4-HMAC-SHA256 Credential=AKID/20261207/eu-west-1/apigateway/aws4_request, \
                      SignedHeaders=host;x-amz-date, Signature=00";
        assert_eq!(
            signed_region(&req(Some(header), "/v2/apis")),
            Some("eu-west-1")
        );
        let presigned = "/v2/apis?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                         &X-Amz-Credential=AKID%2F20261207%2Fap-south-2%2Fapigateway%2Faws4_request";
        assert_eq!(signed_region(&req(None, presigned)), Some("ap-south-2"));
        assert_eq!(signed_region(&req(None, "/v2/apis")), None);
        // Not a region name: the default region applies.
        let odd = "AWS4-HMAC-SHA256 Credential=AKID/20261207/EU_West/apigateway/aws4_request";
        assert_eq!(signed_region(&req(Some(odd), "/v2/apis")), None);
        assert_eq!(signed_region(&req(Some("Bearer x"), "/v2/apis")), None);
    }

    #[test]
    fn paths_name_their_top_level_resource() {
        // (class, id, whole, v2)
        type Want = Option<(Class, &'static str, bool, bool)>;
        let cases: &[(&str, Want)] = &[
            ("/v2/apis", None),
            ("/v2/apis/abc", Some((Class::Api, "abc", true, true))),
            (
                "/v2/apis/abc/routes/r1",
                Some((Class::Api, "abc", false, true)),
            ),
            ("/restapis", None),
            (
                "/restapis/abc/resources",
                Some((Class::Api, "abc", false, false)),
            ),
            ("/apikeys/k1", Some((Class::ApiKey, "k1", true, false))),
            (
                "/usageplans/p1/keys",
                Some((Class::UsagePlan, "p1", false, false)),
            ),
            ("/vpclinks/l1", Some((Class::VpcLink, "l1", true, false))),
            ("/v2/vpclinks/l1", Some((Class::VpcLink, "l1", true, true))),
            (
                "/domainnames/a.test/basepathmappings",
                Some((Class::DomainName, "a.test", false, false)),
            ),
            (
                "/v2/domainnames/a.test",
                Some((Class::DomainName, "a.test", true, true)),
            ),
            ("/v2/tags/arn", None),
            ("/account", None),
        ];
        for (path, want) in cases {
            let got = named(path).map(|n| (n.class, n.id, n.whole, n.v2));
            assert_eq!(got, *want, "{path}");
        }
    }
}
