"""Access logs (`accessLogSettings`) and trace headers through the real binary.

A stage per shape AWS's console offers (CLF, JSON, XML, CSV), each format naming the same
`$context` variables; a request of each outcome (2xx, throttled 429, unauthorized 403 from an
`AWS_IAM` route, integration failure 5xx, WebSocket CONNECT and MESSAGE) is read back field by
field from moto's CloudWatch Logs (`GetLogEvents`, moto with SigV4 checks on, so Portico's calls
must be signed) and from the files the gateway writes when no Logs endpoint is set. A Firehose
destination is read back from the S3 bucket moto's Firehose delivers to. A Logs endpoint that
accepts TCP but never answers drops and counts lines while requests keep flowing.

Trace headers: `X-Amzn-Trace-Id` is forwarded as sent, created (`Root=1-{8 hex}-{24 hex}`) when
absent, and is the log's `$context.xrayTraceId`; W3C `traceparent`/`tracestate` pass untouched.
"""

import asyncio
import csv
import json
import re
import shlex
import shutil
import socket
import time
import xml.etree.ElementTree as ET

import boto3
import pytest
import websockets

from conftest import Gateway
from test_aws_integrations import CFG, REGION, Moto
from test_websocket import _localhost_getaddrinfo, echo_api, ws_url

pytestmark = pytest.mark.skipif(
    shutil.which("moto_server") is None, reason="moto is not installed (pip install 'moto[server]')"
)

