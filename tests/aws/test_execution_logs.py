"""Execution logs (REST `loggingLevel` INFO/ERROR, `dataTraceEnabled`) and the console's "Test"
button (`TestInvokeMethod`, `TestInvokeAuthorizer`), configured with boto3 against the real binary.

Execution logs are read back from the files under the data directory
(`logs/API-Gateway-Execution-Logs_{apiId}/{stage}.log`) and from moto's CloudWatch Logs
(`GetLogEvents`, the gateway started with `AWS_ENDPOINT_URL_LOGS`). A 5xx the gateway produces
with logging off writes one line to Portico's own log (stderr).

A small stub on 127.0.0.1 serves Lambda's Invoke API for the authorizer function: a token
starting with `deny` is denied, any other is allowed as `user-{token}`.
"""

import json
import re
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.config
import pytest

from conftest import Gateway, Upstream

REGION = "us-east-1"
CFG = botocore.config.Config(retries={"max_attempts": 1})
AUTHZ = "arn:aws:lambda:us-east-1:123456789012:function:authz"
AUTHZ_URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{AUTHZ}/invocations"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LambdaStub:
    """Lambda's Invoke API for the authorizer: `deny*` tokens are denied."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                token = event.get("authorizationToken", "")
                effect = "Deny" if token.startswith("deny") else "Allow"
                doc = {"principalId": f"user-{token}",
                       "policyDocument": {"Version": "2012-10-17", "Statement": [
                           {"Action": "execute-api:Invoke", "Effect": effect,
                            "Resource": event["methodArn"]}]}}
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Moto:
    """moto_server on a free loopback port (CloudWatch Logs), authentication off."""

    def __init__(self, tmp):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / "moto.log", "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.proc = subprocess.Popen(
            ["moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).read()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start")
                time.sleep(0.1)

    def logs(self):
        return boto3.client("logs", endpoint_url=self.url, region_name=REGION, config=CFG,
                            aws_access_key_id="x", aws_secret_access_key="y")

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def stub():
    s = LambdaStub()
    yield s
    s.close()


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    if shutil.which("moto_server") is None:
        pytest.skip("moto is not installed (pip install 'moto[server]')")
    m = Moto(tmp_path_factory.mktemp("moto"))
    yield m
    m.stop()


@pytest.fixture(scope="module")
def up():
    u = Upstream()
    yield u
    u.close()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, stub, moto):
    tmp = tmp_path_factory.mktemp("gw")
    g = Gateway(tmp / "data", tmp / "portico.log", workers=2, env={
        "AWS_ENDPOINT_URL_LAMBDA": stub.url,
        "AWS_ENDPOINT_URL_LOGS": moto.url,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_REGION": REGION,
    }).start()
    yield g
    g.stop()


def v1(gw):
    return boto3.client("apigateway", endpoint_url=f"http://{gw.admin}", region_name=REGION,
                        aws_access_key_id="x", aws_secret_access_key="y", config=CFG)


def build_api(gw, up):
    """GET /ok (HTTP_PROXY to the upstream), GET /down (HTTP_PROXY to a closed port), GET /auth
    (Lambda TOKEN authorizer, MOCK), POST /valid (query string `q` required, MOCK)."""
    c = v1(gw)
    api = c.create_rest_api(name="logs")["id"]
    root = c.get_resources(restApiId=api)["items"][0]["id"]
    authz = c.create_authorizer(restApiId=api, name="tok", type="TOKEN", authorizerUri=AUTHZ_URI,
                                identitySource="method.request.header.Authorization",
                                authorizerResultTtlInSeconds=0)["id"]
    validator = c.create_request_validator(restApiId=api, name="params",
                                           validateRequestParameters=True)["id"]
    ids = {}
    for part in ["ok", "down", "auth", "valid"]:
        ids[part] = c.create_resource(restApiId=api, parentId=root, pathPart=part)["id"]
    c.put_method(restApiId=api, resourceId=ids["ok"], httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=api, resourceId=ids["ok"], httpMethod="GET", type="HTTP_PROXY",
                      integrationHttpMethod="GET", uri=up.url("/hello"))
    closed = free_port()
    c.put_method(restApiId=api, resourceId=ids["down"], httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=api, resourceId=ids["down"], httpMethod="GET", type="HTTP_PROXY",
                      integrationHttpMethod="GET", uri=f"http://127.0.0.1:{closed}/x")
    for part, method, kwargs in [
        ("auth", "GET", {"authorizationType": "CUSTOM", "authorizerId": authz}),
        ("valid", "POST", {"authorizationType": "NONE", "requestValidatorId": validator,
                           "requestParameters": {"method.request.querystring.q": True}}),
    ]:
        c.put_method(restApiId=api, resourceId=ids[part], httpMethod=method, **kwargs)
        c.put_integration(restApiId=api, resourceId=ids[part], httpMethod=method, type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
        c.put_method_response(restApiId=api, resourceId=ids[part], httpMethod=method,
                              statusCode="200")
        c.put_integration_response(restApiId=api, resourceId=ids[part], httpMethod=method,
                                   statusCode="200",
                                   responseTemplates={"application/json": '{"mock": true}'})
    c.create_deployment(restApiId=api, stageName="info")
    c.create_deployment(restApiId=api, stageName="errors")
    c.create_deployment(restApiId=api, stageName="off")
    c.update_stage(restApiId=api, stageName="info", patchOperations=[
        {"op": "replace", "path": "/*/*/logging/loglevel", "value": "INFO"},
        {"op": "replace", "path": "/*/*/logging/dataTrace", "value": "true"}])
    c.update_stage(restApiId=api, stageName="errors", patchOperations=[
        {"op": "replace", "path": "/*/*/logging/loglevel", "value": "ERROR"}])
    return api, ids


def file_lines(gw, api, stage, request_id, want, timeout=10):
    """The JSON lines of `request_id` in the stage's log file, once `want(lines)` holds."""
    path = gw.data_dir / "logs" / f"API-Gateway-Execution-Logs_{api}" / f"{stage}.log"
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
            lines = [l for l in lines if l["requestId"] == request_id]
            if want(lines):
                return lines
        time.sleep(0.1)
    raise AssertionError(f"{path}: no lines as wanted for {request_id}: {lines}")


