//! Load benchmark: Portico beside nginx and haproxy, in one run, on this machine.
//!
//! Starts (on 127.0.0.1 only) the peers' upstream and proxies from `../shared/bench/` and Portico
//! (one worker) in front of the same upstream, with the pinning the peers' README prescribes:
//! each proxy on core 0, the load generator and the upstream on core 1. Then, in alternating
//! rounds so that drift hits every target alike:
//! 1. throughput: `wrk` with keep-alive connections, requests/s and p50/p99/p99.9;
//! 2. latency at a fixed rate: `oha -q RATE` (if installed, else this tool's own client, one
//!    thread per connection, corrected for coordinated omission), p50/p99/p99.9, and the CPU
//!    time each proxy spends per request at that rate. Below saturation the load generator is
//!    not the bound (on two cores it saturates first under `wrk`), so this figure tells the
//!    proxies apart.
//!
//! Prints a table per round, the medians, and Portico's ratios to each peer. Each fixed-rate
//! round of Portico goes to an API of its own (`f1`, `f2`, ...), so the round's line also shows
//! Portico's own histograms for it (`GET /portico/metrics`): the request's latency inside the
//! gateway and the upstream exchange's, which tells the proxy's share from the load generator's
//! and the upstream's (both on core 1).
//!
//! With `PORTICO_BIN_B=path`, a second Portico built from other code runs beside the first as
//! target `portico-b` (same configuration, same core): an A/B of two builds in one run.
//!
//! With `--fixed-only`, the run skips the throughput rounds and alternates nginx and Portico at
//! the fixed rate (which goes first alternates too), and counts the rounds each wins.
//!
//! With `--auth`, the run measures authorization instead (one Portico, one worker on core 0):
//! the plain proxy route, the same route behind a JWT authorizer (RS256, keys from a JWKS
//! served here) and behind a Lambda authorizer whose decision is cached (the Invoke API is
//! served here too), each loaded with `wrk` in alternating rounds; prints p50s and the ratios.
//!
//! With `--tls`, the run compares TLS termination instead: nginx (one worker on core 0, TLS 1.2
//! and 1.3, session tickets, the same upstream) and Portico's `--tls-listen` listener, serving
//! the same certificate (a private CA's, made with the `openssl` CLI and imported into Portico
//! through its ACM-shaped admin service, for a custom domain mapped to the bench API). `oha`
//! (rustls) loads both: keep-alive throughput, then new connections per second
//! (`--disable-keepalive`: one handshake per request).
//!
//! With `--access-log`, the run measures JSON access logs instead: the same route on a stage
//! without and a stage with them, written to a file and to a Logs endpoint that stopped
//! reading, and the p99 at a fixed rate with that stalled sink (see `access_log_bench.rs`).
//!
//! With `--cluster`, the run measures the cluster store and shared limits on one node instead:
//! one Portico on the default SQLite store, one on `--store postgres://` with `--redis`
//! (throwaway servers started here), a plain route and an API-key route in a throttled usage
//! plan on both (see `cluster_bench.rs`).
//!
//! `--auth`, `--access-log` and `--cluster` share their round loop (`bench_rounds.rs`).
//!
//! usage: loadbench [--seconds 5] [--connections 64] [--rounds 3] [--rate 20000] [--path /small]
//!        [--tls] [--auth] [--fixed-only] [--access-log] [--cluster]
//! needs: nginx, haproxy, wrk (apt-get install -y nginx haproxy wrk), taskset; oha optional
//! (cargo install oha); target/release/portico (cargo build --release -p portico-dataplane).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use portico_tools::{cpu_ticks, cpu_ticks_split, duration_us};

#[path = "access_log_bench.rs"]
mod access_log_bench;
#[path = "auth_bench.rs"]
mod auth_bench;
#[path = "bench_rounds.rs"]
mod bench_rounds;
#[path = "cluster_bench.rs"]
mod cluster_bench;

