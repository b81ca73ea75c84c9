"""Profiling, as a person uses it, on a gateway with admin credentials (every call signed):

- `portico stats` (table and JSON) against the figures of a load this test made;
- `portico histogram`: the `.hgrm` text and the interval log, read back by HdrHistogram's Python
  port (`hdrh`) to the same percentiles and counts;
- `portico top` in a real terminal (tmux): the routes and figures appear, keys sort, `q` quits
  and gives the terminal back;
- the console (`GET /console`) in Debian's headless Chromium driven by playwright-core: sign in,
  pick the route, and the charts plot what the admin API reports; a screenshot is saved to
  target/test-artifacts/console.png.

tmux, Chromium and tests/console/node_modules are set up by tools/test.sh; where one is missing
the test that needs it is skipped with the reason (pytest -rs prints it).
"""

import base64
import http.client
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from conftest import DOMAIN, REPO, Gateway, Upstream, portico_bin

AKID, SECRET = "AKIDPROFILING", "profiling-secret-key"
ARTIFACTS = REPO / "target" / "test-artifacts"
CONSOLE_DIR = REPO / "tests" / "console"
CHROMIUM = os.environ.get("PORTICO_TEST_CHROMIUM", "/usr/bin/chromium")
ITEMS, BROKEN, LIMITED = 300, 20, 30


def deadline_loop(seconds, what):
    end = time.monotonic() + seconds
    while True:
        yield
        if time.monotonic() > end:
            raise AssertionError(f"{what} within {seconds} s")
        time.sleep(0.2)


class Shop:
    """A gateway with admin credentials and one HTTP API: GET /items (an upstream), GET /broken
    (a closed port: 502), GET /limited (burst 1: mostly 429)."""

    def __init__(self, tmp):
        self.upstream = Upstream()
        self.gw = Gateway(tmp / "data", tmp / "portico.log", env={
            "PORTICO_ADMIN_ACCESS_KEY_ID": AKID, "PORTICO_ADMIN_SECRET_ACCESS_KEY": SECRET,
        }).start()
        c = self.gw.client(AKID, SECRET)
        self.api_id = c.create_api(Name="shop", ProtocolType="HTTP")["ApiId"]
        items = c.create_integration(ApiId=self.api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
                                     IntegrationUri=self.upstream.url("/items"), PayloadFormatVersion="1.0")
        broken = c.create_integration(ApiId=self.api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
                                      IntegrationUri="http://127.0.0.1:1/", PayloadFormatVersion="1.0")
        for key, integ in [("GET /items", items), ("GET /broken", broken), ("GET /limited", items)]:
            c.create_route(ApiId=self.api_id, RouteKey=key, Target=f"integrations/{integ['IntegrationId']}")
        c.create_stage(ApiId=self.api_id, StageName="$default", AutoDeploy=True,
                       RouteSettings={"GET /limited": {"ThrottlingBurstLimit": 1, "ThrottlingRateLimit": 1.0}})
        self.env = {**os.environ, "PORTICO_ADMIN_URL": f"http://{self.gw.admin}",
                    "PORTICO_ADMIN_ACCESS_KEY_ID": AKID, "PORTICO_ADMIN_SECRET_ACCESS_KEY": SECRET,
                    "RUST_BACKTRACE": "0"}
        for _ in deadline_loop(10, "the stage serves"):
            if self.gw.request(self.api_id, "GET", "/items")[0] == 200:
                break
        self.sent = {"GET /items": 1, "GET /broken": 0, "GET /limited": 0}

    def load(self, path, n, pace_s=0.0):
        """`n` requests on one keep-alive connection; returns the statuses."""
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=10)
        statuses = []
        try:
            for _ in range(n):
                conn.request("GET", path, headers={"Host": f"{self.api_id}.{DOMAIN}:{self.gw.port}"})
                r = conn.getresponse()
                r.read()
                statuses.append(r.status)
                if pace_s:
                    time.sleep(pace_s)
        finally:
            conn.close()
        self.sent["GET " + path] += n
        return statuses

    def admin_get(self, path, params=None):
        """A signed admin GET (botocore's SigV4, as the AWS CLI signs)."""
        url = f"http://{self.gw.admin}{path}"
        if params:
            url += "?" + urlencode(params, quote_via=quote)
        req = AWSRequest(method="GET", url=url)
        SigV4Auth(Credentials(AKID, SECRET), "apigateway", "us-east-1").add_auth(req)
        with urllib.request.urlopen(urllib.request.Request(url, headers=dict(req.headers)), timeout=10) as r:
            return json.loads(r.read())

    def cli(self, *args, env=None, check=True):
        p = subprocess.run([portico_bin(), *args], env=env or self.env, capture_output=True, text=True, timeout=60)
        if check:
            assert p.returncode == 0, f"portico {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    def route(self, stats, key):
        return next(r for r in stats["routes"] if r["apiId"] == self.api_id and r["routeKey"] == key)

    def settled_stats(self):
        """The stats once every request sent is counted (workers publish once a second)."""
        for _ in deadline_loop(10, "the stats count every request"):
            stats = self.admin_get("/portico/stats")
            counts = {r["routeKey"]: r["count"] for r in stats["routes"] if r["apiId"] == self.api_id}
            if all(counts.get(k, 0) == n for k, n in self.sent.items()):
                return stats

    def close(self):
        self.gw.stop()
        self.upstream.close()


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    s = Shop(tmp_path_factory.mktemp("profiling"))
    # Spread over a few seconds so the per-second history has several points.
    statuses = s.load("/items", ITEMS, pace_s=0.01)
    assert set(statuses) == {200}
    assert set(s.load("/broken", BROKEN)) == {502}
    limited = s.load("/limited", LIMITED)
    assert 429 in limited and set(limited) <= {200, 429}
    s.limited_429 = limited.count(429)
    yield s
    s.close()


