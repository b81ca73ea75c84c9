//! What the developer tools share: starting the real `portico` binary and reading its ready line,
//! a minimal HTTP/1.1 client for admin calls, and reading what the benchmarks measure (a
//! process's CPU time, `wrk`'s latencies).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

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

/// User plus system CPU time of a whole process (every thread) so far, in clock ticks
/// (`/proc/{pid}/stat`); `None` when the process is gone or the file does not parse.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
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