/// Command-line flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "loadbench",
    about = "Load benchmark: Portico beside nginx and haproxy, in one run, on this machine.",
    after_help = "needs: nginx, haproxy, wrk (apt-get install -y nginx haproxy wrk), taskset; oha optional \
                  (cargo install oha); target/release/portico (cargo build --release -p portico-dataplane)."
)]
struct Args {
    /// Seconds per round.
    #[arg(long, default_value_t = 5)]
    seconds: u32,
    /// `wrk` keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Rounds, alternating the targets.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Requests per second of the fixed-rate rounds (`oha -q`).
    #[arg(long, default_value_t = 20_000)]
    rate: u32,
    /// The path every request asks for (the bench upstream serves /small and others).
    #[arg(long, default_value = "/small")]
    path: String,
    /// Compare TLS termination (nginx vs Portico) instead of plain HTTP.
    #[arg(long)]
    tls: bool,
    /// Measure authorizers instead: the plain proxy route against a JWT authorizer's and a
    /// cached Lambda authorizer's routes, in one Portico (see `auth_bench.rs`).
    #[arg(long)]
    auth: bool,
    /// Fixed-rate rounds only, nginx against Portico.
    #[arg(long)]
    fixed_only: bool,
    /// Measure JSON access logs instead: one route on a stage without and a stage with them,
    /// in one Portico (see `access_log_bench.rs`).
    #[arg(long)]
    access_log: bool,
    /// Measure the cluster store and shared limits instead: one Portico on the default SQLite
    /// store and one on PostgreSQL with limits in Redis, the same API on both (see
    /// `cluster_bench.rs`).
    #[arg(long)]
    cluster: bool,
}

#[derive(Clone)]
struct Target {
    name: &'static str,
    url: String,
    host: Option<String>,
    /// One more request header (`name: value`), e.g. a token.
    header: Option<String>,
    /// The process doing the proxying, whose CPU time per request is measured.
    pid: Option<u32>,
}

#[derive(Default, Clone)]
struct Figures {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    /// CPU time (user + system) the proxy process spent per request, µs.
    cpu_us_per_req: f64,
    /// The share of that CPU time spent in the kernel (system time), 0..1.
    cpu_system_share: f64,
}

/// Sets `f`'s CPU figures from the proxy's (user, system) ticks before and after `requests`.
fn set_cpu(f: &mut Figures, before: Option<(u64, u64)>, after: Option<(u64, u64)>, requests: f64) {
    let (Some((u0, s0)), Some((u1, s1))) = (before, after) else {
        return;
    };
    let ticks = (u1 + s1).saturating_sub(u0 + s0);
    if requests > 0.0 {
        f.cpu_us_per_req = ticks as f64 / clock_ticks_per_s() * 1e6 / requests;
    }
    if ticks > 0 {
        f.cpu_system_share = s1.saturating_sub(s0) as f64 / ticks as f64;
    }
}

