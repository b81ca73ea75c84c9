"""WebSocket APIs with real clients: the Python `websockets` client and boto3's
`apigatewayv2` and `apigatewaymanagementapi`, against the real binary (2 workers)."""

import asyncio
import base64
import json
import socket
import time
from pathlib import Path

import boto3
import botocore.exceptions
import botocore.config
import pytest
import websockets

from conftest import DOMAIN, Gateway

_getaddrinfo = socket.getaddrinfo


def _localhost_getaddrinfo(host, *args, **kwargs):
    # RFC 6761: every name under `localhost.` is loopback (as browsers and systemd-resolved
    # answer); this machine's resolver does not know `{apiId}.execute-api.localhost`.
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def localhost_names(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _localhost_getaddrinfo)


def ws_url(gw, api_id, stage="prod"):
    return f"ws://{api_id}.{DOMAIN}:{gw.port}/{stage}"


def management(gw, api_id, stage="prod"):
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"http://{api_id}.{DOMAIN}:{gw.port}/{stage}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def echo_api(client, connect_status=None):
    """A WebSocket API: `$default` echoes through a MOCK, `whoami` answers its connection id,
    `$connect` is a MOCK answering `connect_status` (when given)."""
    api = client.create_api(
        Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    api_id = api["ApiId"]
    assert api["ApiEndpoint"].startswith("ws://")

    def mock_route(key, template=None, response_template=None):
        kwargs = {"RequestTemplates": {"$default": template}} if template else {}
        i = client.create_integration(ApiId=api_id, IntegrationType="MOCK", **kwargs)
        ir = {"ResponseTemplates": {"$default": response_template}} if response_template else {}
        client.create_integration_response(
            ApiId=api_id,
            IntegrationId=i["IntegrationId"],
            IntegrationResponseKey="$default",
            **ir,
        )
        r = client.create_route(
            ApiId=api_id,
            RouteKey=key,
            Target=f"integrations/{i['IntegrationId']}",
            RouteResponseSelectionExpression="$default",
        )
        client.create_route_response(
            ApiId=api_id, RouteId=r["RouteId"], RouteResponseKey="$default"
        )
        return r

    mock_route("$default")
    mock_route(
        "whoami",
        response_template='{"connectionId":"$context.connectionId","route":"$context.routeKey",'
        '"domain":"$context.domainName"}',
    )
    if connect_status:
        mock_route("$connect", template=f'{{"statusCode": {connect_status}}}')
    client.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    return api_id


async def recv(ws, timeout=5):
    return await asyncio.wait_for(ws.recv(), timeout)


def test_echo_route_selection_and_errors(gateway, client):
    api_id = echo_api(client)

    async def run():
        async with websockets.connect(ws_url(gateway, api_id)) as ws:
            await ws.send("plain text")
            assert await recv(ws) == "plain text"
            await ws.send(b"\x00\x01binary")
            assert await recv(ws) == b"\x00\x01binary"
            await ws.send(json.dumps({"action": "whoami"}))
            me = json.loads(await recv(ws))
            assert me["route"] == "whoami" and me["connectionId"].endswith("=")
            await ws.ping()
            # A frame past 32 KB closes the connection with 1009.
            await ws.send("x" * (33 * 1024))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd.code == 1009

    asyncio.run(run())


def test_no_default_route_answers_forbidden_frame(gateway, client):
    api = client.create_api(
        Name="n", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    client.create_stage(ApiId=api["ApiId"], StageName="prod", AutoDeploy=True)

    async def run():
        async with websockets.connect(ws_url(gateway, api["ApiId"])) as ws:
            await ws.send('{"action":"nothing"}')
            frame = json.loads(await recv(ws))
            assert frame["message"] == "Forbidden" and frame["connectionId"]
            await ws.send("still open")
            assert json.loads(await recv(ws))["message"] == "Forbidden"

    asyncio.run(run())


def test_connect_refused_with_its_status(gateway, client):
    api_id = echo_api(client, connect_status=403)

    async def run():
        with pytest.raises(websockets.InvalidStatus) as e:
            async with websockets.connect(ws_url(gateway, api_id)):
                pass
        assert e.value.response.status_code == 403

    asyncio.run(run())


def test_control_plane_refusals(gateway, client):
    with pytest.raises(client.exceptions.BadRequestException):
        client.create_api(Name="x", ProtocolType="WEBSOCKET")
    api = client.create_api(
        Name="x", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    with pytest.raises(client.exceptions.BadRequestException):
        client.create_route(ApiId=api["ApiId"], RouteKey="$custom")
    with pytest.raises(client.exceptions.BadRequestException):
        client.create_integration(
            ApiId=api["ApiId"], IntegrationType="AWS", IntegrationUri="arn:aws:apigateway:x"
        )
    # Authorization is for `$connect` only, as on AWS.
    with pytest.raises(client.exceptions.BadRequestException) as e:
        client.create_route(ApiId=api["ApiId"], RouteKey="send", AuthorizationType="AWS_IAM")
    assert "$connect" in str(e.value)
    r = client.create_route(ApiId=api["ApiId"], RouteKey="$default")
    with pytest.raises(client.exceptions.BadRequestException):
        client.update_route(ApiId=api["ApiId"], RouteId=r["RouteId"], AuthorizationType="AWS_IAM")
    client.create_route(ApiId=api["ApiId"], RouteKey="$connect", AuthorizationType="AWS_IAM")


@pytest.mark.parametrize("driver", ["auto", "legacy"])
def test_connections_api_on_both_cores(tmp_path, driver):
    gateway = Gateway(
        tmp_path / "data", tmp_path / "portico.log", env={"PORTICO_DRIVER": driver}
    ).start()
    try:
        connections_api_on_both_cores(gateway, gateway.client())
    finally:
        gateway.stop()


def connections_api_on_both_cores(gateway, client):
    api_id = echo_api(client)
    mgmt = management(gateway, api_id)

    async def run():
        # Ids name their worker (first byte): posts reach connections on both workers. The
        # kernel spreads connections over the workers' SO_REUSEPORT listeners by a hash of
        # each one's ports: 8 connections all land on one worker once in 128 runs, so more
        # connect (up to 32) until both workers hold one.
        clients, ids, workers = [], [], set()
        while len(clients) < 8 or (workers != {0, 1} and len(clients) < 32):
            ws = await websockets.connect(ws_url(gateway, api_id))
            clients.append(ws)
            await ws.send(json.dumps({"action": "whoami"}))
            ids.append(json.loads(await recv(ws))["connectionId"])
            workers.add(base64.b64decode(ids[-1])[0])
        assert workers == {0, 1}, workers
        loop = asyncio.get_running_loop()
        for ws, cid in zip(clients, ids):
            await loop.run_in_executor(
                None, lambda c=cid: mgmt.post_to_connection(ConnectionId=c, Data=b"hello " + c.encode())
            )
            assert await recv(ws) == "hello " + cid
            info = await loop.run_in_executor(None, lambda c=cid: mgmt.get_connection(ConnectionId=c))
            assert info["Identity"]["SourceIp"] == "127.0.0.1"
            assert info["ConnectedAt"] and info["LastActiveAt"]
        too_big = b"x" * (128 * 1024 + 1)
        with pytest.raises(mgmt.exceptions.PayloadTooLargeException):
            await loop.run_in_executor(
                None, lambda: mgmt.post_to_connection(ConnectionId=ids[0], Data=too_big)
            )
        await loop.run_in_executor(None, lambda: mgmt.delete_connection(ConnectionId=ids[0]))
        with pytest.raises(websockets.ConnectionClosed):
            await recv(clients[0])
        with pytest.raises(mgmt.exceptions.GoneException):
            await loop.run_in_executor(
                None, lambda: mgmt.post_to_connection(ConnectionId=ids[0], Data=b"x")
            )
        for ws in clients[1:]:
            await ws.close()

    asyncio.run(run())
    with pytest.raises(mgmt.exceptions.GoneException):
        mgmt.get_connection(ConnectionId="AAAAAAAAAAAAAAA=")


def test_drain_closes_with_1001_and_runs_disconnect(tmp_path, upstream):
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log").start()
    try:
        client = gw.client()
        api = client.create_api(
            Name="d", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
        )
        http_route(client, api["ApiId"], "$disconnect", upstream.url("/bye"), route_response=False)
        client.create_stage(ApiId=api["ApiId"], StageName="prod", AutoDeploy=True)

        async def run():
            async with websockets.connect(ws_url(gw, api["ApiId"])) as ws:
                stopping = asyncio.get_running_loop().run_in_executor(None, gw.stop)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await recv(ws, timeout=10)
                assert closed.value.rcvd.code == 1001
                await stopping

        asyncio.run(run())
        assert gw.proc.returncode == 0
        # `$input.body` of a DISCONNECT event is empty: the template renders `"body":}`.
        assert [b'"event":"DISCONNECT"' in r["body"] for r in upstream.requests] == [True]
    finally:
        gw.stop()


def test_http_integration_disconnect_and_idle(tmp_path, upstream):
    gw = Gateway(
        tmp_path / "data", tmp_path / "portico.log", env={"PORTICO_WS_IDLE_TIMEOUT_MS": "700"}
    ).start()
    try:
        client = gw.client()
        api = client.create_api(
            Name="h", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
        )
        api_id = api["ApiId"]
        template = (
            '{"event":"$context.eventType","id":"$context.connectionId",'
            '"code":"$context.disconnectStatusCode","body":$input.body}'
        )
        i = client.create_integration(
            ApiId=api_id,
            IntegrationType="HTTP",
            IntegrationUri=upstream.url("/events"),
            IntegrationMethod="POST",
            RequestTemplates={"$default": template.replace("$input.body", '"-"')},
        )
        client.create_route(
            ApiId=api_id, RouteKey="$disconnect", Target=f"integrations/{i['IntegrationId']}"
        )
        client.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)

        async def run():
            async with websockets.connect(ws_url(gw, api_id)) as ws:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await recv(ws, timeout=5)
                assert closed.value.rcvd.code == 1001

        asyncio.run(run())
        deadline = time.time() + 5
        while time.time() < deadline and not upstream.requests:
            time.sleep(0.05)
        assert len(upstream.requests) == 1
        time.sleep(0.3)
        assert len(upstream.requests) == 1, "$disconnect is invoked once"
    finally:
        gw.stop()


class CallbackBackend:
    """An HTTP backend that, for each event, posts to the caller's connection through
    `@connections` before it answers (the callback pattern)."""

    def __init__(self, endpoint_of):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        backend = self
        self.events = []
        self.endpoint_of = endpoint_of

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                event = json.loads(self.rfile.read(n))
                backend.events.append(event)
                if event["event"] == "MESSAGE":
                    mgmt = management_at(backend.endpoint_of())
                    mgmt.post_to_connection(
                        ConnectionId=event["id"], Data=b"callback for " + event["id"].encode()
                    )
                out = json.dumps({"reply": event["body"]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                # No keep-alive: once closed, the backend is gone for the gateway too.
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/events"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def management_at(endpoint, key_id="x", secret="y"):
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def http_route(client, api_id, key, uri, route_response=True):
    template = (
        '{"event":"$context.eventType","id":"$context.connectionId",'
        '"route":"$context.routeKey","body":$input.body}'
    )
    i = client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP",
        IntegrationUri=uri,
        RequestTemplates={"$default": template},
        TimeoutInMillis=3000,
    )
    kwargs = {"RouteResponseSelectionExpression": "$default"} if route_response else {}
    r = client.create_route(
        ApiId=api_id, RouteKey=key, Target=f"integrations/{i['IntegrationId']}", **kwargs
    )
    if route_response:
        client.create_route_response(ApiId=api_id, RouteId=r["RouteId"], RouteResponseKey="$default")
    return i


def test_callback_during_a_message_and_backend_killed(gateway, client):
    api_id = echo_api(client)
    backend = CallbackBackend(lambda: f"http://{api_id}.{DOMAIN}:{gateway.port}/prod")
    try:
        http_route(client, api_id, "send", backend.url)
        time.sleep(0.1)  # auto-deploy published with the route

        async def run():
            async with websockets.connect(ws_url(gateway, api_id)) as ws:
                await ws.send(json.dumps({"action": "send", "text": "hi"}))
                first = await recv(ws)
                assert first.startswith("callback for ")
                reply = json.loads(await recv(ws))
                assert reply == {"reply": {"action": "send", "text": "hi"}}
                event = backend.events[-1]
                assert event["route"] == "send" and first == "callback for " + event["id"]
                # The backend goes away mid-conversation: an error frame, the connection stays.
                backend.close()
                await ws.send(json.dumps({"action": "send"}))
                err = json.loads(await recv(ws))
                assert err["message"] == "Internal server error" and err["connectionId"]
                await ws.send("still here")
                assert await recv(ws) == "still here"

        asyncio.run(run())
    finally:
        try:
            backend.close()
        except Exception:
            pass


def test_no_route_response_no_reply(gateway, client, upstream):
    api_id = echo_api(client)
    http_route(client, api_id, "fire", upstream.url("/x"), route_response=False)
    time.sleep(0.1)

    async def run():
        async with websockets.connect(ws_url(gateway, api_id)) as ws:
            await ws.send(json.dumps({"action": "fire"}))
            await ws.send("echo after")
            assert await recv(ws) == "echo after"
        assert json.loads(upstream.requests[-1]["body"])["route"] == "fire"

    asyncio.run(run())


def test_max_duration_and_signed_connections_api(tmp_path):
    env = {
        "PORTICO_WS_MAX_DURATION_MS": "1500",
        "PORTICO_ADMIN_ACCESS_KEY_ID": "AKIDPORTICO",
        "PORTICO_ADMIN_SECRET_ACCESS_KEY": "s3cret",
    }
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log", env=env).start()
    try:
        client = gw.client("AKIDPORTICO", "s3cret")
        api_id = echo_api(client)
        endpoint = f"http://{api_id}.{DOMAIN}:{gw.port}/prod"
        good = management_at(endpoint, "AKIDPORTICO", "s3cret")
        bad = management_at(endpoint, "AKIDPORTICO", "wrong")
        # IAM users: one allowed execute-api:ManageConnections on this API, one allowed only
        # Invoke.
        iam = boto3.client(
            "iam",
            endpoint_url=f"http://{gw.admin}",
            region_name="us-east-1",
            aws_access_key_id="AKIDPORTICO",
            aws_secret_access_key="s3cret",
        )
        users = {}
        for name, action in (("manager", "execute-api:ManageConnections"),
                             ("invoker", "execute-api:Invoke")):
            iam.create_user(UserName=name)
            doc = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": action,
                "Resource": f"arn:aws:execute-api:*:*:{api_id}/prod/POST/@connections/*"}]}
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(doc))
            key = iam.create_access_key(UserName=name)["AccessKey"]
            users[name] = management_at(endpoint, key["AccessKeyId"], key["SecretAccessKey"])

        async def run():
            async with websockets.connect(ws_url(gw, api_id)) as ws:
                await ws.send(json.dumps({"action": "whoami"}))
                cid = json.loads(await recv(ws))["connectionId"]
                loop = asyncio.get_running_loop()
                with pytest.raises(botocore.exceptions.ClientError) as e:
                    await loop.run_in_executor(
                        None, lambda: bad.post_to_connection(ConnectionId=cid, Data=b"x")
                    )
                assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
                await loop.run_in_executor(
                    None, lambda: good.post_to_connection(ConnectionId=cid, Data=b"signed")
                )
                assert await recv(ws) == "signed"
                await loop.run_in_executor(
                    None,
                    lambda: users["manager"].post_to_connection(ConnectionId=cid, Data=b"iam"),
                )
                assert await recv(ws) == "iam"
                with pytest.raises(botocore.exceptions.ClientError) as e:
                    await loop.run_in_executor(
                        None,
                        lambda: users["invoker"].post_to_connection(ConnectionId=cid, Data=b"x"),
                    )
                assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
                assert "ManageConnections" in str(e.value)
                # Busy, yet closed at the maximum duration (1001).
                started = time.time()
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await ws.send("tick")
                        await recv(ws)
                        await asyncio.sleep(0.05)
                assert closed.value.rcvd.code == 1001
                assert time.time() - started < 3

        asyncio.run(run())
    finally:
        gw.stop()


