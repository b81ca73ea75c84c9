//! The gateway under test: the real `portico` binary as a child process.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, Once};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::client::{Client, Request, Response};

/// How long the binary may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long building a missing binary may take before we give up (a cold debug build on two
/// cores).
const BUILD_TIMEOUT: Duration = Duration::from_secs(1200);

/// Workers when a test does not pass `--workers`: two, so every test crosses workers (the
/// machine has two cores).
const DEFAULT_WORKERS: &str = "2";

/// The domain the gateway serves `{apiId}.{domain}` under unless `--domain` says otherwise.
pub const DEFAULT_DOMAIN: &str = "execute-api.localhost";

/// A running `portico serve`; killed when dropped.
#[derive(Debug)]
pub struct Gateway {
    /// `None` once the child was reaped by [`Gateway::wait_exit`].
    child: Option<Child>,
    pid: u32,
    addr: SocketAddr,
    admin: SocketAddr,
    workers: usize,
    driver: String,
    domain: String,
    /// The TLS listener, when started with `--tls-listen`.
    tls: Option<SocketAddr>,
    /// Holds the config file, the store (`data/`) and the stderr log; removed on drop.
    dir: TempDir,
    /// Exit status, once reaped.
    exit: Option<ExitStatus>,
}

/// A directory under the system temp dir with a name no other test (or test process) uses;
/// removed when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

// === impl TempDir ===

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "portico-tests-{prefix}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The `portico` binary: `$PORTICO_BIN`, else `<workspace>/target/debug/portico`, built once per
/// test process if missing.
pub fn portico_bin() -> PathBuf {
    static BUILD: Once = Once::new();
    static BUILD_ERROR: Mutex<Option<String>> = Mutex::new(None);
    if let Some(bin) = std::env::var_os("PORTICO_BIN") {
        return PathBuf::from(bin);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = workspace.join("target").join("debug").join("portico");
    BUILD.call_once(|| {
        if bin.exists() {
            return;
        }
        if let Err(e) = build_portico(&workspace) {
            *BUILD_ERROR.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        }
    });
    if let Some(e) = BUILD_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        panic!("{} is missing and building it failed: {e}", bin.display());
    }
    bin
}

fn build_portico(workspace: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args(["build", "-p", "portico-dataplane", "--bin", "portico"])
        .current_dir(workspace)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn cargo: {e}"))?;
    let deadline = Instant::now() + BUILD_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("cargo build exited with {status}")),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("cargo build took over {BUILD_TIMEOUT:?}"));
            }
            Ok(None) => crate::sleep(Duration::from_millis(200)),
            Err(e) => return Err(format!("wait for cargo: {e}")),
        }
    }
}

// === impl Gateway ===

impl Gateway {
    /// Writes `config` to a temp file and starts `portico serve` on 127.0.0.1:0 with `extra`
    /// flags; returns once it printed its ready line. Panics (with its stderr) if it does not.
    pub fn spawn(config: &str, extra: &[&str]) -> Gateway {
        Gateway::try_spawn(config, extra).unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn try_spawn(config: &str, extra: &[&str]) -> anyhow::Result<Gateway> {
        Gateway::try_spawn_env(config, extra, &[])
    }

    /// Like [`Gateway::spawn`] with environment variables set for the gateway (every inherited
    /// `AWS_*` variable is removed first, so only `env` points it at AWS endpoints).
    pub fn spawn_env(config: &str, extra: &[&str], env: &[(&str, &str)]) -> Gateway {
        Gateway::try_spawn_env(config, extra, env).unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn try_spawn_env(
        config: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Gateway> {
        let bin = portico_bin();
        let dir = TempDir::new("gw");
        let config_path = dir.path().join("config.json");
        fs::write(&config_path, config)?;
        let stderr_path = dir.path().join("stderr.log");
        let stderr = fs::File::create(&stderr_path)?;
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--config".into(),
            config_path.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--admin-listen".into(),
            "127.0.0.1:0".into(),
        ];
        if !extra.contains(&"--data-dir") {
            // Each gateway gets its own store, removed with the temp dir.
            args.extend([
                "--data-dir".into(),
                dir.path().join("data").display().to_string(),
            ]);
        }
        if !extra.contains(&"--workers") {
            args.extend(["--workers".into(), DEFAULT_WORKERS.into()]);
        }
        if let Ok(driver) = std::env::var("PORTICO_TEST_DRIVER") {
            // Run the whole suite under one I/O driver (`io-uring` or `legacy`).
            if !extra.contains(&"--driver") {
                args.extend(["--driver".into(), driver]);
            }
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let domain = extra
            .iter()
            .position(|a| *a == "--domain")
            .and_then(|i| extra.get(i + 1))
            .map_or(DEFAULT_DOMAIN.to_string(), |d| d.to_string());

        let mut command = Command::new(&bin);
        // Every option comes from `args`: an inherited PORTICO_* variable must not change them.
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            if key_text.starts_with("PORTICO_") || key_text.starts_with("AWS_") {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().copied());
        let mut child = command
            .args(&args)
            .env("NO_COLOR", "1")
            .env(
                "RUST_LOG",
                std::env::var("PORTICO_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| anyhow::anyhow!("spawn {}: {e}", bin.display()))?;
        let pid = child.id();

        // A pipe read cannot time out, so a thread reads stdout and reports the ready line; it
        // then drains stdout until EOF so the gateway never blocks on a full pipe.
        let stdout = child.stdout.take().expect("stdout was piped");
        let (tx, rx) = mpsc::channel::<String>();
        thread::Builder::new()
            .name(format!("portico-{pid}-stdout"))
            .spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                for line in lines.by_ref() {
                    let Ok(line) = line else { return };
                    if line.starts_with("portico ready:") {
                        let _ = tx.send(line);
                        break;
                    }
                }
                for _ in lines {}
            })?;

        let mut gw = Gateway {
            child: Some(child),
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 0,
            driver: String::new(),
            domain,
            tls: None,
            dir,
            exit: None,
        };
        let line = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let status = gw.wait_exit(Duration::from_millis(100));
                anyhow::bail!(
                    "portico printed no ready line within {READY_TIMEOUT:?} (exit: {status:?})\nargs: {args:?}\nstderr:\n{}",
                    gw.stderr()
                );
            }
        };
        let ready =
            parse_ready_line(&line).ok_or_else(|| anyhow::anyhow!("bad ready line {line:?}"))?;
        gw.addr = ready.0;
        gw.admin = ready.1;
        gw.workers = ready.2;
        gw.driver = ready.3;
        gw.tls = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("tls="))
            .and_then(|a| a.parse().ok());
        Ok(gw)
    }

