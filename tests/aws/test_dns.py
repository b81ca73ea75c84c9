"""Upstream host names resolved in the background, honouring the record's TTL.

The test runs its own DNS server on 127.0.0.1 (UDP, hand-written: A records only, NXDOMAIN for
names it does not know) and starts the gateway with `--dns-server` pointing at it. Two upstreams
listen on the same port of 127.0.0.2 and 127.0.0.3; the test moves `up.test` from the first to
the second while a loop keeps requesting, and checks that traffic follows within the TTL and
that no request fails on the way. A host that does not resolve deploys, its requests answer
500 (AWS's API_CONFIGURATION_ERROR, "Invalid endpoint address"), and they succeed once the name
resolves, without redeploying.
"""

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import Gateway


class DnsServer:
    """A UDP DNS server answering A queries from `self.records` (name -> (ip, ttl))."""

    def __init__(self):
        self.records = {}
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.stopped = False
        threading.Thread(target=self.serve, daemon=True).start()

    @property
    def addr(self):
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def serve(self):
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            try:
                self.sock.sendto(self.answer(data), peer)
            except Exception:  # a malformed query gets no answer
                continue

    def answer(self, q):
        (qid, flags) = struct.unpack(">HH", q[:4])
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode().lower())
            i += 1 + q[i]
        qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
        question = q[12:i + 5]
        name = ".".join(labels)
        self.queries += 1
        record = self.records.get(name)
        rcode = 0 if record else 3  # NXDOMAIN
        answers = b""
        if record and qtype == 1:
            ip, ttl = record
            answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, ttl, 4) + socket.inet_aton(ip)
        head = struct.pack(">HHHHHH", qid, 0x8180 | (flags & 0x0100) | rcode, 1,
                           1 if answers else 0, 0, 0)
        return head + question + answers

    def close(self):
        self.stopped = True
        self.sock.close()


def serve_on(host, port, tag):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_GET(self):
            out = json.dumps({"upstream": tag}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def two_upstreams():
    """Upstreams on 127.0.0.2:P and 127.0.0.3:P (the same port)."""
    for _ in range(20):
        a = serve_on("127.0.0.2", 0, "two")
        port = a.server_address[1]
        try:
            b = serve_on("127.0.0.3", port, "three")
            return port, a, b
        except OSError:
            a.shutdown()
            a.server_close()
    raise RuntimeError("no port free on both 127.0.0.2 and 127.0.0.3")


@pytest.fixture
def dns():
    d = DnsServer()
    yield d
    d.close()


@pytest.fixture
def dns_gateway(tmp_path, dns):
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log",
                 args=["--dns-server", dns.addr]).start()
    yield gw
    gw.stop()


def http_api(gw, uri):
    client = gw.client()
    api = client.create_api(Name="dns", ProtocolType="HTTP")
    integration = client.create_integration(
        ApiId=api["ApiId"], IntegrationType="HTTP_PROXY", IntegrationMethod="GET",
        IntegrationUri=uri, PayloadFormatVersion="1.0")
    client.create_route(ApiId=api["ApiId"], RouteKey="GET /r",
                        Target=f"integrations/{integration['IntegrationId']}")
    client.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    return api["ApiId"]


def test_traffic_follows_a_changed_address_within_the_ttl_and_no_request_fails(dns, dns_gateway):
    port, a, b = two_upstreams()
    try:
        dns.records["up.test"] = ("127.0.0.2", 2)
        api_id = http_api(dns_gateway, f"http://up.test:{port}/x")
        status, _, body = dns_gateway.request(api_id, "GET", "/r")
        assert (status, json.loads(body)) == (200, {"upstream": "two"})

        seen, failures, stop = [], [], threading.Event()

        def loop():
            while not stop.is_set():
                s, _, b_ = dns_gateway.request(api_id, "GET", "/r")
                if s != 200:
                    failures.append((s, b_))
                else:
                    seen.append((time.monotonic(), json.loads(b_)["upstream"]))
                time.sleep(0.01)

        t = threading.Thread(target=loop)
        t.start()
        time.sleep(0.5)
        dns.records["up.test"] = ("127.0.0.3", 2)
        changed = time.monotonic()
        # TTL 2 s: the gateway asks again at most 2 s (+ one 100 ms resolver tick) after its
        # last answer; 1 s of slack for a loaded machine.
        deadline = changed + 3.5
        while time.monotonic() < deadline and not (seen and seen[-1][1] == "three"):
            time.sleep(0.05)
        time.sleep(0.5)
        stop.set()
        t.join(timeout=15)
        assert failures == []
        moved = [at for at, tag in seen if tag == "three"]
        assert moved, f"traffic never moved to 127.0.0.3; log:\n{dns_gateway.log()}"
        assert moved[0] - changed < 3.5
        # Once moved, it stays moved (no request goes back to the old address).
        after = [tag for at, tag in seen if at > moved[0]]
        assert set(after) <= {"three"}, after
    finally:
        for s in (a, b):
            s.shutdown()
            s.server_close()


def test_a_name_that_does_not_resolve_deploys_and_serves_once_it_resolves(dns, dns_gateway):
    port, a, b = two_upstreams()
    try:
        # nx.test: NXDOMAIN. The deployment succeeds (AWS deploys it too).
        api_id = http_api(dns_gateway, f"http://nx.test:{port}/x")
        status, headers, body = dns_gateway.request(api_id, "GET", "/r")
        assert status == 500, (status, body)
        assert json.loads(body) == {"message": "Internal Server Error"}
        dns.records["nx.test"] = ("127.0.0.3", 60)
        deadline = time.monotonic() + 5
        while True:
            status, _, body = dns_gateway.request(api_id, "GET", "/r")
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert (status, json.loads(body)) == (200, {"upstream": "three"}), dns_gateway.log()
    finally:
        for s in (a, b):
            s.shutdown()
            s.server_close()