fn main() -> Result<()> {
    let args: Args = clap::Parser::parse();
    let root = portico_tools::workspace_root();
    let bench = root.join("../shared/bench");
    let portico = portico_tools::portico_bin();
    for tool in ["nginx", "haproxy", "wrk", "taskset"] {
        if Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()?
            .stdout
            .is_empty()
        {
            bail!("missing {tool}: apt-get install -y nginx haproxy wrk util-linux");
        }
    }
    if !portico.exists() {
        bail!(
            "{} missing: cargo build --release -p portico-dataplane",
            portico.display()
        );
    }
    let have_oha = !Command::new("sh")
        .arg("-c")
        .arg("command -v oha")
        .output()?
        .stdout
        .is_empty();
    let work = std::env::temp_dir().join(format!("portico-loadbench-{}", std::process::id()));
    std::fs::create_dir_all(work.join("cache"))?;
    std::fs::create_dir_all(work.join("logs"))?;
    let mut guard = Processes {
        children: Vec::new(),
        pidfiles: Vec::new(),
        work: work.clone(),
    };

    // Peers, exactly as ../shared/bench/run-peers.sh starts them.
    for (conf, cpu, pid) in [
        ("nginx.conf", "1", "nginx-up.pid"),
        ("nginx-proxy.conf", "0", "nginx-proxy.pid"),
    ] {
        let text = std::fs::read_to_string(bench.join(conf))?
            .replace("@WORK@", work.to_str().context("utf-8 temp dir")?);
        let path = work.join(conf);
        std::fs::write(&path, text)?;
        let status = Command::new("taskset")
            .args(["-c", cpu, "nginx", "-c"])
            .arg(&path)
            .arg("-p")
            .arg(&work)
            .arg("-g")
            .arg(format!("pid {};", work.join(pid).display()))
            .arg("-e")
            .arg(work.join("logs/error.log"))
            .status()?;
        if !status.success() {
            bail!("nginx failed to start with {conf}");
        }
        guard.pidfiles.push(work.join(pid));
    }
    let status = Command::new("taskset")
        .args(["-c", "0", "haproxy", "-D", "-f"])
        .arg(bench.join("haproxy.cfg"))
        .arg("-p")
        .arg(work.join("haproxy.pid"))
        .status()?;
    if !status.success() {
        bail!("haproxy failed to start");
    }
    guard.pidfiles.push(work.join("haproxy.pid"));
    if args.auth {
        return auth_bench::run(&portico, &work, &args, &mut guard.children);
    }
    if args.access_log {
        return access_log_bench::run(&portico, &work, &args, have_oha, &mut guard.children);
    }
    if args.cluster {
        return cluster_bench::run(&portico, &work, &args, &mut guard.children);
    }

    // Portico: one worker on core 0, the same upstream.
    // `bench` for the throughput rounds, and one API per fixed-rate round (`f1`, ...) so that
    // Portico's own histograms can be read per round.
    let api = |id: &str| {
        serde_json::json!({"apiId": id,
            "routes": [{"routeKey": "$default", "target": "integrations/up"}],
            "integrations": [{"integrationId": "up", "integrationType": "HTTP_PROXY",
                "integrationUri": "http://127.0.0.1:18080"}],
            "stages": [{"stageName": "$default"}]})
    };
    let apis: Vec<serde_json::Value> = std::iter::once(api("bench"))
        .chain((1..=args.rounds).map(|r| api(&format!("f{r}"))))
        .collect();
    std::fs::write(
        work.join("portico.json"),
        serde_json::json!({ "apis": apis }).to_string(),
    )?;
    let config_arg = work.join("portico.json").to_string_lossy().into_owned();
    let (child, ready) = portico_tools::spawn_portico(
        &portico,
        Some("0"),
        &work.join("portico-data"),
        &[
            "--workers",
            "1",
            "--config",
            &config_arg,
            "--tls-listen",
            "127.0.0.1:0",
        ],
    )?;
    let portico_pid = child.id();
    guard.children.push(child);
    let listen = ready.listen.to_string();
    let line = ready.line;
    println!("# {}", line.trim());
    std::thread::sleep(Duration::from_millis(500));
    if args.tls {
        let tls_port: u16 = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("tls="))
            .and_then(|a| a.rsplit_once(':')?.1.parse().ok())
            .context("no tls= in the ready line")?;
        return tls_comparison(&args, &work, &mut guard, ready.admin, tls_port, portico_pid);
    }

    // An A/B run: a second build, started the same way.
    let b = match std::env::var_os("PORTICO_BIN_B") {
        Some(bin) => {
            let (child, ready_b) = portico_tools::spawn_portico(
                Path::new(&bin),
                Some("0"),
                &work.join("portico-data-b"),
                &["--workers", "1", "--config", &config_arg],
            )?;
            println!("# b: {} {}", Path::new(&bin).display(), ready_b.line.trim());
            let pid = child.id();
            guard.children.push(child);
            Some((ready_b, pid))
        }
        None => None,
    };
    let mut targets = vec![
        Target {
            name: "direct",
            url: format!("http://127.0.0.1:18080{}", args.path),
            host: None,
            header: None,
            pid: None,
        },
        Target {
            name: "nginx",
            url: format!("http://127.0.0.1:18081{}", args.path),
            host: None,
            header: None,
            // The proxy's one worker process, a child of the master named in the pid file.
            pid: read_pid(&work.join("nginx-proxy.pid")).and_then(first_child),
        },
        Target {
            name: "haproxy",
            url: format!("http://127.0.0.1:18084{}", args.path),
            host: None,
            header: None,
            pid: read_pid(&work.join("haproxy.pid")),
        },
        Target {
            name: "portico",
            url: format!("http://{listen}{}", args.path),
            host: Some("bench.execute-api.localhost".into()),
            header: None,
            pid: Some(portico_pid),
        },
    ];
    if let Some((ready_b, pid)) = &b {
        targets.push(Target {
            name: "portico-b",
            url: format!("http://{}{}", ready_b.listen, args.path),
            host: Some("bench.execute-api.localhost".into()),
            header: None,
            pid: Some(*pid),
        });
    }
    println!(
        "# {} rounds; wrk -t1 -c{} -d{}s per target per round; oha -q {} -c{} -z {}s{}",
        args.rounds,
        args.connections,
        args.seconds,
        args.rate,
        args.connections,
        args.seconds,
        if have_oha {
            ""
        } else {
            " (oha not installed: the fixed-rate runs use this tool's own client, one thread per connection)"
        }
    );
    let mut thr: BTreeMap<&str, Vec<Figures>> = BTreeMap::new();
    let mut fixed: BTreeMap<&str, Vec<Figures>> = BTreeMap::new();
    // Fixed-rate rounds in which Portico's p50 and p99 were below nginx's.
    let (mut p50_wins, mut p99_wins) = (0, 0);
    for round in 1..=args.rounds {
        println!(
            "\n## round {round}\n{:<10} {:>12} {:>10} {:>10} {:>10}",
            "target", "req/s", "p50", "p99", "p99.9"
        );
        if !args.fixed_only {
            for t in &targets {
                let f = wrk(t, &args)?;
                println!(
                    "{:<10} {:>12.0} {:>8.0}us {:>8.0}us {:>8.0}us {:>8.2}us cpu/req",
                    t.name, f.rps, f.p50_us, f.p99_us, f.p999_us, f.cpu_us_per_req
                );
                thr.entry(t.name).or_default().push(f);
            }
        }
        println!("fixed rate {} req/s:", args.rate);
        let mut order: Vec<&Target> = targets
            .iter()
            .filter(|t| t.name != "direct" && !(args.fixed_only && t.name == "haproxy"))
            .collect();
        if args.fixed_only && round % 2 == 0 {
            order.reverse();
        }
        for t in order {
            let own_api = format!("f{round}");
            let round_target;
            let t = if t.name.starts_with("portico") {
                round_target = Target {
                    name: t.name,
                    url: t.url.clone(),
                    host: Some(format!("{own_api}.execute-api.localhost")),
                    header: None,
                    pid: t.pid,
                };
                &round_target
            } else {
                t
            };
            let f = fixed_rate(t, &args, have_oha)?;
            print!(
                "{:<10} {:>12.0} {:>8.0}us {:>8.0}us {:>8.0}us {:>8.2}us cpu/req",
                t.name, f.rps, f.p50_us, f.p99_us, f.p999_us, f.cpu_us_per_req
            );
            match (t.name, &b) {
                ("portico", _) => print!("  {}", own_share(ready.admin, &own_api)?),
                ("portico-b", Some((ready_b, _))) => {
                    print!("  {}", own_share(ready_b.admin, &own_api)?)
                }
                _ => {}
            }
            println!();
            fixed.entry(t.name).or_default().push(f);
        }
        if let (Some(n), Some(p)) = (
            fixed.get("nginx").and_then(|v| v.last()),
            fixed.get("portico").and_then(|v| v.last()),
        ) {
            p50_wins += u32::from(p.p50_us < n.p50_us);
            p99_wins += u32::from(p.p99_us < n.p99_us);
        }
    }
    println!(
        "\nfixed rate: portico's p50 below nginx's in {p50_wins} of {r} rounds, p99 in {p99_wins} of {r}",
        r = args.rounds
    );
    let client = if have_oha {
        "oha"
    } else {
        "this tool's client"
    };
    if args.fixed_only {
        println!("\n## medians (latency at {} req/s, {client})", args.rate);
        report(&fixed, |f| f.p99_us, false);
        report_cpu(&fixed, &format!("at {} req/s", args.rate));
        return Ok(());
    }
    println!("\n## medians (throughput, wrk)");
    report(&thr, |f| f.rps, true);
    report_cpu(&thr, "under the wrk load");
    println!("\n## medians (latency at {} req/s, {client})", args.rate);
    report(&fixed, |f| f.p99_us, false);
    // Below saturation the load generator is not the bound: what each proxy spends per request
    // at the same offered rate tells them apart (issue 22 item 4).
    report_cpu(&fixed, &format!("at {} req/s", args.rate));
    Ok(())
}