def call(gw, api, method, path, headers=None):
    status, headers, body = gw.request(api, method, path, headers=headers)
    lower = {k.lower(): v for k, v in headers.items()}
    return status, lower["x-amzn-requestid"], body


def test_execution_logs_info_and_error(gw, up, moto):
    api, _ = build_api(gw, up)

    # A successful request: every step, with the data trace.
    status, rid, _ = call(gw, api, "GET", "/info/ok")
    assert status == 200
    lines = file_lines(gw, api, "info", rid,
                       lambda ls: any("Method completed" in l["message"] for l in ls))
    messages = [l["message"] for l in lines]
    assert all(m.startswith(f"({rid}) ") for m in messages)
    assert any("HTTP Method: GET, Resource Path: /ok" in m for m in messages), messages
    assert any(f"Endpoint request URI: http://{up.authority}/hello" in m for m in messages), messages
    assert any("Received response. Status: 200, Integration latency:" in m for m in messages)
    assert any("Method request headers: {" in m for m in messages), messages
    assert any('Method response body after transformations: {"method": "GET"' in m
               for m in messages), messages
    assert any(m.endswith("Method completed with status: 200") for m in messages)
    assert all(l["level"] == "INFO" and l["status"] == "ok" for l in lines)

    # Integration failure (upstream down), INFO: the steps before it, then the failure.
    status, rid, _ = call(gw, api, "GET", "/info/down")
    assert status >= 500
    lines = file_lines(gw, api, "info", rid, lambda ls: any(l["level"] == "ERROR" for l in ls))
    failed = [l for l in lines if l["level"] == "ERROR"]
    assert [l["step"] for l in failed] == ["integration"], lines
    assert "could not connect to the endpoint" in failed[0]["message"]

    # The same at ERROR: only the failed step.
    status, rid, _ = call(gw, api, "GET", "/errors/down")
    assert status >= 500
    lines = file_lines(gw, api, "errors", rid, lambda ls: len(ls) >= 1)
    assert [(l["step"], l["level"]) for l in lines] == [("integration", "ERROR")], lines

    # Authorizer denial.
    for stage in ["info", "errors"]:
        status, rid, _ = call(gw, api, "GET", f"/{stage}/auth", headers={"Authorization": "deny-me"})
        assert status == 403
        lines = file_lines(gw, api, stage, rid, lambda ls: any(l["level"] == "ERROR" for l in ls))
        failed = [l for l in lines if l["level"] == "ERROR"]
        assert [l["step"] for l in failed] == ["authorizer"], lines
        assert "not authorized" in failed[0]["message"]
        if stage == "errors":
            assert len(lines) == 1, lines
        else:
            assert not any(l["step"] == "integration" for l in lines), lines

    # An allowed caller: the authorizer's principal is logged at INFO.
    status, rid, _ = call(gw, api, "GET", "/info/auth", headers={"Authorization": "alice"})
    assert status == 200
    lines = file_lines(gw, api, "info", rid,
                       lambda ls: any("Method completed" in l["message"] for l in ls))
    assert any("principalId: user-alice" in l["message"] for l in lines), lines

    # Validation failure.
    for stage in ["info", "errors"]:
        status, rid, _ = call(gw, api, "POST", f"/{stage}/valid")
        assert status == 400
        lines = file_lines(gw, api, stage, rid, lambda ls: any(l["level"] == "ERROR" for l in ls))
        failed = [l for l in lines if l["level"] == "ERROR"]
        assert [l["step"] for l in failed] == ["validation"], lines
        assert "Missing required request parameters: [q]" in failed[0]["message"]
    status, rid, _ = call(gw, api, "POST", "/info/valid?q=1")
    assert status == 200
    lines = file_lines(gw, api, "info", rid,
                       lambda ls: any("Method completed" in l["message"] for l in ls))
    assert any("Request validation succeeded" in l["message"] for l in lines), lines

    # Logging off: nothing is written for the stage.
    status, _, _ = call(gw, api, "GET", "/off/ok")
    assert status == 200
    assert not (gw.data_dir / "logs" / f"API-Gateway-Execution-Logs_{api}" / "off.log").exists()

    # The same lines reach CloudWatch Logs (moto), in the group AWS names.
    logs = moto.logs()
    group = f"API-Gateway-Execution-Logs_{api}/errors"
    deadline = time.monotonic() + 10
    messages = []
    while time.monotonic() < deadline:
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"] \
            if logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] else []
        messages = [json.loads(e["message"])
                    for s in streams
                    for e in logs.get_log_events(logGroupName=group,
                                                 logStreamName=s["logStreamName"])["events"]]
        if len(messages) >= 3:
            break
        time.sleep(0.2)
    assert sorted(m["step"] for m in messages) == ["authorizer", "integration", "validation"], messages
    assert all(m["level"] == "ERROR" for m in messages)

    # The writer's counters on /metrics: every line it shipped is in a file (execution log
    # lines always go to one), none was dropped.
    def written():
        return sum(len(p.read_text().splitlines()) for p in (gw.data_dir / "logs").rglob("*.log"))

    def counter(metrics, name):
        found = re.search(rb"^" + name.encode() + rb" (\d+)$", metrics, re.M)
        assert found, (name, metrics)
        return int(found.group(1))

    deadline = time.monotonic() + 10
    while True:
        _, _, metrics = gw.admin_raw("GET", "/metrics")
        shipped = counter(metrics, "portico_execution_log_lines_shipped_total")
        if shipped == written() > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert shipped == written() > 0, (shipped, written())
    assert counter(metrics, "portico_execution_log_lines_total") == shipped
    assert counter(metrics, "portico_execution_log_lines_dropped_total") == 0
    assert b"# TYPE portico_execution_log_lines_total counter" in metrics


