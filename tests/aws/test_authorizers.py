"""Authorizers configured with boto3: an HTTP API JWT authorizer (apigatewayv2, RS256 tokens
minted here, the issuer's OpenID discovery and JWKS served on 127.0.0.1) and REST Lambda
authorizers (apigateway, TOKEN and REQUEST). The Lambda side is a Lambda Invoke API stub: the
authorizer function validates every event it receives against aws-lambda-powertools' strict
models (ApiGatewayAuthorizerToken, ApiGatewayAuthorizerRequest) and answers by the token; the
integration function echoes the proxy event's requestContext.authorizer.

Needs `pip install 'aws-lambda-powertools[parser]'` (tools/test.sh installs it); tokens are signed
with `cryptography` (a moto dependency).
"""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.config
import pytest

from conftest import Gateway

models = pytest.importorskip("aws_lambda_powertools.utilities.parser.models")
rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

AUTHZ = "arn:aws:lambda:us-east-1:123456789012:function:authz"
ECHO = "arn:aws:lambda:us-east-1:123456789012:function:echo"


def uri(arn):
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64int(n):
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class Stub:
    """127.0.0.1:0: the issuer's discovery document and JWKS (GET), and Lambda's Invoke API
    (POST) for the `authz` and `echo` functions."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.events = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, doc):
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.endswith("/.well-known/openid-configuration"):
                    self.answer({"issuer": stub.issuer, "jwks_uri": f"{stub.url}/jwks"})
                else:
                    pub = stub.key.public_key().public_numbers()
                    self.answer({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
                                           "n": b64int(pub.n), "e": b64int(pub.e)}]})

            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                if "/functions/echo/" in self.path:
                    ctx = event["requestContext"].get("authorizer")
                    self.answer({"statusCode": 200, "body": json.dumps({"authorizer": ctx})})
                    return
                self.answer(stub.authorize(event))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def issuer(self):
        return f"{self.url}/iss"

    def token(self, **claims):
        header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "k1"}).encode())
        body = {"iss": self.issuer, "aud": "app", "sub": "alice", "exp": int(time.time()) + 300}
        body.update(claims)
        signing_input = f"{header}.{b64url(json.dumps(body).encode())}"
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(sig)}"

    def authorize(self, event):
        model = (models.ApiGatewayAuthorizerToken if event.get("type") == "TOKEN"
                 else models.ApiGatewayAuthorizerRequest)
        model.model_validate(event)  # raises (a 500 from the stub) if Portico's event is off
        self.events.append(event)
        token = event.get("authorizationToken") or event["headers"].get("x-token", "")
        effect = "Deny" if token.startswith("deny") else "Allow"
        return {"principalId": f"user-{token}",
                "policyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]},
                "context": {"who": token, "n": 1}}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    s = Stub()
    yield s
    s.close()


@pytest.fixture
def gw(tmp_path, stub):
    # One worker: decisions are cached per core, and each request here is a new connection.
    g = Gateway(tmp_path / "data", tmp_path / "portico.log", workers=1, env={
        "AWS_ENDPOINT_URL_LAMBDA": stub.url,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }).start()
    yield g
    g.stop()


def v1_client(gw):
    return boto3.client("apigateway", endpoint_url=f"http://{gw.admin}", region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="y",
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def test_jwt_authorizer_created_with_boto3(gw, stub):
    c = gw.client()
    api = c.create_api(Name="jwt", ProtocolType="HTTP")["ApiId"]
    i = c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=ECHO,
                             PayloadFormatVersion="2.0")["IntegrationId"]
    a = c.create_authorizer(ApiId=api, Name="users", AuthorizerType="JWT",
                            IdentitySource=["$request.header.Authorization"],
                            JwtConfiguration={"Issuer": stub.issuer, "Audience": ["app"]})
    assert a["AuthorizerType"] == "JWT"
    c.create_route(ApiId=api, RouteKey="GET /me", Target=f"integrations/{i}",
                   AuthorizationType="JWT", AuthorizerId=a["AuthorizerId"])
    c.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    good = {"Authorization": f"Bearer {stub.token()}"}
    deadline = time.monotonic() + 5  # the keys are fetched in the background
    while True:
        status, _, body = gw.request(api, "GET", "/me", headers=good)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200, body
    claims = json.loads(body)["authorizer"]["jwt"]["claims"]
    assert claims["sub"] == "alice"
    status, headers, body = gw.request(api, "GET", "/me")
    assert status == 401 and json.loads(body) == {"message": "Unauthorized"}
    wrong = {"Authorization": f"Bearer {stub.token(aud='other')}"}
    status, headers, _ = gw.request(api, "GET", "/me", headers=wrong)
    assert status == 401
    assert 'error="invalid_token"' in headers.get("www-authenticate", ""), headers


def test_lambda_authorizers_created_with_boto3(gw, stub):
    c = v1_client(gw)
    api = c.create_rest_api(name="authz")
    api_id = api["id"]
    root = c.get_resources(restApiId=api_id)["items"][0]["id"]
    token = c.create_authorizer(restApiId=api_id, name="token", type="TOKEN",
                                authorizerUri=uri(AUTHZ),
                                identitySource="method.request.header.Authorization",
                                authorizerResultTtlInSeconds=0)
    request = c.create_authorizer(restApiId=api_id, name="request", type="REQUEST",
                                  authorizerUri=uri(AUTHZ),
                                  identitySource="method.request.header.x-token")
    assert token["type"] == "TOKEN" and token["authorizerResultTtlInSeconds"] == 0
    assert {a["name"] for a in c.get_authorizers(restApiId=api_id)["items"]} == {"token", "request"}
    c.update_authorizer(restApiId=api_id, authorizerId=request["id"], patchOperations=[
        {"op": "replace", "path": "/authorizerResultTtlInSeconds", "value": "60"}])
    assert c.get_authorizer(restApiId=api_id, authorizerId=request["id"])["authorizerResultTtlInSeconds"] == 60
    for path, authorizer in [("t", token), ("r", request)]:
        rid = c.create_resource(restApiId=api_id, parentId=root, pathPart=path)["id"]
        c.put_method(restApiId=api_id, resourceId=rid, httpMethod="GET",
                     authorizationType="CUSTOM", authorizerId=authorizer["id"])
        c.put_integration(restApiId=api_id, resourceId=rid, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri(ECHO))
    c.create_deployment(restApiId=api_id, stageName="prod")

    status, _, body = gw.request(api_id, "GET", "/prod/t", headers={"Authorization": "alice"})
    assert status == 200, body
    ctx = json.loads(body)["authorizer"]
    assert ctx["principalId"] == "user-alice" and ctx["who"] == "alice" and ctx["n"] == 1, ctx
    event = stub.events[-1]
    assert event["methodArn"].endswith(f":{api_id}/prod/GET/t"), event
    status, headers, body = gw.request(api_id, "GET", "/prod/t", headers={"Authorization": "deny-me"})
    assert status == 403
    assert json.loads(body) == {"Message": "User is not authorized to access this resource with an explicit deny"}
    assert headers.get("x-amzn-errortype") == "AccessDeniedException", headers
    status, _, body = gw.request(api_id, "GET", "/prod/t")
    assert status == 401 and json.loads(body) == {"message": "Unauthorized"}

    status, _, body = gw.request(api_id, "GET", "/prod/r?a=1", headers={"x-token": "bob"})
    assert status == 200, body
    event = stub.events[-1]
    assert event["type"] == "REQUEST" and event["queryStringParameters"] == {"a": "1"}, event
    # Cached for 60 s: the same identity again does not reach the function.
    calls = len(stub.events)
    status, _, _ = gw.request(api_id, "GET", "/prod/r?a=2", headers={"x-token": "bob"})
    assert status == 200 and len(stub.events) == calls
    # FlushStageAuthorizersCache: the next request reaches the function again.
    c.flush_stage_authorizers_cache(restApiId=api_id, stageName="prod")
    status, _, _ = gw.request(api_id, "GET", "/prod/r?a=3", headers={"x-token": "bob"})
    assert status == 200 and len(stub.events) == calls + 1
    with pytest.raises(c.exceptions.NotFoundException):
        c.flush_stage_authorizers_cache(restApiId=api_id, stageName="nope")
    # A per-request context variable cannot be an identity source.
    with pytest.raises(c.exceptions.BadRequestException, match="context.requestTime"):
        c.create_authorizer(restApiId=api_id, name="bad", type="REQUEST", authorizerUri=uri(AUTHZ),
                            identitySource="method.request.header.x-token, context.requestTime")
    with pytest.raises(c.exceptions.ConflictException):
        c.delete_authorizer(restApiId=api_id, authorizerId=token["id"])


def test_cognito_user_pool_authorizer(gw, stub):
    """COGNITO_USER_POOLS: the pool's issuer, no audience check, ID tokens without scopes,
    access tokens with them; claims reach the Lambda event and mapping templates. The pool's
    JWKS URL is Portico's `jwksUri` extension (sent raw: boto3 does not know the member)."""
    c = v1_client(gw)
    api_id = c.create_rest_api(name="pool")["id"]
    root = c.get_resources(restApiId=api_id)["items"][0]["id"]
    pool = "us-east-1_AbCdEf"
    status, _, raw = gw.admin_raw("POST", f"/restapis/{api_id}/authorizers", json.dumps({
        "name": "pool", "type": "COGNITO_USER_POOLS",
        "providerARNs": [f"arn:aws:cognito-idp:us-east-1:123456789012:userpool/{pool}"],
        "identitySource": "method.request.header.Authorization", "jwksUri": f"{stub.url}/jwks"}).encode())
    assert status == 201, raw
    auth_id = json.loads(raw)["id"]
    for path, scopes, mock in [("c", [], False), ("s", ["read"], False), ("m", [], True)]:
        rid = c.create_resource(restApiId=api_id, parentId=root, pathPart=path)["id"]
        c.put_method(restApiId=api_id, resourceId=rid, httpMethod="GET",
                     authorizationType="COGNITO_USER_POOLS", authorizerId=auth_id,
                     authorizationScopes=scopes)
        if mock:
            c.put_method_response(restApiId=api_id, resourceId=rid, httpMethod="GET", statusCode="200")
            c.put_integration(restApiId=api_id, resourceId=rid, httpMethod="GET", type="MOCK",
                              requestTemplates={"application/json": '{"statusCode": 200}'})
            c.put_integration_response(
                restApiId=api_id, resourceId=rid, httpMethod="GET", statusCode="200",
                responseTemplates={"application/json": '{"sub":"$context.authorizer.claims.sub",'
                                   '"role":"$context.authorizer.claims[\'custom:role\']"}'})
        else:
            c.put_integration(restApiId=api_id, resourceId=rid, httpMethod="GET", type="AWS_PROXY",
                              integrationHttpMethod="POST", uri=uri(ECHO))
    c.create_deployment(restApiId=api_id, stageName="prod")
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool}"
    id_token = stub.token(iss=issuer, aud="any-client", token_use="id", **{"custom:role": "vet"})
    deadline = time.monotonic() + 5  # the keys are fetched in the background
    while True:
        status, _, body = gw.request(api_id, "GET", "/prod/c", headers={"Authorization": id_token})
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200, body
    assert json.loads(body)["authorizer"]["claims"]["sub"] == "alice"
    status, _, body = gw.request(api_id, "GET", "/prod/m", headers={"Authorization": id_token})
    assert status == 200 and json.loads(body) == {"sub": "alice", "role": "vet"}, body

    def refused(path, token):
        status, headers, body = gw.request(api_id, "GET", path, headers=token and {"Authorization": token})
        assert status == 401 and json.loads(body) == {"message": "Unauthorized"}, body
        assert headers.get("x-amzn-errortype") == "UnauthorizedException", headers

    access = stub.token(iss=issuer, token_use="access", scope="read profile")
    refused("/prod/c", access)  # without scopes, only ID tokens
    refused("/prod/c", None)
    refused("/prod/c", stub.token(token_use="id"))  # another issuer
    status, _, body = gw.request(api_id, "GET", "/prod/s", headers={"Authorization": access})
    assert status == 200, body
    refused("/prod/s", stub.token(iss=issuer, token_use="access", scope="write"))
    refused("/prod/s", id_token)