/// The medians of the proxies' CPU time per request in `all`, and Portico's ratios to the peers.
fn report_cpu(all: &BTreeMap<&str, Vec<Figures>>, when: &str) {
    println!("\n## medians (CPU time of the proxy process per request, {when})");
    let median = |name: &str, pick: fn(&Figures) -> f64| -> Option<f64> {
        let mut v: Vec<f64> = all.get(name)?.iter().map(pick).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let cpu = |name: &str| median(name, |f| f.cpu_us_per_req);
    for name in ["nginx", "haproxy", "portico", "portico-b"] {
        if let (Some(c), Some(s)) = (cpu(name), median(name, |f| f.cpu_system_share)) {
            // The kernel's share says how much of the figure user-space work can move.
            println!(
                "{name:<10} {c:>8.2} us per request ({:.0}% of it in the kernel)",
                s * 100.0
            );
        }
    }
    for me in ["portico", "portico-b"] {
        let Some(p) = cpu(me) else { continue };
        let ratio = |peer: &str| cpu(peer).map_or("-".to_string(), |c| format!("{:.2}", p / c));
        println!(
            "{me}/nginx cpu ratio: {}, {me}/haproxy: {} (below 1 is better)",
            ratio("nginx"),
            ratio("haproxy")
        );
    }
}

/// Portico's own histograms for `api` (`GET /portico/metrics`): the request's latency inside the
/// gateway and the upstream exchange's, µs.
fn own_share(admin: std::net::SocketAddr, api: &str) -> Result<String> {
    let (status, text) =
        portico_tools::Http::connect(admin)?.call("GET", "/portico/metrics", "")?;
    if status != 200 {
        bail!("GET /portico/metrics: {status} {text}");
    }
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let route = v["routes"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["apiId"] == api))
        .with_context(|| format!("no figures for API {api} in /portico/metrics"))?;
    let us = |h: &str, p: &str| route[h][p].as_u64().unwrap_or(0);
    Ok(format!(
        "own: p50 {}us p99 {}us, of which upstream p50 {}us p99 {}us",
        us("latencyUs", "p50"),
        us("latencyUs", "p99"),
        us("integrationLatencyUs", "p50"),
        us("integrationLatencyUs", "p99"),
    ))
}