def test_chat_example_with_two_clients(gateway):
    """tools/wschat.py, the README's chat room: join with a name, broadcast, leave."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    import wschat

    chat, url = wschat.start(f"http://{gateway.admin}", gateway.port)
    try:

        async def run():
            with pytest.raises(websockets.InvalidStatus) as e:
                async with websockets.connect(url):
                    pass
            assert e.value.response.status_code == 400
            alice = await websockets.connect(url + "?name=alice")
            bob = await websockets.connect(url + "?name=bob")
            await alice.send(json.dumps({"action": "sendmessage", "text": "hello"}))
            assert await recv(alice) == "alice: hello"
            assert await recv(bob) == "alice: hello"
            await bob.close()
            assert await recv(alice) == "bob left"
            await alice.close()

        asyncio.run(run())
    finally:
        chat.close()


def test_subprotocol_only_when_connect_returns_one(gateway, client):
    """`Sec-WebSocket-Protocol` is answered only when the `$connect` integration returns one."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            offered = self.headers.get("Sec-WebSocket-Protocol")
            seen.append((self.path, self.headers.get("X-Client")))
            self.send_response(200)
            if "pick=chat" in self.path:
                self.send_header("Sec-WebSocket-Protocol", "chat")
            self.send_header("Content-Length", "0")
            self.end_headers()
            assert offered is None  # the handshake's own headers are not forwarded

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api_id = echo_api(client)
        i = client.create_integration(
            ApiId=api_id,
            IntegrationType="HTTP_PROXY",
            IntegrationUri=f"http://127.0.0.1:{server.server_address[1]}/connect",
            IntegrationMethod="POST",
        )
        client.create_route(
            ApiId=api_id, RouteKey="$connect", Target=f"integrations/{i['IntegrationId']}"
        )
        time.sleep(0.1)

        async def run():
            url = ws_url(gateway, api_id)
            async with websockets.connect(
                url + "?pick=chat", subprotocols=["chat", "other"], additional_headers={"X-Client": "1"}
            ) as ws:
                assert ws.subprotocol == "chat"
            async with websockets.connect(url) as ws:
                assert ws.subprotocol is None

        asyncio.run(run())
        assert seen[0] == ("/connect?pick=chat", "1")
    finally:
        server.shutdown()
        server.server_close()


