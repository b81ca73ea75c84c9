//! `loadbench --access-log`: what JSON access logs cost, measured in one run.
//!
//! One Portico (one worker, core 0) serves one HTTP API with one route (`GET /small`, to the
//! same upstream as the other rounds: nginx on core 1) on two stages: `off` (no access log) and
//! `on` (AWS's console JSON format with more `$context` variables, to a log group written as a
//! file under the data directory: the writer thread's work is in the gateway's CPU time too).
//! Each stage is loaded with `wrk` in alternating rounds; the report gives each stage's median
//! throughput, p50/p99 and CPU time per request, and the `on`/`off` ratios.

use std::path::Path;
use std::process::Child;

use anyhow::{bail, Context, Result};

use super::{wrk, Args, Figures, Target};

/// The JSON format AWS's console offers, with the error and latency variables added.
const FORMAT: &str = r#"{ "requestId":"$context.requestId", "ip": "$context.identity.sourceIp", "requestTime":"$context.requestTime", "httpMethod":"$context.httpMethod","routeKey":"$context.routeKey", "status":"$context.status","protocol":"$context.protocol", "responseLength":"$context.responseLength", "responseLatency":"$context.responseLatency", "integrationLatency":"$context.integrationLatency", "integrationErrorMessage":"$context.integrationErrorMessage", "userAgent":"$context.identity.userAgent", "xrayTraceId":"$context.xrayTraceId" }"#;

fn admin(
    http: &mut portico_tools::Http,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value> {
    let (status, text) = http.call(method, path, &body.to_string())?;
    if !(200..300).contains(&status) {
        bail!("{method} {path}: {status} {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or_default())
}

/// Runs the comparison; the Portico it starts is pushed on `children` (stopped by the caller).
pub(super) fn run(portico: &Path, work: &Path, a: &Args, children: &mut Vec<Child>) -> Result<()> {
    let data = work.join("portico-access-log-data");
    let _ = std::fs::remove_dir_all(&data);
    let (child, ready) =
        portico_tools::spawn_portico_env(portico, Some("0"), &data, &["--workers", "1"], &[])?;
    let pid = child.id();
    children.push(child);
    println!("# {}", ready.line);
    let mut http = portico_tools::Http::connect(ready.admin)?;
    let api = admin(
        &mut http,
        "POST",
        "/v2/apis",
        serde_json::json!({"name": "bench", "protocolType": "HTTP"}),
    )?;
    let api = api["apiId"].as_str().context("apiId")?.to_string();
    let base = format!("/v2/apis/{api}");
    let up = admin(
        &mut http,
        "POST",
        &format!("{base}/integrations"),
        serde_json::json!({
        "integrationType": "HTTP_PROXY", "integrationMethod": "GET",
        "integrationUri": "http://127.0.0.1:18080/small", "payloadFormatVersion": "1.0"}),
    )?;
    let target = format!(
        "integrations/{}",
        up["integrationId"].as_str().context("id")?
    );
    admin(
        &mut http,
        "POST",
        &format!("{base}/routes"),
        serde_json::json!({"routeKey": "GET /small", "target": target}),
    )?;
    admin(
        &mut http,
        "POST",
        &format!("{base}/stages"),
        serde_json::json!({"stageName": "off", "autoDeploy": true}),
    )?;
    admin(
        &mut http,
        "POST",
        &format!("{base}/stages"),
        serde_json::json!({"stageName": "on", "autoDeploy": true, "accessLogSettings": {
            "destinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:bench-access",
            "format": FORMAT}}),
    )?;
    let host = format!("{api}.execute-api.localhost");
    let targets = [("off", "/off/small"), ("on", "/on/small")].map(|(name, path)| Target {
        name,
        url: format!("http://{}{path}", ready.listen),
        host: Some(host.clone()),
        header: None,
        pid: Some(pid),
    });
    for t in &targets {
        let mut ok = false;
        for _ in 0..100 {
            let mut c = portico_tools::Http::connect(ready.listen)?;
            let path = t.url.splitn(4, '/').nth(3).map(|p| format!("/{p}"));
            let (status, _) = c.request("GET", &path.unwrap_or_default(), &host, "", true)?;
            if status == 200 {
                ok = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if !ok {
            bail!("{} does not answer 200", t.name);
        }
    }
    println!(
        "# {} rounds; wrk -t1 -c{} -d{}s per stage per round (the machine may be shared)",
        a.rounds, a.connections, a.seconds
    );
    let mut all: Vec<(&str, Vec<Figures>)> = targets.iter().map(|t| (t.name, Vec::new())).collect();
    for round in 1..=a.rounds {
        println!(
            "\n## round {round}\n{:<8} {:>12} {:>10} {:>10} {:>10}",
            "stage", "req/s", "p50", "p99", "cpu"
        );
        // Alternate which goes first, so drift hits both alike.
        let order: Vec<usize> = if round % 2 == 1 {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        for i in order {
            let (t, figures) = (&targets[i], &mut all[i].1);
            let f = wrk(t, a)?;
            println!(
                "{:<8} {:>12.0} {:>8.0}us {:>8.0}us {:>8.2}us cpu/req",
                t.name, f.rps, f.p50_us, f.p99_us, f.cpu_us_per_req
            );
            figures.push(f);
        }
    }
    let median = |v: &[Figures], key: fn(&Figures) -> f64| {
        let mut x: Vec<f64> = v.iter().map(key).collect();
        x.sort_by(f64::total_cmp);
        x[x.len() / 2]
    };
    let (off_rps, off_cpu) = (
        median(&all[0].1, |f| f.rps),
        median(&all[0].1, |f| f.cpu_us_per_req),
    );
    println!("\n## medians");
    for (name, v) in &all {
        let (rps, cpu) = (median(v, |f| f.rps), median(v, |f| f.cpu_us_per_req));
        println!(
            "{name:<4} {rps:>10.0} req/s  p50 {:>6.0}us  p99 {:>6.0}us  cpu {cpu:.2}us/req  rps/off {:.3}  cpu/off {:.3}",
            median(v, |f| f.p50_us),
            median(v, |f| f.p99_us),
            rps / off_rps,
            cpu / off_cpu
        );
    }
    let log = data.join("access-logs/bench-access.log");
    let lines = std::fs::read_to_string(&log)
        .map(|s| s.lines().count())
        .unwrap_or(0);
    println!("# {lines} access log lines in {}", log.display());
    Ok(())
}
