//! `loadbench --cluster`: what the cluster store and shared limits cost one node, in one run.
//!
//! Two Porticos (one worker each, both on core 0, loaded one at a time): `sqlite` on the default
//! embedded store, and `cluster` on `--store postgres://...` with `--redis redis://...` (a
//! throwaway PostgreSQL and `redis-server` started here on loopback ports, as the end-to-end
//! harness starts them: `portico_tests::{Postgres, Redis}`). The same REST API on both, deployed
//! to `prod`, to the same upstream (nginx on core 1, `/small`):
//! - `GET /plain`: no key, no plan: the proxy path alone;
//! - `GET /keyed`: `apiKeyRequired`, the key in a usage plan with a throttle (1,000,000 rps
//!   burst 5,000, never reached: no request is refused, but every one takes a token, and on the
//!   cluster node the tokens come from Redis in leases of `L = min(r x 50 ms, B/4)` = 1,250, so
//!   a lease every few hundred requests) and a DAY quota of 10^9 (counted through Redis in
//!   batches on the cluster node).
//!
//! Each route of each node is loaded with `wrk` in rotating rounds; the report gives the medians
//! and the `cluster`/`sqlite` ratios per route (throughput, p50, CPU time per request of the
//! gateway process).

use std::path::Path;
use std::process::Child;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::{bench_rounds, Args, Target};

/// The REST API (`/plain`, `/keyed`) on `http`'s Portico, a key in a plan on its `prod`; (API
/// id, key value).
fn configure(http: &mut portico_tools::Http) -> Result<(String, String)> {
    let api = http.call_json("POST", "/restapis", &json!({"name": "bench"}))?;
    let id = api["id"].as_str().context("id")?.to_string();
    let root = api["rootResourceId"]
        .as_str()
        .context("rootResourceId")?
        .to_string();
    for (part, key_required) in [("plain", false), ("keyed", true)] {
        let r = http.call_json(
            "POST",
            &format!("/restapis/{id}/resources/{root}"),
            &json!({ "pathPart": part }),
        )?;
        let rid = r["id"].as_str().context("resource id")?;
        let base = format!("/restapis/{id}/resources/{rid}/methods/GET");
        http.call_json(
            "PUT",
            &base,
            &json!({"authorizationType": "NONE", "apiKeyRequired": key_required}),
        )?;
        http.call_json(
            "PUT",
            &format!("{base}/integration"),
            &json!({"type": "HTTP_PROXY", "httpMethod": "GET",
                "uri": "http://127.0.0.1:18080/small"}),
        )?;
    }
    http.call_json(
        "POST",
        &format!("/restapis/{id}/deployments"),
        &json!({"stageName": "prod"}),
    )?;
    let key = http.call_json(
        "POST",
        "/apikeys",
        &json!({"name": "bench", "enabled": true}),
    )?;
    let key_id = key["id"].as_str().context("key id")?;
    let value = key["value"].as_str().context("key value")?.to_string();
    let plan: Value = http.call_json(
        "POST",
        "/usageplans",
        &json!({"name": "bench", "apiStages": [{"apiId": id, "stage": "prod"}],
            "throttle": {"rateLimit": 1_000_000.0, "burstLimit": 5000},
            "quota": {"limit": 1_000_000_000u64, "period": "DAY"}}),
    )?;
    let plan_id = plan["id"].as_str().context("plan id")?;
    http.call_json(
        "POST",
        &format!("/usageplans/{plan_id}/keys"),
        &json!({"keyId": key_id, "keyType": "API_KEY"}),
    )?;
    Ok((id, value))
}

/// Starts one Portico (`extra` arguments), configures it; its `plain` and `keyed` targets.
fn node(
    portico: &Path,
    data: &Path,
    extra: &[&str],
    names: [&'static str; 2],
    children: &mut Vec<Child>,
) -> Result<[Target; 2]> {
    let args = [&["--workers", "1"], extra].concat();
    let (child, ready) = portico_tools::spawn_portico(portico, Some("0"), data, &args)?;
    let pid = child.id();
    children.push(child);
    println!("# {}: {}", names[0], ready.line);
    let (api, key) = configure(&mut portico_tools::Http::connect(ready.admin)?)?;
    let host = format!("{api}.execute-api.localhost");
    Ok([
        (names[0], "/prod/plain", None),
        (names[1], "/prod/keyed", Some(key)),
    ]
    .map(|(name, path, key)| Target {
        name,
        url: format!("http://{}{path}", ready.listen),
        host: Some(host.clone()),
        header: key.map(|k| format!("x-api-key: {k}")),
        pid: Some(pid),
    }))
}

/// Runs the comparison; the Porticos it starts are pushed on `children` (stopped by the
/// caller), PostgreSQL and Redis are stopped on return.
pub(super) fn run(portico: &Path, work: &Path, a: &Args, children: &mut Vec<Child>) -> Result<()> {
    let pg = portico_tests::Postgres::start();
    let redis = portico_tests::Redis::start();
    println!("# PostgreSQL {}  Redis {}", pg.url(), redis.url());
    let [sqlite_plain, sqlite_keyed] = node(
        portico,
        &work.join("portico-sqlite"),
        &[],
        ["sqlite-plain", "sqlite-keyed"],
        children,
    )?;
    let [cluster_plain, cluster_keyed] = node(
        portico,
        &work.join("portico-cluster"),
        &["--store", &pg.url(), "--redis", &redis.url()],
        ["cluster-plain", "cluster-keyed"],
        children,
    )?;
    let targets = [sqlite_plain, cluster_plain, sqlite_keyed, cluster_keyed];
    bench_rounds::wait_ready(&targets)?;
    let all = bench_rounds::wrk_rounds(&targets, a, "node-route")?;
    // Each cluster target against the SQLite node's same route.
    bench_rounds::print_medians(&targets, &all, |i| i & !1);
    // The Porticos go before their store (a node whose PostgreSQL vanishes logs about it).
    for c in children.iter_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
    drop((redis, pg));
    Ok(())
}