    /// The TLS listener (`--tls-listen 127.0.0.1:0`).
    pub fn tls_addr(&self) -> SocketAddr {
        self.tls.expect("the gateway was started with --tls-listen")
    }

    /// The gateway's data directory (`--data-dir`, unless a test gave its own).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The data plane listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// `io_uring` or `legacy`.
    pub fn driver(&self) -> &str {
        &self.driver
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `{api_id}.{domain}:{port}`: the Host header that selects `api_id`.
    pub fn host(&self, api_id: &str) -> String {
        format!("{api_id}.{}:{}", self.domain, self.port())
    }

    /// A new downstream connection.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Sends `req` on a new connection and reads the response.
    pub fn call(&self, req: &Request) -> Response {
        self.client().request(req)
    }

    /// `GET {path}` to `api_id` on a new connection.
    pub fn get(&self, api_id: &str, path: &str) -> Response {
        self.call(&Request::get(path).host(&self.host(api_id)))
    }

    /// `PUT /portico/config` on the admin API.
    pub fn put_config(&self, config: &str) -> Response {
        self.admin_call("PUT", "/portico/config", config.as_bytes())
    }

    /// `GET /portico/config` on the admin API.
    pub fn get_config(&self) -> Response {
        self.admin_call("GET", "/portico/config", b"")
    }

    /// `GET /portico/stats` on the admin API, as JSON.
    pub fn stats(&self) -> serde_json::Value {
        let r = self.admin_call("GET", "/portico/stats", b"");
        assert_eq!(r.status, 200, "GET /portico/stats:\n{r}");
        r.json()
    }

    /// Polls the stats (workers publish about once a second) until `pred` holds; panics with
    /// the last stats after `timeout`.
    pub fn wait_for_stats(
        &self,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.stats();
            if pred(&stats) {
                return stats;
            }
            assert!(
                Instant::now() < deadline,
                "stats did not reach the expected state within {timeout:?}: {stats:#}"
            );
            crate::sleep(Duration::from_millis(100));
        }
    }

    /// One request to the admin API on a new connection.
    pub fn admin_call(&self, method: &str, path: &str, body: &[u8]) -> Response {
        let mut req = Request::new(method, path)
            .host(&self.admin.to_string())
            .header("Connection", "close")
            .body(body.to_vec());
        if !body.is_empty() {
            req = req.header("Content-Type", "application/json");
        }
        Client::connect(self.admin).request(&req)
    }

    /// Calls the admin API with a JSON body (`Null`: none), asserts a 2xx and returns the JSON
    /// answer (`Null` for an empty one).
    #[track_caller]
    pub fn admin_json(
        &self,
        method: &str,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let text = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let r = self.admin_call(method, path, &text);
        assert!(
            (200..300).contains(&r.status),
            "{method} {path} {body}: {r}"
        );
        if r.body.is_empty() {
            serde_json::Value::Null
        } else {
            r.json()
        }
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid.to_string()])
            .status()
            .expect("run kill(1)");
        assert!(
            status.success(),
            "kill -{signal} {} failed: {status}",
            self.pid
        );
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exit.is_some() {
            return self.exit;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let polled = self.child.as_mut()?.try_wait();
            match polled {
                Ok(Some(status)) => {
                    self.exit = Some(status);
                    self.child = None;
                    return self.exit;
                }
                Ok(None) if Instant::now() >= deadline => return None,
                Ok(None) => crate::sleep(Duration::from_millis(10)),
                Err(e) => panic!("wait for portico {}: {e}", self.pid),
            }
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.wait_exit(Duration::ZERO).is_none()
    }

    /// What the gateway logged so far.
    pub fn stderr(&self) -> String {
        fs::read(self.dir.path().join("stderr.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            let log = self.stderr();
            let tail_start = log.len().saturating_sub(8 * 1024);
            let tail_start = (tail_start..log.len())
                .find(|i| log.is_char_boundary(*i))
                .unwrap_or(log.len());
            eprintln!(
                "--- portico {} stderr (last 8 KiB) ---\n{}\n--- end ---",
                self.pid,
                &log[tail_start..]
            );
        }
    }
}

/// Parses `portico ready: listen=A admin=B workers=N driver=D`.
pub fn parse_ready_line(line: &str) -> Option<(SocketAddr, SocketAddr, usize, String)> {
    let rest = line.strip_prefix("portico ready: ")?;
    let mut listen = None;
    let mut admin = None;
    let mut workers = None;
    let mut driver = None;
    for field in rest.split_whitespace() {
        let (k, v) = field.split_once('=')?;
        match k {
            "listen" => listen = v.parse().ok(),
            "admin" => admin = v.parse().ok(),
            "workers" => workers = v.parse().ok(),
            "driver" => driver = Some(v.to_string()),
            _ => {}
        }
    }
    Some((listen?, admin?, workers?, driver?))
}
