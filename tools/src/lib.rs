//! What the developer tools share: starting the real `portico` binary and reading its ready line,
//! a minimal HTTP/1.1 client for admin calls, and reading what the benchmarks measure (a
//! process's CPU time, `wrk`'s latencies).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `portico` binary the tools run: `PORTICO_BIN`, else the workspace's release build.
pub fn portico_bin() -> PathBuf {
    std::env::var_os("PORTICO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/release/portico"))
}

/// What `portico serve` printed when it became ready.
#[derive(Debug, Clone)]
pub struct Ready {
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    /// The whole ready line, for the record.
    pub line: String,
}

/// Starts `portico serve` on 127.0.0.1 ports from 0 with its own `--data-dir` (so runs share no
/// state) plus `extra` arguments, pinned to `cpu` with taskset when given, and waits for its
/// ready line. The caller owns (and must stop) the child.
pub fn spawn_portico<S: AsRef<OsStr>>(
    bin: &Path,
    cpu: Option<&str>,
    data_dir: &Path,
    extra: &[S],
) -> Result<(Child, Ready)> {
    spawn_portico_env(bin, cpu, data_dir, extra, &[])
}

/// [`spawn_portico`] with environment variables for the gateway (e.g. `AWS_ENDPOINT_URL_LAMBDA`).
pub fn spawn_portico_env<S: AsRef<OsStr>>(
    bin: &Path,
    cpu: Option<&str>,
    data_dir: &Path,
    extra: &[S],
    env: &[(&str, &str)],
) -> Result<(Child, Ready)> {
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpu]).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let mut child = cmd
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        // Peers are not throttled: lift AWS's default account limit (10,000 rps) out of the
        // way; the buckets are still taken on every request, so their cost is measured.
        .args([
            "--account-rate-limit",
            "100000000",
            "--account-burst-limit",
            "100000000",
        ])
        .args(extra)
        .envs(env.iter().copied())
        .env("PORTICO_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("portico stdout")?).read_line(&mut line)?;
    let field = |name: &str| -> Result<SocketAddr> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .with_context(|| format!("no {name} in ready line {line:?}"))?
            .parse()
            .context("address in the ready line")
    };
    let ready = Ready {
        listen: field("listen=")?,
        admin: field("admin=")?,
        line: line.trim().to_string(),
    };
    Ok((child, ready))
}

/// A process's resident memory in KiB (`VmRSS` of `/proc/{pid}/status`).
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS")
}

/// User plus system CPU time of a whole process (every thread) so far, in clock ticks
/// (`/proc/{pid}/stat`); `None` when the process is gone or the file does not parse.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    cpu_ticks_split(pid).map(|(user, system)| user + system)
}

/// A whole process's (user, system) CPU time so far, in clock ticks (`/proc/{pid}/stat`).
pub fn cpu_ticks_split(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?))
}

/// A duration as `wrk` prints it (`812.00us`, `1.25ms`, `2.01s`), in microseconds; a number
/// that does not parse is 0.
pub fn duration_us(v: &str) -> f64 {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().unwrap_or(0.0);
    match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        _ => n,
    }
}

/// A minimal HTTP/1.1 client for admin calls and probes (keep-alive, Content-Length bodies).
#[derive(Debug)]
pub struct Http {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Http {
    pub fn connect(addr: SocketAddr) -> Result<Http> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Http {
            addr,
            reader: BufReader::new(stream),
        })
    }

    /// A keep-alive admin call.
    pub fn call(&mut self, method: &str, path: &str, body: &str) -> Result<(u16, String)> {
        let host = self.addr.to_string();
        self.request(method, path, &host, body, false)
    }

    /// A keep-alive admin call that must succeed (2xx); its JSON answer (`null` when empty).
    pub fn call_json(&mut self, method: &str, path: &str, body: &Value) -> Result<Value> {
        let (status, text) = self.call(method, path, &body.to_string())?;
        if !(200..300).contains(&status) {
            bail!("{method} {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        host: &str,
        body: &str,
        close: bool,
    ) -> Result<(u16, String)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        let mut request = head.into_bytes();
        request.extend_from_slice(body.as_bytes());
        self.reader.get_mut().write_all(&request)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .context("status line")?
            .parse()?;
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse()?;
                }
            }
        }
        let mut out = vec![0u8; length];
        self.reader.read_exact(&mut out)?;
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    }
}

/// nginx started by a tool, stopped when dropped (while its pid file still exists: remove the
/// work directory only after dropping this).
#[derive(Debug)]
pub struct StopNginx(std::path::PathBuf);

