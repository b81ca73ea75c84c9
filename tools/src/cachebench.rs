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

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use portico_tools::{cpu_ticks, duration_us, Http};
use serde_json::{json, Value};

fn main() -> Result<()> {
    let mut seconds = 5u32;
    let mut connections = 64u32;
    let mut rounds = 3u32;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v: u32 = it.next().context("a value")?.parse()?;
        match a.as_str() {
            "--seconds" => seconds = v,
            "--connections" => connections = v,
            "--rounds" => rounds = v,
            _ => bail!("usage: cachebench [--seconds N] [--connections N] [--rounds N]"),
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let bench = root.join("../shared/bench");
    let portico = std::env::var_os("PORTICO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/portico"));
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

/// Starts nginx with `conf` pinned to `cpu`; stopped when the guard drops.
fn start_nginx(work: &Path, conf: &str, cpu: &str, name: &str) -> Result<StopNginx> {
    let pidfile = work.join(format!("nginx-{name}.pid"));
    let status = Command::new("taskset")
        .args(["-c", cpu, "nginx", "-c"])
        .arg(work.join(conf))
        .arg("-p")
        .arg(work)
        .arg("-g")
        .arg(format!("pid {};", pidfile.display()))
        .arg("-e")
        .arg(work.join(format!("logs/error-{name}.log")))
        .status()?;
    if !status.success() {
        bail!("nginx ({name}) failed to start");
    }
    Ok(StopNginx(pidfile))
}

fn run(ready: &portico_tools::Ready, seconds: u32, connections: u32, rounds: u32) -> Result<()> {
    let mut admin = Http::connect(ready.admin)?;
    let mut call = |method: &str, path: &str, body: Value| -> Result<Value> {
        let (status, text) = admin.call(method, path, &body.to_string())?;
        if !(200..300).contains(&status) {
            bail!("{method} {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    };
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
    let mut figures: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); targets.len()];
    println!("# {rounds} rounds; wrk -t1 -c{connections} -d{seconds}s per target per round");
    for round in 1..=rounds {
        println!("## round {round}");
        for (i, (name, url, host)) in targets.iter().enumerate() {
            let before = cpu_ticks(pid);
            let out = Command::new("taskset")
                .args(["-c", "1", "wrk", "-t1", "--latency"])
                .arg(format!("-c{connections}"))
                .arg(format!("-d{seconds}s"))
                .arg("-H")
                .arg(format!("Host: {host}"))
                .arg(url)
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            if text.contains("Non-2xx") {
                bail!("{name}: non-2xx answers:\n{text}");
            }
            let mut rps = 0.0;
            let mut p99 = 0.0;
            let mut requests = 0.0;
            for line in text.lines() {
                let w: Vec<&str> = line.split_whitespace().collect();
                match w.as_slice() {
                    ["Requests/sec:", v] => rps = v.parse().unwrap_or(0.0),
                    ["99%", v] => p99 = duration_us(v),
                    [n, "requests", "in", ..] => requests = n.parse().unwrap_or(0.0),
                    _ => {}
                }
            }
            // Portico's CPU per request; meaningless for nginx's row (Portico idles then).
            let cpu = match (before, cpu_ticks(pid)) {
                (Some(b), Some(a)) if requests > 0.0 => (a - b) as f64 / 100.0 * 1e6 / requests,
                _ => 0.0,
            };
            println!("{name:<10} {rps:>10.0} req/s  p99 {p99:>7.0}us  {cpu:>6.2}us cpu/req");
            figures[i].push((rps, p99, cpu));
        }
    }
    let median = |v: &[f64]| {
        let mut x = v.to_vec();
        x.sort_by(f64::total_cmp);
        x[x.len() / 2]
    };
    println!("\n## medians");
    for (i, (name, ..)) in targets.iter().enumerate() {
        let rps: Vec<f64> = figures[i].iter().map(|f| f.0).collect();
        let p99: Vec<f64> = figures[i].iter().map(|f| f.1).collect();
        println!(
            "{name:<10} {:>10.0} req/s  p99 {:>7.0}us",
            median(&rps),
            median(&p99)
        );
    }
    let ratio = |a: usize, b: usize| {
        let r: Vec<f64> = figures[a]
            .iter()
            .zip(&figures[b])
            .map(|(x, y)| x.0 / y.0)
            .collect();
        median(&r)
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

fn portico_pid(ready: &portico_tools::Ready) -> Result<u32> {
    // The listener's owner: the portico process (spawned through taskset, which execs).
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ss -Hltnp 'sport = :{}' | grep -o 'pid=[0-9]*' | head -1",
            ready.listen.port()
        ))
        .output()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("pid=")
        .parse()
        .context("portico pid (needs ss)")
}

struct StopNginx(PathBuf);

impl Drop for StopNginx {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}
