"""AWS service integrations against moto with its SigV4/IAM checks on.

One `moto_server` per module (started here on a free 127.0.0.1 port): an IAM user, its access key
and an allowing policy are created, then `POST /moto-api/reset-auth` switches authentication on,
so every call Portico makes must carry a valid signature. What Portico sent is read back with
boto3 (the queue's messages, the stream's records).

Covered: HTTP API first-class integrations (`SQS-SendMessage`, `SQS-ReceiveMessage`,
`SQS-DeleteMessage`, `Kinesis-PutRecord`, `EventBridge-PutEvents` delivered by a rule to a queue,
`StepFunctions-StartExecution`, `AppConfig-GetConfiguration` against a capture server, since
moto has no AppConfig data plane) and their `requestParameters` validation; integration roles
(`credentialsArn`, `credentials`) assumed through moto's STS; a REST `AWS` integration (`sqs:action/SendMessage`) with a VTL
request template, integration responses chosen by `selectionPattern` and a VTL response
template; wrong credentials (moto's 403 mapped by the selection pattern); a service that is down
(5xx); an endpoint that does not resolve refused at deployment.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import Gateway

pytestmark = pytest.mark.skipif(
    shutil.which("moto_server") is None, reason="moto is not installed (pip install 'moto[server]')"
)

REGION = "us-east-1"
CFG = botocore.config.Config(retries={"max_attempts": 1})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self, tmp):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / "moto.log", "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.proc = subprocess.Popen(
            ["moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).read()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start")
                time.sleep(0.1)
        iam = self.client("iam", "any", "any")
        iam.create_user(UserName="portico")
        key = iam.create_access_key(UserName="portico")["AccessKey"]
        self.key_id, self.secret = key["AccessKeyId"], key["SecretAccessKey"]
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        arn = iam.create_policy(PolicyName="all", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
        iam.attach_user_policy(UserName="portico", PolicyArn=arn)
        req = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth", data=b"4", method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(req, timeout=5).read()

    def client(self, service, key_id=None, secret=None):
        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION, config=CFG,
            aws_access_key_id=key_id or self.key_id, aws_secret_access_key=secret or self.secret,
        )

    def env(self, **extra):
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_REGION": REGION,
            **extra,
        }

    def stop(self):
        # moto keeps nothing worth a graceful stop, and its server is slow to take SIGTERM.
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(tmp_path_factory.mktemp("moto"))
    yield m
    m.stop()


@pytest.fixture(scope="module")
def gw(moto, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gw")
    g = Gateway(tmp / "data", tmp / "portico.log", env=moto.env()).start()
    yield g
    g.stop()


def v1(gateway):
    return boto3.client(
        "apigateway", endpoint_url=f"http://{gateway.admin}", region_name=REGION,
        aws_access_key_id="x", aws_secret_access_key="y", config=CFG,
    )


def http_api(gateway, subtype, params, route="POST /send", **extra):
    c = gateway.client()
    api = c.create_api(Name="svc", ProtocolType="HTTP")["ApiId"]
    integ = c.create_integration(
        ApiId=api, IntegrationType="AWS_PROXY", IntegrationSubtype=subtype,
        PayloadFormatVersion="1.0", RequestParameters=params, **extra,
    )
    assert integ["IntegrationSubtype"] == subtype
    c.create_route(ApiId=api, RouteKey=route, Target=f"integrations/{integ['IntegrationId']}")
    c.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    return api


def drain(sqs, url, n=1):
    got = []
    deadline = time.monotonic() + 10
    while len(got) < n and time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        for m in r.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def test_http_api_sqs_send_message_reaches_the_queue_signed(moto, gw):
    sqs = moto.client("sqs")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    api = http_api(gw, "SQS-SendMessage", {
        "QueueUrl": url,
        "MessageBody": "$request.body.order",
        "MessageAttributes": '{"source": {"DataType": "String", "StringValue": "${request.header.x-source}"}}',
        "DelaySeconds": "0",
    })
    body = json.dumps({"order": {"id": 7, "item": "tea"}})
    status, headers, out = gw.request(api, "POST", "/send", body=body,
                                      headers={"Content-Type": "application/json", "X-Source": "web"})
    assert status == 200, (out, gw.log())
    sent = json.loads(out)
    assert sent["MessageId"]
    msgs = drain(sqs, url)
    assert len(msgs) == 1
    assert json.loads(msgs[0]["Body"]) == {"id": 7, "item": "tea"}
    assert msgs[0]["MessageId"] == sent["MessageId"]
    assert msgs[0]["MessageAttributes"]["source"]["StringValue"] == "web"


def test_http_api_kinesis_put_record(moto, gw):
    kinesis = moto.client("kinesis")
    kinesis.create_stream(StreamName="clicks", ShardCount=1)
    api = http_api(gw, "Kinesis-PutRecord", {
        "StreamName": "clicks",
        "Data": "$request.body",
        "PartitionKey": "$request.querystring.user",
    }, route="POST /click")
    status, _, out = gw.request(api, "POST", "/click?user=ann", body=b'{"x": 1}')
    assert status == 200, (out, gw.log())
    shard = json.loads(out)["ShardId"]
    it = kinesis.get_shard_iterator(StreamName="clicks", ShardId=shard,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = kinesis.get_records(ShardIterator=it)["Records"]
    assert [(r["Data"], r["PartitionKey"]) for r in records] == [(b'{"x": 1}', "ann")]


def test_subtype_parameters_are_checked_at_creation(gw):
    c = gw.client()
    api = c.create_api(Name="bad", ProtocolType="HTTP")["ApiId"]
    for subtype, params, want in [
        ("SQS-SendMessage", {"QueueUrl": "http://q"},
         "Parameter MessageBody is required for integration subtype SQS-SendMessage"),
        ("SQS-PurgeQueue", {"QueueUrl": "http://q", "Nope": "x"},
         "Parameter Nope is not supported for integration subtype SQS-PurgeQueue"),
        ("SQS-Teleport", {}, "Invalid integration subtype 'SQS-Teleport'"),
    ]:
        with pytest.raises(ClientError) as e:
            c.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationSubtype=subtype,
                                 PayloadFormatVersion="1.0", RequestParameters=params)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert want in e.value.response["Error"]["Message"]


REQUEST_TEMPLATE = """#set($order = $input.path('$.order'))
## moto reads a form body's parameters only (AWS reads the query string too): Action again.
Action=SendMessage&QueueUrl=$util.urlEncode($stageVariables.queueUrl)&MessageBody=$util.urlEncode($input.json('$.order'))&MessageAttribute.1.Name=items&MessageAttribute.1.Value.DataType=Number&MessageAttribute.1.Value.StringValue=$order.items.size()"""

OK_TEMPLATE = """#set($sent = $input.body.contains('<MessageId>'))
{"sent": $sent, "stage": "$context.stage"#if($sent), "id": "$input.body.split('<MessageId>')[1].split('</MessageId>')[0]"#end}"""

ERROR_TEMPLATE = """#set($context.responseOverride.header.X-Reason = 'aws-refused')
{"error": "the queue refused the message", "denied": $input.body.contains('Signature'), "detail": "$util.escapeJavaScript($input.body)"}"""


def rest_sqs_api(gateway, queue_url, service="sqs:action/SendMessage", template=REQUEST_TEMPLATE,
                 credentials=None):
    c = v1(gateway)
    api = c.create_rest_api(name="orders")["id"]
    root = [r for r in c.get_resources(restApiId=api)["items"] if r["path"] == "/"][0]["id"]
    res = c.create_resource(restApiId=api, parentId=root, pathPart="orders")["id"]
    c.put_method(restApiId=api, resourceId=res, httpMethod="POST", authorizationType="NONE")
    c.put_integration(
        restApiId=api, resourceId=res, httpMethod="POST", type="AWS", integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:{service}",
        requestParameters={"integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"},
        requestTemplates={"application/json": template},
        passthroughBehavior="NEVER",
        **({"credentials": credentials} if credentials else {}),
    )
    for code in ("200", "400"):
        c.put_method_response(restApiId=api, resourceId=res, httpMethod="POST", statusCode=code)
    c.put_integration_response(
        restApiId=api, resourceId=res, httpMethod="POST", statusCode="200",
        responseTemplates={"application/json": OK_TEMPLATE},
    )
    c.put_integration_response(
        restApiId=api, resourceId=res, httpMethod="POST", statusCode="400", selectionPattern=r"4\d{2}",
        responseTemplates={"application/json": ERROR_TEMPLATE},
    )
    c.create_deployment(restApiId=api, stageName="prod", variables={"queueUrl": queue_url})
    return api


def test_rest_aws_integration_with_vtl_and_selection_patterns(moto, gw):
    sqs = moto.client("sqs")
    url = sqs.create_queue(QueueName="rest-orders")["QueueUrl"]
    api = rest_sqs_api(gw, url)
    order = {"id": 9, "items": ["a", "b", "c"]}
    status, headers, out = gw.request(api, "POST", "/prod/orders", body=json.dumps({"order": order}),
                                      headers={"Content-Type": "application/json"})
    assert status == 200, json.loads(out)
    answer = json.loads(out)
    assert answer["sent"] is True and answer["stage"] == "prod"
    msgs = drain(sqs, url)
    assert len(msgs) == 1 and answer["id"] == msgs[0]["MessageId"]
    assert json.loads(msgs[0]["Body"]) == order
    assert msgs[0]["MessageAttributes"]["items"]["StringValue"] == "3"
    # A queue that does not exist: SQS answers 400, selected by `4\d{2}`.
    api = rest_sqs_api(gw, url + "-missing")
    status, headers, out = gw.request(api, "POST", "/prod/orders", body=b'{"order": {}}',
                                      headers={"Content-Type": "application/json"})
    assert status == 400, out
    refused = json.loads(out)
    assert refused["error"] == "the queue refused the message" and refused["denied"] is False, refused
    assert "NonExistentQueue" in refused["detail"], refused
    assert {k.lower(): v for k, v in headers.items()}["x-reason"] == "aws-refused"
    # A content type without a template (passthroughBehavior NEVER): 415.
    status, _, _ = gw.request(api, "POST", "/prod/orders", body=b"x", headers={"Content-Type": "text/plain"})
    assert status == 415


def test_wrong_credentials_down_service_and_unresolvable_endpoint(moto, tmp_path):
    sqs = moto.client("sqs")
    url = sqs.create_queue(QueueName="guarded")["QueueUrl"]
    env = moto.env(
        AWS_SECRET_ACCESS_KEY="not-the-secret",
        AWS_ENDPOINT_URL_KINESIS=f"http://127.0.0.1:{free_port()}",
        AWS_ENDPOINT_URL_SFN="https://states.invalid",
    )
    g = Gateway(tmp_path / "data", tmp_path / "portico.log", env=env).start()
    try:
        # moto refuses the signature (403): the `4\d{2}` integration response answers.
        api = rest_sqs_api(g, url)
        status, _, out = g.request(api, "POST", "/prod/orders", body=b'{"order": {"id": 1}}',
                                   headers={"Content-Type": "application/json"})
        assert status == 400, (out, g.log())
        assert json.loads(out)["denied"] is True
        assert sqs.receive_message(QueueUrl=url).get("Messages") is None
        # The service is down: a 5xx, never a hang.
        api = rest_sqs_api(g, url, service="kinesis:action/PutRecord",
                           template='{"StreamName": "s", "Data": "$util.base64Encode($input.body)", "PartitionKey": "k"}')
        started = time.monotonic()
        status, _, out = g.request(api, "POST", "/prod/orders", body=b"{}",
                                   headers={"Content-Type": "application/json"})
        assert 500 <= status < 600, out
        assert time.monotonic() - started < 5
        # An endpoint that does not resolve is refused when the integration would be deployed
        # (endpoints resolve when the configuration compiles: no DNS on the request path).
        c = g.client()
        http = c.create_api(Name="sfn", ProtocolType="HTTP")["ApiId"]
        integ = c.create_integration(
            ApiId=http, IntegrationType="AWS_PROXY", IntegrationSubtype="StepFunctions-StartExecution",
            PayloadFormatVersion="1.0",
            RequestParameters={"StateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:x"},
        )["IntegrationId"]
        c.create_route(ApiId=http, RouteKey="POST /run", Target=f"integrations/{integ}")
        with pytest.raises(ClientError) as e:
            c.create_stage(ApiId=http, StageName="$default", AutoDeploy=True)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "did not resolve" in e.value.response["Error"]["Message"], e.value.response
    finally:
        g.stop()


def test_http_api_eventbridge_step_functions_and_sqs_receive(moto, gw):
    sqs = moto.client("sqs")
    url = sqs.create_queue(QueueName="events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = moto.client("events")
    events.put_rule(Name="all", EventPattern=json.dumps({"source": ["shop"]}))
    events.put_targets(Rule="all", Targets=[{"Id": "q", "Arn": arn}])
    api = http_api(gw, "EventBridge-PutEvents", {
        "Source": "shop", "DetailType": "order", "Detail": "$request.body.detail",
    }, route="POST /event")
    status, _, out = gw.request(api, "POST", "/event", body=b'{"detail": {"id": 3}}')
    assert status == 200, out
    assert json.loads(out)["FailedEntryCount"] == 0
    (msg,) = drain(sqs, url)
    event = json.loads(msg["Body"])
    assert (event["source"], event["detail-type"], event["detail"]) == ("shop", "order", {"id": 3})

    sfn = moto.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="m", roleArn="arn:aws:iam::123456789012:role/sf",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    api = http_api(gw, "StepFunctions-StartExecution", {
        "StateMachineArn": machine, "Name": "$request.header.x-run", "Input": "$request.body",
    }, route="POST /run")
    status, _, out = gw.request(api, "POST", "/run", body=b'{"n": 1}', headers={"X-Run": "run-1"})
    assert status == 200, out
    execution = sfn.describe_execution(executionArn=json.loads(out)["executionArn"])
    assert execution["name"] == "run-1" and json.loads(execution["input"]) == {"n": 1}

    sqs.send_message(QueueUrl=url, MessageBody="m1")
    api = http_api(gw, "SQS-ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": "5"},
                   route="GET /receive")
    status, _, out = gw.request(api, "GET", "/receive")
    assert status == 200, out
    (got,) = json.loads(out)["Messages"]
    assert got["Body"] == "m1"
    api = http_api(gw, "SQS-DeleteMessage", {"QueueUrl": url, "ReceiptHandle": "$request.querystring.h"},
                   route="DELETE /message")
    status, _, out = gw.request(api, "DELETE", "/message?h=" + urllib.parse.quote(got["ReceiptHandle"]))
    assert status == 200, out
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessagesNotVisible"] == "0"


def test_integration_roles_sign_with_assumed_credentials(moto, gw):
    """`credentialsArn` (HTTP API first-class integrations) and `credentials` (REST `AWS`
    integrations): Portico assumes the role through moto's STS with its own keys, then signs
    with the role's temporary credentials (and session token). The role may send to one queue
    only; the gateway's own user may send anywhere, so moto's refusal of the other queue shows
    which credentials signed."""
    sqs = moto.client("sqs")
    allowed = sqs.create_queue(QueueName="role-allowed")["QueueUrl"]
    other = sqs.create_queue(QueueName="role-other")["QueueUrl"]
    allowed_arn = sqs.get_queue_attributes(QueueUrl=allowed, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    iam = moto.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="sender", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="sender", PolicyName="one-queue", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": allowed_arn}]}))

    def send(api, queue):
        return gw.request(api, "POST", "/send", body=json.dumps({"order": {"to": queue}}),
                          headers={"Content-Type": "application/json"})

    as_role = {q: http_api(gw, "SQS-SendMessage", {"QueueUrl": q, "MessageBody": "$request.body.order"},
                           CredentialsArn=role) for q in (allowed, other)}
    # Until STS answered, calls through the role fail (500) rather than go out unsigned.
    deadline = time.monotonic() + 10
    while (status := send(as_role[allowed], allowed)[0]) == 500 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status == 200, (status, gw.log())
    assert [json.loads(m["Body"]) for m in drain(sqs, allowed)] == [{"to": allowed}]
    status, _, out = send(as_role[other], other)
    assert status == 403 and b"AccessDenied" in out, (status, out)
    # The gateway's own credentials (no role) may send to the other queue.
    mine = http_api(gw, "SQS-SendMessage", {"QueueUrl": other, "MessageBody": "$request.body.order"})
    assert send(mine, other)[0] == 200
    assert len(drain(sqs, other)) == 1

    # REST: the same role through `credentials`; the error template sees moto's refusal.
    for queue, want in ((allowed, 200), (other, 400)):
        api = rest_sqs_api(gw, queue, credentials=role)
        status, _, out = gw.request(api, "POST", "/prod/orders", body=b'{"order": {"items": []}}',
                                    headers={"Content-Type": "application/json"})
        assert status == want, out
        if want == 400:
            assert "AccessDenied" in json.loads(out)["detail"], out
    assert len(drain(sqs, allowed)) == 1

    # A `credentials` that is not a role ARN is refused at deployment.
    with pytest.raises(ClientError) as e:
        rest_sqs_api(gw, allowed, credentials="arn:aws:iam::*:user/*")
    assert "must be an IAM role ARN" in e.value.response["Error"]["Message"]


class Capture:
    """An AWS endpoint stand-in on 127.0.0.1:0 that records each request and answers a fixed
    configuration document (as AppConfig's GetConfiguration does)."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading
        self.requests = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                capture.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = b'{"feature": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Configuration-Version", "3")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_http_api_appconfig_get_configuration_signed(moto, tmp_path):
    """`AppConfig-GetConfiguration`. moto's AppConfig has the control plane only (applications,
    profiles, hosted versions: no environments, no GetConfiguration), so the call goes to a
    capture server through `AWS_ENDPOINT_URL_APPCONFIG`, and its signature is recomputed here
    with botocore's SigV4 signer from the headers Portico says it signed."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    capture = Capture()
    env = moto.env(AWS_ENDPOINT_URL_APPCONFIG=capture.url, AWS_SESSION_TOKEN="token-1",
                   AWS_ACCESS_KEY_ID="AKIDAPPCONFIG", AWS_SECRET_ACCESS_KEY="appconfig-secret")
    g = Gateway(tmp_path / "data", tmp_path / "portico.log", env=env).start()
    try:
        api = http_api(g, "AppConfig-GetConfiguration", {
            "Application": "shop", "Environment": "$request.querystring.env",
            "Configuration": "flags/v1", "ClientId": "$request.header.x-client",
            "ClientConfigurationVersion": "2",
        }, route="GET /config")
        status, headers, out = g.request(api, "GET", "/config?env=prod", headers={"X-Client": "c 1"})
        assert status == 200, out
        assert json.loads(out) == {"feature": True}
        assert {k.lower(): v for k, v in headers.items()}["content-type"] == "application/json"
        ((method, path, seen),) = capture.requests
        assert method == "GET"
        assert path == ("/applications/shop/environments/prod/configurations/flags%2Fv1"
                        "?client_id=c%201&client_configuration_version=2"), path
        assert seen["x-amz-security-token"] == "token-1"
        auth = seen["authorization"]
        assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDAPPCONFIG/"), auth
        assert "/us-east-1/appconfig/aws4_request" in auth, auth
        signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
        assert "host" in signed and "x-amz-date" in signed, signed
        req = AWSRequest(method=method, url=capture.url + path,
                         headers={h: seen[h] for h in signed})
        req.context["timestamp"] = seen["x-amz-date"]
        signer = SigV4Auth(Credentials("AKIDAPPCONFIG", "appconfig-secret", "token-1"), "appconfig", REGION)
        string_to_sign = signer.string_to_sign(req, signer.canonical_request(req))
        assert auth.endswith("Signature=" + signer.signature(string_to_sign, req)), auth
        # The endpoint down: a 5xx, never a hang.
        capture.close()
        started = time.monotonic()
        status, _, _ = g.request(api, "GET", "/config?env=prod", headers={"X-Client": "c"})
        assert 500 <= status < 600 and time.monotonic() - started < 5
    finally:
        g.stop()


class SlowProxy:
    """A TCP proxy on 127.0.0.1:0 to `target` that holds each new connection `delay_s` before
    passing bytes through (a slow STS: the role's first credentials arrive late)."""

    def __init__(self, target_port, delay_s):
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.target_port, self.delay_s = target_port, delay_s
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import threading
        while True:
            try:
                down, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.relay, args=(down,), daemon=True).start()

    def relay(self, down):
        import threading
        time.sleep(self.delay_s)
        up = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)

        def pipe(a, b):
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(up, down), daemon=True).start()
        pipe(down, up)

    def close(self):
        self.sock.close()