ACCOUNT = "123456789012"
UA = "portico-test/1.0"
TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
TRACE = f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
GENERATED_TRACE = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
CLF_TIME = re.compile(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000")
SHAPES = ["clf", "json", "xml", "csv"]

# (name in the line, $context variable)
FIELDS = [
    ("requestId", "requestId"),
    ("extendedRequestId", "extendedRequestId"),
    ("ip", "identity.sourceIp"),
    ("userAgent", "identity.userAgent"),
    ("requestTime", "requestTime"),
    ("requestTimeEpoch", "requestTimeEpoch"),
    ("httpMethod", "httpMethod"),
    ("routeKey", "routeKey"),
    ("protocol", "protocol"),
    ("status", "status"),
    ("responseLength", "responseLength"),
    ("responseLatency", "responseLatency"),
    ("integrationLatency", "integrationLatency"),
    ("integrationStatus", "integrationStatus"),
    ("integrationErrorMessage", "integrationErrorMessage"),
    ("errorMessage", "error.message"),
    ("errorResponseType", "error.responseType"),
    ("authenticateError", "authenticate.error"),
    ("apiId", "apiId"),
    ("stage", "stage"),
    ("domainName", "domainName"),
    ("apiKeyId", "identity.apiKeyId"),
    ("connectionId", "connectionId"),
    ("eventType", "eventType"),
    ("xrayTraceId", "xrayTraceId"),
]
CLF_HEAD = (
    '$context.identity.sourceIp - - [$context.requestTime] '
    '"$context.httpMethod $context.routeKey $context.protocol" '
    "$context.status $context.responseLength $context.requestId"
)


def log_format(shape):
    if shape == "json":
        return "{ " + ", ".join(f'"{n}":"$context.{v}"' for n, v in FIELDS) + " }"
    if shape == "xml":
        # Short element names: a format is at most 1,024 characters (AWS's bound).
        inner = " ".join(f"<f{i}>$context.{v}</f{i}>" for i, (_, v) in enumerate(FIELDS))
        return f'<request id="$context.requestId"> {inner} </request>'
    if shape == "csv":
        return ",".join(f"$context.{v}" for _, v in FIELDS)
    return CLF_HEAD + " " + " ".join(f'"$context.{v}"' for _, v in FIELDS)


def parse(shape, line):
    """A line back into {name: value}, checking the shape's own structure on the way."""
    if shape == "json":
        return json.loads(line)
    if shape == "xml":
        root = ET.fromstring(line)
        children = list(root)
        assert [c.tag for c in children] == [f"f{i}" for i in range(len(FIELDS))]
        fields = {n: c.text or "" for (n, _), c in zip(FIELDS, children)}
        assert root.attrib["id"] == fields["requestId"]
        return fields
    if shape == "csv":
        values = next(csv.reader([line]))
        assert len(values) == len(FIELDS), line
        return dict(zip([n for n, _ in FIELDS], values))
    m = re.match(r'(\S+) - - \[([^\]]+)\] "(\S+) (.+) (\S+)" (\d+) (\S+) (\S+) (.*)$', line)
    assert m, line
    values = shlex.split(m.group(9))
    assert len(values) == len(FIELDS), line
    fields = dict(zip([n for n, _ in FIELDS], values))
    head = dict(zip(
        ["ip", "requestTime", "httpMethod", "routeKey", "protocol", "status", "responseLength", "requestId"],
        m.groups()[:8],
    ))
    for k, v in head.items():
        assert fields[k] == v, (k, line)
    return fields


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(tmp_path_factory.mktemp("moto"))
    yield m
    m.stop()


def moto_env(moto):
    return {
        "AWS_ENDPOINT_URL_LOGS": moto.url,
        "AWS_ENDPOINT_URL_FIREHOSE": moto.url,
        "AWS_ACCESS_KEY_ID": moto.key_id,
        "AWS_SECRET_ACCESS_KEY": moto.secret,
        "AWS_REGION": REGION,
    }


def group_arn(name):
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"


def wait_lines(read, count, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        lines = read()
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def logs_reader(moto, group):
    logs = moto.client("logs")

    def read():
        try:
            streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            return []
        lines = []
        for s in streams:
            events = logs.get_log_events(
                logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True
            )["events"]
            lines += [e["message"] for e in events]
        return lines

    return read


def file_reader(gw, group):
    def read():
        path = gw.data_dir / "access-logs" / (group.strip("/").replace("/", "_") + ".log")
        try:
            return [l for l in path.read_text().split("\n") if l]
        except FileNotFoundError:
            return []

    return read


def by_request_id(shape, lines):
    out = {}
    for line in lines:
        fields = parse(shape, line)
        out[fields["requestId"]] = fields
    return out


def check_common(f, api_id, stage, started_ms):
    assert f["ip"] == "127.0.0.1"
    assert f["extendedRequestId"] == f["requestId"]
    assert CLF_TIME.fullmatch(f["requestTime"]), f["requestTime"]
    assert started_ms - 1000 <= int(f["requestTimeEpoch"]) <= int(time.time() * 1000) + 1000
    assert int(f["responseLatency"]) >= 0
    assert f["apiId"] == api_id
    assert f["stage"] == stage
    assert f["apiKeyId"] == "-"


def http_api(gw, upstream, group_prefix):
    """An HTTP API with one stage per shape; each stage logs to `{group_prefix}{shape}`."""
    client = gw.client()
    api_id = client.create_api(Name="logged", ProtocolType="HTTP")["ApiId"]

    def route(key, uri, **kwargs):
        i = client.create_integration(
            ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
            IntegrationUri=uri, PayloadFormatVersion="1.0",
        )
        client.create_route(
            ApiId=api_id, RouteKey=key, Target=f"integrations/{i['IntegrationId']}", **kwargs
        )

    route("GET /ok", upstream.url("/ok"))
    route("GET /slow", upstream.url("/slow"))
    route("GET /private", upstream.url("/private"), AuthorizationType="AWS_IAM")
    route("GET /broken", "http://127.0.0.1:1/broken")
    for shape in SHAPES:
        client.create_stage(
            ApiId=api_id, StageName=shape, AutoDeploy=True,
            AccessLogSettings={
                "DestinationArn": group_arn(f"{group_prefix}{shape}"),
                "Format": log_format(shape),
            },
            RouteSettings={"GET /slow": {"ThrottlingBurstLimit": 1, "ThrottlingRateLimit": 0.01}},
        )
    return api_id


def exercise_http(gw, api_id, shape):
    """One request of each outcome on stage `shape`: {outcome: (status, headers, body)}."""
    def get(path, headers=None):
        h = {"User-Agent": UA}
        h.update(headers or {})
        return gw.request(api_id, "GET", f"/{shape}{path}", headers=h)

    out = {"ok": get("/ok", {"X-Amzn-Trace-Id": TRACE})}
    first = get("/slow")
    second = get("/slow")
    assert first[0] == 200 and second[0] == 429, (first[0], second[0])
    out["throttled"] = second
    out["unauthorized"] = get("/private")
    out["failed"] = get("/broken")
    return out


def check_http(shape, fields, results, api_id, host, started_ms):
    for outcome, (status, headers, body) in results.items():
        headers = {k.lower(): v for k, v in headers.items()}
        rid = headers["apigw-requestid"]
        assert rid in fields, (outcome, rid, list(fields))
        f = fields[rid]
        check_common(f, api_id, shape, started_ms)
        assert f["userAgent"] == UA
        assert f["httpMethod"] == "GET"
        assert f["protocol"] == "HTTP/1.1"
        assert f["status"] == str(status)
        assert f["responseLength"] == headers["content-length"]
        assert f["domainName"] == host
        assert f["connectionId"] == "-" and f["eventType"] == "-"
        message = json.loads(body)["message"] if status != 200 else "-"
        if outcome == "ok":
            assert f["routeKey"] == "GET /ok"
            assert f["integrationStatus"] == "200"
            assert int(f["integrationLatency"]) >= 0
            assert f["integrationErrorMessage"] == "-"
            assert f["errorMessage"] == "-" and f["errorResponseType"] == "-"
            assert f["authenticateError"] == "-"
            assert f["xrayTraceId"] == TRACE_ROOT
            continue
        assert GENERATED_TRACE.fullmatch(f["xrayTraceId"]), f["xrayTraceId"]
        assert f["errorMessage"] == message
        assert f["integrationStatus"] == "-"
        if outcome == "throttled":
            assert status == 429
            assert f["routeKey"] == "GET /slow"
            assert f["errorResponseType"] == "THROTTLED"
            assert f["integrationLatency"] == "-"
            assert f["integrationErrorMessage"] == "-"
        elif outcome == "unauthorized":
            assert status == 403
            assert f["routeKey"] == "GET /private"
            assert f["authenticateError"] == message
            assert f["integrationErrorMessage"] == "-"
        else:
            assert status >= 500
            assert f["routeKey"] == "GET /broken"
            assert f["errorResponseType"] != "-"
            assert f["integrationErrorMessage"] not in ("-", "")


def ws_stages(client, api_id, group_prefix):
    for shape in SHAPES:
        client.create_stage(
            ApiId=api_id, StageName=f"ws{shape}", AutoDeploy=True,
            AccessLogSettings={
                "DestinationArn": group_arn(f"{group_prefix}ws{shape}"),
                "Format": log_format(shape),
            },
        )


def exercise_ws(gw, api_id, shape, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _localhost_getaddrinfo)

    async def run():
        async with websockets.connect(
            ws_url(gw, api_id, f"ws{shape}"), user_agent_header=UA
        ) as ws:
            await ws.send(json.dumps({"action": "whoami"}))
            me = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), 5) == "hello"
            return me["connectionId"]

    return asyncio.run(run())


