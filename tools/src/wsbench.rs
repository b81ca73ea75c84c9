//! WebSocket APIs: memory per idle connection, and message round trip through a MOCK echo at a
//! fixed rate.
//!
//! Starts `portico` (one worker for `idle`, two for `rtt`), creates a WebSocket API through the
//! admin API (`$default` → MOCK with a `$default` integration response and route response:
//! every message comes back as sent), then:
//! - `idle`: opens N WebSocket connections (handshake done, one message echoed on each) and
//!   reads the process's resident memory from /proc; then the same against the peer, nginx (one
//!   worker) proxying WebSocket to an echo upstream in this process, whose worker's resident
//!   memory is read the same way (`--no-peer` skips it);
//! - `rtt`: sends messages at a fixed total rate over C connections for D seconds, and reports
//!   the round trip (from the scheduled send time, so a stall is not hidden) p50/p99/max.
//!   Portico runs one worker pinned to core 0; beside it, in the same run, the peer: nginx (one
//!   worker, core 0) proxying WebSocket to an echo upstream in this process (its round trip has
//!   one more hop: the upstream's echo). Run the tool itself on core 1
//!   (`taskset -c 1 wsbench rtt`), so that the gateway under test has core 0 alone.
//!
//! usage: wsbench idle [--connections 10000] [--no-peer]
//!        wsbench rtt [--rate 10000] [--seconds 5] [--connections 100] [--threads 4] [--no-peer]
//! (needs target/release/portico, or PORTICO_BIN; the peer needs nginx and taskset)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use portico_tools::Http;

