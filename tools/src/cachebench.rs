//! REST response cache: a cache hit against a proxied miss (the same upstream and method with
//! caching off) and against nginx's `proxy_cache` hit, in one run.
//!
//! Starts (127.0.0.1 only) the peers' nginx upstream from `../shared/bench/nginx.conf` and wrk
//! on core 1, Portico (one worker) and an nginx with `proxy_cache` in front of the same upstream
//! (`tools/cachebench-nginx.conf`, one worker) on core 0, configures a REST API with `/hit`
//! (cached, 300 s) and `/miss` (caching off) both proxying `GET /1k`, then runs `wrk` against
//! each target in alternating rounds. Acceptance: hit ≥ 2× miss throughput, and hit > nginx's
//! `proxy_cache` hit.
//!
//! usage: cachebench [--seconds 5] [--connections 64] [--rounds 3]
//! needs: nginx, wrk, taskset, ss; target/release/portico.

use std::time::Duration;

use anyhow::{Context, Result};
use portico_tools::{median, portico_pid, start_nginx, wrk_run, Http, WrkFigures};
use serde_json::{json, Value};

/// Command-line flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "cachebench",
    about = "A REST cache hit against a proxied miss and nginx's proxy_cache, in one run."
)]
struct Args {
    /// Seconds per `wrk` round.
    #[arg(long, default_value_t = 5)]
    seconds: u32,
    /// `wrk` keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Rounds, alternating the targets.
    #[arg(long, default_value_t = 3)]
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
    let work = std::env::temp_dir().join(format!("portico-cachebench-{}", std::process::id()));
    std::fs::create_dir_all(work.join("logs"))?;
    let work_s = work.to_str().context("utf-8 temp dir")?;
    let upstream = std::fs::read_to_string(bench.join("nginx.conf"))?.replace("@WORK@", work_s);
    std::fs::write(work.join("nginx.conf"), upstream)?;
    let cache = include_str!("../cachebench-nginx.conf").replace("@WORK@", work_s);
    std::fs::write(work.join("nginx-cache.conf"), cache)?;
    let upstream = start_nginx(&work, "nginx.conf", "1", "up")?;
    let cache = start_nginx(&work, "nginx-cache.conf", "0", "cache")?;

    let (mut child, ready) =
        portico_tools::spawn_portico(&portico, Some("0"), &work.join("data"), &["--workers", "1"])?;
    println!("# {}", ready.line);
    let result = run(&ready, seconds, connections, rounds);
    let _ = child.kill();
    let _ = child.wait();
    // Stop both nginx while their pid files still exist, then remove the work directory.
    drop(cache);
    drop(upstream);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn run(ready: &portico_tools::Ready, seconds: u32, connections: u32, rounds: u32) -> Result<()> {
    let mut admin = Http::connect(ready.admin)?;
    let mut call = |method: &str, path: &str, body: Value| admin.call_json(method, path, &body);
    let api = call("POST", "/restapis", json!({"name": "cachebench"}))?;
    let id = api["id"].as_str().context("id")?.to_string();
    let root = api["rootResourceId"].as_str().context("root")?.to_string();
    for part in ["hit", "miss"] {
        let res = call(
            "POST",
            &format!("/restapis/{id}/resources/{root}"),
            json!({ "pathPart": part }),
        )?;
        let rid = res["id"].as_str().context("resource id")?.to_string();
        let base = format!("/restapis/{id}/resources/{rid}/methods/GET");
        call("PUT", &base, json!({"authorizationType": "NONE"}))?;
        call(
            "PUT",
            &format!("{base}/integration"),
            json!({"type": "HTTP_PROXY", "httpMethod": "GET", "uri": "http://127.0.0.1:18080/1k"}),
        )?;
    }
    call(
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "bench", "cacheClusterEnabled": true, "cacheClusterSize": "0.5"}),
    )?;
    call(
        "PATCH",
        &format!("/restapis/{id}/stages/bench"),
        json!({"patchOperations": [
            {"op": "replace", "path": "/~1miss/GET/caching/enabled", "value": "false"}]}),
    )?;
    std::thread::sleep(Duration::from_millis(300));

    let listen = ready.listen;
    let host = format!("{id}.execute-api.localhost");
    let targets = [
        (
            "rest-hit",
            format!("http://{listen}/bench/hit"),
            host.clone(),
        ),
        ("rest-miss", format!("http://{listen}/bench/miss"), host),
        (
            "nginx-hit",
            "http://127.0.0.1:18081/1k".to_string(),
            "127.0.0.1".to_string(),
        ),
    ];
    let pid = portico_pid(ready)?;
    let mut figures: Vec<Vec<WrkFigures>> = vec![Vec::new(); targets.len()];
    println!("# {rounds} rounds; wrk -t1 -c{connections} -d{seconds}s per target per round");
    for round in 1..=rounds {
        println!("## round {round}");
        for (i, (name, url, host)) in targets.iter().enumerate() {
            let f = wrk_run(pid, url, &[format!("Host: {host}")], connections, seconds)
                .with_context(|| name.to_string())?;
            // Portico's CPU per request; meaningless for nginx's row (Portico idles then).
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
            "{name:<10} {:>10.0} req/s  p99 {:>7.0}us",
            median(figures[i].iter().map(|f| f.rps)),
            median(figures[i].iter().map(|f| f.p99_us))
        );
    }
    let ratio = |a: usize, b: usize| {
        median(
            figures[a]
                .iter()
                .zip(&figures[b])
                .map(|(x, y)| x.rps / y.rps),
        )
    };
    println!(
        "rest-hit/rest-miss throughput: median {:.2} (acceptance: >= 2)",
        ratio(0, 1)
    );
    println!(
        "rest-hit/nginx-hit throughput: median {:.2} (acceptance: > 1)",
        ratio(0, 2)
    );
    Ok(())
}
