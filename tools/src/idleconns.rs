//! Memory per idle keep-alive downstream connection.
//!
//! Starts `portico` (one worker) with an API whose route has no integration (the gateway answers
//! it itself, so no upstream is involved), opens N connections to it on 127.0.0.1, sends one
//! request on each and reads the answer (so every connection has been through a full exchange
//! and sits idle in keep-alive), then reads the process's resident memory from /proc. Then the
//! same against the peer, nginx (one worker, answering the request itself), whose worker's
//! resident memory is read the same way (`--no-peer` skips it).
//!
//! usage: idleconns [--connections 10000] [--no-peer]   (needs target/release/portico; the
//! peer needs nginx, taskset and pgrep)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Command-line flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "idleconns",
    about = "Memory of idle keep-alive connections: opens N, one request each, reads the gateway's resident memory."
)]
struct Args {
    /// Idle keep-alive connections to open.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Skip the nginx peer.
    #[arg(long)]
    no_peer: bool,
}

fn main() -> Result<()> {
    let Args {
        connections: n,
        no_peer,
    } = clap::Parser::parse();
    rlimit::increase_nofile_limit(u64::MAX)?;
    let bin = portico_tools::portico_bin();
    let dir = std::env::temp_dir().join(format!("portico-idleconns-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"apis":[{"apiId":"idle","routes":[{"routeKey":"GET /ping"}],"stages":[{"stageName":"$default"}]}]}"#,
    )?;
    let config_arg = config.to_string_lossy().into_owned();
    // Each request is a 500 (no integration), which the gateway logs as a warning.
    let (mut child, ready) = portico_tools::spawn_portico_env(
        &bin,
        None,
        &dir.join("data"),
        &[
            "--workers",
            "1",
            "--idle-timeout-ms",
            "600000",
            "--config",
            &config_arg,
        ],
        &[("PORTICO_LOG", "error")],
    )?;
    let result = (|| {
        // No integration: the gateway answers 500 itself.
        measure("portico", child.id(), ready.listen, b"HTTP/1.1 500", n)?;
        println!("(budget: 80 MiB for 10,000, i.e. 8.19 KiB each)");
        if !no_peer {
            let (addr, nginx) = start_peer(&dir)?;
            measure("nginx", nginx.worker_pid()?, addr, b"HTTP/1.1 200", n)?;
        }
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Opens `n` keep-alive connections to `addr`, one `GET /ping` on each, and prints how much
/// `pid`'s resident memory grew.
fn measure(name: &str, pid: u32, addr: SocketAddr, answer: &[u8], n: usize) -> Result<()> {
    std::thread::sleep(Duration::from_millis(300));
    let before = portico_tools::rss_kib(pid)?;
    let request = b"GET /ping HTTP/1.1\r\nHost: idle.execute-api.localhost\r\n\r\n";
    let mut conns = Vec::with_capacity(n);
    let mut buf = [0u8; 1024];
    for i in 0..n {
        let mut s = TcpStream::connect(addr).with_context(|| format!("{name}: connection {i}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(request)?;
        let got = s.read(&mut buf)?;
        if !buf[..got].starts_with(answer) {
            bail!(
                "{name}: unexpected answer on connection {i}: {:?}",
                String::from_utf8_lossy(&buf[..got])
            );
        }
        conns.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = portico_tools::rss_kib(pid)?;
    let delta_kib = after.saturating_sub(before);
    println!("{name} RSS before: {before} KiB, with {n} idle keep-alive connections: {after} KiB");
    println!(
        "{name} added: {:.1} MiB, {:.2} KiB per connection",
        delta_kib as f64 / 1024.0,
        delta_kib as f64 / n as f64
    );
    drop(conns);
    Ok(())
}

/// nginx with one worker (core 0), answering `GET /ping` itself, keep-alive for 10 minutes.
fn start_peer(dir: &std::path::Path) -> Result<(SocketAddr, portico_tools::StopNginx)> {
    portico_tools::nginx_on_free_port(dir, "idle", |port| {
        format!(
            "worker_processes 1;\nworker_rlimit_nofile 65536;\nevents {{ worker_connections 32768; }}\n\
             http {{\n  access_log off;\n  keepalive_timeout 600s;\n  server {{\n    \
             listen 127.0.0.1:{port};\n    location /ping {{ return 200 \"pong\"; }}\n  }}\n}}\n"
        )
    })
}