def test_stats_table_and_json_match_the_load(shop):
    stats = shop.settled_stats()
    p = shop.cli("stats", "--output", "json")
    cli = json.loads(p.stdout)
    items, broken, limited = (shop.route(cli, k) for k in ("GET /items", "GET /broken", "GET /limited"))
    assert (items["count"], items["status2xx"]) == (ITEMS + 1, ITEMS + 1)
    assert (broken["count"], broken["status5xx"]) == (BROKEN, BROKEN)
    assert limited["throttledCount"] == shop.limited_429 == limited["status4xx"]
    same = lambda r: {k: ({q: v for q, v in x.items() if q != "mean"} if isinstance(x, dict) else x)
                      for k, x in r.items()}  # noqa: E731 (means differ in the last float digit)
    assert same(items) == same(shop.route(stats, "GET /items"))
    # The gateway's own share is below the total, and the integration's too.
    for r in (items, broken):
        assert 0 < r["gatewayLatencyUs"]["p50"] <= r["latencyUs"]["p50"]
        assert r["integrationLatencyUs"]["p50"] <= r["latencyUs"]["p50"]
    # A throttled request never reaches the integration: all of it is the gateway's.
    assert limited["gatewayLatencyUs"]["max"] > 0

    table = shop.cli("stats").stdout
    lines = table.splitlines()
    assert lines[0].split()[:5] == ["API", "STAGE", "ROUTE", "COUNT", "2XX"]
    row = next(line for line in lines if "GET /items" in line).split()
    assert row[0] == shop.api_id and row[4] == str(ITEMS + 1) and row[5] == str(ITEMS + 1)
    assert "GW P99" in lines[0] and "INT P99" in lines[0]

    # Unsigned, or signed with the wrong secret: the admin API's refusal, and a non-zero exit.
    bad = {**shop.env, "PORTICO_ADMIN_SECRET_ACCESS_KEY": "wrong"}
    p = shop.cli("stats", env=bad, check=False)
    assert p.returncode != 0 and "403" in p.stderr and "signature" in p.stderr
    unsigned = {k: v for k, v in shop.env.items() if "ACCESS_KEY" not in k}
    p = shop.cli("stats", env=unsigned, check=False)
    assert p.returncode != 0 and "403" in p.stderr


def footer_value(text, name):
    line = next(line for line in text.splitlines() if line.startswith(f"#[{name}"))
    return line.split("=", 1)[1].split(",", 1)[0].strip()


def hgrm_rows(text):
    rows = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) in (3, 4) and not line.startswith("#") and cols[0] != "Value":
            rows.append((float(cols[0]), float(cols[1]), int(cols[2])))
    return rows


