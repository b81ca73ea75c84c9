"""WebSocket integration `requestParameters`, as AWS documents them for HTTP/HTTP_PROXY
integrations: `integration.request.header.connectionId = context.connectionId` is how a backend
learns the connection id, which it then uses with `@connections` (boto3's
`apigatewaymanagementapi`) to send the client a message. Applied on `$connect` (with the
handshake's headers and query string) and on each message of a custom route."""

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import botocore.exceptions
import pytest
import websockets

from conftest import DOMAIN
from test_websocket import echo_api, localhost_names, management_at, recv, ws_url  # noqa: F401

PARAMETERS = {
    "integration.request.header.connectionId": "context.connectionId",
    "integration.request.header.x-route": "context.routeKey",
    "integration.request.header.x-event": "context.eventType",
    "integration.request.header.x-request-id": "context.requestId",
    "integration.request.header.x-static": "'fixed'",
    "integration.request.header.x-client": "route.request.header.x-client-token",
    "integration.request.querystring.cid": "context.connectionId",
    "integration.request.querystring.name": "route.request.querystring.user",
}


class Backend:
    """Records each call's headers and query; for a MESSAGE, posts `hello <id>` to the
    connection named by the `connectionId` header through `@connections`."""

    def __init__(self, endpoint_of):
        backend = self
        self.calls = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                path, _, query = self.path.partition("?")
                call = {"headers": {k.lower(): v for k, v in self.headers.items()},
                        "query": sorted(f"{k}={v}" for k, v in parse_qsl(query))}
                backend.calls.append(call)
                cid = call["headers"].get("connectionid")
                if call["headers"].get("x-event") == "MESSAGE" and cid:
                    management_at(endpoint_of()).post_to_connection(
                        ConnectionId=cid, Data=b"hello " + cid.encode())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/events"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend(gateway):
    holder = {}
    b = Backend(lambda: holder["endpoint"])
    b.holder = holder
    yield b
    b.close()


@pytest.mark.parametrize("integration_type", ["HTTP_PROXY", "HTTP"])
def test_backend_learns_the_connection_id_and_calls_back(gateway, client, backend,
                                                          integration_type):
    api_id = echo_api(client)
    backend.holder["endpoint"] = f"http://{api_id}.{DOMAIN}:{gateway.port}/prod"
    kwargs = {"RequestTemplates": {"$default": "$input.body"}} if integration_type == "HTTP" else {}
    i = client.create_integration(ApiId=api_id, IntegrationType=integration_type,
                                  IntegrationUri=backend.url, TimeoutInMillis=3000,
                                  RequestParameters=PARAMETERS, **kwargs)
    assert client.get_integration(ApiId=api_id, IntegrationId=i["IntegrationId"])[
        "RequestParameters"] == PARAMETERS
    for key in ["$connect", "send"]:
        client.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{i['IntegrationId']}")
    time.sleep(0.2)  # auto-deploy published with the routes

    async def run():
        url = ws_url(gateway, api_id) + "?user=alice&cid=spoofed"
        async with websockets.connect(url, additional_headers={"x-client-token": "tok-1"}) as ws:
            await ws.send(json.dumps({"action": "send"}))
            got = await recv(ws)
            assert got.startswith("hello "), got
            return got[len("hello "):]

    cid = asyncio.run(run())
    connect, message = backend.calls[0], backend.calls[1]
    for call, event, route in [(connect, "CONNECT", "$connect"), (message, "MESSAGE", "send")]:
        h = call["headers"]
        assert h["connectionid"] == cid, call
        assert h["x-route"] == route and h["x-event"] == event, call
        assert h["x-static"] == "fixed" and len(h["x-request-id"]) > 8, call
    # `$connect` carries the handshake's header and query string (a mapped name replaces the
    # client's value); a message has neither, so those mappings send nothing.
    assert connect["headers"]["x-client"] == "tok-1", connect
    assert connect["query"] == sorted([f"cid={cid}", "name=alice", "user=alice"]), connect
    assert "x-client" not in message["headers"], message
    assert message["query"] == [f"cid={cid}"], message


def test_parameters_are_checked(gateway, client):
    api_id = echo_api(client)
    for bad in [{"integration.request.path.x": "context.connectionId"},
                {"integration.request.header.x": "method.request.header.y"},
                {"integration.request.header.Host": "'h'"},
                {"integration.request.header.x": "context"}]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            client.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY",
                                      IntegrationUri="http://127.0.0.1:9/", RequestParameters=bad)
        assert e.value.response["Error"]["Code"] == "BadRequestException", bad
    with pytest.raises(botocore.exceptions.ClientError):
        client.create_integration(ApiId=api_id, IntegrationType="MOCK",
                                  RequestParameters={"integration.request.header.x": "'v'"})
