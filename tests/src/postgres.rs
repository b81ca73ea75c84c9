//! A throwaway PostgreSQL server for cluster tests: `initdb` into a temp dir, `pg_ctl start` on
//! a free loopback port with its unix socket in the same dir, stopped (`-m immediate`) and
//! removed when dropped. PostgreSQL refuses to run as root, so as root the server runs as the
//! `postgres` user (`runuser`), which owns the temp dir.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::TempDir;

/// A running PostgreSQL server; stopped when dropped.
#[derive(Debug)]
pub struct Postgres {
    dir: TempDir,
    port: u16,
}

/// Where Debian puts the server's binaries (`postgresql-NN`), newest first; `PATH` otherwise.
fn pg_bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL program, as `postgres` when we are root.
fn run(program: &str, args: &[&str]) -> std::process::Output {
    let bin = pg_bin(program);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let out = cmd
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

// === impl Postgres ===

impl Postgres {
    /// Initialises and starts a server; panics (naming why) when that fails.
    pub fn start() -> Postgres {
        let dir = TempDir::new("pg");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(status.success(), "chown the PostgreSQL temp dir");
        }
        let data = dir.path().join("data");
        let data_s = data.display().to_string();
        run(
            "initdb",
            &["-D", &data_s, "-U", "postgres", "-A", "trust", "--no-sync"],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = Postgres { dir, port };
        pg.start_again();
        pg
    }

    /// Starts the stopped server again (same data, same port).
    pub fn start_again(&self) {
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir(),
                "-l",
                &log,
                "-o",
                &opts,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
    }

    /// Stops the server now (`-m immediate`: connections are cut, as in a crash).
    pub fn stop(&self) {
        run(
            "pg_ctl",
            &["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"],
        );
    }

    /// The URL `portico serve --store` takes.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs SQL with `psql` (as the superuser) and returns its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        let port = self.port.to_string();
        let out = run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-At",
                "-c",
                sql,
            ],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Best effort: a server already stopped makes this fail, which is fine.
        let _ = Command::new(if is_root() { "runuser" } else { "true" })
            .args(if is_root() {
                vec!["-u", "postgres", "--"]
            } else {
                vec![]
            })
            .arg(pg_bin("pg_ctl"))
            .args(["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"])
            .output();
    }
}
