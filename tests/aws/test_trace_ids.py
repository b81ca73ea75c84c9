"""Trace ids on Lambda, AWS service and WebSocket integrations: `X-Amzn-Trace-Id` (the
client's, kept; else one the gateway makes) goes with Lambda's Invoke call and in the Lambda
proxy event's headers, with Lambda authorizers' calls, with AWS service calls, and on WebSocket
HTTP integrations; `traceparent` passes through.

One recording upstream (`conftest.Upstream`) stands in for Lambda's Invoke API
(`AWS_ENDPOINT_URL_LAMBDA`), for SQS (`AWS_ENDPOINT_URL_SQS`) and for a WebSocket route's
HTTP backend, so what each of them received is asserted, not assumed.
"""

import asyncio
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


class AuthorizingLambda:
    """Lambda's Invoke API: a TOKEN authorizer's event is allowed; any other event gets a 200
    proxy answer. Records each call's headers and event."""

    def __init__(self):
        self.calls = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.calls.append(({k.lower(): v for k, v in self.headers.items()}, event))
                if "authorizationToken" in event:
                    answer = {"principalId": "u", "policyDocument": {
                        "Version": "2012-10-17", "Statement": [{
                            "Action": "execute-api:Invoke", "Effect": "Allow",
                            "Resource": event["methodArn"]}]}}
                else:
                    answer = {"statusCode": 200, "body": "ok"}
                out = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_rest_lambda_authorizer_and_proxy_event_carry_the_trace_header(tmp_path):
    fn = AuthorizingLambda()
    gw = Gateway(tmp_path / "data2", tmp_path / "portico2.log", workers=1, env={
        "AWS_ENDPOINT_URL_LAMBDA": fn.url, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"}).start()
    try:
        c = gw.client(service="apigateway")
        api = c.create_rest_api(name="r")["id"]
        root = c.get_resources(restApiId=api)["items"][0]["id"]
        authz = c.create_authorizer(restApiId=api, name="tok", type="TOKEN", authorizerUri=FN_URI,
                                    identitySource="method.request.header.Authorization",
                                    authorizerResultTtlInSeconds=0)["id"]
        res = c.create_resource(restApiId=api, parentId=root, pathPart="fn")["id"]
        c.put_method(restApiId=api, resourceId=res, httpMethod="GET",
                     authorizationType="CUSTOM", authorizerId=authz)
        c.put_integration(restApiId=api, resourceId=res, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=FN_URI)
        c.create_deployment(restApiId=api, stageName="prod")
        status, _, body = gw.request(api, "GET", "/prod/fn", headers={"Authorization": "t"})
        assert status == 200, body
        (auth_headers, auth_event), (headers, event) = fn.calls[-2:]
        assert "authorizationToken" in auth_event
        trace = headers.get("x-amzn-trace-id")
        assert trace and MADE.match(trace), headers
        # The authorizer's call and the integration's carry the request's one trace id.
        assert auth_headers.get("x-amzn-trace-id") == trace, auth_headers
        assert event["headers"]["X-Amzn-Trace-Id"] == trace, event["headers"]
        assert event["multiValueHeaders"]["X-Amzn-Trace-Id"] == [trace]
    finally:
        gw.stop()
        fn.close()


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
