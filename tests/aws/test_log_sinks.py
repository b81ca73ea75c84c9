"""The log writer both log kinds share: execution log files rotate by size as access log files
do, and CloudWatch Logs endpoints may be `https://` (trusted through `AWS_CA_BUNDLE`, as the
AWS CLI trusts a private CA).

The https endpoint is a small Python server behind TLS with a certificate from a private CA that
`openssl` makes in the test; it records the Logs API calls it receives.
"""

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import websockets

from conftest import Gateway
from test_websocket import _localhost_getaddrinfo, echo_api, ws_url


@pytest.fixture(autouse=True)
def localhost_names(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _localhost_getaddrinfo)


def test_execution_log_files_rotate_by_size(tmp_path):
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log", workers=1,
                 env={"PORTICO_ACCESS_LOG_ROTATE_BYTES": "4096"}).start()
    try:
        client = gw.client()
        api = echo_api(client)
        client.create_stage(ApiId=api, StageName="logged", AutoDeploy=True,
                            DefaultRouteSettings={"LoggingLevel": "INFO",
                                                  "DataTraceEnabled": True})
        time.sleep(0.2)

        async def run():
            async with websockets.connect(ws_url(gw, api, "logged")) as ws:
                for i in range(12):
                    await ws.send(f"message {i} " + "x" * 200)
                    await asyncio.wait_for(ws.recv(), 5)
                    # Several writer batches: the size is checked before each.
                    await asyncio.sleep(0.25)

        asyncio.run(run())
        log = gw.data_dir / "logs" / f"API-Gateway-Execution-Logs_{api}" / "logged.log"
        rotated = log.with_name("logged.log.1")
        deadline = time.monotonic() + 10
        while not (rotated.exists() and log.exists()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert rotated.exists(), list(log.parent.iterdir())
        assert rotated.stat().st_size >= 4096
        lines = [json.loads(l) for p in (rotated, log) for l in p.read_text().splitlines()]
        bodies = {l["message"].split("Message body: ")[1].split(" ")[1]
                  for l in lines if "Message body: " in l["message"]}
        # One rotated file is kept: the newest messages are all there, in one file or the other.
        assert "11" in bodies, bodies
    finally:
        gw.stop()


def make_ca(tmp):
    """A private CA and a certificate for 127.0.0.1 signed by it (openssl)."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, cwd=tmp, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=Portico test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (tmp / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                 "keyUsage=digitalSignature,keyEncipherment\n"
                                 "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"


class LogsOverTls:
    """CloudWatch Logs' JSON API over https, recording each call's target and body."""

    def __init__(self, cert, key):
        self.calls = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.calls.append((self.headers.get("X-Amz-Target"), json.loads(body),
                                     self.headers.get("Authorization", "")))
                out = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(out)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(out)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"

    def events(self, group):
        return [e for target, body, _ in list(self.calls)
                if target == "Logs_20140328.PutLogEvents" and body["logGroupName"] == group
                for e in body["logEvents"]]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
@pytest.mark.parametrize("trusted", [True, False])
def test_https_logs_endpoint_with_a_private_ca(tmp_path, trusted):
    ca, cert, key = make_ca(tmp_path)
    logs = LogsOverTls(cert, key)
    env = {"AWS_ENDPOINT_URL_LOGS": logs.url, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
           "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"}
    if trusted:
        env["AWS_CA_BUNDLE"] = str(ca)
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log", workers=1, env=env).start()
    try:
        client = gw.client()
        api = echo_api(client)
        client.create_stage(
            ApiId=api, StageName="tls", AutoDeploy=True,
            AccessLogSettings={
                "DestinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:tls-access",
                "Format": '{"id":"$context.requestId","event":"$context.eventType"}'},
            DefaultRouteSettings={"LoggingLevel": "ERROR"})
        time.sleep(0.2)

        async def run():
            async with websockets.connect(ws_url(gw, api, "tls")) as ws:
                await ws.send("hello")
                assert await asyncio.wait_for(ws.recv(), 5) == "hello"

        asyncio.run(run())
        deadline = time.monotonic() + (10 if trusted else 3)
        while time.monotonic() < deadline and not logs.events("tls-access"):
            time.sleep(0.1)
        access = logs.events("tls-access")
        if not trusted:
            # An endpoint whose certificate is not trusted gets nothing (the lines are dropped
            # and counted), as the AWS CLI refuses it.
            assert access == [] and logs.calls == [], logs.calls
            return
        events = sorted(json.loads(e["message"])["event"] for e in access)
        assert events == ["MESSAGE"], access
        targets = [t for t, _, _ in logs.calls]
        assert "Logs_20140328.CreateLogStream" in targets
        assert all(a.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                   for _, _, a in logs.calls)
    finally:
        gw.stop()
        logs.close()
