//! Publication latency: how long after the admin API answers a change is that change served.
//!
//! Starts the release `portico` (2 workers, a temp data dir) and an echo upstream on std threads
//! (it answers every request with its path). For each route count (10, then 10,000) it imports an
//! API whose routes all target one `HTTP_PROXY` integration with the URI
//! `http://127.0.0.1:{up}/${stageVariables.v}`, then 1,000 times:
//!
//! 1. changes something observable through the admin API: `UpdateStage` with a new value of `v`
//!    (`--change stage-variable`, the default), or `UpdateIntegration` with a new URI path on an
//!    auto-deploying stage, which also creates and stores a new deployment of every route
//!    (`--change integration-uri`);
//! 2. from the admin response on, sends fresh requests (a new connection each, to a random route)
//!    until one answers with the new path; the time from the admin response to that answer is the
//!    publication latency. The admin call's own duration is reported beside it.
//!
//! usage: publatency [--changes 1000] [--routes 10,10000] [--change stage-variable|integration-uri]
//! (needs `cargo build --release -p portico-dataplane --bin portico`; PORTICO_BIN overrides)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use portico_tools::Http;
use serde_json::json;

/// Gives up on one change after this long.
const VISIBLE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
enum Change {
    StageVariable,
    IntegrationUri,
}

/// Command-line flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "publatency",
    about = "Publication latency: how long after the admin API answers a change is that change served."
)]
struct Args {
    /// Changes per route count.
    #[arg(long, default_value_t = 1000)]
    changes: usize,
    /// Route counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,10000")]
    routes: Vec<usize>,
    /// What each change is.
    #[arg(long, value_enum, default_value_t = Change::StageVariable)]
    change: Change,
}

fn main() -> Result<()> {
    let Args {
        changes,
        routes: route_counts,
        change,
    } = clap::Parser::parse();
    let upstream = start_echo_upstream()?;
    let gateway = Gateway::start()?;
    println!(
        "publatency: portico {} (2 workers), {changes} changes per run, change = {change:?}",
        gateway.bin.display()
    );
    let mut admin = Http::connect(gateway.admin)?;
    for routes in route_counts {
        let api = format!("lat{routes}");
        let config = json!({"apis": [{
            "apiId": api,
            "routes": (0..routes).map(|i| json!({"routeKey": format!("GET /r{i}"), "target": "integrations/up"})).collect::<Vec<_>>(),
            "integrations": [{"integrationId": "up", "integrationType": "HTTP_PROXY",
                              "integrationUri": format!("http://{upstream}/${{stageVariables.v}}")}],
            "stages": [{"stageName": "$default", "stageVariables": {"v": "g0"}}],
        }]});
        let started = Instant::now();
        let (status, body) = admin.call("PUT", "/portico/config", &config.to_string())?;
        if status != 200 {
            bail!("PUT /portico/config: {status} {body}");
        }
        println!(
            "routes={routes}: imported in {:.1} ms",
            ms(started.elapsed())
        );
        if change == Change::IntegrationUri {
            let (status, body) = admin.call(
                "PATCH",
                &format!("/v2/apis/{api}/stages/$default"),
                r#"{"autoDeploy": true}"#,
            )?;
            if status != 200 {
                bail!("UpdateStage autoDeploy: {status} {body}");
            }
        }
        let host = format!("{api}.execute-api.localhost");
        let mut visible = Vec::with_capacity(changes);
        let mut calls = Vec::with_capacity(changes);
        let mut polls = 0u64;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for n in 1..=changes {
            let value = format!("g{n}");
            let (method, path, body) = match change {
                Change::StageVariable => (
                    "PATCH",
                    format!("/v2/apis/{api}/stages/$default"),
                    json!({"stageVariables": {"v": value}}).to_string(),
                ),
                Change::IntegrationUri => (
                    "PATCH",
                    format!("/v2/apis/{api}/integrations/up"),
                    json!({"integrationUri": format!("http://{upstream}/{value}")}).to_string(),
                ),
            };
            let sent = Instant::now();
            let (status, out) = admin.call(method, &path, &body)?;
            let answered = Instant::now();
            if status != 200 {
                bail!("{method} {path}: {status} {out}");
            }
            let want = format!("/{value}");
            loop {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let route = seed % routes as u64;
                polls += 1;
                let got = get_fresh(gateway.listen, &host, &format!("/r{route}"))?;
                if got == want {
                    break;
                }
                if answered.elapsed() > VISIBLE_TIMEOUT {
                    bail!("change {n} not visible after {VISIBLE_TIMEOUT:?}: still {got:?}");
                }
            }
            visible.push(answered.elapsed());
            calls.push(answered - sent);
        }
        report(
            &format!("routes={routes} visible after admin response"),
            &mut visible,
        );
        report(
            &format!("routes={routes} admin call (commit + compile + publish)"),
            &mut calls,
        );
        println!(
            "routes={routes}: {:.2} data plane requests per change",
            polls as f64 / changes as f64
        );
    }
    drop(gateway);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    println!(
        "{what}: p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  (n={})",
        ms(at(0.50)),
        ms(at(0.99)),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

/// `GET path` on a new connection; returns the body.
fn get_fresh(addr: SocketAddr, host: &str, path: &str) -> Result<String> {
    let mut c = Http::connect(addr)?;
    let (status, body) = c.request("GET", path, host, "", true)?;
    if status != 200 {
        bail!("GET {path}: {status} {body}");
    }
    Ok(body)
}

/// A minimal HTTP/1.1 client over one connection.
/// An upstream on std threads that answers every request with its path (keep-alive).
fn start_echo_upstream() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let Ok(write) = stream.try_clone() else {
                    return;
                };
                let mut write = write;
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let mut length = 0usize;
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{path}",
                        path.len()
                    );
                    if write.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(addr)
}

/// The gateway under measurement; killed on drop.
struct Gateway {
    bin: PathBuf,
    child: Child,
    listen: SocketAddr,
    admin: SocketAddr,
    dir: PathBuf,
}

impl Gateway {
    fn start() -> Result<Gateway> {
        let bin = portico_tools::portico_bin();
        if !bin.exists() {
            bail!(
                "{} is missing: cargo build --release -p portico-dataplane --bin portico",
                bin.display()
            );
        }
        let dir = std::env::temp_dir().join(format!("portico-publatency-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (child, ready) = portico_tools::spawn_portico(&bin, None, &dir, &["--workers", "2"])?;
        Ok(Gateway {
            listen: ready.listen,
            admin: ready.admin,
            bin,
            child,
            dir,
        })
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
