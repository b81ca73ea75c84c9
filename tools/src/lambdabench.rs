//! Self-hosted Lambda round trip: the warm cost of gateway → function → back, beside peers
//! measured in the same run on the same machine.
//!
//! Starts (127.0.0.1 only) the peers' nginx upstream from `../shared/bench/nginx.conf` and
//! Portico (one worker) with an HTTP API whose `$default` route proxies to nginx
//! (`HTTP_PROXY`), then creates a self-hosted function through Lambda's `CreateFunction` on the
//! admin listener (a Python `awslambdaric` handler answering `{"statusCode": 200, "body":
//! "ok"}`, or with `--bootstrap PATH` a `provided.al2023` function running that executable,
//! e.g. a release build of `tests/lambda-fn`) and an HTTP API routing to it (`AWS_PROXY`,
//! payload 2.0). Then, in alternating rounds, sends sequential requests over one keep-alive
//! connection per target and prints p50/p99 of:
//! - `nginx`: nginx directly (the loopback and client floor);
//! - `proxy`: Portico → nginx (the HTTP proxy peer);
//! - `invoke`: Lambda's Invoke API on the admin listener → function (no data plane);
//! - `lambda`: Portico's data plane → function (event built, Invoke call, answer parsed).
//!
//! `lambda − proxy` is what a self-hosted function costs over proxying to a trivial upstream;
//! `lambda − invoke` is the data plane's share. Not pinned: the function processes are the
//! gateway's children, and pinning both to one core would measure the scheduler.
//!
//! usage: lambdabench [--samples 2000] [--rounds 3] [--bootstrap PATH]
//! needs: nginx, zip, python3 with awslambdaric (unless --bootstrap);
//! target/release/portico (cargo build --release -p portico-dataplane --bin portico).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use portico_tools::{median, start_nginx, Http};
use serde_json::{json, Value};

const HANDLER: &str =
    "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"ok\"}\n";
const WARMUP: usize = 50;

struct Target {
    name: &'static str,
    addr: std::net::SocketAddr,
    method: &'static str,
    path: String,
    host: String,
    body: &'static str,
}

/// Command-line flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "lambdabench",
    about = "The warm self-hosted Lambda round trip beside nginx and an HTTP proxy route."
)]
struct Args {
    /// Requests timed per target and round.
    #[arg(long, default_value_t = 2000)]
    samples: usize,
    /// Rounds, alternating the targets.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// A `provided.al2023` function's `bootstrap` binary to run beside the Python one.
    #[arg(long)]
    bootstrap: Option<PathBuf>,
}