def check_ws(shape, lines, api_id, connection_id, started_ms):
    fields = [parse(shape, l) for l in lines]
    by_type = {}
    for f in fields:
        by_type.setdefault(f["eventType"], []).append(f)
    assert set(by_type) >= {"CONNECT", "MESSAGE"}, [f["eventType"] for f in fields]
    assert len(by_type["CONNECT"]) == 1 and len(by_type["MESSAGE"]) == 2
    for f in fields:
        if f["eventType"] == "DISCONNECT":
            continue
        check_common(f, api_id, f"ws{shape}", started_ms)
        assert f["connectionId"] == connection_id
        assert f["status"] == "200"
        assert f["userAgent"] == UA
        assert f["errorMessage"] == "-"
    connect = by_type["CONNECT"][0]
    assert connect["routeKey"] == "$connect"
    assert sorted(f["routeKey"] for f in by_type["MESSAGE"]) == ["$default", "whoami"]


@pytest.mark.parametrize("destination", ["logs", "files"])
def test_each_outcome_in_each_format(tmp_path, moto, upstream, monkeypatch, destination):
    prefix = f"/portico/{destination}-{int(time.time() * 1000)}/"
    env = moto_env(moto) if destination == "logs" else {}
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log", env=env).start()
    try:
        if destination == "logs":
            logs = moto.client("logs")
            for shape in SHAPES:  # one group exists, the others the gateway creates
                if shape == "json":
                    logs.create_log_group(logGroupName=f"{prefix}{shape}")
        started_ms = int(time.time() * 1000)
        api_id = http_api(gw, upstream, prefix)
        client = gw.client()
        ws_api = echo_api(client, connect_status=200)
        ws_stages(client, ws_api, prefix)
        host = f"{api_id}.execute-api.localhost"
        results = {shape: exercise_http(gw, api_id, shape) for shape in SHAPES}
        conns = {shape: exercise_ws(gw, ws_api, shape, monkeypatch) for shape in SHAPES}
        # The upstream got the client's trace header as sent, and a created one otherwise.
        traces = [dict(r["headers"]).get("x-amzn-trace-id") for r in upstream.requests]
        assert TRACE in traces
        assert all(t and (t == TRACE or re.fullmatch(r"Root=" + GENERATED_TRACE.pattern, t)) for t in traces)
        for shape in SHAPES:
            group = f"{prefix}{shape}"
            read = logs_reader(moto, group) if destination == "logs" else file_reader(gw, group)
            lines = wait_lines(read, 5)
            assert len(lines) == 5, (shape, lines, gw.log())
            check_http(shape, by_request_id(shape, lines), results[shape], api_id, host, started_ms)
            group = f"{prefix}ws{shape}"
            read = logs_reader(moto, group) if destination == "logs" else file_reader(gw, group)
            lines = wait_lines(read, 3)
            check_ws(shape, lines, ws_api, conns[shape], started_ms)
        _, _, metrics = gw.admin_raw("GET", "/metrics")
        shipped = re.search(rb"portico_access_log_lines_shipped_total (\d+)", metrics)
        assert shipped and int(shipped.group(1)) >= 4 * (5 + 3)
        assert re.search(rb"portico_access_log_lines_dropped_total 0\b", metrics)
    finally:
        gw.stop()


