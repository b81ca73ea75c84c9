#!/usr/bin/env python3
"""A chat room on a Portico WebSocket API: connect with a name, every message is broadcast to
everyone through `@connections`, leaving is announced.

The backend is a plain HTTP server (stateless apart from the list of who is in the room): the
gateway holds the WebSocket connections and calls it with HTTP integrations on `$connect`
(`?name=alice` arrives as the query string), `sendmessage` and `$disconnect`; it talks back
through boto3's `apigatewaymanagementapi`.

    python3 tools/wschat.py --admin http://127.0.0.1:9090 --port 8080
    # then, in two terminals:
    python3 -m websockets 'ws://API_ID.execute-api.localhost:8080/prod?name=alice'
    python3 -m websockets 'ws://API_ID.execute-api.localhost:8080/prod?name=bob'
    > {"action": "sendmessage", "text": "hello"}

With admin credentials set (PORTICO_ADMIN_ACCESS_KEY_ID/SECRET_ACCESS_KEY), pass the same
values as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
"""

import argparse
import json
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.config

DOMAIN = "execute-api.localhost"


def clients(admin, endpoint=None):
    creds = dict(
        region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "x"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "y"),
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    v2 = boto3.client("apigatewayv2", endpoint_url=admin, **creds)
    mgmt = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, **creds) if endpoint else None
    return v2, mgmt


class Chat:
    """The backend: who is in the room, and the HTTP server the gateway calls."""

    def __init__(self):
        self.names = {}  # connectionId -> name
        self.lock = threading.Lock()
        self.mgmt = None
        chat = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                event = json.loads(self.rfile.read(n) or b"{}")
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                status = chat.handle(event, query)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/chat"

    def handle(self, event, query):
        cid = event["connectionId"]
        kind = event["eventType"]
        if kind == "CONNECT":
            name = (query.get("name") or [""])[0]
            if not name:
                return 400  # refuses the upgrade
            with self.lock:
                self.names[cid] = name
            return 200
        if kind == "DISCONNECT":
            with self.lock:
                name = self.names.pop(cid, None)
            if name:
                self.broadcast(f"{name} left")
            return 200
        with self.lock:
            name = self.names.get(cid, "?")
        self.broadcast(f"{name}: {event['message'].get('text', '')}")
        return 200

    def broadcast(self, text):
        with self.lock:
            targets = list(self.names)
        for cid in targets:
            try:
                self.mgmt.post_to_connection(ConnectionId=cid, Data=text.encode())
            except self.mgmt.exceptions.GoneException:
                with self.lock:
                    self.names.pop(cid, None)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def create_api(v2, backend_url):
    """The WebSocket API: `$connect`, `sendmessage` and `$disconnect` call the backend."""
    api = v2.create_api(
        Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    api_id = api["ApiId"]
    template = (
        '{"eventType":"$context.eventType","connectionId":"$context.connectionId",'
        '"message":%s}'
    )
    for key, body in [("$connect", "{}"), ("sendmessage", "$input.body"), ("$disconnect", "{}")]:
        i = v2.create_integration(
            ApiId=api_id,
            IntegrationType="HTTP",
            IntegrationUri=backend_url,
            IntegrationMethod="POST",
            RequestTemplates={"$default": template % body},
        )
        v2.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{i['IntegrationId']}")
    v2.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    return api_id


def start(admin, port):
    """Creates the API and starts the backend; returns (chat, ws URL)."""
    chat = Chat()
    v2, _ = clients(admin)
    api_id = create_api(v2, chat.url)
    _, chat.mgmt = clients(admin, f"http://{api_id}.{DOMAIN}:{port}/prod")
    return chat, f"ws://{api_id}.{DOMAIN}:{port}/prod"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--admin", default="http://127.0.0.1:9090")
    p.add_argument("--port", type=int, default=8080, help="the data plane's port")
    a = p.parse_args()
    chat, url = start(a.admin, a.port)
    print(f"chat room: {url}?name=YOURNAME  (send {{\"action\": \"sendmessage\", \"text\": \"...\"}})")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        chat.close()


if __name__ == "__main__":
    main()
