"""Acceptance harness: the real `portico` binary driven by real AWS clients (boto3, the AWS CLI).

- `Gateway` starts `portico serve` on 127.0.0.1 port 0 (data plane and admin) with a data
  directory, reads its ready line and stops it (SIGTERM, or SIGKILL on request).
- `Upstream` is a threaded HTTP server on 127.0.0.1:0 that records every request it gets and
  answers 200 with a JSON echo, so tests can check what the gateway forwarded.

Environment: PORTICO_BIN (default <repo>/target/debug/portico). Other PORTICO_* variables are not
passed to the gateway. Every wait has a deadline; only loopback is used.
"""

import http.client
import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import botocore.config
import pytest

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 30
DOMAIN = "execute-api.localhost"


def portico_bin():
    return os.environ.get("PORTICO_BIN", str(REPO / "target" / "debug" / "portico"))


class Gateway:
    """One `portico serve` process."""

    def __init__(self, data_dir, log_path, workers=2, env=None, args=None):
        self.extra_env = dict(env or {})
        self.extra_args = list(args or [])
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.workers = workers
        self.proc = None
        self.listen = None
        self.admin = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
        env["NO_COLOR"] = "1"
        # As the Rust harness: the whole suite under one I/O driver (`io-uring` or `legacy`).
        if os.environ.get("PORTICO_TEST_DRIVER"):
            env["PORTICO_DRIVER"] = os.environ["PORTICO_TEST_DRIVER"]
        env.update(self.extra_env)
        args = [
            portico_bin(), "serve",
            "--listen", "127.0.0.1:0",
            "--admin-listen", "127.0.0.1:0",
            "--data-dir", str(self.data_dir),
            "--workers", str(self.workers),
            *self.extra_args,
        ]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env)
        log.close()
        ready = {}

        def read():
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").strip()
                if line.startswith("portico ready:"):
                    ready["line"] = line
                    break
            for _ in self.proc.stdout:  # keep draining so the gateway never blocks on stdout
                pass

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "line" not in ready:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"portico printed no ready line; log:\n{self.log()}")
            time.sleep(0.01)
        fields = dict(f.split("=", 1) for f in ready["line"].split()[2:])
        self.listen, self.admin = fields["listen"], fields["admin"]
        self.tls = fields.get("tls")
        return self

    @property
    def port(self):
        return int(self.listen.rsplit(":", 1)[1])

    def client(self, key_id="x", secret="y", service="apigatewayv2"):
        return boto3.client(
            service,
            endpoint_url=f"http://{self.admin}",
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    def request(self, api_id, method, path, body=None, headers=None):
        """One request to the data plane on a new connection; returns (status, headers, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            h = {"Host": f"{api_id}.{DOMAIN}:{self.port}"}
            h.update(headers or {})
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def admin_raw(self, method, path, body=b"", headers=None):
        """One raw admin request (for what no AWS client would send)."""
        host, port = self.admin.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=15)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""


class Upstream:
    """An HTTP/1.1 upstream that records requests and echoes them as JSON."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Head and body leave in two writes: without this, Nagle holds the body until the
            # gateway's delayed ACK (40 ms per request).
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                path, _, query = self.path.partition("?")
                seen = {
                    "method": self.command,
                    "path": path,
                    "query": query,
                    "headers": [(k.lower(), v) for k, v in self.headers.items()],
                    "body": body,
                }
                with upstream.lock:
                    upstream.requests.append(seen)
                out = json.dumps({"method": self.command, "path": path, "query": query}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.send_header("X-Upstream", "yes")
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = handle_any

            def do_HEAD(self):
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def authority(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    def url(self, path=""):
        return f"http://{self.authority}{path}"

    def last(self):
        with self.lock:
            return self.requests[-1] if self.requests else None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def gateway(tmp_path, data_dir):
    gw = Gateway(data_dir, tmp_path / "portico.log").start()
    yield gw
    gw.stop()


@pytest.fixture
def tls_gateway(tmp_path, data_dir):
    """A gateway with a TLS listener (`gateway.tls`)."""
    gw = Gateway(data_dir, tmp_path / "portico.log", args=["--tls-listen", "127.0.0.1:0"]).start()
    yield gw
    gw.stop()


@pytest.fixture
def client(gateway):
    return gateway.client()


@pytest.fixture
def upstream():
    up = Upstream()
    yield up
    up.close()
