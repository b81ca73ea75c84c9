"""Execution logs of WebSocket APIs (a v2 stage's `defaultRouteSettings` / `routeSettings`
`loggingLevel` and `dataTraceEnabled`), and their refusal on HTTP APIs (AWS: "Supported only
for WebSocket APIs"), configured with boto3 against the real binary.

The lines are read back from the files under the data directory
(`logs/API-Gateway-Execution-Logs_{apiId}/{stage}.log`, the group REST stages use).
"""

import asyncio
import json
import socket
import time

import boto3
import botocore.config
import botocore.exceptions
import pytest
import websockets

from conftest import Gateway
from test_execution_logs import LambdaStub
from test_websocket import _localhost_getaddrinfo, ws_url

CFG = botocore.config.Config(retries={"max_attempts": 1})
FN = "arn:aws:lambda:us-east-1:123456789012:function:never-called"
FN_URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}/invocations"


@pytest.fixture(autouse=True)
def localhost_names(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _localhost_getaddrinfo)


@pytest.fixture
def gw(tmp_path):
    # The authorizer's function: a stub of Lambda's Invoke API that allows every identity.
    stub = LambdaStub()
    g = Gateway(tmp_path / "data", tmp_path / "portico.log", workers=2,
                env={"AWS_ENDPOINT_URL_LAMBDA": stub.url, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                     "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"}).start()
    yield g
    g.stop()
    stub.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(client):
    """`$connect` guarded by a Lambda REQUEST authorizer whose identity is the `Auth` header (a
    missing header is refused with 401 before any call; the stub allows any other); `echo` (MOCK, route response);
    `down` (HTTP_PROXY to a closed port); no `$default`. Stages: `info` (INFO + data trace by
    default), `errors` (ERROR by default, `echo` OFF), `off`."""
    api = client.create_api(Name="wslogs", ProtocolType="WEBSOCKET",
                            RouteSelectionExpression="$request.body.action")["ApiId"]
    auth = client.create_authorizer(ApiId=api, Name="a", AuthorizerType="REQUEST",
                                    AuthorizerUri=FN_URI,
                                    IdentitySource=["route.request.header.Auth"])["AuthorizerId"]
    connect = client.create_integration(ApiId=api, IntegrationType="MOCK",
                                        RequestTemplates={"$default": '{"statusCode": 200}'})
    client.create_route(ApiId=api, RouteKey="$connect", AuthorizationType="CUSTOM",
                        AuthorizerId=auth, Target=f"integrations/{connect['IntegrationId']}")
    echo = client.create_integration(ApiId=api, IntegrationType="MOCK")["IntegrationId"]
    client.create_integration_response(
        ApiId=api, IntegrationId=echo, IntegrationResponseKey="$default",
        ResponseTemplates={"$default": '{"echo": "$context.routeKey"}'})
    r = client.create_route(ApiId=api, RouteKey="echo", Target=f"integrations/{echo}",
                            RouteResponseSelectionExpression="$default")
    client.create_route_response(ApiId=api, RouteId=r["RouteId"], RouteResponseKey="$default")
    down = client.create_integration(ApiId=api, IntegrationType="HTTP_PROXY",
                                     IntegrationMethod="POST",
                                     IntegrationUri=f"http://127.0.0.1:{free_port()}/x")
    client.create_route(ApiId=api, RouteKey="down",
                        Target=f"integrations/{down['IntegrationId']}")
    client.create_stage(ApiId=api, StageName="info", AutoDeploy=True,
                        DefaultRouteSettings={"LoggingLevel": "INFO", "DataTraceEnabled": True})
    client.create_stage(ApiId=api, StageName="errors", AutoDeploy=True,
                        DefaultRouteSettings={"LoggingLevel": "ERROR"},
                        RouteSettings={"echo": {"LoggingLevel": "OFF"}})
    client.create_stage(ApiId=api, StageName="off", AutoDeploy=True)
    time.sleep(0.2)
    return api


def read(gw, api, stage):
    path = gw.data_dir / "logs" / f"API-Gateway-Execution-Logs_{api}" / f"{stage}.log"
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def wait_for(gw, api, stage, want, timeout=10):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        lines = read(gw, api, stage)
        if want(lines):
            return lines
        time.sleep(0.1)
    raise AssertionError(f"{stage}: no lines as wanted: {lines}")


