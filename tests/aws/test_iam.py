"""IAM authorization: users, access keys and policies made with boto3's `iam` client on the admin
listener; REST methods and HTTP API routes with `authorizationType: AWS_IAM` called with requests
signed by botocore's own signers (`SigV4Auth`, `SigV4QueryAuth`); resource policies by source
address (the client bound to 127.0.0.1 or 127.0.0.2) and private APIs."""

import datetime
import http.client
import json
import shutil
import subprocess
import os
from unittest import mock
from urllib.parse import urlsplit

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from conftest import DOMAIN, Gateway, Upstream

ROOT_ID = "AKIDPORTICOROOT"
ROOT_SECRET = "root/secret+portico"
ACCOUNT = "000000000000"


def aws_client(gw, service):
    return boto3.client(
        service,
        endpoint_url=f"http://{gw.admin}",
        region_name="us-east-1",
        aws_access_key_id=ROOT_ID,
        aws_secret_access_key=ROOT_SECRET,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


class World:
    """One gateway with a REST API and an HTTP API, and an IAM user per test need."""

    def __init__(self, tmp):
        self.gw = Gateway(
            tmp / "data", tmp / "portico.log",
            env={"PORTICO_ADMIN_ACCESS_KEY_ID": ROOT_ID, "PORTICO_ADMIN_SECRET_ACCESS_KEY": ROOT_SECRET},
        ).start()
        self.up = Upstream()
        self.iam = aws_client(self.gw, "iam")
        self.v1 = aws_client(self.gw, "apigateway")
        self.v2 = aws_client(self.gw, "apigatewayv2")
        self.rest = self.make_rest_api()
        self.http = self.make_http_api()

    def make_rest_api(self):
        c = self.v1
        api = c.create_rest_api(name="iam", endpointConfiguration={"types": ["REGIONAL"]})
        api_id, root = api["id"], api["rootResourceId"]
        pets = c.create_resource(restApiId=api_id, parentId=root, pathPart="pets")
        for method in ("GET", "POST", "DELETE"):
            c.put_method(restApiId=api_id, resourceId=pets["id"], httpMethod=method, authorizationType="AWS_IAM")
            c.put_integration(
                restApiId=api_id, resourceId=pets["id"], httpMethod=method, type="HTTP_PROXY",
                integrationHttpMethod=method, uri=self.up.url("/pets"),
            )
        # A CORS preflight mock without authorization beside the signed methods.
        c.put_method(restApiId=api_id, resourceId=pets["id"], httpMethod="OPTIONS", authorizationType="NONE")
        c.put_integration(
            restApiId=api_id, resourceId=pets["id"], httpMethod="OPTIONS", type="MOCK",
            requestTemplates={"application/json": '{"statusCode": 200}'},
        )
        c.put_integration_response(restApiId=api_id, resourceId=pets["id"], httpMethod="OPTIONS", statusCode="200")
        who = c.create_resource(restApiId=api_id, parentId=root, pathPart="whoami")
        c.put_method(restApiId=api_id, resourceId=who["id"], httpMethod="GET", authorizationType="AWS_IAM")
        c.put_integration(
            restApiId=api_id, resourceId=who["id"], httpMethod="GET", type="MOCK",
            requestTemplates={"application/json": '{"statusCode": 200}'},
        )
        c.put_integration_response(
            restApiId=api_id, resourceId=who["id"], httpMethod="GET", statusCode="200",
            responseTemplates={"application/json":
                '{"arn":"$context.identity.userArn","key":"$context.identity.accessKey","user":"$context.identity.user"}'},
        )
        c.create_deployment(restApiId=api_id, stageName="prod")
        return api_id

    def make_http_api(self):
        c = self.v2
        api = c.create_api(Name="iam-http", ProtocolType="HTTP")
        i = c.create_integration(
            ApiId=api["ApiId"], IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
            IntegrationUri=self.up.url("/pets"), PayloadFormatVersion="1.0",
        )
        c.create_route(ApiId=api["ApiId"], RouteKey="GET /pets", AuthorizationType="AWS_IAM",
                       Target=f"integrations/{i['IntegrationId']}")
        c.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
        return api["ApiId"]

    def user(self, name, *statements, inline=None):
        self.iam.create_user(UserName=name)
        if statements:
            doc = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
            arn = self.iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=doc)["Policy"]["Arn"]
            self.iam.attach_user_policy(UserName=name, PolicyArn=arn)
        if inline:
            self.iam.put_user_policy(UserName=name, PolicyName="inline",
                                     PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": inline}))
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        return botocore.credentials.Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def close(self):
        self.gw.stop()
        self.up.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("iam"))
    yield w
    w.close()


