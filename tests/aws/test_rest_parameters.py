"""REST `requestParameters` for headers and query strings, configured with boto3 and applied on
`HTTP_PROXY` integrations as AWS applies them (the same mappings already worked on `HTTP`):
a Lambda TOKEN authorizer's principal and context reach the upstream as headers, beside a header
mapped from a method header, a query string parameter from a method query string parameter, a
static value and `context.*`. The upstream (conftest's `Upstream`) records what it got.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.config
import pytest

from conftest import Gateway

AUTHZ = "arn:aws:lambda:us-east-1:123456789012:function:authz"


def uri(arn):
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


class LambdaStub:
    """Lambda's Invoke API on 127.0.0.1:0 for the `authz` function: Allow for any token but
    `deny...`, principal `user-<token>`, context `{"tier": "gold"}`."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                token = event.get("authorizationToken", "")
                effect = "Deny" if token.startswith("deny") else "Allow"
                body = json.dumps({
                    "principalId": f"user-{token}",
                    "policyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Action": "execute-api:Invoke", "Effect": effect,
                         "Resource": event["methodArn"]}]},
                    "context": {"tier": "gold"},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def lambda_stub():
    s = LambdaStub()
    yield s
    s.close()


@pytest.fixture
def gw(tmp_path, lambda_stub):
    g = Gateway(tmp_path / "data", tmp_path / "portico.log", workers=1, env={
        "AWS_ENDPOINT_URL_LAMBDA": lambda_stub.url,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }).start()
    yield g
    g.stop()


def v1_client(gw):
    return boto3.client("apigateway", endpoint_url=f"http://{gw.admin}", region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="y",
                        config=botocore.config.Config(retries={"max_attempts": 1}))


PARAMETERS = {
    "integration.request.header.x-principal": "context.authorizer.principalId",
    "integration.request.header.x-tier": "context.authorizer.tier",
    "integration.request.header.x-from-header": "method.request.header.x-client",
    "integration.request.header.x-static": "'fixed-value'",
    "integration.request.header.x-stage": "context.stage",
    "integration.request.header.x-overwritten": "'by-mapping'",
    "integration.request.querystring.mapped": "method.request.querystring.q",
    "integration.request.querystring.static": "'s1'",
}


def deploy(c, upstream, integration_type):
    """A REST API: `/items/{id}` GET behind a TOKEN authorizer, `integration_type` to
    upstream `/backend/{id}` with PARAMETERS."""
    api_id = c.create_rest_api(name=f"params-{integration_type}")["id"]
    root = c.get_resources(restApiId=api_id)["items"][0]["id"]
    authz = c.create_authorizer(restApiId=api_id, name="token", type="TOKEN",
                                authorizerUri=uri(AUTHZ),
                                identitySource="method.request.header.Authorization",
                                authorizerResultTtlInSeconds=0)
    items = c.create_resource(restApiId=api_id, parentId=root, pathPart="items")["id"]
    rid = c.create_resource(restApiId=api_id, parentId=items, pathPart="{id}")["id"]
    c.put_method(restApiId=api_id, resourceId=rid, httpMethod="GET",
                 authorizationType="CUSTOM", authorizerId=authz["id"],
                 requestParameters={"method.request.path.id": True,
                                    "method.request.header.x-client": False,
                                    "method.request.querystring.q": False})
    c.put_integration(restApiId=api_id, resourceId=rid, httpMethod="GET", type=integration_type,
                      integrationHttpMethod="GET", uri=upstream.url("/backend/{id}"),
                      requestParameters={**PARAMETERS,
                                         "integration.request.path.id": "method.request.path.id"})
    if integration_type == "HTTP":
        c.put_method_response(restApiId=api_id, resourceId=rid, httpMethod="GET", statusCode="200")
        c.put_integration_response(restApiId=api_id, resourceId=rid, httpMethod="GET",
                                   statusCode="200", selectionPattern="")
    c.create_deployment(restApiId=api_id, stageName="prod")
    return api_id


@pytest.mark.parametrize("integration_type", ["HTTP_PROXY", "HTTP"])
def test_header_and_query_parameters_reach_the_upstream(gw, upstream, integration_type):
    c = v1_client(gw)
    api_id = deploy(c, upstream, integration_type)
    status, _, body = gw.request(api_id, "GET", "/prod/items/42?q=hello&static=client&keep=1",
                                 headers={"Authorization": "alice", "x-client": "from-client",
                                          "x-overwritten": "client-value"})
    assert status == 200, body
    seen = upstream.last()
    headers = dict(seen["headers"])
    assert seen["path"] == "/backend/42", seen
    assert headers.get("x-principal") == "user-alice", headers
    assert headers.get("x-tier") == "gold", headers
    assert headers.get("x-from-header") == "from-client", headers
    assert headers.get("x-static") == "fixed-value", headers
    assert headers.get("x-stage") == "prod", headers
    # A mapped header replaces the client's (one value, the mapping's).
    assert [v for k, v in seen["headers"] if k == "x-overwritten"] == ["by-mapping"], headers
    query = sorted(seen["query"].split("&"))
    if integration_type == "HTTP_PROXY":
        # The client's query string is forwarded; a mapped name replaces the client's value.
        assert query == ["keep=1", "mapped=hello", "q=hello", "static=s1"], seen
    else:
        # A non-proxy integration sends only what is mapped.
        assert query == ["mapped=hello", "static=s1"], seen

    # Denied by the authorizer: nothing reaches the upstream.
    count = len(upstream.requests)
    status, _, _ = gw.request(api_id, "GET", "/prod/items/42", headers={"Authorization": "deny"})
    assert status == 403 and len(upstream.requests) == count


def test_proxy_parameters_are_refused_when_malformed(gw, upstream):
    c = v1_client(gw)
    api_id = c.create_rest_api(name="bad")["id"]
    root = c.get_resources(restApiId=api_id)["items"][0]["id"]
    c.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="HTTP_PROXY",
                      integrationHttpMethod="GET", uri=upstream.url("/"),
                      requestParameters={"integration.request.header.x-a": "method.request.nope.x"})
    with pytest.raises(c.exceptions.BadRequestException):
        c.create_deployment(restApiId=api_id, stageName="prod")
