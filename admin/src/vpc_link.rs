//! VPC links in both control planes: `apigateway` v1 (`/vpclinks`: `targetArns`, `status`,
//! 202 on create) and `apigatewayv2` (`/v2/vpclinks`: `subnetIds`, `securityGroupIds`,
//! `vpcLinkStatus`), and the active health checks of the pools integrations build from them.
//!
//! # Architecture
//! 1. Thin handlers call catalog operations; records are stored under [`VPC_LINK_SCOPE`] and
//!    mirrored into the compiler's `VpcLinks` (`CompileContext::vpc_links`), so an integration
//!    with `connectionType: VPC_LINK` compiles against them (an unknown id is a 400).
//! 2. In Portico's terms a link is a pool of `host:port` targets: a v1 link's `targetArns` are
//!    those targets; a v2 link names none (an HTTP API integration's `integrationUri` lists them:
//!    `http://host:port,host:port/path`). Pool settings come from `portico:*` tags
//!    (`PoolSettings::from_tags`). A link is `AVAILABLE` at once.
//! 3. [`health_loop`] runs on the admin runtime: every [`VPC_LINK_HEALTH_TICK_MS`] it walks the served
//!    snapshot's pools and probes each target whose interval is due (a TCP connect, or
//!    `GET portico:healthCheckPath` answering 200 to 399), publishing the verdict into the pool's
//!    atomics (`TargetPool::record_check`). Workers never wait for it.
//!
//! Differences from AWS: a link in use by a served stage cannot be deleted (409); `targetArns`
//! cannot be patched (as on AWS); subnets and security groups are stored, not used.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

use portico_shared::compile::CompileContext;
use portico_shared::limits::{
    VPC_LINK_HEALTH_RESPONSE_MAX_BYTES, VPC_LINK_HEALTH_TICK_MS, VPC_LINK_NAME_MAX_CHARS,
    VPC_LINK_TARGETS_MAX,
};
use portico_shared::vpc_link::{parse_target, Plane, PoolSettings, TargetPool, VpcLinkSpec};
use portico_shared::Snapshot;

use crate::error::ApiError;
use crate::ids;
use crate::page::{Collection, Listing};
use crate::patch::PatchInput;
use crate::publish::{deletion, parse_doc, row, Publisher};
use crate::store::{Change, Kind, Row, VPC_LINK_SCOPE};
use crate::wire::{accepted, created, ok, page, Body, PageQuery, Paging, Params};
use crate::{AdminState, SnapshotCell};

/// VPC links of both control planes, by id: the catalog's VPC link state.
pub(crate) type VpcLinks = BTreeMap<String, VpcLinkRecord>;

/// One stored link (either plane).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VpcLinkRecord {
    /// `V1` or `V2`.
    pub(crate) version: String,
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) target_arns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) subnet_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) security_group_ids: Vec<String>,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) created_date: String,
}

/// `CreateVpcLink` (v1).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Input {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    target_arns: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// `CreateVpcLink` / `UpdateVpcLink` (v2).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V2Input {
    name: Option<String>,
    subnet_ids: Option<Vec<String>>,
    security_group_ids: Option<Vec<String>>,
    tags: Option<BTreeMap<String, String>>,
}

/// The v1 wire shape.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct V1View {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    target_arns: Vec<String>,
    status: &'static str,
    status_message: &'static str,
    tags: BTreeMap<String, String>,
}

/// The v2 wire shape.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct V2View {
    created_date: String,
    name: String,
    security_group_ids: Vec<String>,
    subnet_ids: Vec<String>,
    tags: BTreeMap<String, String>,
    vpc_link_id: String,
    vpc_link_status: &'static str,
    vpc_link_status_message: &'static str,
    vpc_link_version: &'static str,
}

/// The routes of both planes.
pub(crate) fn router() -> Router<AdminState> {
    Router::new()
        .route("/vpclinks", get(v1_list).post(v1_create))
        .route(
            "/vpclinks/{id}",
            get(v1_get).patch(v1_update).delete(v1_delete),
        )
        .route("/v2/vpclinks", get(v2_list).post(v2_create))
        .route(
            "/v2/vpclinks/{id}",
            get(v2_get).patch(v2_update).delete(v2_delete),
        )
}

// === v1 handlers ===