fn main() -> Result<()> {
    let Args {
        samples,
        rounds,
        bootstrap,
    } = clap::Parser::parse();
    let bootstrap = bootstrap.map(std::fs::canonicalize).transpose()?;
    let root = portico_tools::workspace_root();
    let portico = portico_tools::portico_bin();
    let work = std::env::temp_dir().join(format!("portico-lambdabench-{}", std::process::id()));
    std::fs::create_dir_all(work.join("logs"))?;
    let conf = std::fs::read_to_string(root.join("../shared/bench/nginx.conf"))?
        .replace("@WORK@", work.to_str().context("utf-8 temp dir")?);
    std::fs::write(work.join("nginx.conf"), conf)?;
    let nginx = start_nginx(&work, "nginx.conf", "0,1", "up")?;
    let (mut child, ready) =
        portico_tools::spawn_portico(&portico, None, &work.join("data"), &["--workers", "1"])?;
    println!("# {}", ready.line);
    let result = function_zip(&work, bootstrap.as_deref())
        .and_then(|zip| run(&ready, &zip, bootstrap.is_some(), samples, rounds));
    let _ = child.kill();
    let _ = child.wait();
    drop(nginx);
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// The function's code as a zip (the `zip` CLI keeps the bootstrap's mode).
fn function_zip(work: &std::path::Path, bootstrap: Option<&std::path::Path>) -> Result<Vec<u8>> {
    let dir = work.join("fn");
    std::fs::create_dir_all(&dir)?;
    let file = match bootstrap {
        Some(bin) => {
            let script = dir.join("bootstrap");
            std::fs::write(&script, format!("#!/bin/sh\nexec '{}'\n", bin.display()))?;
            let status = std::process::Command::new("chmod")
                .arg("755")
                .arg(&script)
                .status()?;
            anyhow::ensure!(status.success(), "chmod bootstrap");
            script
        }
        None => {
            let app = dir.join("app.py");
            std::fs::write(&app, HANDLER)?;
            app
        }
    };
    let zip = dir.join("fn.zip");
    let status = std::process::Command::new("zip")
        .args(["-q", "-X", "-j"])
        .arg(&zip)
        .arg(&file)
        .status()
        .context("zip (apt-get install zip)")?;
    anyhow::ensure!(status.success(), "zip failed");
    Ok(std::fs::read(zip)?)
}

fn run(
    ready: &portico_tools::Ready,
    zip: &[u8],
    provided: bool,
    samples: usize,
    rounds: usize,
) -> Result<()> {
    let mut admin = Http::connect(ready.admin)?;
    let mut call = |method: &str, path: &str, body: Value| admin.call_json(method, path, &body);
    let (runtime, handler) = if provided {
        ("provided.al2023", "bootstrap")
    } else {
        ("python3.11", "app.handler")
    };
    let created = call(
        "POST",
        "/2015-03-31/functions",
        json!({"FunctionName": "bench", "Runtime": runtime, "Handler": handler,
               "Role": "arn:aws:iam::000000000000:role/bench", "Timeout": 10,
               "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)}}),
    )?;
    let arn = created["FunctionArn"].as_str().context("FunctionArn")?;
    call(
        "PUT",
        "/portico/config",
        json!({"apis": [
            {"apiId": "proxy", "routes": [{"routeKey": "$default", "target": "integrations/up"}],
             "integrations": [{"integrationId": "up", "integrationType": "HTTP_PROXY",
                               "integrationUri": "http://127.0.0.1:18080"}],
             "stages": [{"stageName": "$default"}]},
            {"apiId": "lambda", "routes": [{"routeKey": "$default", "target": "integrations/fn"}],
             "integrations": [{"integrationId": "fn", "integrationType": "AWS_PROXY",
                               "integrationUri": arn, "payloadFormatVersion": "2.0"}],
             "stages": [{"stageName": "$default"}]}]}),
    )?;
    let nginx_addr: std::net::SocketAddr = "127.0.0.1:18080".parse()?;
    let targets = [
        Target {
            name: "nginx",
            addr: nginx_addr,
            method: "GET",
            path: "/small".into(),
            host: "127.0.0.1".into(),
            body: "",
        },
        Target {
            name: "proxy",
            addr: ready.listen,
            method: "GET",
            path: "/small".into(),
            host: "proxy.execute-api.localhost".into(),
            body: "",
        },
        Target {
            name: "invoke",
            addr: ready.admin,
            method: "POST",
            path: "/2015-03-31/functions/bench/invocations".into(),
            host: ready.admin.to_string(),
            body: "{}",
        },
        Target {
            name: "lambda",
            addr: ready.listen,
            method: "GET",
            path: "/small".into(),
            host: "lambda.execute-api.localhost".into(),
            body: "",
        },
    ];
    println!(
        "# {rounds} rounds x {samples} sequential requests per target over one keep-alive \
         connection ({WARMUP} warm-up requests first); function: {runtime}"
    );
    let mut p50: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let mut p99: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    for round in 1..=rounds {
        println!("## round {round}");
        for (i, t) in targets.iter().enumerate() {
            let mut us = sequential(t, samples).with_context(|| t.name)?;
            us.sort_by(f64::total_cmp);
            let (a, b) = (us[us.len() / 2], us[us.len() * 99 / 100]);
            println!("{:<7} p50 {a:>8.1}us  p99 {b:>8.1}us", t.name);
            p50[i].push(a);
            p99[i].push(b);
        }
    }
    println!("\n## medians over rounds");
    for (i, t) in targets.iter().enumerate() {
        println!(
            "{:<7} p50 {:>8.1}us  p99 {:>8.1}us",
            t.name,
            median(p50[i].iter().copied()),
            median(p99[i].iter().copied())
        );
    }
    let m = |v: &Vec<f64>| median(v.iter().copied());
    println!(
        "lambda - proxy: p50 {:+.1}us, p99 {:+.1}us (a self-hosted function over proxying to nginx)",
        m(&p50[3]) - m(&p50[1]),
        m(&p99[3]) - m(&p99[1])
    );
    println!(
        "lambda - invoke: p50 {:+.1}us, p99 {:+.1}us (the data plane's share)",
        m(&p50[3]) - m(&p50[2]),
        m(&p99[3]) - m(&p99[2])
    );
    Ok(())
}

/// `WARMUP` then `n` requests, one after another on one connection; each one's time in µs.
/// Any answer but 200 is an error: a benchmark of errors measures nothing.
fn sequential(t: &Target, n: usize) -> Result<Vec<f64>> {
    let mut http = Http::connect(t.addr)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..WARMUP + n {
        let started = Instant::now();
        let (status, body) = http.request(t.method, &t.path, &t.host, t.body, false)?;
        let took = started.elapsed();
        if status != 200 {
            bail!("{} answered {status}: {body}", t.name);
        }
        if i >= WARMUP {
            out.push(duration_us(took));
        }
    }
    Ok(out)
}

fn duration_us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