/// Command-line flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "wsbench",
    about = "WebSocket APIs: memory per idle connection (idle), and message round trip through a MOCK echo at a fixed rate (rtt)."
)]
struct Args {
    /// `idle`: memory of N idle connections; `rtt`: round trip at a fixed rate.
    #[arg(value_enum, default_value_t = Mode::Idle)]
    mode: Mode,
    /// Connections (default: 10,000 for idle, 100 for rtt).
    #[arg(long)]
    connections: Option<usize>,
    /// rtt: messages per second, all connections together.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// rtt: seconds to send for.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// rtt: sending threads.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Skip the nginx peer.
    #[arg(long)]
    no_peer: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
enum Mode {
    Idle,
    Rtt,
    /// `idle`'s echo upstream for the peer, in a process of its own (its sockets would take
    /// the tool past its descriptor limit): prints its address, serves until killed.
    #[value(hide = true)]
    EchoUpstream,
}

fn main() -> Result<()> {
    let args: Args = clap::Parser::parse();
    if args.mode == Mode::EchoUpstream {
        rlimit::increase_nofile_limit(u64::MAX)?;
        let upstream = std::net::TcpListener::bind("127.0.0.1:0")?;
        println!("{}", upstream.local_addr()?);
        std::io::stdout().flush()?;
        let mut idle = Vec::new();
        for s in upstream.incoming().flatten() {
            idle.extend(echo_upstream(s, Some(1)));
        }
        return Ok(());
    }
    let mode = args.mode;
    let n = args.connections.unwrap_or(10_000);
    let conns_rtt = args.connections.unwrap_or(100);
    let (rate, seconds, threads, peer) = (args.rate, args.seconds, args.threads, !args.no_peer);
    rlimit::increase_nofile_limit(u64::MAX)?;
    let bin = portico_tools::portico_bin();
    let dir = std::env::temp_dir().join(format!("portico-wsbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cpu = (mode == Mode::Rtt).then_some("0");
    let (mut child, ready) =
        portico_tools::spawn_portico(&bin, cpu, &dir.join("data"), &["--workers", "1"])?;
    let api = echo_api(ready.admin)?;
    let host = format!("{api}.execute-api.localhost");
    let result = match mode {
        Mode::EchoUpstream => unreachable!("served above"),
        Mode::Idle => (|| {
            idle("portico", child.id(), ready.listen, &host, n)?;
            if peer {
                let (addr, (nginx, _upstream)) = start_peer(&dir, Upstream::OneMessageEach)?;
                let worker = nginx.worker_pid()?;
                // nginx holds two sockets per proxied connection (client, upstream): under
                // the usual hard descriptor limit of 20,000 it reaches 9,995, so it is measured
                // on at most 9,000 (the figure is per connection).
                idle("nginx", worker, addr, "peer", n.min(PEER_IDLE_MAX))?;
            }
            Ok(())
        })(),
        Mode::Rtt => (|| {
            print!("portico (MOCK echo route), ");
            rtt(ready.listen, &host, rate, seconds, conns_rtt, threads)?;
            if peer {
                let (addr, _nginx) = start_peer(&dir, Upstream::ThreadEach)?;
                print!("nginx (WebSocket proxy to an echo upstream), ");
                rtt(addr, "peer", rate, seconds, conns_rtt, threads)?;
            }
            Ok(())
        })(),
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The most idle connections `idle` opens through nginx (see where it is used).
const PEER_IDLE_MAX: usize = 9_000;

/// How the peer's echo upstream serves its connections.
#[derive(Debug, Clone, Copy)]
enum Upstream {
    /// Threads of this process, one per connection, echoing every message (`rtt`).
    ThreadEach,
    /// A process of its own (this tool, `echo-upstream`), one connection at a time: the
    /// handshake and one echoed message, then the connection is kept open and idle (`idle`:
    /// its 10,000 sockets beside the clients' would pass this process's descriptor limit).
    OneMessageEach,
}

/// The echo upstream process; killed when dropped.
struct UpstreamProcess(std::process::Child);

impl Drop for UpstreamProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The peer: an echo WebSocket upstream behind nginx (one worker on core 0). Returns nginx's
/// address; nginx (and the upstream) stop when the guard drops.
fn start_peer(
    dir: &std::path::Path,
    mode: Upstream,
) -> Result<(
    SocketAddr,
    (portico_tools::StopNginx, Option<UpstreamProcess>),
)> {
    let (up, process) = match mode {
        Upstream::ThreadEach => {
            let upstream = std::net::TcpListener::bind("127.0.0.1:0")?;
            let up = upstream.local_addr()?;
            std::thread::spawn(move || {
                for s in upstream.incoming().flatten() {
                    std::thread::spawn(move || echo_upstream(s, None));
                }
            });
            (up, None)
        }
        Upstream::OneMessageEach => {
            let mut child = std::process::Command::new(std::env::current_exe()?)
                .arg("echo-upstream")
                .stdout(std::process::Stdio::piped())
                .spawn()?;
            let mut line = String::new();
            let stdout = child.stdout.take().context("the upstream's stdout")?;
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
            let process = UpstreamProcess(child);
            (line.trim().parse()?, Some(process))
        }
    };
    let (addr, nginx) = portico_tools::nginx_on_free_port(dir, "ws", |port| {
        format!(
            "worker_processes 1;\nworker_rlimit_nofile 65536;\nevents {{ worker_connections 32768; }}\n\
             http {{\n  access_log off;\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      \
             proxy_pass http://{up};\n      proxy_http_version 1.1;\n      \
             proxy_set_header Upgrade $http_upgrade;\n      \
             proxy_set_header Connection \"upgrade\";\n      proxy_read_timeout 600s;\n    }}\n  }}\n}}\n"
        )
    })?;
    Ok((addr, (nginx, process)))
}

/// One upstream connection: answers the upgrade, then echoes each short masked client frame as
/// an unmasked text frame; after `frames` of them (if set), returns the connection.
fn echo_upstream(mut s: TcpStream, frames: Option<usize>) -> Option<TcpStream> {
    let mut echoed = 0usize;
    let _ = s.set_nodelay(true);
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let mut upgraded = false;
    loop {
        if !upgraded {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                buf.drain(..end + 4);
                let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                           Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
                if s.write_all(ok).is_err() {
                    return None;
                }
                upgraded = true;
            }
        }
        while upgraded && buf.len() >= 6 {
            let short = buf[1] & 0x7f;
            let len = usize::from(short);
            if len >= 126 {
                return None; // the benchmark's messages are short
            }
            if buf.len() < 6 + len {
                break;
            }
            let mask = [buf[2], buf[3], buf[4], buf[5]];
            let mut out = Vec::with_capacity(2 + len);
            out.push(0x81);
            out.push(short);
            out.extend(
                buf[6..6 + len]
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ mask[i & 3]),
            );
            buf.drain(..6 + len);
            if s.write_all(&out).is_err() {
                return None;
            }
            echoed += 1;
            if frames == Some(echoed) {
                return Some(s);
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Creates the echo API; returns its id.
fn echo_api(admin: SocketAddr) -> Result<String> {
    let mut h = Http::connect(admin)?;
    let mut call = |path: &str, body: &str| -> Result<serde_json::Value> {
        let (status, text) = h.call("POST", path, body)?;
        if status != 201 {
            bail!("POST {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text)?)
    };
    let api = call(
        "/v2/apis",
        r#"{"name":"echo","protocolType":"WEBSOCKET","routeSelectionExpression":"$request.body.action"}"#,
    )?;
    let id = api["apiId"].as_str().context("apiId")?.to_string();
    let i = call(
        &format!("/v2/apis/{id}/integrations"),
        r#"{"integrationType":"MOCK"}"#,
    )?;
    let iid = i["integrationId"].as_str().context("integrationId")?;
    call(
        &format!("/v2/apis/{id}/integrations/{iid}/integrationresponses"),
        r#"{"integrationResponseKey":"$default"}"#,
    )?;
    let r = call(
        &format!("/v2/apis/{id}/routes"),
        &format!(
            r#"{{"routeKey":"$default","target":"integrations/{iid}","routeResponseSelectionExpression":"$default"}}"#
        ),
    )?;
    let rid = r["routeId"].as_str().context("routeId")?;
    call(
        &format!("/v2/apis/{id}/routes/{rid}/routeresponses"),
        r#"{"routeResponseKey":"$default"}"#,
    )?;
    call(
        &format!("/v2/apis/{id}/stages"),
        r#"{"stageName":"prod","autoDeploy":true}"#,
    )?;
    Ok(id)
}

/// A client WebSocket connection (std, blocking).
struct Ws {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Ws {
    fn connect(addr: SocketAddr, host: &str) -> Result<Ws> {
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let req = format!(
            "GET /prod HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(req.as_bytes())?;
        let mut buf = Vec::with_capacity(512);
        let mut chunk = [0u8; 512];
        loop {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                bail!("closed during the handshake");
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                if !buf.starts_with(b"HTTP/1.1 101") {
                    bail!("handshake refused: {}", String::from_utf8_lossy(&buf));
                }
                buf.drain(..end + 4);
                return Ok(Ws { s, buf });
            }
        }
    }

    fn send(&mut self, payload: &[u8]) -> Result<()> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut f = Vec::with_capacity(payload.len() + 8);
        f.push(0x81);
        assert!(payload.len() < 126, "short messages only");
        f.push(0x80 | payload.len() as u8);
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        self.s.write_all(&f)?;
        Ok(())
    }

    /// Reads one short unmasked server frame; returns its payload length.
    fn recv(&mut self) -> Result<usize> {
        let mut chunk = [0u8; 512];
        loop {
            if self.buf.len() >= 2 {
                let len = usize::from(self.buf[1] & 0x7f);
                if len >= 126 {
                    bail!("unexpected long frame");
                }
                if self.buf.len() >= 2 + len {
                    self.buf.drain(..2 + len);
                    return Ok(len);
                }
            }
            let n = self.s.read(&mut chunk)?;
            if n == 0 {
                bail!("connection closed");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn idle(name: &str, pid: u32, addr: SocketAddr, host: &str, n: usize) -> Result<()> {
    std::thread::sleep(Duration::from_millis(300));
    let before = portico_tools::rss_kib(pid)?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut ws = Ws::connect(addr, host).with_context(|| format!("{name}: connection {i}"))?;
        ws.send(b"hello")?;
        ws.recv()?;
        conns.push(ws);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = portico_tools::rss_kib(pid)?;
    let delta = after.saturating_sub(before);
    println!("{name} RSS before: {before} KiB, with {n} idle WebSocket connections: {after} KiB");
    println!(
        "{name} added: {:.1} MiB, {:.2} KiB per connection",
        delta as f64 / 1024.0,
        delta as f64 / n as f64
    );
    drop(conns);
    Ok(())
}

fn rtt(
    addr: SocketAddr,
    host: &str,
    rate: u64,
    seconds: u64,
    conns: usize,
    threads: usize,
) -> Result<()> {
    let per_thread_rate = rate as f64 / threads as f64;
    let per_thread_conns = (conns / threads).max(1);
    let start = Instant::now() + Duration::from_millis(500);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let host = host.to_string();
            std::thread::spawn(move || -> Result<Vec<u64>> {
                let mut ws: Vec<Ws> = (0..per_thread_conns)
                    .map(|_| Ws::connect(addr, &host))
                    .collect::<Result<_>>()?;
                let total = (per_thread_rate * seconds as f64) as u64;
                let interval = Duration::from_secs_f64(1.0 / per_thread_rate);
                let mut lat = Vec::with_capacity(total as usize);
                for k in 0..total {
                    let due = start + interval.mul_f64(k as f64);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let c = &mut ws[k as usize % per_thread_conns];
                    c.send(br#"{"action":"echo","n":1}"#)?;
                    c.recv()?;
                    lat.push(due.elapsed().as_micros() as u64);
                }
                Ok(lat)
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().map_err(|_| anyhow::anyhow!("thread panicked"))??);
    }
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{} messages at {rate}/s over {conns} connections for {seconds}s: round trip p50 {} µs, p99 {} µs, max {} µs",
        all.len(),
        pct(0.50),
        pct(0.99),
        all.last().copied().unwrap_or(0)
    );
    Ok(())
}