# A self-hosted Python function (run by the real `awslambdaric`) behind every route: it checks
# each event against aws-lambda-powertools' WebSocket models (AWS's shapes: a mismatch fails the
# invocation), records it, and answers in the proxy response shape.
WS_FUNCTION = r'''
import json, os
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel, APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel)

MODELS = {"CONNECT": APIGatewayWebSocketConnectEventModel,
          "MESSAGE": APIGatewayWebSocketMessageEventModel,
          "DISCONNECT": APIGatewayWebSocketDisconnectEventModel}

def handler(event, context):
    kind = event["requestContext"]["eventType"]
    MODELS[kind].model_validate(event)
    with open(os.environ["EVENTS"], "a") as f:
        f.write(json.dumps(event) + "\n")
    if kind == "CONNECT":
        q = event.get("queryStringParameters") or {}
        if q.get("deny"):
            return {"statusCode": 401}
        return {"statusCode": 200,
                "headers": {"Sec-WebSocket-Protocol": "chat"} if q.get("proto") else {}}
    if kind == "MESSAGE":
        if event["isBase64Encoded"]:
            return {"statusCode": 200, "body": event["body"], "isBase64Encoded": True}
        if '"fail"' in event["body"]:
            raise ValueError("boom")
        return {"statusCode": 200, "body": json.dumps(
            {"route": event["requestContext"]["routeKey"], "got": event["body"]})}
    return {"statusCode": 200}
'''