def test_http_api_reset_authorizers_cache(gw, stub):
    """apigatewayv2 `ResetAuthorizersCache`: a cached decision of an HTTP API's Lambda REQUEST
    authorizer is dropped on every worker; the next request calls the function again."""
    c = gw.client()
    api = c.create_api(Name="lam", ProtocolType="HTTP")["ApiId"]
    i = c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=ECHO,
                             PayloadFormatVersion="2.0")["IntegrationId"]
    a = c.create_authorizer(ApiId=api, Name="lam", AuthorizerType="REQUEST",
                            AuthorizerUri=uri(AUTHZ), IdentitySource=["$request.header.x-token"],
                            AuthorizerPayloadFormatVersion="1.0", AuthorizerResultTtlInSeconds=60)
    c.create_route(ApiId=api, RouteKey="GET /me", Target=f"integrations/{i}",
                   AuthorizationType="CUSTOM", AuthorizerId=a["AuthorizerId"])
    c.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    status, _, body = gw.request(api, "GET", "/me", headers={"x-token": "bob"})
    assert status == 200, body
    calls = len(stub.events)
    status, _, _ = gw.request(api, "GET", "/me", headers={"x-token": "bob"})
    assert status == 200 and len(stub.events) == calls, "cached for 60 s"
    c.reset_authorizers_cache(ApiId=api, StageName="$default")
    status, _, _ = gw.request(api, "GET", "/me", headers={"x-token": "bob"})
    assert status == 200 and len(stub.events) == calls + 1
    status, _, _ = gw.request(api, "GET", "/me", headers={"x-token": "bob"})
    assert status == 200 and len(stub.events) == calls + 1, "cached again"
    with pytest.raises(c.exceptions.NotFoundException):
        c.reset_authorizers_cache(ApiId=api, StageName="nope")