async fn v1_create(State(s): State<AdminState>, Body(input): Body<V1Input>) -> Response {
    let r = s
        .write(move |c| create_v1(&mut c.vpc_links, &mut c.publisher, input))
        .await;
    match r {
        Ok(v) => (axum::http::StatusCode::ACCEPTED, axum::Json(v1_view(&v))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn v1_list(State(s): State<AdminState>, RawQuery(q): RawQuery) -> Response {
    let here = s.regions().here(crate::region::Class::VpcLink);
    ok(s.read(|c| {
        let cursor = Listing::parse(q.as_deref())?.cursor()?;
        let links = links_of(&c.vpc_links, "V1").filter(|(id, _)| here.contains(id));
        let (item, position) = cursor.take(links, v1_view);
        Ok(Collection { item, position })
    })
    .await)
}

async fn v1_get(State(s): State<AdminState>, Params(id): Params<String>) -> Response {
    ok(s.read(|c| Ok(v1_view(link(&c.vpc_links, &id, "V1")?)))
        .await)
}

async fn v1_update(
    State(s): State<AdminState>,
    Params(id): Params<String>,
    Body(patch): Body<PatchInput>,
) -> Response {
    ok(s.write(move |c| {
        let mut r = link(&c.vpc_links, &id, "V1")?.clone();
        for op in patch.ops()? {
            match op
                .segments()?
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()[..]
            {
                ["name"] => op.set_required_string(&mut r.name)?,
                ["description"] => op.set_string(&mut r.description)?,
                _ => return Err(op.invalid_path()),
            }
        }
        check_name(&r.name)?;
        put(&mut c.vpc_links, &mut c.publisher, r).map(|r| v1_view(&r))
    })
    .await)
}

async fn v1_delete(State(s): State<AdminState>, Params(id): Params<String>) -> Response {
    accepted(
        s.write(move |c| delete(&mut c.vpc_links, &mut c.publisher, &id, "V1"))
            .await,
    )
}

// === v2 handlers ===

async fn v2_create(State(s): State<AdminState>, Body(input): Body<V2Input>) -> Response {
    created(
        s.write(move |c| create_v2(&mut c.vpc_links, &mut c.publisher, input))
            .await
            .map(|r| v2_view(&r)),
    )
}

async fn v2_list(State(s): State<AdminState>, Paging(q): Paging) -> Response {
    let here = s.regions().here(crate::region::Class::VpcLink);
    ok(s.read(|c| v2_page(&c.vpc_links, &q, &here)).await)
}

async fn v2_get(State(s): State<AdminState>, Params(id): Params<String>) -> Response {
    ok(s.read(|c| Ok(v2_view(link(&c.vpc_links, &id, "V2")?)))
        .await)
}

async fn v2_update(
    State(s): State<AdminState>,
    Params(id): Params<String>,
    Body(input): Body<V2Input>,
) -> Response {
    ok(s.write(move |c| {
        let mut r = link(&c.vpc_links, &id, "V2")?.clone();
        if input.subnet_ids.is_some() || input.security_group_ids.is_some() || input.tags.is_some()
        {
            return Err(ApiError::BadRequest(
                "UpdateVpcLink changes the name only".into(),
            ));
        }
        if let Some(n) = input.name {
            check_name(&n)?;
            r.name = n;
        }
        put(&mut c.vpc_links, &mut c.publisher, r).map(|r| v2_view(&r))
    })
    .await)
}

async fn v2_delete(State(s): State<AdminState>, Params(id): Params<String>) -> Response {
    accepted(
        s.write(move |c| delete(&mut c.vpc_links, &mut c.publisher, &id, "V2"))
            .await,
    )
}

fn v2_page(
    links: &VpcLinks,
    q: &PageQuery,
    here: &crate::region::Here,
) -> Result<crate::records::Page<V2View>, ApiError> {
    let links: BTreeMap<String, VpcLinkRecord> = links_of(links, "V2")
        .filter(|(id, _)| here.contains(id))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    page(&links, q, v2_view)
}

// === views ===

fn links_of<'a>(
    links: &'a VpcLinks,
    version: &'static str,
) -> impl Iterator<Item = (&'a String, &'a VpcLinkRecord)> {
    links.iter().filter(move |(_, r)| r.version == version)
}

fn link<'a>(links: &'a VpcLinks, id: &str, version: &str) -> Result<&'a VpcLinkRecord, ApiError> {
    links
        .get(id)
        .filter(|r| r.version == version)
        .ok_or_else(|| ApiError::NotFound("Invalid Vpc Link identifier specified".into()))
}