fn report(all: &BTreeMap<&str, Vec<Figures>>, key: fn(&Figures) -> f64, higher_is_better: bool) {
    let med = |name: &str| -> Option<Figures> {
        let mut v = all.get(name)?.clone();
        v.sort_by(|a, b| key(a).total_cmp(&key(b)));
        v.get(v.len() / 2).cloned()
    };
    for name in ["direct", "nginx", "haproxy", "portico", "portico-b"] {
        if let Some(f) = med(name) {
            println!(
                "{:<10} {:>12.0} req/s  p50 {:>7.0}us  p99 {:>7.0}us  p99.9 {:>7.0}us",
                name, f.rps, f.p50_us, f.p99_us, f.p999_us
            );
        }
    }
    for me in ["portico", "portico-b"] {
        let Some(p) = med(me) else { continue };
        for peer in ["nginx", "haproxy"] {
            if let Some(f) = med(peer) {
                if higher_is_better {
                    println!("{me}/{peer} throughput ratio: {:.2}", p.rps / f.rps);
                } else {
                    println!(
                        "{me}/{peer} p99 ratio: {:.2} (below 1 is better)",
                        p.p99_us / f.p99_us
                    );
                }
            }
        }
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn first_child(pid: u32) -> Option<u32> {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn wrk(t: &Target, a: &Args) -> Result<Figures> {
    let ticks_before = t.pid.and_then(cpu_ticks_split);
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1", "wrk", "-t1", "--latency"])
        .arg(format!("-c{}", a.connections))
        .arg(format!("-d{}s", a.seconds));
    if let Some(h) = &t.host {
        cmd.arg("-H").arg(format!("Host: {h}"));
    }
    if let Some(h) = &t.header {
        cmd.arg("-H").arg(h);
    }
    let out = cmd.arg(&t.url).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = Figures::default();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["Requests/sec:", v] => f.rps = v.parse().unwrap_or(0.0),
            ["50%", v] => f.p50_us = duration_us(v),
            ["99%", v] => f.p99_us = duration_us(v),
            _ => {}
        }
        if let ["requests", "in", ..] = w.get(1..).unwrap_or_default() {
            if let (Some(n), Some(pid)) = (w.first().and_then(|n| n.parse::<f64>().ok()), t.pid) {
                set_cpu(&mut f, ticks_before, cpu_ticks_split(pid), n);
            }
        }
        if line.contains("Non-2xx") {
            eprintln!("warning: {}: {}", t.name, line.trim());
        }
    }
    if f.rps == 0.0 {
        bail!("wrk against {} printed no figures:\n{text}", t.name);
    }
    Ok(f)
}

/// Latency at `a.rate` req/s: `oha` when installed, else [`portico_tools::fixed_rate`] (run the
/// tool under `taskset -c 1` so that its client threads share core 1 with the upstream, as
/// `oha` would).
///
/// With the CPU time the proxy process spent per request during the run.
fn fixed_rate(t: &Target, a: &Args, have_oha: bool) -> Result<Figures> {
    let ticks_before = t.pid.and_then(cpu_ticks_split);
    let mut f = fixed_rate_latency(t, a, have_oha)?;
    let requests = f.rps * f64::from(a.seconds);
    set_cpu(
        &mut f,
        ticks_before,
        t.pid.and_then(cpu_ticks_split),
        requests,
    );
    Ok(f)
}

fn fixed_rate_latency(t: &Target, a: &Args, have_oha: bool) -> Result<Figures> {
    if have_oha {
        return oha(t, a);
    }
    let (addr, path) = t
        .url
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once('/'))
        .context("an http:// URL with a path")?;
    let mut head = format!("Host: {}\r\n", t.host.as_deref().unwrap_or(addr));
    if let Some(h) = &t.header {
        head.push_str(h);
        head.push_str("\r\n");
    }
    let f = portico_tools::fixed_rate(
        addr.parse()?,
        &format!("/{path}"),
        &head,
        a.rate,
        a.seconds,
        a.connections,
    )?;
    Ok(Figures {
        rps: f.rps,
        p50_us: f.p50_us,
        p99_us: f.p99_us,
        p999_us: f.p999_us,
        cpu_us_per_req: 0.0,
        cpu_system_share: 0.0,
    })
}

