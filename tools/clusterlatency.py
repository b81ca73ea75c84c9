#!/usr/bin/env python3
"""Cluster propagation latency: admin 2xx to "served on every node".

Against running nodes that share one PostgreSQL store (`portico serve --store postgres://...`),
given their admin addresses: loads APIS x ROUTES routes through the first node (PUT
/portico/config), then makes CHANGES UpdateApi calls through the second node, each followed by
GET /portico/cluster/wait?version=<its x-portico-version> on the last node, and prints p50/p99
of the time from sending the change to that wait returning.

    python3 tools/clusterlatency.py 127.0.0.1:9091 127.0.0.1:9092 127.0.0.1:9093
"""

import argparse
import json
import time
import urllib.request


def call(url, body=None, method="GET"):
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"content-type": "application/json"},
    )
    return urllib.request.urlopen(req, timeout=300)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("admins", nargs="+", help="admin addresses (host:port), two or more")
    ap.add_argument("--apis", type=int, default=100)
    ap.add_argument("--routes", type=int, default=100, help="routes per API")
    ap.add_argument("--changes", type=int, default=200)
    args = ap.parse_args()
    first, second, last = args.admins[0], args.admins[1 % len(args.admins)], args.admins[-1]
    apis = [
        {
            "apiId": f"api{a:05d}",
            "name": f"a{a}",
            "protocolType": "HTTP",
            "integrations": [{
                "integrationId": "i1", "integrationType": "HTTP_PROXY",
                "integrationUri": "http://127.0.0.1:9/x", "integrationMethod": "ANY",
                "payloadFormatVersion": "1.0",
            }],
            "routes": [{"routeKey": f"GET /r{r}", "target": "integrations/i1"} for r in range(args.routes)],
            "stages": [{"stageName": "$default"}],
        }
        for a in range(args.apis)
    ]
    t = time.monotonic()
    v = call(f"http://{first}/portico/config", {"apis": apis}, "PUT").headers["x-portico-version"]
    call(f"http://{last}/portico/cluster/wait?version={v}&timeout=300").read()
    print(f"{args.apis * args.routes} routes ({args.apis} APIs) served on every node in "
          f"{(time.monotonic() - t) * 1000:.0f} ms")
    lat = []
    for i in range(args.changes):
        t0 = time.monotonic()
        r = call(f"http://{second}/v2/apis/api{i % args.apis:05d}", {"description": f"d{i}"}, "PATCH")
        call(f"http://{last}/portico/cluster/wait?version={r.headers['x-portico-version']}&timeout=30").read()
        lat.append((time.monotonic() - t0) * 1000)
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p / 100))]
    print(f"{len(lat)} changes, admin 2xx to served on every node: "
          f"p50 {pct(50):.1f} ms, p99 {pct(99):.1f} ms, max {lat[-1]:.1f} ms")


if __name__ == "__main__":
    main()