fn v1_view(r: &VpcLinkRecord) -> V1View {
    V1View {
        id: r.id.clone(),
        name: r.name.clone(),
        description: r.description.clone(),
        target_arns: r.target_arns.clone(),
        status: "AVAILABLE",
        status_message: "Your vpc link is ready for use",
        tags: r.tags.clone(),
    }
}

fn v2_view(r: &VpcLinkRecord) -> V2View {
    V2View {
        created_date: r.created_date.clone(),
        name: r.name.clone(),
        security_group_ids: r.security_group_ids.clone(),
        subnet_ids: r.subnet_ids.clone(),
        tags: r.tags.clone(),
        vpc_link_id: r.id.clone(),
        vpc_link_status: "AVAILABLE",
        vpc_link_status_message: "VPC link is ready to route traffic",
        vpc_link_version: "V2",
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let n = name.chars().count();
    if n == 0 || n > VPC_LINK_NAME_MAX_CHARS {
        return Err(ApiError::BadRequest(format!(
            "name must be 1 to {VPC_LINK_NAME_MAX_CHARS} characters"
        )));
    }
    Ok(())
}

/// The compiler's view of a record; every problem of its targets and tags is reported.
fn spec_of(r: &VpcLinkRecord) -> Result<VpcLinkSpec, Vec<String>> {
    let mut problems = Vec::new();
    let settings =
        match PoolSettings::from_tags(r.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(s) => Some(s),
            Err(p) => {
                problems.extend(p);
                None
            }
        };
    let plane = if r.version == "V1" {
        Plane::V1
    } else {
        Plane::V2
    };
    if plane == Plane::V1 {
        if r.target_arns.is_empty() || r.target_arns.len() > VPC_LINK_TARGETS_MAX {
            problems.push(format!(
                "targetArns must list 1 to {VPC_LINK_TARGETS_MAX} targets (host:port in Portico)"
            ));
        }
        for t in &r.target_arns {
            if let Err(e) = parse_target(t) {
                problems.push(format!("targetArns: {e} (Portico's targets are host:port)"));
            }
        }
    }
    match settings {
        Some(settings) if problems.is_empty() => Ok(VpcLinkSpec {
            id: r.id.clone(),
            plane,
            targets: r.target_arns.clone(),
            settings,
        }),
        _ => Err(problems),
    }
}

/// Loads the stored links into the compiler's view (before anything compiles).
pub(crate) fn load(
    rows: &[Row],
    ctx: &mut CompileContext,
) -> Result<BTreeMap<String, VpcLinkRecord>, ApiError> {
    let mut out = BTreeMap::new();
    for row in rows.iter().filter(|r| r.kind == Kind::VpcLink) {
        let r: VpcLinkRecord = parse_doc(row)?;
        match spec_of(&r) {
            Ok(spec) => ctx.vpc_links.set(spec),
            Err(p) => tracing::error!(id = %r.id, problems = %p.join("; "),
                "stored VPC link is invalid; integrations naming it do not compile"),
        }
        out.insert(r.id.clone(), r);
    }
    Ok(out)
}

// === operations ===
// Each takes the links and the publisher (store and compiler context) it commits through.

fn create_v1(
    links: &mut VpcLinks,
    publisher: &mut Publisher,
    input: V1Input,
) -> Result<VpcLinkRecord, ApiError> {
    let name = input
        .name
        .ok_or_else(|| ApiError::BadRequest("name is required".into()))?;
    check_name(&name)?;
    let r = VpcLinkRecord {
        version: "V1".into(),
        id: new_id(links),
        name,
        description: input.description,
        target_arns: input.target_arns,
        subnet_ids: Vec::new(),
        security_group_ids: Vec::new(),
        tags: input.tags,
        created_date: ids::now_iso8601(),
    };
    put(links, publisher, r)
}

fn create_v2(
    links: &mut VpcLinks,
    publisher: &mut Publisher,
    input: V2Input,
) -> Result<VpcLinkRecord, ApiError> {
    let name = input
        .name
        .ok_or_else(|| ApiError::BadRequest("name is required".into()))?;
    check_name(&name)?;
    let subnet_ids = input
        .subnet_ids
        .ok_or_else(|| ApiError::BadRequest("subnetIds is required".into()))?;
    let r = VpcLinkRecord {
        version: "V2".into(),
        id: new_id(links),
        name,
        description: None,
        target_arns: Vec::new(),
        subnet_ids,
        security_group_ids: input.security_group_ids.unwrap_or_default(),
        tags: input.tags.unwrap_or_default(),
        created_date: ids::now_iso8601(),
    };
    put(links, publisher, r)
}

fn new_id(links: &VpcLinks) -> String {
    loop {
        let id = ids::generate(6);
        if !links.contains_key(&id) {
            return id;
        }
    }
}

/// Validates, commits and records a link. Targets and tags cannot change after creation,
/// so no compiled pool depends on what a later write changes.
fn put(
    links: &mut VpcLinks,
    publisher: &mut Publisher,
    r: VpcLinkRecord,
) -> Result<VpcLinkRecord, ApiError> {
    let spec = spec_of(&r).map_err(|p| ApiError::invalid(&p))?;
    publisher.commit(&[Change::Put(row(VPC_LINK_SCOPE, Kind::VpcLink, &r.id, &r))])?;
    publisher.compile_context().vpc_links.set(spec);
    links.insert(r.id.clone(), r.clone());
    Ok(r)
}

/// Deletes a link no served stage uses (409 otherwise).
fn delete(
    links: &mut VpcLinks,
    publisher: &mut Publisher,
    id: &str,
    version: &str,
) -> Result<(), ApiError> {
    link(links, id, version)?;
    let served = publisher.served();
    let users: Vec<&str> = served
        .apis()
        .filter(|a| a.target_pools.iter().any(|p| &*p.link_id == id))
        .map(|a| &*a.id)
        .collect();
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "VPC link {id} is used by the deployed integrations of API(s) {}: change them first",
            users.join(", ")
        )));
    }
    drop(served);
    publisher.commit(&[deletion(VPC_LINK_SCOPE, Kind::VpcLink, id)])?;
    publisher.compile_context().vpc_links.remove(id);
    links.remove(id);
    Ok(())
}

