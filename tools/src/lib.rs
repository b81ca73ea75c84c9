//! What the developer tools share: starting the real `portico` binary and reading its ready line.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