def test_firehose_destination(tmp_path, moto, upstream):
    s3 = moto.client("s3")
    bucket = f"logs-{int(time.time() * 1000)}"
    s3.create_bucket(Bucket=bucket)
    firehose = moto.client("firehose")
    stream = f"amazon-apigateway-{bucket}"
    firehose.create_delivery_stream(
        DeliveryStreamName=stream,
        ExtendedS3DestinationConfiguration={
            "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/firehose",
            "BucketARN": f"arn:aws:s3:::{bucket}",
        },
    )
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log", env=moto_env(moto)).start()
    try:
        client = gw.client()
        api_id = client.create_api(
            Name="fh", ProtocolType="HTTP", Target=upstream.url("/")
        )["ApiId"]
        client.update_stage(
            ApiId=api_id, StageName="$default",
            AccessLogSettings={
                "DestinationArn": f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{stream}",
                "Format": log_format("json"),
            },
        )
        time.sleep(0.3)
        status, headers, _ = gw.request(api_id, "GET", "/x", headers={"User-Agent": UA})
        headers = {k.lower(): v for k, v in headers.items()}
        assert status == 200

        def read():
            lines = []
            for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode()
                lines += [l for l in body.split("\n") if l]
            return lines

        lines = wait_lines(read, 1)
        assert len(lines) == 1, gw.log()
        f = json.loads(lines[0])
        assert f["requestId"] == headers["apigw-requestid"]
        assert f["status"] == "200" and f["stage"] == "$default" and f["userAgent"] == UA
    finally:
        gw.stop()


def test_stalled_sink_drops_and_counts_while_requests_flow(tmp_path, upstream):
    # Accepts TCP connections (the kernel's backlog) and never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1024)
    env = {
        "AWS_ENDPOINT_URL_LOGS": f"http://127.0.0.1:{silent.getsockname()[1]}",
        "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_REGION": REGION,
        "PORTICO_ACCESS_LOG_QUEUE": "16",
    }
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log", env=env).start()
    try:
        client = gw.client()
        api_id = client.create_api(Name="s", ProtocolType="HTTP", Target=upstream.url("/"))["ApiId"]
        client.update_stage(
            ApiId=api_id, StageName="$default",
            AccessLogSettings={"DestinationArn": group_arn("/stalled"), "Format": log_format("json")},
        )
        time.sleep(0.3)
        took = []
        for _ in range(300):
            t = time.monotonic()
            status, _, _ = gw.request(api_id, "GET", "/x")
            took.append(time.monotonic() - t)
            assert status == 200
        took.sort()
        # Requests never wait for the sink (which would take its 2 s call timeout).
        assert took[int(len(took) * 0.99)] < 0.5, took[-5:]
        _, _, metrics = gw.admin_raw("GET", "/metrics")
        dropped = int(re.search(rb"portico_access_log_lines_dropped_total (\d+)", metrics).group(1))
        shipped = int(re.search(rb"portico_access_log_lines_shipped_total (\d+)", metrics).group(1))
        assert dropped > 0 and shipped == 0, metrics
    finally:
        gw.stop()
        silent.close()