def test_first_request_through_a_role_waits_for_a_slow_sts(moto, tmp_path):
    """Issue 23: right after a deployment, a route whose integration names a role answered 500
    while STS was still being asked. With STS slowed by 1 s, the very first request waits for
    the credentials (within the integration timeout) and succeeds."""
    sqs = moto.client("sqs")
    queue = sqs.create_queue(QueueName="slow-sts")["QueueUrl"]
    iam = moto.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="slow-sender", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="slow-sender", PolicyName="send", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}))
    proxy = SlowProxy(moto.port, delay_s=1.0)
    g = Gateway(tmp_path / "data", tmp_path / "portico.log",
                env=moto.env(AWS_ENDPOINT_URL_STS=proxy.url)).start()
    try:
        api = http_api(g, "SQS-SendMessage", {"QueueUrl": queue, "MessageBody": "$request.body.order"},
                       CredentialsArn=role)
        started = time.monotonic()
        status, _, out = g.request(api, "POST", "/send", body=json.dumps({"order": {"n": 1}}),
                                   headers={"Content-Type": "application/json"})
        waited = time.monotonic() - started
        assert status == 200, (status, out, g.log())
        assert proxy.connections >= 1
        # It did wait for STS (the proxy holds each connection 1 s), and no longer than needed.
        assert 0.5 < waited < 10, waited
        assert [json.loads(m["Body"]) for m in drain(sqs, queue)] == [{"n": 1}]
    finally:
        g.stop()
        proxy.close()