def test_lambda_proxy_events_and_answers(gateway, client, tmp_path):
    from test_functions import lambda_client, make_zip, ROLE

    events_file = tmp_path / "events.jsonl"
    lam = lambda_client(gateway)
    arn = lam.create_function(
        FunctionName="wsfn", Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": (WS_FUNCTION, 0o644)})}, Timeout=10,
        Environment={"Variables": {"EVENTS": str(events_file)}},
    )["FunctionArn"]
    api_id = client.create_api(
        Name="l", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )["ApiId"]
    integ = client.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY",
        IntegrationUri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations",
    )["IntegrationId"]
    for key, answers in (("$connect", False), ("$disconnect", False), ("$default", True),
                         ("send", True), ("quiet", False)):
        kwargs = {"RouteResponseSelectionExpression": "$default"} if answers else {}
        r = client.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integ}", **kwargs)
        if answers:
            client.create_route_response(ApiId=api_id, RouteId=r["RouteId"], RouteResponseKey="$default")
    client.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    url = ws_url(gateway, api_id)

    async def run():
        with pytest.raises(websockets.InvalidStatus) as e:
            async with websockets.connect(url + "?deny=1", open_timeout=20):
                pass
        assert e.value.response.status_code == 401
        async with websockets.connect(
            url + "?name=al%20ice&proto=1", subprotocols=["chat"], open_timeout=20
        ) as ws:
            assert ws.subprotocol == "chat"
            await ws.send(json.dumps({"action": "send", "x": 1}))
            assert json.loads(await recv(ws, 20)) == {
                "route": "send", "got": '{"action": "send", "x": 1}'}
            await ws.send("plain")
            assert json.loads(await recv(ws, 20)) == {"route": "$default", "got": "plain"}
            await ws.send(b"\x00\x01")
            assert await recv(ws, 20) == b"\x00\x01"
            # No route response: the function runs, nothing comes back.
            await ws.send(json.dumps({"action": "quiet"}))
            await ws.send(json.dumps({"action": "fail"}))
            err = json.loads(await recv(ws, 20))
            assert err["message"] == "Internal server error"
            await ws.close(code=4000, reason="bye")

    asyncio.run(run())
    deadline = time.time() + 20
    while time.time() < deadline and b'"DISCONNECT"' not in (
        events_file.read_bytes() if events_file.exists() else b""
    ):
        time.sleep(0.05)
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    kinds = [(e["requestContext"]["eventType"], e["requestContext"]["routeKey"]) for e in events]
    assert kinds == [
        ("CONNECT", "$connect"), ("CONNECT", "$connect"), ("MESSAGE", "send"),
        ("MESSAGE", "$default"), ("MESSAGE", "$default"), ("MESSAGE", "quiet"),
        ("MESSAGE", "$default"), ("DISCONNECT", "$disconnect"),
    ]
    connect, ids = events[1], {e["requestContext"]["connectionId"] for e in events[1:]}
    assert len(ids) == 1
    assert connect["queryStringParameters"] == {"name": "al ice", "proto": "1"}
    assert connect["headers"]["Host"] == f"{api_id}.{DOMAIN}:{gateway.port}"
    assert connect["multiValueHeaders"]["Host"] == [connect["headers"]["Host"]]
    cx = connect["requestContext"]
    assert (cx["apiId"], cx["stage"], cx["domainName"]) == (api_id, "prod", f"{api_id}.{DOMAIN}")
    assert cx["identity"]["sourceIp"] == "127.0.0.1"
    messages = [e for e in events if e["requestContext"]["eventType"] == "MESSAGE"]
    assert len({m["requestContext"]["messageId"] for m in messages}) == len(messages)
    assert messages[2]["isBase64Encoded"] and base64.b64decode(messages[2]["body"]) == b"\x00\x01"
    assert all(m["requestContext"]["connectedAt"] == cx["connectedAt"] for m in messages)
    bye = events[-1]["requestContext"]
    assert (bye["disconnectStatusCode"], bye["disconnectReason"]) == (
        4000, "Client closed the connection")