fn oha(t: &Target, a: &Args) -> Result<Figures> {
    let mut cmd = Command::new("taskset");
    cmd.args([
        "-c",
        "1",
        "oha",
        "--no-tui",
        "--output-format",
        "json",
        "--latency-correction",
    ])
    .args([
        "-q",
        &a.rate.to_string(),
        "-c",
        &a.connections.to_string(),
        "-z",
        &format!("{}s", a.seconds),
    ]);
    if let Some(h) = &t.host {
        cmd.arg("-H").arg(format!("Host: {h}"));
    }
    if let Some(h) = &t.header {
        cmd.arg("-H").arg(h);
    }
    let out = cmd.arg(&t.url).output()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "oha output for {}: {}",
            t.name,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let pct = |k: &str| v["latencyPercentiles"][k].as_f64().unwrap_or(0.0) * 1e6;
    Ok(Figures {
        rps: v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_us: pct("p50"),
        p99_us: pct("p99"),
        p999_us: pct("p99.9"),
        cpu_us_per_req: 0.0,
        cpu_system_share: 0.0,
    })
}

/// The TLS name both TLS targets serve.
const TLS_HOST: &str = "api.example.test";

/// nginx terminating TLS in front of the peers' upstream: one worker, like the other peers.
const NGINX_TLS_CONF: &str = r#"worker_processes 1;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream up { server 127.0.0.1:18080; keepalive 256; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  server {
    listen 127.0.0.1:18443 ssl reuseport backlog=4096;
    ssl_certificate @WORK@/tls/api.pem;
    ssl_certificate_key @WORK@/tls/api.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    location / { proxy_pass http://up; }
  }
}
"#;