@pytest.mark.parametrize("which", ["total", "gateway", "integration"])
def test_histogram_text_reads_back_to_the_same_percentiles(shop, which):
    shop.settled_stats()
    text = shop.cli("histogram", "--api", shop.api_id, "--stage", "$default", "--route", "GET /items",
                    "--which", which).stdout
    (ARTIFACTS).mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"items-{which}.hgrm").write_text(text)
    assert text.splitlines()[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    rows = hgrm_rows(text)
    # HdrHistogram's Python port decodes the same route's histogram from the admin API.
    encoded = shop.admin_get("/portico/histograms",
                             {"api": shop.api_id, "stage": "$default", "route": "GET /items"})[which]["encoded"]
    h = HdrHistogram.decode(encoded)
    assert h.get_total_count() == rows[-1][2] == ITEMS + 1
    assert rows[-1][1] == 1.0
    # Every row reads back exactly: at each value, the decoded histogram's cumulative count is the
    # row's TotalCount, and that count has reached the row's percentile.
    cumulative = {}
    for item in h.get_recorded_iterator():
        cumulative[item.value_iterated_to] = item.total_count_to_this_value
    n = h.get_total_count()
    for value, pq, total in rows:
        assert cumulative[int(value)] == total, (which, value, pq, total)
        assert total / n >= pq - 1e-12, (which, value, pq, total)
    # The percentiles a reader takes from the table are HdrHistogram's: the first row whose
    # TotalCount covers the percentile's count holds the value hdrh answers for it.
    for q in (0.5, 0.9, 0.99, 0.999, 1.0):
        need = max(1, int(q * n + 0.5))
        in_text = min(v for v, _, total in rows if total >= need)
        exact = h.get_value_at_percentile(q * 100)
        assert in_text >= exact and cumulative[int(in_text)] >= need, (which, q, in_text, exact)
        assert h.get_lowest_equivalent_value(int(in_text)) == h.get_lowest_equivalent_value(exact) or any(
            v == in_text and total >= need for v, _, total in rows), (which, q, in_text, exact)
    mean = float(footer_value(text, "Mean"))
    assert abs(mean - h.get_mean_value()) <= max(1.0, 0.01 * h.get_mean_value()), (mean, h.get_mean_value())
    footer = [line for line in text.splitlines() if line.startswith("#[")]
    assert footer[0].startswith("#[Mean    = ") and f"Total count    = {ITEMS + 1:>12}" in footer[1]
    # And the JSON report agrees with the histogram.
    report = shop.route(shop.admin_get("/portico/stats"), "GET /items")
    key = {"total": "latencyUs", "gateway": "gatewayLatencyUs", "integration": "integrationLatencyUs"}[which]
    assert report[key]["p99"] == h.get_value_at_percentile(99) or h.get_lowest_equivalent_value(
        report[key]["p99"]) == h.get_lowest_equivalent_value(h.get_value_at_percentile(99))


def test_histogram_interval_log_reads_back(shop, tmp_path):
    log = tmp_path / "items.hlog"
    run = subprocess.Popen([portico_bin(), "histogram", "--api", shop.api_id, "--stage", "$default",
                            "--route", "GET /items", "--log", str(log), "--interval", "1s", "--duration", "4s"],
                           env=shop.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    n = 60
    assert set(shop.load("/items", n, pace_s=0.02)) == {200}
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    assert f"{n} requests logged" in err
    shutil.copy(log, ARTIFACTS / "items.hlog") if ARTIFACTS.exists() else None
    text = log.read_text()
    assert "#[StartTime: " in text and "#[BaseTime: " in text
    assert '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"' in text
    assert sum(line.startswith("Tag=total,") for line in text.splitlines()) == 4
    reader = HistogramLogReader(str(log), HdrHistogram(1, 60_000_000, 2))
    intervals = []
    while (h := reader.get_next_interval_histogram()) is not None:
        intervals.append(h)
    assert len(intervals) == 4
    assert sum(h.get_total_count() for h in intervals) == n
    assert all(h.get_tag() == "total" for h in intervals)
    starts = [h.get_start_time_stamp() for h in intervals]
    assert starts == sorted(starts)


def test_top_in_a_terminal(shop):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (tools/test.sh installs it with apt-get as root): portico top untested")
    shop.settled_stats()
    session = f"portico-top-{os.getpid()}"
    env_args = " ".join(f"{k}={quote(v, safe='/:._-')}" for k, v in shop.env.items()
                        if k.startswith("PORTICO_ADMIN") or k == "RUST_BACKTRACE")
    command = f"env {env_args} {portico_bin()} top; echo TOP-EXITED $?; sleep 60"
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", command], check=True)

    def screen():
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                              text=True, check=True).stdout

    try:
        # Traffic while it watches, so the rate column moves.
        t = threading.Thread(target=shop.load, args=("/items", 100, 0.02))
        t.start()
        for _ in deadline_loop(15, "portico top shows the load"):
            s = screen()
            row = next((line for line in s.splitlines() if "GET /items" in line), None)
            if row and "REQ/S" in s and float(row.split()[4]) > 0:
                break
        t.join()
        assert "[q] quit" in s and "[r] req/s*" in s and "GET /broken" in s and "GET /limited" in s
        cols = row.split()
        assert cols[0] == shop.api_id and cols[1] == "$default"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "top.txt").write_text(s)
        # Sorting by 5xx puts GET /broken first, and the footer marks the key.
        subprocess.run(["tmux", "send-keys", "-t", session, "e"], check=True)
        for _ in deadline_loop(5, "sorting by 5xx"):
            s = screen()
            rows = [line for line in s.splitlines() if line.startswith(shop.api_id)]
            if "[e] 5xx*" in s and rows and "GET /broken" in rows[0]:
                break
        broken = rows[0].split()
        assert broken[7] == str(BROKEN), rows[0]  # the 5XX column
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        for _ in deadline_loop(5, "q quits portico top"):
            s = screen()
            if "TOP-EXITED" in s:
                break
        assert "TOP-EXITED 0" in s
        # The alternate screen is gone: the table is not on the terminal any more.
        assert "REQ/S" not in s and "GET /items" not in s
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_console_charts_the_load_in_chromium(shop):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (tools/test.sh installs Debian's chromium as root): console untested")
    if not (CONSOLE_DIR / "node_modules" / "playwright-core").is_dir() or shutil.which("node") is None:
        pytest.skip("node or tests/console/node_modules is missing (tools/test.sh runs npm ci there): console untested")
    shop.settled_stats()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "console.png"
    env = {**os.environ, "CONSOLE_URL": f"http://{shop.gw.admin}/console", "ACCESS_KEY_ID": AKID,
           "SECRET_ACCESS_KEY": SECRET, "API_NAME": "shop", "STAGE": "$default", "ROUTE_KEY": "GET /items",
           "SCREENSHOT": str(shot), "CHROMIUM": CHROMIUM}
    p = subprocess.run(["node", str(CONSOLE_DIR / "console.mjs")], env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, f"{p.stdout}\n{p.stderr}"
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["loginShown"] and not got["errors"] and not got["consoleErrors"], got
    assert shot.stat().st_size > 10_000

    # The figures the page shows are the admin API's.
    stats = shop.admin_get("/portico/stats")
    items = shop.route(stats, "GET /items")
    assert got["route"]["count"] == items["count"] and got["route"]["latencyUs"]["p99"] == items["latencyUs"]["p99"]
    assert f"{items['count']:,}" in got["summary"]

    # The latency chart plots the history's p50/p90/p99 at the history's times.
    history = shop.admin_get("/portico/history", {"api": shop.api_id, "stage": "$default", "route": "GET /items"})
    expect = {round(i["endUnixMs"] / 1000, 3): i["routes"][0]["latencyUs"] for i in history["intervals"] if i["routes"]}
    t, p50, p90, p99 = got["plotted"]["chart-latency"]
    plotted = {round(x, 3): (a, b, c) for x, a, b, c in zip(t, p50, p90, p99) if a is not None}
    assert len(plotted) >= 2, plotted
    common = set(plotted) & set(expect)
    assert len(common) >= 2, (plotted, expect)
    for x in common:
        e = expect[x]
        assert plotted[x] == (e["p50"], e["p90"], e["p99"]), x
    # The requests-per-second chart sums to the requests of those intervals.
    rates_t, per_s = got["plotted"]["chart-rates"][0], got["plotted"]["chart-rates"][1]
    assert any(v > 0 for v in per_s)

    # The histogram chart holds every request of the route, for each of the three histograms.
    hist = got["plotted"]["chart-histogram"]
    assert [sum(v for v in col if v) for col in hist[1:]] == [items["count"]] * 3
    h = HdrHistogram.decode(got["histograms"]["total"]["encoded"])
    assert h.get_total_count() == items["count"]
    # Every chart drew on its canvas.
    assert len(got["canvases"]) >= 4 and all(c["drawn"] for c in got["canvases"]), got["canvases"]


def test_console_page_is_public_and_its_data_is_not(shop):
    status, headers, body = shop.gw.admin_raw("GET", "/console")
    assert status == 200 and b"console.js" in body
    assert "connect-src 'self'" in headers["content-security-policy"]
    for path in ("/portico/history", f"/portico/histograms?api={shop.api_id}&stage=%24default&route=GET%20%2Fitems",
                 "/portico/stats", "/v2/apis"):
        status, headers, body = shop.gw.admin_raw("GET", path)
        assert status == 403, path
        assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException", (path, headers)
    # Signed: a missing parameter is a 400 in AWS's shape, an unknown route a 404.
    with pytest.raises(urllib.error.HTTPError) as e:
        shop.admin_get("/portico/histograms", {"api": shop.api_id})
    assert e.value.code == 400 and e.value.headers["x-amzn-ErrorType"] == "BadRequestException"
    with pytest.raises(urllib.error.HTTPError) as e:
        shop.admin_get("/portico/histograms", {"api": shop.api_id, "stage": "$default", "route": "GET /nowhere"})
    assert e.value.code == 404 and "GET /nowhere" in json.loads(e.value.read())["message"]