impl Drop for StopNginx {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

impl StopNginx {
    /// The pid of nginx's (one) worker process: the master's child. Needs `pgrep`.
    pub fn worker_pid(&self) -> Result<u32> {
        let master = std::fs::read_to_string(&self.0)?;
        for _ in 0..50 {
            let out = Command::new("pgrep").args(["-P", master.trim()]).output()?;
            if let Some(pid) = String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|l| l.trim().parse().ok())
            {
                return Ok(pid);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        anyhow::bail!("nginx (master {}) has no worker", master.trim())
    }
}

/// Starts nginx (pinned to core 0) on a free loopback port with the configuration `conf` writes
/// for that port (into `work/nginx-{name}.conf`), and waits until it accepts connections.
pub fn nginx_on_free_port(
    work: &Path,
    name: &str,
    conf: impl FnOnce(u16) -> String,
) -> Result<(std::net::SocketAddr, StopNginx)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    std::fs::create_dir_all(work.join("logs"))?;
    let file = format!("nginx-{name}.conf");
    std::fs::write(work.join(&file), conf(port))?;
    let guard = start_nginx(work, &file, "0", name)?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok((addr, guard))
}

/// Starts nginx with `work/conf` pinned to `cpu`, its pid file and error log named after `name`.
pub fn start_nginx(work: &Path, conf: &str, cpu: &str, name: &str) -> Result<StopNginx> {
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
    anyhow::ensure!(status.success(), "nginx ({name}) failed to start");
    Ok(StopNginx(pidfile))
}

/// The pid of the process listening on `ready.listen` (Portico started through taskset, which
/// execs). Needs `ss`.
pub fn portico_pid(ready: &Ready) -> Result<u32> {
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

/// One wrk run's figures: requests/s, p99 in µs, Portico's CPU µs per request.
#[derive(Debug, Clone, Copy, Default)]
pub struct WrkFigures {
    pub rps: f64,
    pub p99_us: f64,
    pub cpu_us: f64,
}

/// Runs `wrk -t1 --latency` pinned to CPU 1 against `url` with `headers`, and measures the CPU
/// `pid` spent meanwhile. Any non-2xx answer is an error: a benchmark of errors measures nothing.
pub fn wrk_run(
    pid: u32,
    url: &str,
    headers: &[String],
    connections: u32,
    seconds: u32,
) -> Result<WrkFigures> {
    let before = cpu_ticks(pid);
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1", "wrk", "-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"));
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    let out = cmd.arg(url).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(!text.contains("Non-2xx"), "{url}: non-2xx answers:\n{text}");
    let mut f = WrkFigures::default();
    let mut requests = 0.0;
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["Requests/sec:", v] => f.rps = v.parse().unwrap_or(0.0),
            ["99%", v] => f.p99_us = duration_us(v),
            [n, "requests", "in", ..] => requests = n.parse().unwrap_or(0.0),
            _ => {}
        }
    }
    f.cpu_us = match (before, cpu_ticks(pid)) {
        (Some(b), Some(a)) if requests > 0.0 => (a - b) as f64 / 100.0 * 1e6 / requests,
        _ => 0.0,
    };
    Ok(f)
}

/// The median of `v` (the upper one for an even count).
pub fn median(v: impl IntoIterator<Item = f64>) -> f64 {
    let mut x: Vec<f64> = v.into_iter().collect();
    x.sort_by(f64::total_cmp);
    x.get(x.len() / 2).copied().unwrap_or(0.0)
}

/// Latency at a fixed rate, measured here (where `oha` is not installed): `rps × seconds` GETs
/// of `path` (with `head`: the `Host` line and any more header lines, each ending in CRLF) over
/// `conns` keep-alive connections, one thread each; request `i` is due at `start + i / rps`
/// and its latency counts from then (corrected for coordinated omission, as `oha
/// --latency-correction`), so a stalled gateway shows in the percentiles rather than in a
/// lower rate. Any answer but a 200 is an error.
pub fn fixed_rate(
    addr: SocketAddr,
    path: &str,
    head: &str,
    rps: u32,
    seconds: u32,
    conns: u32,
) -> Result<FixedRate> {
    let total = u64::from(rps) * u64::from(seconds);
    let interval = Duration::from_secs_f64(1.0 / f64::from(rps.max(1)));
    let request = format!("GET {path} HTTP/1.1\r\n{head}\r\n").into_bytes();
    let start = std::time::Instant::now() + Duration::from_millis(50);
    let threads: Vec<_> = (0..u64::from(conns.max(1)))
        .map(|t| {
            let request = request.clone();
            let conns = u64::from(conns.max(1));
            std::thread::spawn(move || -> Result<Vec<u32>> {
                let stream = TcpStream::connect(addr)?;
                stream.set_nodelay(true)?;
                stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                let mut body = Vec::new();
                let mut latencies = Vec::with_capacity((total / conns + 1) as usize);
                let mut i = t;
                while i < total {
                    let due = start + interval * i as u32;
                    let now = std::time::Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    reader.get_mut().write_all(&request)?;
                    line.clear();
                    reader.read_line(&mut line)?;
                    anyhow::ensure!(line.starts_with("HTTP/1.1 200"), "answer: {line:?}");
                    let mut length = 0usize;
                    loop {
                        line.clear();
                        reader.read_line(&mut line)?;
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                length = v.trim().parse()?;
                            }
                        }
                    }
                    body.resize(length, 0);
                    reader.read_exact(&mut body)?;
                    latencies.push(due.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    i += conns;
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total as usize);
    for t in threads {
        all.extend(
            t.join()
                .map_err(|_| anyhow::anyhow!("load thread panicked"))??,
        );
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |&v| f64::from(v))
    };
    Ok(FixedRate {
        rps: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        p999_us: pct(0.999),
    })
}

/// What [`fixed_rate`] measured: the achieved rate and the latency percentiles, µs.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedRate {
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
}