/// TLS termination: nginx vs Portico, same certificate, same upstream, same client.
fn tls_comparison(
    args: &Args,
    work: &Path,
    guard: &mut Processes,
    admin: std::net::SocketAddr,
    tls_port: u16,
    portico_pid: u32,
) -> Result<()> {
    let dir = work.join("tls");
    std::fs::create_dir_all(&dir)?;
    let openssl = |a: &[&str]| -> Result<()> {
        let out = Command::new("openssl").args(a).current_dir(&dir).output()?;
        if !out.status.success() {
            bail!("openssl {a:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    };
    let curve = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"],
            &curve[..],
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=bench CA",
            ],
        ]
        .concat(),
    )?;
    openssl(
        &[
            &["req"],
            &curve[..],
            &[
                "-keyout",
                "api.key",
                "-out",
                "api.csr",
                "-subj",
                &format!("/CN={TLS_HOST}"),
            ],
        ]
        .concat(),
    )?;
    std::fs::write(
        dir.join("api.ext"),
        format!("subjectAltName=DNS:{TLS_HOST}\n"),
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "api.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "api.ext",
        "-out",
        "api.pem",
    ])?;

    // nginx, like the other peers.
    let conf = NGINX_TLS_CONF.replace("@WORK@", work.to_str().context("utf-8 temp dir")?);
    std::fs::write(work.join("nginx-tls.conf"), conf)?;
    let status = Command::new("taskset")
        .args(["-c", "0", "nginx", "-c"])
        .arg(work.join("nginx-tls.conf"))
        .arg("-p")
        .arg(work)
        .arg("-g")
        .arg(format!("pid {};", work.join("nginx-tls.pid").display()))
        .arg("-e")
        .arg(work.join("logs/error-tls.log"))
        .status()?;
    if !status.success() {
        bail!("nginx failed to start with nginx-tls.conf");
    }
    guard.pidfiles.push(work.join("nginx-tls.pid"));

    // Portico: the same certificate through ACM's ImportCertificate, a domain, a mapping.
    let b64 = |f: &str| -> Result<String> {
        let out = Command::new("base64")
            .arg("-w0")
            .arg(dir.join(f))
            .output()?;
        Ok(String::from_utf8(out.stdout)?)
    };
    let body = serde_json::json!({"Certificate": b64("api.pem")?, "PrivateKey": b64("api.key")?});
    let out = Command::new("curl")
        .args([
            "-s",
            "-H",
            "X-Amz-Target: CertificateManager.ImportCertificate",
            "-H",
        ])
        .arg("Content-Type: application/x-amz-json-1.1")
        .arg("--data-binary")
        .arg(body.to_string())
        .arg(format!("http://{admin}/"))
        .output()?;
    let imported: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let arn = imported["CertificateArn"]
        .as_str()
        .with_context(|| format!("ImportCertificate: {imported}"))?;
    let mut http = portico_tools::Http::connect(admin)?;
    let domain = serde_json::json!({"domainName": TLS_HOST, "domainNameConfigurations":
        [{"certificateArn": arn, "securityPolicy": "TLS_1_2"}]});
    let (status, text) = http.call("POST", "/v2/domainnames", &domain.to_string())?;
    if status != 201 {
        bail!("CreateDomainName: {status} {text}");
    }
    let mapping = serde_json::json!({"apiId": "bench", "stage": "$default"});
    let path = format!("/v2/domainnames/{TLS_HOST}/apimappings");
    let (status, text) = http.call("POST", &path, &mapping.to_string())?;
    if status != 201 {
        bail!("CreateApiMapping: {status} {text}");
    }
    std::thread::sleep(Duration::from_millis(300));

    let targets = [
        (
            "nginx-tls",
            18443u16,
            read_pid(&work.join("nginx-tls.pid")).and_then(first_child),
        ),
        ("portico-tls", tls_port, Some(portico_pid)),
    ];
    println!(
        "# TLS: {} rounds; oha -c{} -z {}s, keep-alive, then --disable-keepalive (a handshake per request)",
        args.rounds, args.connections, args.seconds
    );
    let mut kept: BTreeMap<&str, Vec<Figures>> = BTreeMap::new();
    let mut fresh: BTreeMap<&str, Vec<Figures>> = BTreeMap::new();
    for round in 1..=args.rounds {
        println!(
            "\n## round {round}\n{:<12} {:>10} {:>10} {:>10} {:>12}",
            "target", "req/s", "p50", "p99", "cpu/req"
        );
        for (keepalive, into) in [(true, &mut kept), (false, &mut fresh)] {
            for (name, port, pid) in &targets {
                let before = pid.and_then(cpu_ticks);
                let mut f = oha_tls(*port, &dir.join("ca.pem"), keepalive, args)?;
                if let (Some(b), Some(a), Some(n)) = (
                    before,
                    pid.and_then(cpu_ticks),
                    (f.rps > 0.0).then_some(f.rps * f64::from(args.seconds)),
                ) {
                    f.cpu_us_per_req = (a - b) as f64 / clock_ticks_per_s() * 1e6 / n;
                }
                let label = if keepalive { "keep-alive" } else { "new conn" };
                println!(
                    "{name:<12} {:>10.0} {:>8.0}us {:>8.0}us {:>10.1}us  {label}",
                    f.rps, f.p50_us, f.p99_us, f.cpu_us_per_req
                );
                into.entry(name).or_default().push(f);
            }
        }
    }
    let med = |m: &BTreeMap<&str, Vec<Figures>>, name: &str| -> f64 {
        let mut v: Vec<f64> = m
            .get(name)
            .map(|v| v.iter().map(|f| f.rps).collect())
            .unwrap_or_default();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    println!("\n## medians");
    for (what, m) in [("keep-alive req/s", &kept), ("new connections/s", &fresh)] {
        let (n, p) = (med(m, "nginx-tls"), med(m, "portico-tls"));
        println!(
            "{what:<18} nginx {n:>9.0}  portico {p:>9.0}  portico/nginx {:.2}",
            p / n
        );
    }
    Ok(())
}

