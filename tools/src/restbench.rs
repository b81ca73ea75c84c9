//! REST pipeline cost: the same upstream behind a plain HTTP API proxy route and behind a REST
//! API method that requires an API key in a usage plan with a throttle and a quota (key lookup,
//! plan bucket, stage bucket, account bucket, quota counter on every request), in one run.
//!
//! Starts (127.0.0.1 only) the peers' nginx upstream from `../shared/bench/nginx.conf` on core
//! 1 and Portico (one worker) on core 0, configures both APIs through the admin API, then runs
//! `wrk` against each in alternating rounds and prints requests/s, latency and Portico's CPU
//! time per request, and the ratio REST/plain (acceptance: the REST pipeline costs no more
//! than 10% of plain proxy throughput, i.e. ratio ≥ 0.90).
//!
//! usage: restbench [--seconds 5] [--connections 64] [--rounds 5]
//! needs: nginx, wrk, taskset; target/release/portico.

use std::time::Duration;

use anyhow::{Context, Result};
use portico_tools::{median, portico_pid, start_nginx, wrk_run, Http, WrkFigures};
use serde_json::{json, Value};

/// Command-line flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "restbench",
    about = "The REST pipeline (API key, usage plan throttle and quota) against a plain proxy route, in one run."
)]
struct Args {
    /// Seconds per `wrk` round.
    #[arg(long, default_value_t = 5)]
    seconds: u32,
    /// `wrk` keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Rounds, alternating the targets.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
}

fn main() -> Result<()> {
    let Args {
        seconds,
        connections,
        rounds,
    } = clap::Parser::parse();
    let root = portico_tools::workspace_root();
    let bench = root.join("../shared/bench");
    let portico = portico_tools::portico_bin();
    let work = std::env::temp_dir().join(format!("portico-restbench-{}", std::process::id()));
    std::fs::create_dir_all(work.join("logs"))?;
    let conf = std::fs::read_to_string(bench.join("nginx.conf"))?
        .replace("@WORK@", work.to_str().context("utf-8 temp dir")?);
    std::fs::write(work.join("nginx.conf"), conf)?;
    let nginx = start_nginx(&work, "nginx.conf", "1", "up")?;

    let plain = r#"{"apis":[{"apiId":"plain","routes":[{"routeKey":"$default","target":"integrations/up"}],
        "integrations":[{"integrationId":"up","integrationType":"HTTP_PROXY","integrationUri":"http://127.0.0.1:18080"}],
        "stages":[{"stageName":"$default"}]}]}"#;
    std::fs::write(work.join("plain.json"), plain)?;
    let config_arg = work.join("plain.json").to_string_lossy().into_owned();
    let (mut child, ready) = portico_tools::spawn_portico(
        &portico,
        Some("0"),
        &work.join("data"),
        &["--workers", "1", "--config", &config_arg],
    )?;
    println!("# {}", ready.line);
    let result = run(&ready, seconds, connections, rounds);
    let _ = child.kill();
    let _ = child.wait();
    // Stop nginx while its pid file still exists, then remove the work directory.
    drop(nginx);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn run(ready: &portico_tools::Ready, seconds: u32, connections: u32, rounds: u32) -> Result<()> {
    let mut admin = Http::connect(ready.admin)?;
    let mut call = |method: &str, path: &str, body: Value| admin.call_json(method, path, &body);
    let api = call("POST", "/restapis", json!({"name": "bench"}))?;
    let id = api["id"].as_str().context("id")?.to_string();
    let root = api["rootResourceId"].as_str().context("root")?.to_string();
    let res = call(
        "POST",
        &format!("/restapis/{id}/resources/{root}"),
        json!({"pathPart": "{proxy+}"}),
    )?;
    let rid = res["id"].as_str().context("resource id")?.to_string();
    let base = format!("/restapis/{id}/resources/{rid}/methods/GET");
    call(
        "PUT",
        &base,
        json!({"authorizationType": "NONE", "apiKeyRequired": true}),
    )?;
    call(
        "PUT",
        &format!("{base}/integration"),
        json!({"type": "HTTP_PROXY", "httpMethod": "GET", "uri": "http://127.0.0.1:18080/{proxy}",
               "requestParameters": {"integration.request.path.proxy": "method.request.path.proxy"}}),
    )?;
    call(
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "bench"}),
    )?;
    // A stage throttle too, so every bucket level is taken on every request.
    call(
        "PATCH",
        &format!("/restapis/{id}/stages/bench"),
        json!({"patchOperations": [
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100000000"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "100000000"}]}),
    )?;
    let key = call(
        "POST",
        "/apikeys",
        json!({"name": "bench", "enabled": true}),
    )?;
    let key_id = key["id"].as_str().context("key id")?.to_string();
    let value = key["value"].as_str().context("key value")?.to_string();
    let plan = call(
        "POST",
        "/usageplans",
        json!({"name": "bench", "apiStages": [{"apiId": id, "stage": "bench"}],
               "throttle": {"rateLimit": 100000000.0, "burstLimit": 100000000},
               "quota": {"limit": 1000000000000i64, "period": "DAY"}}),
    )?;
    let plan_id = plan["id"].as_str().context("plan id")?.to_string();
    call(
        "POST",
        &format!("/usageplans/{plan_id}/keys"),
        json!({"keyId": key_id, "keyType": "API_KEY"}),
    )?;
    std::thread::sleep(Duration::from_millis(300));

    let listen = ready.listen;
    let targets = [
        (
            "plain",
            format!("http://{listen}/small"),
            "plain.execute-api.localhost".to_string(),
            None,
        ),
        (
            "rest+key",
            format!("http://{listen}/bench/small"),
            format!("{id}.execute-api.localhost"),
            Some(value),
        ),
    ];
    let pid = portico_pid(ready)?;
    let mut figures: Vec<Vec<WrkFigures>> = vec![Vec::new(); targets.len()];
    println!("# {rounds} rounds; wrk -t1 -c{connections} -d{seconds}s per target per round");
    for round in 1..=rounds {
        println!("## round {round}");
        for (i, (name, url, host, key)) in targets.iter().enumerate() {
            let mut headers = vec![format!("Host: {host}")];
            headers.extend(key.iter().map(|k| format!("x-api-key: {k}")));
            let f = wrk_run(pid, url, &headers, connections, seconds)
                .with_context(|| name.to_string())?;
            println!(
                "{name:<10} {:>10.0} req/s  p99 {:>7.0}us  {:>6.2}us cpu/req",
                f.rps, f.p99_us, f.cpu_us
            );
            figures[i].push(f);
        }
    }
    println!("\n## medians");
    for (i, (name, ..)) in targets.iter().enumerate() {
        println!(
            "{name:<10} {:>10.0} req/s  p99 {:>7.0}us  {:>6.2}us cpu/req",
            median(figures[i].iter().map(|f| f.rps)),
            median(figures[i].iter().map(|f| f.p99_us)),
            median(figures[i].iter().map(|f| f.cpu_us))
        );
    }
    let ratios: Vec<f64> = figures[0]
        .iter()
        .zip(&figures[1])
        .map(|(p, r)| r.rps / p.rps)
        .collect();
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "rest+key/plain throughput ratio per round: {:?}; median {:.3} (acceptance: >= 0.90)",
        ratios
            .iter()
            .map(|r| (r * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>(),
        sorted[sorted.len() / 2]
    );
    println!(
        "rest+key/plain cpu per request: {:.3}",
        median(figures[1].iter().map(|f| f.cpu_us)) / median(figures[0].iter().map(|f| f.cpu_us))
    );
    Ok(())
}
