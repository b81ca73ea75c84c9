//! A real Lambda function for the Lambda proxy tests: `tests/lambda-fn` (built on the official
//! `lambda_http` runtime) served by `cargo lambda watch` on 127.0.0.1, which speaks Lambda's
//! Invoke API (`pip install cargo-lambda`).

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The function's name: its binary's.
pub const FUNCTION: &str = "portico-lambda-fn";

/// The Lambda authorizer function of the same package (`src/bin/portico-authorizer.rs`).
pub const AUTHORIZER_FUNCTION: &str = "portico-authorizer";

/// A function ARN naming [`FUNCTION`].
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:portico-lambda-fn";

/// Building the function (cold) and starting the runtime emulator can take minutes on a busy
/// machine; warm, about a second.
const START_TIMEOUT: Duration = Duration::from_secs(600);

/// `cargo lambda watch` and the function it runs; both are killed on drop.
#[derive(Debug)]
pub struct LambdaFn {
    child: Child,
    addr: SocketAddr,
    /// How long the start took (build included), for the CI cost report.
    pub started_in: Duration,
}

impl LambdaFn {
    /// Whether `cargo lambda` is installed (the tests that need it are skipped otherwise, with a
    /// message; `tools/test.sh` installs it).
    pub fn available() -> bool {
        Command::new("cargo")
            .args(["lambda", "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Builds and serves the function; returns once an invocation answers.
    pub fn start() -> LambdaFn {
        let started = Instant::now();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let child = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .current_dir(workspace.join("tests").join("lambda-fn"))
            // One target directory for the workspace and the function (no second build tree).
            .env("CARGO_TARGET_DIR", workspace.join("target"))
            .env("CARGO_TERM_COLOR", "never")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: `cargo lambda` runs the function as a child, killed with it.
            .process_group(0)
            .spawn()
            .expect("spawn cargo lambda watch");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut f = LambdaFn {
            child,
            addr,
            started_in: Duration::ZERO,
        };
        let probe = br#"{"version":"2.0","routeKey":"$default","rawPath":"/","rawQueryString":"","headers":{},"requestContext":{"accountId":"0","apiId":"a","domainName":"d","domainPrefix":"d","http":{"method":"GET","path":"/","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"probe"},"requestId":"r","routeKey":"$default","stage":"$default","time":"01/Jan/2026:00:00:00 +0000","timeEpoch":0},"isBase64Encoded":false}"#;
        loop {
            let r = crate::Request::post(
                &format!("/2015-03-31/functions/{FUNCTION}/invocations"),
                probe.to_vec(),
            )
            .host(&addr.to_string());
            let answered = crate::Client::try_connect(addr)
                .ok()
                .and_then(|mut c| c.try_request(&r).ok());
            if answered.is_some_and(|resp| resp.status == 200) {
                break;
            }
            if let Ok(Some(status)) = f.child.try_wait() {
                panic!("cargo lambda watch exited with {status}");
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "cargo lambda watch did not serve the function within {START_TIMEOUT:?}"
            );
            crate::sleep(Duration::from_millis(200));
        }
        f.started_in = started.elapsed();
        f
    }

    /// Builds the function's binary (as `cargo lambda watch` builds it: the same target
    /// directory and profile, so each build finds the other's fresh) and returns its path, for
    /// running it as a self-hosted function.
    pub fn build_binary() -> PathBuf {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let target = workspace.join("target");
        let status = Command::new("cargo")
            .args(["build", "--quiet"])
            .current_dir(workspace.join("tests").join("lambda-fn"))
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_TERM_COLOR", "never")
            .stdin(Stdio::null())
            .status()
            .expect("run cargo build for tests/lambda-fn");
        assert!(
            status.success(),
            "building tests/lambda-fn failed: {status}"
        );
        let bin = target.join("debug").join(FUNCTION);
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin.canonicalize().expect("the binary's absolute path")
    }

    /// Invokes another function of the package (`function`, its binary name) until it answers
    /// 200: `cargo lambda watch` builds and starts each function on its first invocation,
    /// which must not count against a test's timeouts.
    pub fn warm(&mut self, function: &str, payload: &[u8]) {
        let started = Instant::now();
        loop {
            let r = crate::Request::post(
                &format!("/2015-03-31/functions/{function}/invocations"),
                payload.to_vec(),
            )
            .host(&self.addr.to_string());
            let answered = crate::Client::try_connect(self.addr)
                .ok()
                .and_then(|mut c| c.try_request(&r).ok());
            if answered.is_some_and(|resp| resp.status == 200) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("cargo lambda watch exited with {status}");
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "cargo lambda watch did not serve {function} within {START_TIMEOUT:?}"
            );
            crate::sleep(Duration::from_millis(200));
        }
    }

    /// `http://127.0.0.1:PORT`: the value of `AWS_ENDPOINT_URL_LAMBDA`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A zip archive (stored, no compression) of `files` (name, Unix mode, contents): what
/// Lambda's `CreateFunction` takes as `Code.ZipFile`.
pub fn zip_stored(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            }
        }
        !crc
    }
    let u32_of = |n: usize| u32::try_from(n).expect("a small zip");
    let u16_of = |n: usize| u16::try_from(n).expect("a short name");
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, mode, data) in files {
        let (crc, size, offset) = (crc32(data), u32_of(data.len()), u32_of(out.len()));
        // Local file header: version 2.0, no flags, stored, no time.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [crc, size, size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&u16_of(name.len()).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // Central directory entry: made by Unix (3), the mode in the external attributes.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [crc, size, size] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&u16_of(name.len()).to_le_bytes());
        central.extend_from_slice(&[0; 8]);
        central.extend_from_slice(&((0o100_000 | mode) << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let (dir_offset, dir_size, n) = (
        u32_of(out.len()),
        u32_of(central.len()),
        u16_of(files.len()),
    );
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&dir_size.to_le_bytes());
    out.extend_from_slice(&dir_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

impl Drop for LambdaFn {
    fn drop(&mut self) {
        // The whole group: cargo-lambda, its watcher and the function process.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