async def exercise(gw, api, stage):
    url = ws_url(gw, api, stage)
    # `$connect`'s authorizer refuses an upgrade without the identity header.
    with pytest.raises(websockets.InvalidStatus) as e:
        async with websockets.connect(url):
            pass
    assert e.value.response.status_code == 401
    async with websockets.connect(url, additional_headers={"Auth": "alice"}) as ws:
        await ws.send(json.dumps({"action": "echo", "n": 1}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"echo": "echo"}
        # No route takes it, and there is no `$default`.
        await ws.send(json.dumps({"action": "nowhere"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["message"] == "Forbidden"
        # The integration cannot be reached.
        await ws.send(json.dumps({"action": "down"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["message"] == \
            "Internal server error"


def test_websocket_execution_logs(gw):
    client = gw.client()
    api = build(client)
    for stage in ["info", "errors", "off"]:
        asyncio.run(exercise(gw, api, stage))

    # INFO with the data trace: every step of every event, failures as ERROR.
    lines = wait_for(gw, api, "info", lambda ls: sum(l["level"] == "ERROR" for l in ls) >= 3)
    for l in lines:
        assert l["message"].startswith(f"({l['requestId']}) "), l
    failed = sorted((l["step"], l["eventType"], l["routeKey"])
                    for l in lines if l["level"] == "ERROR")
    assert failed == [("authorizer", "CONNECT", "$connect"),
                      ("integration", "MESSAGE", "down"),
                      ("route", "MESSAGE", None)], failed
    msgs = [l["message"] for l in lines]
    assert any("Unauthorized request" in m and "401" in m for m in msgs), msgs
    assert any("could not connect to the endpoint" in m for m in msgs), msgs
    assert any("no route matches the route selection value [nowhere]" in m for m in msgs), msgs
    assert any("is connecting to WebSocket API" in m and "SourceIp: 127.0.0.1" in m
               for m in msgs), msgs
    echo = [l for l in lines if l["routeKey"] == "echo"]
    assert {l["connectionId"] for l in echo} and all(l["connectionId"] for l in echo)
    echo_msgs = [l["message"] for l in echo]
    assert any("WebSocket Request Route: [echo]" in m for m in echo_msgs), echo_msgs
    assert any('Message body: {"action": "echo", "n": 1}' in m for m in echo_msgs), echo_msgs
    assert any("Received response. Status: 200" in m for m in echo_msgs), echo_msgs
    assert any("Sent the integration response to connection" in m for m in echo_msgs), echo_msgs
    assert any("Successfully completed execution" in m for m in echo_msgs)
    assert all(l["level"] == "INFO" for l in echo)

    # ERROR: the failed steps only; `echo` has its own setting (OFF), so nothing of it.
    lines = wait_for(gw, api, "errors", lambda ls: len(ls) >= 3)
    time.sleep(0.5)
    lines = read(gw, api, "errors")
    assert sorted((l["step"], l["level"]) for l in lines) == [
        ("authorizer", "ERROR"), ("integration", "ERROR"), ("route", "ERROR")], lines
    assert not any(l["routeKey"] == "echo" for l in lines)

    # OFF: no file at all.
    assert read(gw, api, "off") == []


def test_http_api_refuses_execution_logs(gw):
    client = gw.client()
    api = client.create_api(Name="h", ProtocolType="HTTP")["ApiId"]
    bad = botocore.exceptions.ClientError
    for kwargs in ({"DefaultRouteSettings": {"LoggingLevel": "INFO"}},
                   {"DefaultRouteSettings": {"DataTraceEnabled": True}},
                   {"RouteSettings": {"GET /x": {"LoggingLevel": "ERROR"}}}):
        with pytest.raises(bad) as e:
            client.create_stage(ApiId=api, StageName="s", **kwargs)
        err = e.value.response["Error"]
        assert err["Code"] == "BadRequestException", err
        assert "Execution logs are not supported on protocolType HTTP" in err["Message"]
    # OFF and throttling are fine.
    client.create_stage(ApiId=api, StageName="s",
                        DefaultRouteSettings={"LoggingLevel": "OFF", "ThrottlingRateLimit": 5})
    with pytest.raises(bad):
        client.update_stage(ApiId=api, StageName="s",
                            DefaultRouteSettings={"LoggingLevel": "INFO"})
