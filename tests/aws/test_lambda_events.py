"""Lambda proxy events checked against AWS's shapes: an HTTP API (payload 1.0 and 2.0) and a
REST API, configured with boto3, call a Lambda Invoke API stub that validates every event it
receives with aws-lambda-powertools' strict pydantic models (APIGatewayProxyEventModel,
APIGatewayProxyEventV2Model) and echoes it back.

Needs `pip install 'aws-lambda-powertools[parser]'` (tools/test.sh installs it).
"""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.config
import pytest

from conftest import Gateway

models = pytest.importorskip("aws_lambda_powertools.utilities.parser.models")

ARN = "arn:aws:lambda:us-east-1:123456789012:function:events"
URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{ARN}/invocations"


class InvokeStub:
    """Lambda's Invoke API on 127.0.0.1:0: validates the event, answers a 1.0/2.0 response
    whose body is {"event": ..., "errors": ...}."""

    def __init__(self):
        self.calls = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                event = json.loads(raw)
                model = (models.APIGatewayProxyEventV2Model if event.get("version") == "2.0"
                         else models.APIGatewayProxyEventModel)
                try:
                    model.model_validate(event)
                    errors = None
                except Exception as e:  # the pydantic ValidationError, as text
                    errors = str(e)
                stub.calls.append((self.path, {k.lower(): v for k, v in self.headers.items()}, event, errors))
                body = json.dumps({"statusCode": 200, "headers": {"content-type": "application/json"},
                                   "body": json.dumps({"event": event, "errors": errors})}).encode()
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
def stub():
    s = InvokeStub()
    yield s
    s.close()


@pytest.fixture
def lambda_gateway(tmp_path, stub):
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log", env={
        "AWS_ENDPOINT_URL_LAMBDA": stub.url,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_REGION": "eu-west-1",
    }).start()
    yield gw
    gw.stop()


def call(gw, api_id, method, path, body=None, headers=None):
    status, _, raw = gw.request(api_id, method, path, body=body, headers=headers)
    assert status == 200, raw
    answer = json.loads(raw)
    assert answer["errors"] is None, answer["errors"]
    return answer["event"]


def test_http_api_events_match_the_v1_and_v2_models(lambda_gateway, stub):
    c = lambda_gateway.client()
    api = c.create_api(Name="events", ProtocolType="HTTP")["ApiId"]
    v2 = c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=ARN,
                              PayloadFormatVersion="2.0")
    assert v2["IntegrationMethod"] == "POST" and v2["PayloadFormatVersion"] == "2.0"
    v1 = c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=URI,
                              PayloadFormatVersion="1.0")
    c.create_route(ApiId=api, RouteKey="GET /items/{id}", Target=f"integrations/{v2['IntegrationId']}")
    c.create_route(ApiId=api, RouteKey="POST /bin", Target=f"integrations/{v2['IntegrationId']}")
    c.create_route(ApiId=api, RouteKey="ANY /v1/{proxy+}", Target=f"integrations/{v1['IntegrationId']}")
    c.create_stage(ApiId=api, StageName="$default", AutoDeploy=True, StageVariables={"v": "1"})

    e = call(lambda_gateway, api, "GET", "/items/7?a=1&a=2&b=x%20y",
             headers={"Cookie": "c1=v1; c2=v2", "X-Multi": "m1", "User-Agent": "pytest"})
    assert e["version"] == "2.0"
    assert e["routeKey"] == "GET /items/{id}"
    assert e["rawPath"] == "/items/7" and e["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert e["cookies"] == ["c1=v1", "c2=v2"]
    assert "cookie" not in e["headers"] and e["headers"]["x-multi"] == "m1"
    assert e["headers"]["x-forwarded-for"] == "127.0.0.1" and e["headers"]["x-forwarded-proto"] == "http"
    assert e["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert e["pathParameters"] == {"id": "7"} and e["stageVariables"] == {"v": "1"}
    assert e["requestContext"]["http"]["userAgent"] == "pytest"
    assert e["requestContext"]["accountId"] == "000000000000"
    assert e["isBase64Encoded"] is False and "body" not in e

    e = call(lambda_gateway, api, "POST", "/bin", body=bytes([0, 1, 255]),
             headers={"Content-Type": "application/octet-stream"})
    assert e["isBase64Encoded"] is True
    assert base64.b64decode(e["body"]) == bytes([0, 1, 255])

    e = call(lambda_gateway, api, "POST", "/v1/a/b?q=1&q=2", body=b'{"k": 1}',
             headers={"Content-Type": "application/json"})
    assert e["version"] == "1.0"
    assert e["resource"] == "/v1/{proxy+}" and e["path"] == "/v1/a/b"
    assert e["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert e["queryStringParameters"] == {"q": "2"}
    assert e["pathParameters"] == {"proxy": "a/b"}
    assert e["body"] == '{"k": 1}' and e["isBase64Encoded"] is False

    # The Invoke calls: the function by name, signed for lambda in the ARN's region.
    path, headers, _, _ = stub.calls[0]
    assert path == "/2015-03-31/functions/events/invocations"
    assert headers["x-amz-invocation-type"] == "RequestResponse"
    assert "/us-east-1/lambda/aws4_request" in headers["authorization"]


def test_rest_api_events_match_the_v1_model(lambda_gateway, stub):
    c = boto3.client("apigateway", endpoint_url=f"http://{lambda_gateway.admin}", region_name="us-east-1",
                     aws_access_key_id="x", aws_secret_access_key="y",
                     config=botocore.config.Config(retries={"max_attempts": 1}))
    api = c.create_rest_api(name="events", binaryMediaTypes=["application/octet-stream"])
    root = c.get_resources(restApiId=api["id"])["items"][0]["id"]
    res = c.create_resource(restApiId=api["id"], parentId=root, pathPart="{proxy+}")
    c.put_method(restApiId=api["id"], resourceId=res["id"], httpMethod="ANY", authorizationType="NONE")
    c.put_integration(restApiId=api["id"], resourceId=res["id"], httpMethod="ANY", type="AWS_PROXY",
                      integrationHttpMethod="POST", uri=URI)
    c.create_deployment(restApiId=api["id"], stageName="prod")

    e = call(lambda_gateway, api["id"], "GET", "/prod/p/q?k=1&k=2",
             headers={"X-Multi": "m1", "User-Agent": "pytest"})
    assert "version" not in e
    assert e["resource"] == "/{proxy+}" and e["path"] == "/p/q" and e["httpMethod"] == "GET"
    assert e["multiValueQueryStringParameters"] == {"k": ["1", "2"]}
    assert e["stageVariables"] is None and e["body"] is None
    cx = e["requestContext"]
    assert cx["stage"] == "prod" and cx["path"] == "/prod/p/q" and cx["resourceId"] == res["id"]
    assert cx["identity"]["userAgent"] == "pytest" and cx["identity"]["sourceIp"] == "127.0.0.1"

    e = call(lambda_gateway, api["id"], "PUT", "/prod/bin", body=bytes([0, 255]),
             headers={"Content-Type": "application/octet-stream"})
    assert e["isBase64Encoded"] is True and base64.b64decode(e["body"]) == bytes([0, 255])
    e = call(lambda_gateway, api["id"], "PUT", "/prod/text", body=b"plain",
             headers={"Content-Type": "text/plain"})
    assert e["isBase64Encoded"] is False and e["body"] == "plain"