def test_aws_iam_on_connect(tmp_path):
    """`$connect` with `AWS_IAM`: unsigned, badly signed and not allowed upgrades are refused
    with 403; header-signed and presigned (query string) upgrades connect."""
    from botocore.auth import SigV4Auth, SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    env = {"PORTICO_ADMIN_ACCESS_KEY_ID": "AKIDPORTICO", "PORTICO_ADMIN_SECRET_ACCESS_KEY": "s3cret"}
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log", env=env).start()
    try:
        client = gw.client("AKIDPORTICO", "s3cret")
        api_id = echo_api(client)
        client.create_route(ApiId=api_id, RouteKey="$connect", AuthorizationType="AWS_IAM")
        # `me` answers the connection's IAM caller.
        i = client.create_integration(ApiId=api_id, IntegrationType="MOCK")["IntegrationId"]
        client.create_integration_response(
            ApiId=api_id, IntegrationId=i, IntegrationResponseKey="$default",
            ResponseTemplates={"$default": '{"arn":"$context.identity.userArn"}'},
        )
        r = client.create_route(ApiId=api_id, RouteKey="me", Target=f"integrations/{i}",
                                RouteResponseSelectionExpression="$default")
        client.create_route_response(ApiId=api_id, RouteId=r["RouteId"], RouteResponseKey="$default")
        iam = boto3.client(
            "iam", endpoint_url=f"http://{gw.admin}", region_name="us-east-1",
            aws_access_key_id="AKIDPORTICO", aws_secret_access_key="s3cret",
        )
        keys = {}
        for name, resource in (("allowed", f"{api_id}/prod/$connect"), ("other", "other/*")):
            iam.create_user(UserName=name)
            doc = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "execute-api:Invoke",
                "Resource": f"arn:aws:execute-api:us-east-1:*:{resource}"}]}
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(doc))
            k = iam.create_access_key(UserName=name)["AccessKey"]
            keys[name] = Credentials(k["AccessKeyId"], k["SecretAccessKey"])
        root = Credentials("AKIDPORTICO", "s3cret")
        url = ws_url(gw, api_id)
        time.sleep(0.1)  # auto-deploy published with the route

        def signed_headers(creds):
            req = AWSRequest(method="GET", url=url.replace("ws://", "http://"))
            SigV4Auth(creds, "execute-api", "us-east-1").add_auth(req)
            return {k: v for k, v in req.headers.items() if k.lower() != "host"}

        def presigned(creds):
            req = AWSRequest(method="GET", url=url.replace("ws://", "http://"))
            SigV4QueryAuth(creds, "execute-api", "us-east-1", expires=60).add_auth(req)
            return req.url.replace("http://", "ws://")

        async def refused(target, headers=None):
            with pytest.raises(websockets.InvalidStatus) as e:
                async with websockets.connect(target, additional_headers=headers or {}):
                    pass
            r = e.value.response
            assert r.status_code == 403, r
            return r.headers.get("x-amzn-errortype"), json.loads(r.body)["message"]

        async def echoes(target, headers=None):
            async with websockets.connect(target, additional_headers=headers or {}) as ws:
                await ws.send("in")
                assert await recv(ws) == "in"
                await ws.send(json.dumps({"action": "me"}))
                return json.loads(await recv(ws))["arn"]

        async def run():
            assert (await refused(url))[0] == "MissingAuthenticationTokenException"
            bad = Credentials("AKIDPORTICO", "wrong")
            assert (await refused(url, signed_headers(bad)))[0] == "InvalidSignatureException"
            assert (await refused(presigned(bad)))[0] == "InvalidSignatureException"
            kind, message = await refused(url, signed_headers(keys["other"]))
            assert kind == "AccessDeniedException"
            assert message.endswith(f":{api_id}/prod/$connect"), message
            await echoes(url, signed_headers(root))
            await echoes(presigned(root))
            assert (await echoes(url, signed_headers(keys["allowed"]))).endswith(":user/allowed")
            assert (await echoes(presigned(keys["allowed"]))).endswith(":user/allowed")

        asyncio.run(run())
    finally:
        gw.stop()


