//! `loadbench --access-log`: what JSON access logs cost, measured in one run.
//!
//! Two Porticos (one worker each, both on core 0, loaded one at a time) serve the same HTTP API
//! with one route (`GET /small`, to the same upstream as the other rounds: nginx on core 1) on
//! two stages: `off` (no access log) and `on` (AWS's console JSON format with more `$context`
//! variables, to a CloudWatch Logs log group):
//! - `file`: with no Logs endpoint set, the group is written as a file under the data directory
//!   (the writer thread's work is in the gateway's CPU time too);
//! - `stalled`: `AWS_ENDPOINT_URL_LOGS` names a server here that accepts connections and never
//!   reads or answers (a sink that stopped): the writer's calls time out, the worker's queue
//!   fills, lines are dropped and counted (`portico_access_log_lines_dropped_total`).
//!
//! Throughput: `off`, `on` (file) and `on-stalled` loaded with `wrk` in rotating rounds; the
//! medians, and each `on` stage's ratios to `off`. Then the latency at a fixed rate (`--rate`;
//! `oha` when installed, else the tools' own open-loop generator) of the stalled Portico's `off`
//! and `on` stages in alternating rounds (p99 with logging off against p99 with the stalled
//! sink, same process), and the access log counters of both processes.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Child;

use anyhow::Result;
use serde_json::json;

use super::{bench_rounds, fixed_rate, Args, Target};

/// The JSON format AWS's console offers, with the error and latency variables added.
const FORMAT: &str = r#"{ "requestId":"$context.requestId", "ip": "$context.identity.sourceIp", "requestTime":"$context.requestTime", "httpMethod":"$context.httpMethod","routeKey":"$context.routeKey", "status":"$context.status","protocol":"$context.protocol", "responseLength":"$context.responseLength", "responseLatency":"$context.responseLatency", "integrationLatency":"$context.integrationLatency", "integrationErrorMessage":"$context.integrationErrorMessage", "userAgent":"$context.identity.userAgent", "xrayTraceId":"$context.xrayTraceId" }"#;

/// A Logs endpoint that stopped: it accepts every connection and never reads nor answers (the
/// sockets are kept open until the run ends).
fn stalled_sink() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    Ok(addr)
}

/// One Portico with the bench API on stages `off` and `on`; its targets (`off`, `on`) named
/// with `suffix`, its admin address.
fn gateway(
    portico: &Path,
    data: &Path,
    env: &[(&str, &str)],
    suffix: &'static str,
    children: &mut Vec<Child>,
) -> Result<([Target; 2], SocketAddr)> {
    let _ = std::fs::remove_dir_all(data);
    let (child, ready) =
        portico_tools::spawn_portico_env(portico, Some("0"), data, &["--workers", "1"], env)?;
    let pid = child.id();
    children.push(child);
    println!("# portico{suffix}: {}", ready.line);
    let mut http = portico_tools::Http::connect(ready.admin)?;
    let (api, target) = bench_rounds::http_api(&mut http)?;
    let base = format!("/v2/apis/{api}");
    http.call_json(
        "POST",
        &format!("{base}/routes"),
        &json!({"routeKey": "GET /small", "target": target}),
    )?;
    http.call_json(
        "POST",
        &format!("{base}/stages"),
        &json!({"stageName": "off", "autoDeploy": true}),
    )?;
    http.call_json(
        "POST",
        &format!("{base}/stages"),
        &json!({"stageName": "on", "autoDeploy": true, "accessLogSettings": {
            "destinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:bench-access",
            "format": FORMAT}}),
    )?;
    let host = format!("{api}.execute-api.localhost");
    let names: [&'static str; 2] = if suffix.is_empty() {
        ["off", "on"]
    } else {
        ["off-stalled", "on-stalled"]
    };
    let targets = [(names[0], "/off/small"), (names[1], "/on/small")].map(|(name, path)| Target {
        name,
        url: format!("http://{}{path}", ready.listen),
        host: Some(host.clone()),
        header: None,
        pid: Some(pid),
    });
    Ok((targets, ready.admin))
}

/// The access log counters of `GET /metrics` (Prometheus text): queued, shipped, dropped.
fn counters(admin: SocketAddr) -> Result<[u64; 3]> {
    let (_, text) = portico_tools::Http::connect(admin)?.call("GET", "/metrics", "")?;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0)
    };
    Ok([
        value("portico_access_log_lines_total"),
        value("portico_access_log_lines_shipped_total"),
        value("portico_access_log_lines_dropped_total"),
    ])
}

fn print_counters(name: &str, admin: SocketAddr) -> Result<()> {
    let [queued, shipped, dropped] = counters(admin)?;
    println!("# {name}: access log lines queued {queued}, shipped {shipped}, dropped {dropped}");
    Ok(())
}

/// Runs the comparison; the Porticos it starts are pushed on `children` (stopped by the caller).
pub(super) fn run(
    portico: &Path,
    work: &Path,
    a: &Args,
    have_oha: bool,
    children: &mut Vec<Child>,
) -> Result<()> {
    let data = work.join("portico-access-log-data");
    let ([off, on], admin) = gateway(portico, &data, &[], "", children)?;
    let sink = format!("http://{}", stalled_sink()?);
    println!("# stalled Logs endpoint (accepts, never reads nor answers): {sink}");
    let ([off_stalled, on_stalled], admin_stalled) = gateway(
        portico,
        &work.join("portico-access-log-stalled"),
        &[
            ("AWS_ENDPOINT_URL_LOGS", &sink),
            ("AWS_ACCESS_KEY_ID", "AKIDBENCH"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_REGION", "us-east-1"),
        ],
        "-stalled",
        children,
    )?;
    let targets = [off, on, on_stalled];
    bench_rounds::wait_ready(&targets)?;
    bench_rounds::wait_ready(std::slice::from_ref(&off_stalled))?;
    let all = bench_rounds::wrk_rounds(&targets, a, "stage")?;
    bench_rounds::print_medians(&targets, &all, |_| 0);
    let log = data.join("access-logs/bench-access.log");
    let lines = std::fs::read_to_string(&log)
        .map(|s| s.lines().count())
        .unwrap_or(0);
    println!("# {lines} access log lines in {}", log.display());
    print_counters("file", admin)?;
    print_counters("stalled", admin_stalled)?;

    // Latency at a fixed rate: logging off against the stalled sink, same process.
    let fixed = [off_stalled, targets[2].clone()];
    println!(
        "\n# fixed rate: {} -q {} -c{} -z {}s, latency from each request's due time; order alternates",
        if have_oha { "oha" } else { "the built-in generator (no oha)" },
        a.rate,
        a.connections,
        a.seconds
    );
    let all = bench_rounds::rounds(&fixed, a, "stage", |t| fixed_rate(t, a, have_oha))?;
    bench_rounds::print_medians(&fixed, &all, |_| 0);
    print_counters("stalled", admin_stalled)?;
    Ok(())
}