// === health checks ===

/// Probes every served pool's targets at their interval, forever (see the module docs).
pub(crate) async fn health_loop(cell: SnapshotCell) {
    let mut tick = tokio::time::interval(Duration::from_millis(VPC_LINK_HEALTH_TICK_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = std::time::Instant::now();
    loop {
        tick.tick().await;
        let now = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        for pool in pools(&cell.load()) {
            let interval = u64::from(pool.settings.health_interval_ms);
            for i in 0..pool.targets.len() {
                let next = &pool.targets[i].next_check_ms;
                let due = next.load(std::sync::atomic::Ordering::Relaxed);
                if due > now {
                    continue;
                }
                next.store(now + interval, std::sync::atomic::Ordering::Relaxed);
                let pool = Arc::clone(&pool);
                tokio::spawn(async move {
                    let ok = check(&pool, i).await;
                    let was = pool.healthy(i);
                    let now_healthy = pool.record_check(i, ok);
                    if was != now_healthy {
                        tracing::info!(vpc_link = %pool.link_id, target = %pool.targets[i].authority,
                            healthy = now_healthy, "VPC link target health changed");
                    }
                });
            }
        }
    }
}

/// The pools the served snapshot uses, each once.
fn pools(s: &Snapshot) -> Vec<Arc<TargetPool>> {
    let mut out: Vec<Arc<TargetPool>> = Vec::new();
    for p in s.apis().flat_map(|a| a.target_pools.iter()) {
        if !out.iter().any(|o| Arc::ptr_eq(o, p)) {
            out.push(Arc::clone(p));
        }
    }
    out
}

/// One probe: connect (and, with a path, `GET` it and want 200 to 399) within the timeout,
/// which never exceeds the interval (checks of one target never overlap).
async fn check(pool: &TargetPool, i: usize) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = &pool.settings;
    let t = &pool.targets[i];
    let limit = Duration::from_millis(u64::from(s.health_timeout_ms.min(s.health_interval_ms)));
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(t.addr).await.ok()?;
        let Some(path) = &s.health_path else {
            return Some(true);
        };
        let req = format!(
            "GET {path} HTTP/1.1\r\nhost: {}\r\nuser-agent: portico-health-check\r\nconnection: close\r\n\r\n",
            t.authority
        );
        stream.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::with_capacity(256);
        let mut chunk = [0u8; 512];
        while !buf.windows(2).any(|w| w == b"\r\n")
            && buf.len() < VPC_LINK_HEALTH_RESPONSE_MAX_BYTES
        {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let line = std::str::from_utf8(&buf).ok()?.lines().next()?.to_string();
        let mut parts = line.split(' ');
        let version = parts.next()?;
        let status: u16 = parts.next()?.parse().ok()?;
        Some(version.starts_with("HTTP/1.") && (200..400).contains(&status))
    };
    matches!(tokio::time::timeout(limit, probe).await, Ok(Some(true)))
}