def test_wss_and_custom_domains_on_both_listeners(tmp_path, monkeypatch):
    """wss:// on the TLS listener through a custom domain name and API mapping (v2), the same
    mapping on the plain listener, and `@connections` through the domain over https."""
    import ssl

    from test_tls import pem_pair

    def resolve(host, *args, **kwargs):
        if isinstance(host, str) and (host.endswith(".localhost") or host.endswith(".test")):
            host = "127.0.0.1"
        return _getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log",
                 args=["--tls-listen", "127.0.0.1:0"]).start()
    try:
        client = gw.client()
        api_id = echo_api(client)
        name = "chat.example.test"
        cert, key = pem_pair(tmp_path, "chat", name)
        acm = boto3.client("acm", endpoint_url=f"http://{gw.admin}", region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="y")
        arn = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
        client.create_domain_name(DomainName=name, DomainNameConfigurations=[
            {"CertificateArn": arn, "EndpointType": "REGIONAL"}])
        client.create_api_mapping(DomainName=name, ApiId=api_id, Stage="prod", ApiMappingKey="chat")
        tls_port = int(gw.tls.rsplit(":", 1)[1])
        ctx = ssl.create_default_context(cafile=str(tmp_path / "chat.pem"))
        time.sleep(0.1)

        async def run():
            async with websockets.connect(f"wss://{name}:{tls_port}/chat", ssl=ctx) as ws:
                await ws.send("over tls")
                assert await recv(ws) == "over tls"
                big = "y" * (30 * 1024)  # several TLS records each way
                await ws.send(big)
                assert await recv(ws) == big
                await ws.send(json.dumps({"action": "whoami"}))
                me = json.loads(await recv(ws))
                # `$context.domainName` is the custom domain the connection came through.
                cid, domain = me["connectionId"], me["domain"]
                assert domain == name
                mgmt = boto3.client(
                    "apigatewaymanagementapi", endpoint_url=f"https://{name}:{tls_port}/chat",
                    region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y",
                    verify=str(tmp_path / "chat.pem"),
                    config=botocore.config.Config(retries={"max_attempts": 1}),
                )
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: mgmt.post_to_connection(ConnectionId=cid, Data=b"via domain"))
                assert await recv(ws) == "via domain"
            async with websockets.connect(f"ws://{name}:{gw.port}/chat") as ws:
                await ws.send("plain listener")
                assert await recv(ws) == "plain listener"
            async with websockets.connect(f"ws://{api_id}.{DOMAIN}:{gw.port}/prod") as ws:
                await ws.send(json.dumps({"action": "whoami"}))
                assert json.loads(await recv(ws))["domain"] == f"{api_id}.{DOMAIN}"
            with pytest.raises(websockets.InvalidStatus) as e:
                async with websockets.connect(f"wss://{name}:{tls_port}/nothing", ssl=ctx):
                    pass
            assert e.value.response.status_code == 404

        asyncio.run(run())
    finally:
        gw.stop()