def test_trace_headers(gateway, upstream):
    client = gateway.client()
    api_id = client.create_api(Name="t", ProtocolType="HTTP", Target=upstream.url("/"))["ApiId"]
    w3c = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    }
    status, _, _ = gateway.request(api_id, "GET", "/a", headers=w3c)
    assert status == 200
    seen = dict(upstream.last()["headers"])
    assert seen["traceparent"] == w3c["traceparent"]
    assert seen["tracestate"] == w3c["tracestate"]
    created = seen["x-amzn-trace-id"]
    assert re.fullmatch(r"Root=1-([0-9a-f]{8})-[0-9a-f]{24}", created), created
    epoch = int(created[7:15], 16)
    assert abs(epoch - time.time()) < 60
    status, _, _ = gateway.request(api_id, "GET", "/b", headers={"X-Amzn-Trace-Id": TRACE})
    assert dict(upstream.last()["headers"])["x-amzn-trace-id"] == TRACE
    gateway.request(api_id, "GET", "/c")
    assert dict(upstream.last()["headers"])["x-amzn-trace-id"] != created


def test_rest_api_stage_via_patch_operations(gateway, upstream):
    """v1: `accessLogSettings` set by `UpdateStage` patch operations; a file destination."""
    client = gateway.client(service="apigateway")
    api = client.create_rest_api(name="logged")
    api_id, root = api["id"], api["rootResourceId"]
    pets = client.create_resource(restApiId=api_id, parentId=root, pathPart="pets")["id"]
    client.put_method(restApiId=api_id, resourceId=pets, httpMethod="GET", authorizationType="NONE")
    client.put_integration(restApiId=api_id, resourceId=pets, httpMethod="GET",
                           type="HTTP_PROXY", integrationHttpMethod="GET", uri=upstream.url("/pets"))
    client.create_deployment(restApiId=api_id, stageName="prod")
    fmt = '{"requestId":"$context.requestId","extendedRequestId":"$context.extendedRequestId",' \
          '"resourcePath":"$context.resourcePath","status":"$context.status","stage":"$context.stage",' \
          '"xrayTraceId":"$context.xrayTraceId"}'
    client.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": group_arn("rest-prod")},
        {"op": "replace", "path": "/accessLogSettings/format", "value": fmt},
    ])
    status, headers, _ = gateway.request(api_id, "GET", "/prod/pets")
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == 200
    lines = wait_lines(file_reader(gateway, "rest-prod"), 1)
    assert len(lines) == 1, gateway.log()
    f = json.loads(lines[0])
    assert f["requestId"] == headers["x-amzn-requestid"]
    assert f["extendedRequestId"] == headers["x-amz-apigw-id"]
    assert f["resourcePath"] == "/pets" and f["status"] == "200" and f["stage"] == "prod"
    sent = dict(upstream.last()["headers"])["x-amzn-trace-id"]
    assert sent == "Root=" + f["xrayTraceId"]


def test_config_file_stage_writes_access_logs(tmp_path, upstream):
    """A stage's `accessLogSettings` in a `--config` file logs as one set through the API (they
    were once dropped on import), and the file's format is checked as `CreateStage` checks it."""
    stage = {
        "stageName": "$default",
        "accessLogSettings": {"destinationArn": group_arn("/from-config"), "format": log_format("json")},
    }
    config = {"apis": [{
        "apiId": "cfglogs",
        "routes": [{"routeKey": "$default", "target": "integrations/up"}],
        "integrations": [{"integrationId": "up", "integrationType": "HTTP_PROXY",
                          "integrationUri": upstream.url("/")}],
        "stages": [stage],
    }]}
    path = tmp_path / "portico.json"
    path.write_text(json.dumps(config))
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log", args=["--config", str(path)]).start()
    try:
        status, _, _ = gw.request("cfglogs", "GET", "/x", headers={"User-Agent": UA})
        assert status == 200
        lines = wait_lines(file_reader(gw, "/from-config"), 1)
        line = json.loads(lines[0])
        assert line["routeKey"] == "$default" and line["status"] == "200", line
        assert line["userAgent"] == UA, line
        # The stage as the API shows it keeps the settings.
        got = gw.client().get_stage(ApiId="cfglogs", StageName="$default")
        assert got["AccessLogSettings"]["DestinationArn"] == group_arn("/from-config")
    finally:
        gw.stop()
    stage["accessLogSettings"]["format"] = "x" * 1025
    path.write_text(json.dumps(config))
    bad = Gateway(tmp_path / "data2", tmp_path / "portico2.log", args=["--config", str(path)])
    with pytest.raises(Exception):
        bad.start()
    assert "accessLogSettings.format must be between 1 and 1024 characters long" in (
        tmp_path / "portico2.log"
    ).read_text()