def test_gateway_5xx_is_logged_with_logging_off(gw, up):
    api, _ = build_api(gw, up)
    status, rid, _ = call(gw, api, "GET", "/off/down")
    assert status >= 500
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [l for l in gw.log().splitlines() if f"gateway answered {status}" in l]
        if lines:
            break
        time.sleep(0.1)
    assert lines, gw.log()
    assert "upstream connection failed" in lines[-1] and "GET /down" in lines[-1], lines


def test_test_invoke_method(gw, up):
    """The console's Test button on methods that were never deployed: MOCK, HTTP_PROXY and a
    Lambda authorizer's method."""
    c = v1(gw)
    api = c.create_rest_api(name="console")["id"]
    root = c.get_resources(restApiId=api)["items"][0]["id"]
    mock = c.create_resource(restApiId=api, parentId=root, pathPart="mock")["id"]
    c.put_method(restApiId=api, resourceId=mock, httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=api, resourceId=mock, httpMethod="GET", type="MOCK",
                      requestTemplates={"application/json": '{"statusCode": 200}'})
    c.put_method_response(restApiId=api, resourceId=mock, httpMethod="GET", statusCode="200")
    c.put_integration_response(restApiId=api, resourceId=mock, httpMethod="GET", statusCode="200",
                               responseTemplates={"application/json": '{"hello": "world"}'})
    got = c.test_invoke_method(restApiId=api, resourceId=mock, httpMethod="GET")
    assert got["status"] == 200, got
    assert json.loads(got["body"]) == {"hello": "world"}
    headers = {k.lower(): v for k, v in got["headers"].items()}
    assert headers["content-type"] == "application/json", got["headers"]
    multi = {k.lower(): v for k, v in got["multiValueHeaders"].items()}
    assert multi["content-type"] == ["application/json"]
    assert isinstance(got["latency"], int)
    log = got["log"]
    assert log.startswith("Execution log for request "), log
    assert "x-apigw-api-id" not in log and "!" not in log.split("\n")[0], log
    # AWS's time stamps: `Mon Dec 07 11:53:43 UTC 2026 : ...`.
    assert re.match(r"^\w{3} \w{3} \d\d \d\d:\d\d:\d\d UTC \d{4} : Starting execution",
                    log.split("\n")[1]), log
    assert "Starting execution for request: " in log
    assert "HTTP Method: GET, Resource Path: /mock" in log
    assert "Method request path: {}" in log
    assert "Endpoint request URI: MOCK" in log
    assert "Method completed with status: 200" in log
    # The stage a test runs in is not reachable by clients.
    status, _, _ = gw.request(api, "GET", "/test-invoke-stage/mock")
    assert status == 403

    # HTTP_PROXY to a local upstream, with a path parameter, query string, header and body.
    item = c.create_resource(restApiId=api, parentId=root, pathPart="{id}")["id"]
    c.put_method(restApiId=api, resourceId=item, httpMethod="POST", authorizationType="NONE",
                 requestParameters={"method.request.path.id": True})
    c.put_integration(restApiId=api, resourceId=item, httpMethod="POST", type="HTTP_PROXY",
                      integrationHttpMethod="POST", uri=up.url("/items/{id}"),
                      requestParameters={"integration.request.path.id": "method.request.path.id"})
    got = c.test_invoke_method(restApiId=api, resourceId=item, httpMethod="POST",
                               pathWithQueryString="/42?x=1", body='{"a": 1}',
                               headers={"X-Test": "yes"})
    assert got["status"] == 200, got
    assert json.loads(got["body"]) == {"method": "POST", "path": "/items/42", "query": "x=1"}
    assert {k.lower(): v for k, v in got["headers"].items()}["x-upstream"] == "yes"
    seen = up.last()
    assert ("x-test", "yes") in seen["headers"] and seen["body"] == b'{"a": 1}'
    log = got["log"]
    assert "HTTP Method: POST, Resource Path: /{id}" in log, log
    assert "Method request path: {id=42}" in log
    assert "Method request query string: {x=1}" in log
    assert 'Method request body before transformations: {"a": 1}' in log
    assert f"Endpoint request URI: http://{up.authority}/items/" in log
    assert "Received response. Status: 200, Integration latency: " in log
    assert "Method completed with status: 200" in log

    # A method guarded by a Lambda authorizer.
    authz = c.create_authorizer(restApiId=api, name="tok", type="TOKEN", authorizerUri=AUTHZ_URI,
                                identitySource="method.request.header.Authorization",
                                authorizerResultTtlInSeconds=0)["id"]
    guarded = c.create_resource(restApiId=api, parentId=root, pathPart="guarded")["id"]
    c.put_method(restApiId=api, resourceId=guarded, httpMethod="GET", authorizationType="CUSTOM",
                 authorizerId=authz)
    c.put_integration(restApiId=api, resourceId=guarded, httpMethod="GET", type="HTTP_PROXY",
                      integrationHttpMethod="GET", uri=up.url("/guarded"))
    got = c.test_invoke_method(restApiId=api, resourceId=guarded, httpMethod="GET",
                               headers={"Authorization": "alice"})
    assert got["status"] == 200, got
    assert "Authorization succeeded, principalId: user-alice" in got["log"], got["log"]
    got = c.test_invoke_method(restApiId=api, resourceId=guarded, httpMethod="GET",
                               headers={"Authorization": "deny-bob"})
    assert got["status"] == 403, got
    assert "not authorized" in got["log"] and "Method completed with status: 403" in got["log"]

    # TestInvokeAuthorizer.
    got = c.test_invoke_authorizer(restApiId=api, authorizerId=authz,
                                   headers={"Authorization": "carol"})
    assert got["clientStatus"] == 200, got
    assert got["principalId"] == "user-carol"
    assert "Authorization succeeded, principalId: user-carol" in got["log"]
    got = c.test_invoke_authorizer(restApiId=api, authorizerId=authz,
                                   headers={"Authorization": "deny-dan"})
    assert got["clientStatus"] == 403, got

    # Unknown method and authorizer: AWS's 404.
    with pytest.raises(c.exceptions.NotFoundException):
        c.test_invoke_method(restApiId=api, resourceId=mock, httpMethod="DELETE")
    with pytest.raises(c.exceptions.NotFoundException):
        c.test_invoke_authorizer(restApiId=api, authorizerId="nope000000")
