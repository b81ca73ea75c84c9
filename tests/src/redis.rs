//! A throwaway Redis server for shared-limits tests: `redis-server` (Debian's package) on a
//! free loopback port, no persistence (`--save '' --appendonly no`), its dir a temp dir; killed
//! when dropped. [`Redis::stop`] and [`Redis::start_again`] simulate an outage (it comes back
//! empty, as a restarted cache would).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::TempDir;

/// A running `redis-server`; killed when dropped.
#[derive(Debug)]
pub struct Redis {
    dir: TempDir,
    port: u16,
    child: Mutex<Option<Child>>,
}

impl Redis {
    /// Starts a server; panics (naming why) when that fails.
    pub fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let r = Redis {
            dir: TempDir::new("redis"),
            port,
            child: Mutex::new(None),
        };
        r.start_again();
        r
    }

    /// Starts the stopped server again on the same port (empty).
    pub fn start_again(&self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-server (Debian: apt-get install redis-server)");
        *self.child.lock().expect("lock") = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.ping() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server now (as in a crash).
    pub fn stop(&self) {
        if let Some(mut c) = self.child.lock().expect("lock").take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether it answers `PING`.
    pub fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// The URL `portico serve --redis` takes.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