WS_AUTHORIZER = r'''
import json, os

def handler(event, context):
    if event.get("type") != "REQUEST":
        # `$default`: answers what the connection's authorizer left in `requestContext`.
        return {"statusCode": 200, "body": json.dumps(event["requestContext"].get("authorizer"))}
    with open(os.environ["CALLS"], "a") as f:
        f.write(json.dumps(event) + "\n")
    token = {k.lower(): v for k, v in event["headers"].items()}["auth"]
    if token == "fail":
        raise ValueError("boom")
    if token == "nobody":
        raise Exception("Unauthorized")
    effect = "Deny" if token == "deny" else "Allow"
    return {"principalId": "user-" + token,
            "policyDocument": {"Version": "2012-10-17", "Statement": [{
                "Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]},
            "context": {"room": event["queryStringParameters"]["room"], "level": 3}}
'''


@pytest.fixture
def one_core_gateway(tmp_path):
    """One worker: the authorizer decision cache is per core, and every upgrade is a new TCP
    connection that two workers would share between their caches."""
    gw = Gateway(tmp_path / "data1", tmp_path / "portico1.log", workers=1).start()
    yield gw
    gw.stop()


def test_lambda_request_authorizer_on_connect(one_core_gateway, tmp_path):
    """`$connect` with a Lambda `REQUEST` authorizer (`CUSTOM`): allowed upgrades carry the
    principal and context into later events (Lambda and templates); deny is 403, a missing
    identity 401 without a call, the function's `Unauthorized` 401, a failure 500; a decision is
    cached per identity for the TTL."""
    from test_functions import lambda_client, make_zip, ROLE

    gateway = one_core_gateway
    client = gateway.client()

    calls = tmp_path / "calls.jsonl"
    arn = lambda_client(gateway).create_function(
        FunctionName="wsauth", Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": (WS_AUTHORIZER, 0o644)})}, Timeout=10,
        Environment={"Variables": {"CALLS": str(calls)}},
    )["FunctionArn"]
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    api_id = client.create_api(
        Name="a", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )["ApiId"]
    bad = botocore.exceptions.ClientError
    # AWS's refusals: HTTP API-only members, JWT authorizers.
    for extra in ({"AuthorizerPayloadFormatVersion": "2.0"}, {"EnableSimpleResponses": True},
                  {"IdentitySource": ["$request.header.Auth"]}):
        args = {"IdentitySource": ["route.request.header.Auth"], **extra}
        with pytest.raises(bad) as e:
            client.create_authorizer(ApiId=api_id, Name="x", AuthorizerType="REQUEST",
                                     AuthorizerUri=uri, **args)
        assert e.value.response["Error"]["Code"] == "BadRequestException", extra
    with pytest.raises(bad):
        client.create_authorizer(ApiId=api_id, Name="j", AuthorizerType="JWT",
                                 IdentitySource=["route.request.header.Auth"],
                                 JwtConfiguration={"Issuer": "https://x", "Audience": ["a"]})
    auth_id = client.create_authorizer(
        ApiId=api_id, Name="a", AuthorizerType="REQUEST", AuthorizerUri=uri,
        IdentitySource=["route.request.header.Auth", "route.request.querystring.room"],
        AuthorizerResultTtlInSeconds=300,
    )["AuthorizerId"]
    integ = client.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY",
                                      IntegrationUri=uri)["IntegrationId"]
    client.create_route(ApiId=api_id, RouteKey="$connect", Target=f"integrations/{integ}",
                        AuthorizationType="CUSTOM", AuthorizerId=auth_id)
    d = client.create_route(ApiId=api_id, RouteKey="$default", Target=f"integrations/{integ}",
                            RouteResponseSelectionExpression="$default")
    client.create_route_response(ApiId=api_id, RouteId=d["RouteId"], RouteResponseKey="$default")
    # Authorization on any other route: AWS's refusal.
    with pytest.raises(bad) as e:
        client.update_route(ApiId=api_id, RouteId=d["RouteId"], AuthorizationType="CUSTOM",
                            AuthorizerId=auth_id)
    assert "restricted to the $connect route" in e.value.response["Error"]["Message"]
    mock = client.create_integration(ApiId=api_id, IntegrationType="MOCK")["IntegrationId"]
    client.create_integration_response(
        ApiId=api_id, IntegrationId=mock, IntegrationResponseKey="$default",
        ResponseTemplates={"$default":
                           '{"p":"$context.authorizer.principalId","room":"$context.authorizer.room"}'},
    )
    r = client.create_route(ApiId=api_id, RouteKey="tpl", Target=f"integrations/{mock}",
                            RouteResponseSelectionExpression="$default")
    client.create_route_response(ApiId=api_id, RouteId=r["RouteId"], RouteResponseKey="$default")
    client.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    url = ws_url(gateway, api_id)
    time.sleep(0.1)  # auto-deploy published with the stage

    async def refused(status, target, token=None):
        with pytest.raises(websockets.InvalidStatus) as e:
            async with websockets.connect(target, open_timeout=20,
                                          additional_headers={"Auth": token} if token else {}):
                pass
        assert e.value.response.status_code == status, (token, e.value.response)
        return json.loads(e.value.response.body)["message"]

    async def run():
        assert await refused(401, url + "?room=r1") == "Unauthorized"  # no header
        assert await refused(401, url, "alice") == "Unauthorized"  # no room
        assert await refused(403, url + "?room=r1", "deny") == "Forbidden"
        assert await refused(403, url + "?room=r1", "deny") == "Forbidden"  # cached
        assert await refused(401, url + "?room=r1", "nobody") == "Unauthorized"
        assert await refused(500, url + "?room=r1", "fail") == "Internal server error"
        for _ in range(2):  # the second connect is answered from the cache
            async with websockets.connect(url + "?room=r1", open_timeout=20,
                                          additional_headers={"Auth": "alice"}) as ws:
                await ws.send("hi")
                assert json.loads(await recv(ws, 20)) == {
                    "principalId": "user-alice", "integrationLatency": 0, "room": "r1", "level": 3}
                await ws.send(json.dumps({"action": "tpl"}))
                assert json.loads(await recv(ws, 20)) == {"p": "user-alice", "room": "r1"}

    asyncio.run(run())
    events = [json.loads(line) for line in calls.read_text().splitlines()]
    tokens = [e["headers"].get("Auth") or e["headers"].get("auth") for e in events]
    assert tokens == ["deny", "nobody", "fail", "alice"], tokens
    ev = events[-1]
    assert ev["type"] == "REQUEST"
    assert ev["methodArn"] == f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/prod/$connect"
    assert ev["queryStringParameters"] == {"room": "r1"}
    assert ev["multiValueQueryStringParameters"] == {"room": ["r1"]}
    assert ev["multiValueHeaders"]["Auth"] == ["alice"]
    cx = ev["requestContext"]
    assert (cx["routeKey"], cx["eventType"], cx["apiId"], cx["stage"]) == (
        "$connect", "CONNECT", api_id, "prod")
    assert cx["connectionId"] and "body" not in ev and "isBase64Encoded" not in ev