def allow(resource, effect="Allow", action="execute-api:Invoke"):
    return {"Effect": effect, "Action": action, "Resource": resource}


def send(gw, method, url, headers=None, body=b"", source="127.0.0.1"):
    """Sends to the data plane with the URL's host as Host; returns (status, headers, json body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10, source_address=(source, 0))
    try:
        h = {"Host": parts.netloc}
        h.update(headers or {})
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=h)
        r = conn.getresponse()
        raw = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(raw) if raw else None
    finally:
        conn.close()


def signed(gw, creds, method, url, body=b"", at=None, send_body=None, presign_expires=None):
    """Signs like botocore does (optionally at time `at`), then sends (maybe another body)."""
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body)
    if presign_expires is None:
        signer = botocore.auth.SigV4Auth(creds, "execute-api", "us-east-1")
    else:
        signer = botocore.auth.SigV4QueryAuth(creds, "execute-api", "us-east-1", expires=presign_expires)
    if at is None:
        signer.add_auth(req)
    else:
        with mock.patch.object(botocore.auth.datetime, "datetime", wraps=datetime.datetime) as dt:
            dt.utcnow.return_value = at
            dt.now.return_value = at
            signer.add_auth(req)
    return send(gw, method, req.url, dict(req.headers.items()), send_body if send_body is not None else body)


def rest_url(w, path):
    return f"http://{w.rest}.{DOMAIN}:{w.gw.port}/prod{path}"


def http_url(w, path):
    return f"http://{w.http}.{DOMAIN}:{w.gw.port}{path}"


def arn(api, stage, method, path):
    return f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api}/{stage}/{method}{path}"


def error_code(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_iam_store_speaks_iams_protocol(world):
    iam = world.iam
    u = iam.create_user(UserName="store-user")["User"]
    assert u["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/store-user" and u["UserId"].startswith("AIDA")
    assert iam.get_user(UserName="store-user")["User"]["Arn"] == u["Arn"]
    assert "store-user" in [x["UserName"] for x in iam.list_users()["Users"]]
    assert error_code(lambda: iam.create_user(UserName="store-user")) == ("EntityAlreadyExists", 409)
    assert error_code(lambda: iam.get_user(UserName="nobody")) == ("NoSuchEntity", 404)
    key = iam.create_access_key(UserName="store-user")["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40
    listed = iam.list_access_keys(UserName="store-user")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(key["AccessKeyId"], "Active")]
    iam.update_access_key(UserName="store-user", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert iam.list_access_keys(UserName="store-user")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    doc = {"Version": "2012-10-17", "Statement": [allow("*")]}
    p = iam.create_policy(PolicyName="store-policy", PolicyDocument=json.dumps(doc), Description="d")["Policy"]
    assert p["Arn"] == f"arn:aws:iam::{ACCOUNT}:policy/store-policy"
    assert iam.get_policy(PolicyArn=p["Arn"])["Policy"]["PolicyName"] == "store-policy"
    assert p["Arn"] in [x["Arn"] for x in iam.list_policies(Scope="Local")["Policies"]]
    assert error_code(lambda: iam.create_policy(PolicyName="bad", PolicyDocument="{")) == ("MalformedPolicyDocument", 400)
    iam.attach_user_policy(UserName="store-user", PolicyArn=p["Arn"])
    assert iam.list_attached_user_policies(UserName="store-user")["AttachedPolicies"] == [
        {"PolicyName": "store-policy", "PolicyArn": p["Arn"]}]
    assert error_code(lambda: iam.delete_policy(PolicyArn=p["Arn"])) == ("DeleteConflict", 409)
    iam.put_user_policy(UserName="store-user", PolicyName="inline", PolicyDocument=json.dumps(doc))
    assert iam.get_user_policy(UserName="store-user", PolicyName="inline")["PolicyDocument"] == doc
    assert error_code(lambda: iam.delete_user(UserName="store-user")) == ("DeleteConflict", 409)
    iam.delete_user_policy(UserName="store-user", PolicyName="inline")
    iam.detach_user_policy(UserName="store-user", PolicyArn=p["Arn"])
    iam.delete_policy(PolicyArn=p["Arn"])
    iam.delete_access_key(UserName="store-user", AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName="store-user")
    assert error_code(lambda: iam.get_user(UserName="store-user")) == ("NoSuchEntity", 404)


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed (pip install awscli)")
def test_aws_cli_lists_users(world, tmp_path):
    world.iam.create_user(UserName="cli-user")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PORTICO_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    env.update(AWS_ACCESS_KEY_ID=ROOT_ID, AWS_SECRET_ACCESS_KEY=ROOT_SECRET, AWS_DEFAULT_REGION="us-east-1")
    run = subprocess.run(["aws", "iam", "get-user", "--user-name", "cli-user", "--endpoint-url",
                          f"http://{world.gw.admin}", "--output", "json"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["User"]["UserName"] == "cli-user"


def test_rest_allowed_denied_and_explicit_deny(world):
    creds = world.user(
        "alice",
        allow(f"arn:aws:execute-api:*:*:{world.rest}/prod/*"),
        allow(f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{world.rest}/prod/DELETE/*", effect="Deny"),
    )
    status, headers, body = signed(world.gw, creds, "GET", rest_url(world, "/pets?x=1"))
    assert status == 200, body
    seen = world.up.last()
    assert seen["path"] == "/pets" and seen["query"] == "x=1"
    # The signature is not passed on (AWS drops a SigV4 Authorization header).
    assert "authorization" not in dict(seen["headers"]) and "x-amz-date" in dict(seen["headers"])
    status, _, body = signed(world.gw, creds, "POST", rest_url(world, "/pets"), body=b'{"name":"rex"}')
    assert status == 200, body
    assert world.up.last()["body"] == b'{"name":"rex"}'
    status, headers, body = signed(world.gw, creds, "DELETE", rest_url(world, "/pets"))
    assert status == 403
    assert headers["x-amzn-errortype"] == "AccessDeniedException"
    assert body == {"message": f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: "
                               f"execute-api:Invoke on resource: {arn(world.rest, 'prod', 'DELETE', '/pets')} "
                               "with an explicit deny"}
    # $context.identity.* reaches mapping templates.
    status, _, body = signed(world.gw, creds, "GET", rest_url(world, "/whoami"))
    assert status == 200
    assert body["arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert body["key"] == creds.access_key and body["user"].startswith("AIDA")


def test_implicit_deny_names_the_caller_and_resource(world):
    creds = world.user("bob", allow(f"arn:aws:execute-api:*:*:{world.rest}/prod/GET/whoami"))
    assert signed(world.gw, creds, "GET", rest_url(world, "/whoami"))[0] == 200
    status, headers, body = signed(world.gw, creds, "GET", rest_url(world, "/pets"))
    assert status == 403 and headers["x-amzn-errortype"] == "AccessDeniedException"
    assert body["message"] == (f"User: arn:aws:iam::{ACCOUNT}:user/bob is not authorized to perform: "
                               f"execute-api:Invoke on resource: {arn(world.rest, 'prod', 'GET', '/pets')}")


def test_signature_failures(world):
    creds = world.user("carol", inline=[allow("*")])
    status, headers, body = send(world.gw, "GET", rest_url(world, "/pets"))
    assert (status, headers["x-amzn-errortype"], body) == (
        403, "MissingAuthenticationTokenException", {"message": "Missing Authentication Token"})
    unknown = botocore.credentials.Credentials("AKIAUNKNOWNKEY00000", "whatever")
    status, headers, body = signed(world.gw, unknown, "GET", rest_url(world, "/pets"))
    assert (status, headers["x-amzn-errortype"], body) == (
        403, "UnrecognizedClientException", {"message": "The security token included in the request is invalid."})
    wrong = botocore.credentials.Credentials(creds.access_key, "not-the-secret")
    status, headers, body = signed(world.gw, wrong, "GET", rest_url(world, "/pets"))
    assert status == 403 and headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert body["message"].startswith("The request signature we calculated does not match the signature you provided.")
    then = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    status, headers, body = signed(world.gw, creds, "GET", rest_url(world, "/pets"), at=then)
    assert status == 403 and headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert body["message"].startswith(f"Signature expired: {then.strftime('%Y%m%dT%H%M')}")
    assert body["message"].endswith(" - 15 min.)")
    # The body changed after signing.
    status, headers, body = signed(world.gw, creds, "POST", rest_url(world, "/pets"), body=b'{"a":1}', send_body=b'{"a":2}')
    assert status == 403 and headers["x-amzn-errortype"] == "InvalidSignatureException", body


def test_presigned_urls(world):
    creds = world.user("dave", inline=[allow("*")])
    status, _, body = signed(world.gw, creds, "GET", rest_url(world, "/pets?q=1"), presign_expires=60)
    assert status == 200, body
    then = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=5)
    status, headers, body = signed(world.gw, creds, "GET", rest_url(world, "/pets"), presign_expires=60, at=then)
    assert status == 403 and headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert body["message"].startswith("Signature expired:") and body["message"].endswith(" - 60 sec.)")


def test_inactive_and_deleted_keys_take_effect_at_once(world):
    creds = world.user("erin", inline=[allow("*")])
    assert signed(world.gw, creds, "GET", rest_url(world, "/pets"))[0] == 200
    world.iam.update_access_key(UserName="erin", AccessKeyId=creds.access_key, Status="Inactive")
    status, headers, _ = signed(world.gw, creds, "GET", rest_url(world, "/pets"))
    assert (status, headers["x-amzn-errortype"]) == (403, "UnrecognizedClientException")
    world.iam.update_access_key(UserName="erin", AccessKeyId=creds.access_key, Status="Active")
    assert signed(world.gw, creds, "GET", rest_url(world, "/pets"))[0] == 200
    world.iam.delete_access_key(UserName="erin", AccessKeyId=creds.access_key)
    status, headers, _ = signed(world.gw, creds, "GET", rest_url(world, "/pets"))
    assert (status, headers["x-amzn-errortype"]) == (403, "UnrecognizedClientException")


def test_root_admin_credentials_are_allowed(world):
    root = botocore.credentials.Credentials(ROOT_ID, ROOT_SECRET)
    assert signed(world.gw, root, "DELETE", rest_url(world, "/pets"))[0] == 200
    status, _, body = signed(world.gw, root, "GET", rest_url(world, "/whoami"))
    assert status == 200 and body["arn"] == f"arn:aws:iam::{ACCOUNT}:root"


def test_http_api_route_with_aws_iam(world):
    creds = world.user("frank", allow(f"arn:aws:execute-api:*:*:{world.http}/$default/GET/pets"))
    other = world.user("grace", allow(f"arn:aws:execute-api:*:*:{world.http}/$default/POST/*"))
    assert signed(world.gw, creds, "GET", http_url(world, "/pets"))[0] == 200
    status, headers, body = signed(world.gw, other, "GET", http_url(world, "/pets"))
    assert status == 403 and headers["x-amzn-errortype"] == "AccessDeniedException"
    assert body["message"].endswith(f"on resource: {arn(world.http, '$default', 'GET', '/pets')}")
    status, headers, body = send(world.gw, "GET", http_url(world, "/pets"))
    assert (status, body) == (403, {"message": "Missing Authentication Token"})


def test_unauthenticated_options_mock_passes_beside_iam_methods(world):
    status, _, _ = send(world.gw, "OPTIONS", rest_url(world, "/pets"),
                        {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
    assert status == 200
    assert send(world.gw, "GET", rest_url(world, "/pets"))[0] == 403


def resource_policy_api(world, endpoint, policy=None):
    c = world.v1
    kwargs = {"policy": json.dumps(policy)} if policy else {}
    api = c.create_rest_api(name="rp", endpointConfiguration={"types": [endpoint]}, **kwargs)
    open_ = c.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="open")
    c.put_method(restApiId=api["id"], resourceId=open_["id"], httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=api["id"], resourceId=open_["id"], httpMethod="GET", type="MOCK",
                      requestTemplates={"application/json": '{"statusCode": 200}'})
    c.put_integration_response(restApiId=api["id"], resourceId=open_["id"], httpMethod="GET", statusCode="200")
    c.create_deployment(restApiId=api["id"], stageName="prod")
    return api["id"]


def test_resource_policy_by_source_ip(world):
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.1/32", "::1/128"]}}},
    ]}
    api_id = resource_policy_api(world, "REGIONAL", policy)
    url = f"http://{api_id}.{DOMAIN}:{world.gw.port}/prod/open"
    assert send(world.gw, "GET", url)[0] == 200
    status, headers, body = send(world.gw, "GET", url, source="127.0.0.2")
    assert status == 403 and headers["x-amzn-errortype"] == "AccessDeniedException"
    assert body["message"] == ("User: anonymous is not authorized to perform: execute-api:Invoke on resource: "
                               f"{arn(api_id, 'prod', 'GET', '/open')} with an explicit deny")
    # A policy Portico cannot evaluate is refused when it is set.
    bad = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*",
                          "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}]}
    assert error_code(lambda: world.v1.update_rest_api(
        restApiId=api_id, patchOperations=[{"op": "replace", "path": "/policy", "value": json.dumps(bad)}]),
    ) == ("BadRequestException", 400)


def test_private_api_needs_a_policy(world):
    api_id = resource_policy_api(world, "PRIVATE")
    url = f"http://{api_id}.{DOMAIN}:{world.gw.port}/prod/open"
    status, headers, body = send(world.gw, "GET", url)
    assert status == 403 and headers["x-amzn-errortype"] == "AccessDeniedException"
    assert body["message"].startswith("User: anonymous is not authorized to perform: execute-api:Invoke")
    policy = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
                             "Resource": "execute-api:/*",
                             "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.1"}}}]}
    world.v1.update_rest_api(restApiId=api_id,
                             patchOperations=[{"op": "replace", "path": "/policy", "value": json.dumps(policy)}])
    assert send(world.gw, "GET", url)[0] == 200
    assert send(world.gw, "GET", url, source="127.0.0.2")[0] == 403


def test_invalidate_cache_needs_the_permission(tmp_path):
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log", workers=1,
                 env={"PORTICO_ADMIN_ACCESS_KEY_ID": ROOT_ID, "PORTICO_ADMIN_SECRET_ACCESS_KEY": ROOT_SECRET}).start()
    up = Upstream()
    try:
        c, iam = aws_client(gw, "apigateway"), aws_client(gw, "iam")
        api = c.create_rest_api(name="cached-iam")
        pets = c.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="pets")["id"]
        c.put_method(restApiId=api["id"], resourceId=pets, httpMethod="GET", authorizationType="AWS_IAM")
        c.put_integration(restApiId=api["id"], resourceId=pets, httpMethod="GET", type="HTTP_PROXY",
                          integrationHttpMethod="GET", uri=up.url("/pets"))
        c.create_deployment(restApiId=api["id"], stageName="prod")
        c.update_stage(restApiId=api["id"], stageName="prod", patchOperations=[
            {"op": "replace", "path": "/cacheClusterEnabled", "value": "true"},
            {"op": "replace", "path": "/cacheClusterSize", "value": "0.5"},
            {"op": "replace", "path": "/*/*/caching/enabled", "value": "true"},
        ])

        def user(name, actions):
            iam.create_user(UserName=name)
            doc = {"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(doc))
            key = iam.create_access_key(UserName=name)["AccessKey"]
            return botocore.credentials.Credentials(key["AccessKeyId"], key["SecretAccessKey"])

        reader = user("reader", ["execute-api:Invoke"])
        cacher = user("cacher", ["execute-api:Invoke", "execute-api:InvalidateCache"])
        w = type("W", (), {"rest": api["id"], "gw": gw})
        url = rest_url(w, "/pets")

        def fetch(creds, refresh=False):
            req = botocore.awsrequest.AWSRequest(method="GET", url=url,
                                                 headers={"Cache-Control": "max-age=0"} if refresh else {})
            botocore.auth.SigV4Auth(creds, "execute-api", "us-east-1").add_auth(req)
            status, headers, _ = send(gw, "GET", url, dict(req.headers.items()))
            assert status == 200
            return headers

        fetch(reader)
        fetch(reader)
        assert len(up.requests) == 1
        assert "cache-control headers were ignored" in fetch(reader, refresh=True).get("warning", "").lower()
        assert len(up.requests) == 1
        fetch(cacher, refresh=True)
        assert len(up.requests) == 2
    finally:
        gw.stop()
        up.close()


def test_users_keys_and_policies_survive_a_restart(tmp_path):
    env = {"PORTICO_ADMIN_ACCESS_KEY_ID": ROOT_ID, "PORTICO_ADMIN_SECRET_ACCESS_KEY": ROOT_SECRET}
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log", workers=1, env=env).start()
    try:
        c, iam = aws_client(gw, "apigateway"), aws_client(gw, "iam")
        api = c.create_rest_api(name="durable")
        r = c.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="x")["id"]
        c.put_method(restApiId=api["id"], resourceId=r, httpMethod="GET", authorizationType="AWS_IAM")
        c.put_integration(restApiId=api["id"], resourceId=r, httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
        c.put_integration_response(restApiId=api["id"], resourceId=r, httpMethod="GET", statusCode="200")
        c.create_deployment(restApiId=api["id"], stageName="prod")
        iam.create_user(UserName="kept")
        doc = {"Statement": [allow("*"), allow("*/prod/GET/x", effect="Deny")]}
        arn = iam.create_policy(PolicyName="kept", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
        iam.put_user_policy(UserName="kept", PolicyName="all", PolicyDocument=json.dumps({"Statement": [allow("*")]}))
        key = iam.create_access_key(UserName="kept")["AccessKey"]
        creds = botocore.credentials.Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        gw.stop()
    gw = Gateway(tmp_path / "data", tmp_path / "portico2.log", workers=1, env=env).start()
    try:
        w = type("W", (), {"rest": api["id"], "gw": gw})
        assert signed(gw, creds, "GET", rest_url(w, "/x"))[0] == 200
        # The managed policy kept after the restart can still be attached and denies at once.
        aws_client(gw, "iam").attach_user_policy(UserName="kept", PolicyArn=arn)
        status, headers, _ = signed(gw, creds, "GET", rest_url(w, "/x"))
        assert (status, headers["x-amzn-errortype"]) == (403, "AccessDeniedException")
    finally:
        gw.stop()
