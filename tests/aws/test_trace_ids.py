"""Trace ids on Lambda, AWS service and WebSocket integrations: `X-Amzn-Trace-Id` (the
client's, kept; else one the gateway makes) goes with Lambda's Invoke call and in the Lambda
proxy event's headers, with AWS service calls, and on WebSocket HTTP integrations; `traceparent`
passes through.

One recording upstream (`conftest.Upstream`) stands in for Lambda's Invoke API
(`AWS_ENDPOINT_URL_LAMBDA`), for SQS (`AWS_ENDPOINT_URL_SQS`) and for a WebSocket route's
HTTP backend, so what each of them received is asserted, not assumed.
"""

import asyncio
import json
import re
import socket
import time

import pytest
import websockets

from conftest import Gateway, Upstream
from test_websocket import _localhost_getaddrinfo, ws_url

FN = "arn:aws:lambda:us-east-1:123456789012:function:echo"
FN_URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}/invocations"
CLIENT_TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
MADE = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$")


@pytest.fixture(autouse=True)
def localhost_names(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _localhost_getaddrinfo)


@pytest.fixture
def up():
    u = Upstream()
    yield u
    u.close()


@pytest.fixture
def gw(tmp_path, up):
    g = Gateway(tmp_path / "data", tmp_path / "portico.log", workers=1, env={
        "AWS_ENDPOINT_URL_LAMBDA": up.url(),
        "AWS_ENDPOINT_URL_SQS": up.url(),
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_REGION": "us-east-1",
    }).start()
    yield g
    g.stop()


def header(seen, name):
    values = [v for k, v in seen["headers"] if k == name]
    return values[-1] if values else None


def last_to(up, path_part):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with up.lock:
            found = [r for r in up.requests if path_part in r["path"]]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"nothing reached {path_part}: {up.requests}")


def test_lambda_and_aws_service_integrations_get_the_trace_id(gw, up):
    c = gw.client()
    api = c.create_api(Name="t", ProtocolType="HTTP")["ApiId"]
    lam = c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=FN,
                               PayloadFormatVersion="2.0")["IntegrationId"]
    c.create_route(ApiId=api, RouteKey="GET /fn", Target=f"integrations/{lam}")
    sqs = c.create_integration(
        ApiId=api, IntegrationType="AWS_PROXY", IntegrationSubtype="SQS-SendMessage",
        PayloadFormatVersion="1.0",
        RequestParameters={"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
                           "MessageBody": "$request.body"})["IntegrationId"]
    c.create_route(ApiId=api, RouteKey="POST /sqs", Target=f"integrations/{sqs}")
    c.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    time.sleep(0.2)

    for sent in [CLIENT_TRACE, None]:
        headers = {"traceparent": TRACEPARENT}
        if sent:
            headers["X-Amzn-Trace-Id"] = sent
        status, _, _ = gw.request(api, "GET", "/fn", headers=headers)
        assert status == 200
        invoke = last_to(up, "/2015-03-31/functions/echo/invocations")
        trace = header(invoke, "x-amzn-trace-id")
        if sent:
            assert trace == sent, invoke["headers"]
        else:
            assert trace and MADE.match(trace), invoke["headers"]
        event = json.loads(invoke["body"])
        assert event["headers"]["x-amzn-trace-id"] == trace, event["headers"]
        assert event["headers"]["traceparent"] == TRACEPARENT

        status, _, body = gw.request(api, "POST", "/sqs", body=b"hello", headers=headers)
        assert status == 200, body
        call = last_to(up, "/")
        assert header(call, "authorization").startswith("AWS4-HMAC-SHA256 "), call["headers"]
        sqs_trace = header(call, "x-amzn-trace-id")
        if sent:
            assert sqs_trace == sent, call["headers"]
        else:
            assert sqs_trace and MADE.match(sqs_trace), call["headers"]
            assert sqs_trace != trace  # one per request


def test_rest_lambda_proxy_event_carries_the_trace_header(gw, up):
    c = gw.client(service="apigateway")
    api = c.create_rest_api(name="r")["id"]
    root = c.get_resources(restApiId=api)["items"][0]["id"]
    res = c.create_resource(restApiId=api, parentId=root, pathPart="fn")["id"]
    c.put_method(restApiId=api, resourceId=res, httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=api, resourceId=res, httpMethod="GET", type="AWS_PROXY",
                      integrationHttpMethod="POST", uri=FN_URI)
    c.create_deployment(restApiId=api, stageName="prod")
    status, _, _ = gw.request(api, "GET", "/prod/fn")
    invoke = last_to(up, "/2015-03-31/functions/echo/invocations")
    trace = header(invoke, "x-amzn-trace-id")
    assert trace and MADE.match(trace), invoke["headers"]
    event = json.loads(invoke["body"])
    assert event["headers"]["X-Amzn-Trace-Id"] == trace, event["headers"]
    assert event["multiValueHeaders"]["X-Amzn-Trace-Id"] == [trace]


def test_websocket_http_integration_gets_the_trace_id(gw, up):
    c = gw.client()
    api = c.create_api(Name="w", ProtocolType="WEBSOCKET",
                       RouteSelectionExpression="$request.body.action")["ApiId"]
    integ = c.create_integration(ApiId=api, IntegrationType="HTTP_PROXY", IntegrationMethod="POST",
                                 IntegrationUri=up.url("/ws"))["IntegrationId"]
    for key in ["$connect", "$default"]:
        c.create_route(ApiId=api, RouteKey=key, Target=f"integrations/{integ}")
    c.create_stage(ApiId=api, StageName="prod", AutoDeploy=True)
    time.sleep(0.2)

    async def run():
        async with websockets.connect(ws_url(gw, api), additional_headers={
                "X-Amzn-Trace-Id": CLIENT_TRACE, "traceparent": TRACEPARENT}) as ws:
            connect = last_to(up, "/ws")
            assert header(connect, "x-amzn-trace-id") == CLIENT_TRACE, connect["headers"]
            assert header(connect, "traceparent") == TRACEPARENT
            n = len(up.requests)
            await ws.send("hello")
            deadline = time.monotonic() + 5
            while len(up.requests) == n and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            message = up.last()
            assert message["body"] == b"hello"
            trace = header(message, "x-amzn-trace-id")
            assert trace and MADE.match(trace), message["headers"]

    asyncio.run(run())