fn oha_tls(port: u16, ca: &Path, keepalive: bool, a: &Args) -> Result<Figures> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1", "oha", "--no-tui", "--output-format", "json"])
        .args([
            "-c",
            &a.connections.to_string(),
            "-z",
            &format!("{}s", a.seconds),
        ])
        .arg("--cacert")
        .arg(ca)
        .arg("--connect-to")
        .arg(format!("{TLS_HOST}:443:127.0.0.1:{port}"));
    if !keepalive {
        cmd.arg("--disable-keepalive");
    }
    let out = cmd.arg(format!("https://{TLS_HOST}{}", a.path)).output()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("oha: {}", String::from_utf8_lossy(&out.stderr)))?;
    let codes = &v["statusCodeDistribution"];
    if codes
        .as_object()
        .is_some_and(|m| m.keys().any(|k| k != "200"))
    {
        eprintln!("warning: port {port}: status codes {codes}");
    }
    let pct = |k: &str| v["latencyPercentiles"][k].as_f64().unwrap_or(0.0) * 1e6;
    Ok(Figures {
        rps: v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_us: pct("p50"),
        p99_us: pct("p99"),
        p999_us: pct("p99.9"),
        cpu_us_per_req: 0.0,
        cpu_system_share: 0.0,
    })
}

/// Stops everything this run started, whatever happens.
struct Processes {
    children: Vec<Child>,
    pidfiles: Vec<PathBuf>,
    work: PathBuf,
}

impl Drop for Processes {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for p in &self.pidfiles {
            if let Ok(pid) = std::fs::read_to_string(p) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_dir_all(Path::new(&self.work));
    }
}
