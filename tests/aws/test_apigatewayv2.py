"""The apigatewayv2 control plane through boto3, and what it configures through the data plane."""

import json
import re
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Gateway


def http_api(client, name="pets"):
    return client.create_api(Name=name, ProtocolType="HTTP")["ApiId"]


def wired_api(client, upstream, route_key="ANY /{proxy+}", stage="$default"):
    """API → HTTP_PROXY integration → route → auto-deploying stage; returns (api_id, integration_id)."""
    api_id = http_api(client)
    integration = client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="ANY",
        IntegrationUri=upstream.url(),
        PayloadFormatVersion="1.0",
    )
    client.create_route(ApiId=api_id, RouteKey=route_key, Target=f"integrations/{integration['IntegrationId']}")
    client.create_stage(ApiId=api_id, StageName=stage, AutoDeploy=True)
    return api_id, integration["IntegrationId"]


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"], e.value.response


def test_create_and_call_through_the_data_plane(gateway, client, upstream):
    api = client.create_api(Name="pets", ProtocolType="HTTP", Description="demo")
    assert re.fullmatch(r"[a-z0-9]{10}", api["ApiId"])
    assert api["ApiEndpoint"] == f"http://{api['ApiId']}.execute-api.localhost:{gateway.port}"
    assert api["RouteSelectionExpression"] == "$request.method $request.path"
    assert api["CreatedDate"].year >= 2024  # botocore parsed the ISO-8601 timestamp
    api_id = api["ApiId"]

    integration = client.create_integration(
        ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
        IntegrationUri=upstream.url(), PayloadFormatVersion="1.0",
    )
    assert re.fullmatch(r"[a-z0-9]{7}", integration["IntegrationId"])
    assert integration["TimeoutInMillis"] == 30000
    route = client.create_route(
        ApiId=api_id, RouteKey="ANY /{proxy+}", Target=f"integrations/{integration['IntegrationId']}"
    )
    assert route["AuthorizationType"] == "NONE"
    status, _, _ = gateway.request(api_id, "GET", "/pets/1")
    assert status == 404, "no stage yet: nothing is served"

    stage = client.create_stage(
        ApiId=api_id, StageName="$default", AutoDeploy=True,
        StageVariables={"color": "blue"},
        DefaultRouteSettings={"ThrottlingBurstLimit": 10, "ThrottlingRateLimit": 5.0},
        RouteSettings={"ANY /{proxy+}": {"DetailedMetricsEnabled": True}},
    )
    assert stage["AutoDeploy"] is True and stage["DeploymentId"]
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 10
    assert stage["RouteSettings"]["ANY /{proxy+}"]["DetailedMetricsEnabled"] is True
    assert stage["StageVariables"] == {"color": "blue"}

    body = b'{"name": "Rex", "tags": ["a", "b"]}'
    status, headers, out = gateway.request(
        api_id, "POST", "/pets/7?sort=desc&x=%20y&x=2", body=body,
        headers={"Content-Type": "application/json", "X-Custom": "Value 1", "X-Other": "two"},
    )
    assert status == 200, out
    assert headers.get("X-Upstream") == "yes"
    seen = upstream.last()
    assert seen["method"] == "POST"
    assert seen["path"] == "/pets/7"
    assert seen["query"] == "sort=desc&x=%20y&x=2"
    assert seen["body"] == body
    sent = dict(seen["headers"])
    assert sent["x-custom"] == "Value 1" and sent["x-other"] == "two"
    assert sent["content-type"] == "application/json"
    assert sent["content-length"] == str(len(body))

    # Auto-deploy: a new route is served without CreateDeployment.
    client.create_route(ApiId=api_id, RouteKey="GET /health", Target=f"integrations/{integration['IntegrationId']}")
    assert len(client.get_deployments(ApiId=api_id)["Items"]) == 1, "replaced auto-deployments are pruned"
    status, _, out = gateway.request(api_id, "GET", "/health")
    # An exact route sends the integration URI as it is (no greedy parameter to append).
    assert status == 200 and json.loads(out)["path"] == "/"

    # Path members with '$', ' ', '/', '{', '+' round-trip through botocore's encoding.
    assert client.get_stage(ApiId=api_id, StageName="$default")["StageVariables"] == {"color": "blue"}
    client.delete_route_settings(ApiId=api_id, StageName="$default", RouteKey="ANY /{proxy+}")
    assert client.get_stage(ApiId=api_id, StageName="$default")["RouteSettings"] == {}
    code, message, _ = error_of(
        lambda: client.delete_route_settings(ApiId=api_id, StageName="$default", RouteKey="ANY /{proxy+}")
    )
    assert code == "NotFoundException", message


def test_quick_create(gateway, client, upstream):
    api = client.create_api(Name="quick", ProtocolType="HTTP", Target=upstream.url("/base"), RouteKey="GET /items")
    routes = client.get_routes(ApiId=api["ApiId"])["Items"]
    assert [r["RouteKey"] for r in routes] == ["GET /items"]
    stages = client.get_stages(ApiId=api["ApiId"])["Items"]
    assert stages[0]["StageName"] == "$default" and stages[0]["AutoDeploy"] is True
    status, _, out = gateway.request(api["ApiId"], "GET", "/items")
    assert status == 200, out
    assert upstream.last()["path"] == "/base"
    # UpdateApi with target changes quick create's integration.
    client.update_api(ApiId=api["ApiId"], Target=upstream.url("/v2"))
    gateway.request(api["ApiId"], "GET", "/items")
    assert upstream.last()["path"] == "/v2"


def test_manual_deployments_and_stages(gateway, client, upstream):
    api_id = http_api(client)
    integration = client.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationUri=upstream.url("/one"))
    client.create_route(ApiId=api_id, RouteKey="GET /a", Target=f"integrations/{integration['IntegrationId']}")
    client.create_stage(ApiId=api_id, StageName="prod")
    assert gateway.request(api_id, "GET", "/prod/a")[0] == 404, "a stage without a deployment serves nothing"
    first = client.create_deployment(ApiId=api_id, StageName="prod", Description="v1")
    assert first["AutoDeployed"] is False and first["DeploymentStatus"] == "DEPLOYED"
    assert gateway.request(api_id, "GET", "/prod/a")[0] == 200
    assert upstream.last()["path"] == "/one"

    # A change is invisible until deployed: deployments are immutable snapshots.
    client.update_integration(ApiId=api_id, IntegrationId=integration["IntegrationId"], IntegrationUri=upstream.url("/two"))
    gateway.request(api_id, "GET", "/prod/a")
    assert upstream.last()["path"] == "/one"
    second = client.create_deployment(ApiId=api_id)
    client.update_stage(ApiId=api_id, StageName="prod", DeploymentId=second["DeploymentId"])
    gateway.request(api_id, "GET", "/prod/a")
    assert upstream.last()["path"] == "/two"
    # Roll back by pointing the stage at the first deployment.
    client.update_stage(ApiId=api_id, StageName="prod", DeploymentId=first["DeploymentId"])
    gateway.request(api_id, "GET", "/prod/a")
    assert upstream.last()["path"] == "/one"

    # A stage created on an existing deployment serves it at once.
    client.create_stage(ApiId=api_id, StageName="pinned", DeploymentId=second["DeploymentId"])
    gateway.request(api_id, "GET", "/pinned/a")
    assert upstream.last()["path"] == "/two"
    client.delete_stage(ApiId=api_id, StageName="pinned")

    got = client.get_deployment(ApiId=api_id, DeploymentId=first["DeploymentId"])
    assert got["Description"] == "v1"
    client.update_deployment(ApiId=api_id, DeploymentId=first["DeploymentId"], Description="v1 again")
    client.delete_deployment(ApiId=api_id, DeploymentId=second["DeploymentId"])
    assert {d["DeploymentId"] for d in client.get_deployments(ApiId=api_id)["Items"]} == {first["DeploymentId"]}

    # Stage variables are used in the integration URI.
    client.update_integration(
        ApiId=api_id, IntegrationId=integration["IntegrationId"],
        IntegrationUri="http://${stageVariables.up}/${stageVariables.base}",
    )
    client.create_stage(ApiId=api_id, StageName="beta", AutoDeploy=True,
                        StageVariables={"up": upstream.authority, "base": "b1"})
    gateway.request(api_id, "GET", "/beta/a")
    assert upstream.last()["path"] == "/b1"
    client.update_stage(ApiId=api_id, StageName="beta", StageVariables={"up": upstream.authority, "base": "b2"})
    gateway.request(api_id, "GET", "/beta/a")
    assert upstream.last()["path"] == "/b2"

    client.delete_stage(ApiId=api_id, StageName="beta")
    assert gateway.request(api_id, "GET", "/beta/a")[0] == 404
    client.delete_api(ApiId=api_id)
    assert gateway.request(api_id, "GET", "/prod/a")[0] == 404
    assert error_of(lambda: client.get_api(ApiId=api_id))[0] == "NotFoundException"


def test_every_validation_error(gateway, client, upstream):
    api_id = http_api(client)
    integration_id = client.create_integration(
        ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationUri=upstream.url()
    )["IntegrationId"]
    target = f"integrations/{integration_id}"
    client.create_route(ApiId=api_id, RouteKey="GET /taken", Target=target)
    client.create_stage(ApiId=api_id, StageName="prod")
    deployment_id = client.create_deployment(ApiId=api_id, StageName="prod")["DeploymentId"]

    cases = [
        ("unknown api", lambda: client.get_api(ApiId="nope"),
         "NotFoundException", "Invalid API identifier specified 000000000000:nope"),
        ("unknown route", lambda: client.get_route(ApiId=api_id, RouteId="nope"),
         "NotFoundException", "Invalid Route identifier specified nope"),
        ("unknown integration", lambda: client.get_integration(ApiId=api_id, IntegrationId="nope"),
         "NotFoundException", "Invalid Integration identifier specified nope"),
        ("unknown stage", lambda: client.get_stage(ApiId=api_id, StageName="nope"),
         "NotFoundException", "Invalid stage identifier specified nope"),
        ("unknown deployment", lambda: client.get_deployment(ApiId=api_id, DeploymentId="nope"),
         "NotFoundException", "Invalid Deployment identifier specified nope"),
        ("websocket", lambda: client.create_api(Name="ws", ProtocolType="WEBSOCKET"),
         "BadRequestException", "routeSelectionExpression is required for WebSocket APIs"),
        ("bad selection expression", lambda: client.create_api(Name="x", ProtocolType="HTTP", RouteSelectionExpression="$request.body.action"),
         "BadRequestException", "routeSelectionExpression of an HTTP API must be"),
        ("quick create target", lambda: client.create_api(Name="x", ProtocolType="HTTP", Target="ftp://x"),
         "BadRequestException", "Invalid integrationUri 'ftp://x'"),
        ("route key syntax", lambda: client.create_route(ApiId=api_id, RouteKey="GET nope"),
         "BadRequestException", "Invalid routeKey: route key 'GET nope' has an invalid path: it must start with '/'"),
        ("route key method", lambda: client.create_route(ApiId=api_id, RouteKey="FETCH /a"),
         "BadRequestException", "has an invalid HTTP method"),
        ("route problems together", lambda: client.create_route(ApiId=api_id, RouteKey="GET /a/", Target="lambda", AuthorizationType="JWT"),
         "BadRequestException", "3 validation errors"),
        ("unknown target", lambda: client.create_route(ApiId=api_id, RouteKey="GET /a", Target="integrations/nope"),
         "NotFoundException", "Invalid target integrations/nope: the integration does not exist"),
        ("duplicate route key", lambda: client.create_route(ApiId=api_id, RouteKey="GET /taken", Target=target),
         "ConflictException", "Route with key GET /taken already exists for this API"),
        ("integration type", lambda: client.create_integration(ApiId=api_id, IntegrationType="AWS", IntegrationUri="arn:aws:apigateway:us-east-1:sqs:path/1/q"),
         "BadRequestException", "Currently, an API with a protocol type of HTTP may only be associated with proxy integrations (AWS_PROXY, HTTP_PROXY)"),
        ("lambda function arn", lambda: client.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri="arn:aws:lambda:us-east-1:1:function:f", PayloadFormatVersion="2.0"),
         "BadRequestException", "is not a Lambda function ARN"),
        # HTTP APIs have no MOCK (nor HTTP, AWS) integrations: AWS refuses them with this message.
        ("mock integration", lambda: client.create_integration(ApiId=api_id, IntegrationType="MOCK"),
         "BadRequestException", "Currently, an API with a protocol type of HTTP may only be associated with proxy integrations (AWS_PROXY, HTTP_PROXY)"),
        ("http integration", lambda: client.create_integration(ApiId=api_id, IntegrationType="HTTP", IntegrationUri="http://127.0.0.1:1/"),
         "BadRequestException", "Currently, an API with a protocol type of HTTP may only be associated with proxy integrations"),
        ("integration uri", lambda: client.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationUri="ftp://x"),
         "BadRequestException", "HTTP_PROXY integrations need an absolute http:// or https:// URL"),
        ("unknown VPC link", lambda: client.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationUri="http://10.0.0.1:80/",
                                                               ConnectionType="VPC_LINK", ConnectionId="nope"),
         "BadRequestException", "Invalid VPC link identifier specified: 'nope'"),
        ("missing uri", lambda: client.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY"),
         "BadRequestException", "integrationUri is required for HTTP_PROXY integrations"),
        ("integration problems together", lambda: client.create_integration(
            ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationUri="http://127.0.0.1:99999",
            TimeoutInMillis=31000, PayloadFormatVersion="2.0", IntegrationMethod="FETCH"),
         "BadRequestException", "4 validation errors"),
        ("stage name", lambda: client.create_stage(ApiId=api_id, StageName="bad name"),
         "BadRequestException", "Invalid stageName 'bad name'"),
        ("stage variables", lambda: client.create_stage(ApiId=api_id, StageName="s1", StageVariables={"bad-name": "ok", "v": "no spaces"}),
         "BadRequestException", "2 validation errors"),
        ("route settings", lambda: client.create_stage(ApiId=api_id, StageName="s2", DefaultRouteSettings={"LoggingLevel": "LOUD"}),
         "BadRequestException", "defaultRouteSettings.loggingLevel must be ERROR, INFO or OFF"),
        ("duplicate stage", lambda: client.create_stage(ApiId=api_id, StageName="prod"),
         "ConflictException", "Stage prod already exists for this API"),
        ("unknown deployment for stage", lambda: client.create_stage(ApiId=api_id, StageName="s3", DeploymentId="nope"),
         "NotFoundException", "Invalid Deployment identifier specified nope"),
        ("deployment for unknown stage", lambda: client.create_deployment(ApiId=api_id, StageName="nope"),
         "NotFoundException", "Invalid stage identifier specified nope"),
        ("integration in use", lambda: client.delete_integration(ApiId=api_id, IntegrationId=integration_id),
         "ConflictException", "is the target of route(s) GET /taken"),
        ("deployment in use", lambda: client.delete_deployment(ApiId=api_id, DeploymentId=deployment_id),
         "ConflictException", "is in use by stage(s) prod"),
        ("page size", lambda: client.get_routes(ApiId=api_id, MaxResults="0"),
         "BadRequestException", "maxResults must be a number between 1 and 500"),
        ("page token", lambda: client.get_routes(ApiId=api_id, NextToken="not-a-token"),
         "BadRequestException", "Invalid nextToken"),
    ]
    failures = []
    for name, call, code, message in cases:
        try:
            got_code, got_message, response = error_of(call)
        except BaseException as e:  # noqa: BLE001 - report every case at once
            failures.append(f"{name}: no ClientError ({e!r})")
            continue
        status = response["ResponseMetadata"]["HTTPStatusCode"]
        want_status = {"NotFoundException": 404, "BadRequestException": 400, "ConflictException": 409}[code]
        if got_code != code or message not in got_message or status != want_status:
            failures.append(f"{name}: want {want_status} {code} containing {message!r}, got {status} {got_code} {got_message!r}")
    assert not failures, "\n".join(failures)

    # Nothing was created by the refused calls.
    assert [r["RouteKey"] for r in client.get_routes(ApiId=api_id)["Items"]] == ["GET /taken"]
    assert [s["StageName"] for s in client.get_stages(ApiId=api_id)["Items"]] == ["prod"]


def test_malformed_requests_are_4xx(gateway):
    api_id = http_api(gateway.client())
    cases = [
        ("POST", "/v2/apis", b"{", 400),
        ("POST", "/v2/apis", b"[1, 2]", 400),
        ("POST", "/v2/apis", b'{"name": 3, "protocolType": "HTTP"}', 400),
        ("POST", f"/v2/apis/{api_id}/routes", b'{"routeKey": "GET /a", "apiKeyRequired": "yes"}', 400),
        ("POST", f"/v2/apis/{api_id}/integrations", b'{"integrationType": "HTTP_PROXY", "timeoutInMillis": 1e99}', 400),
        ("POST", "/v2/apis", b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'", "protocolType": "HTTP"}', 413),
        ("POST", "/v2/apis", b"\xff\xfe", 400),
        ("GET", "/v2/apis/%ff%fe", b"", 400),
        ("GET", "/v2/apis/" + "a" * 5000, b"", 404),
        ("GET", f"/v2/apis/{api_id}/routes/..%2F..%2Fetc", b"", 404),
        ("PUT", f"/v2/apis/{api_id}/routes", b"{}", 400),
        # No operation: a 400 an SDK cannot take for a missing resource.
        ("GET", "/v2/nothing", b"", 400),
        ("PUT", "/portico/config", b'{"apis": 3}', 400),
    ]
    for method, path, body, status in cases:
        got, headers, out = gateway.admin_raw(method, path, body)
        assert got == status, f"{method} {path[:60]}: {got} {out[:200]!r}"
        assert headers.get("x-amzn-errortype", "").endswith("Exception"), headers
        assert json.loads(out)["message"], out


def test_pagination(gateway, client):
    made = sorted(http_api(client, f"api{n}") for n in range(7))
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": "3"}
        if token:
            kwargs["NextToken"] = token
        page = client.get_apis(**kwargs)
        pages += 1
        assert len(page["Items"]) <= 3
        seen += [a["ApiId"] for a in page["Items"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == made and pages == 3
    paginated = [a["ApiId"] for p in client.get_paginator("get_apis").paginate(PaginationConfig={"PageSize": 2}) for a in p["Items"]]
    assert paginated == made

    api_id = made[0]
    integration_id = client.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationUri="http://127.0.0.1:9")["IntegrationId"]
    keys = sorted(f"GET /r{n}" for n in range(12))
    for key in keys:
        client.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integration_id}")
    routes = [r["RouteKey"] for p in client.get_paginator("get_routes").paginate(ApiId=api_id, PaginationConfig={"PageSize": 5}) for r in p["Items"]]
    assert sorted(routes) == keys and len(routes) == 12


def test_restart_keeps_everything(tmp_path, data_dir, upstream):
    gw = Gateway(data_dir, tmp_path / "one.log").start()
    try:
        client = gw.client()
        api_id, integration_id = wired_api(client, upstream, stage="prod")
        client.update_stage(ApiId=api_id, StageName="prod", StageVariables={"k": "v"}, Description="kept")
        before = {
            "api": client.get_api(ApiId=api_id),
            "routes": client.get_routes(ApiId=api_id)["Items"],
            "integration": client.get_integration(ApiId=api_id, IntegrationId=integration_id),
            "stage": client.get_stage(ApiId=api_id, StageName="prod"),
            "deployments": client.get_deployments(ApiId=api_id)["Items"],
        }
    finally:
        gw.stop()
    assert gw.proc.returncode == 0, gw.log()

    gw = Gateway(data_dir, tmp_path / "two.log").start()
    try:
        client = gw.client()
        after = {
            "api": client.get_api(ApiId=api_id),
            "routes": client.get_routes(ApiId=api_id)["Items"],
            "integration": client.get_integration(ApiId=api_id, IntegrationId=integration_id),
            "stage": client.get_stage(ApiId=api_id, StageName="prod"),
            "deployments": client.get_deployments(ApiId=api_id)["Items"],
        }
        for k in before:
            before[k] = strip(before[k])
            after[k] = strip(after[k])
        # The endpoint names the new data plane port; everything else is identical.
        before["api"].pop("ApiEndpoint")
        assert after["api"].pop("ApiEndpoint") == f"http://{api_id}.execute-api.localhost:{gw.port}"
        assert after == before
        status, _, out = gw.request(api_id, "GET", "/prod/after/restart?q=1")
        assert status == 200, out
        assert upstream.last()["path"] == "/after/restart"
    finally:
        gw.stop()


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def test_kill_9_right_after_a_2xx(tmp_path, data_dir, upstream):
    """Each change is answered 2xx and the gateway is killed with SIGKILL at once; the next start
    has the change and serves it."""
    gw = Gateway(data_dir, tmp_path / "gw0.log").start()
    client = gw.client()
    api_id, integration_id = wired_api(client, upstream, route_key="GET /{proxy+}")
    rounds = 5
    for n in range(rounds):
        client.update_integration(ApiId=api_id, IntegrationId=integration_id, IntegrationUri=upstream.url(f"/v{n}"))
        extra = client.create_route(ApiId=api_id, RouteKey=f"POST /r{n}", Target=f"integrations/{integration_id}")
        gw.kill()  # SIGKILL right after the 2xx: no shutdown path runs
        gw = Gateway(data_dir, tmp_path / f"gw{n + 1}.log").start()
        client = gw.client()
        got = client.get_integration(ApiId=api_id, IntegrationId=integration_id)
        assert got["IntegrationUri"] == upstream.url(f"/v{n}")
        assert client.get_route(ApiId=api_id, RouteId=extra["RouteId"])["RouteKey"] == f"POST /r{n}"
        status, _, out = gw.request(api_id, "GET", "/x")
        assert status == 200, out
        assert upstream.last()["path"] == f"/v{n}/x", "the restarted gateway serves the last change"
        status, _, _ = gw.request(api_id, "POST", f"/r{n}")
        assert status == 200
    gw.stop()


def test_portico_config_document_round_trips(gateway, client, upstream):
    """PUT /portico/config is a declarative import; the imported API is an ordinary v2 API."""
    doc = {"apis": [{
        "apiId": "imported1",
        "routes": [{"routeKey": "GET /pets/{id}", "target": "integrations/backend"}],
        "integrations": [{"integrationId": "backend", "integrationType": "HTTP_PROXY",
                          "integrationUri": upstream.url("/pets/{id}")}],
        "stages": [{"stageName": "$default"}, {"stageName": "prod"}],
    }]}
    status, _, out = gateway.admin_raw("PUT", "/portico/config", json.dumps(doc).encode())
    assert status == 200, out
    assert json.loads(out)["generation"] >= 1
    assert gateway.request("imported1", "GET", "/prod/pets/9")[0] == 200
    assert upstream.last()["path"] == "/pets/9"
    stages = sorted(s["StageName"] for s in client.get_stages(ApiId="imported1")["Items"])
    assert stages == ["$default", "prod"]
    status, _, out = gateway.admin_raw("GET", "/portico/config")
    exported = json.loads(out)
    assert exported["apis"][0]["integrations"][0]["integrationUri"] == upstream.url("/pets/{id}")
    # A v2 change to the imported API is served once deployed.
    client.create_route(ApiId="imported1", RouteKey="GET /more", Target="integrations/backend")
    assert gateway.request("imported1", "GET", "/more")[0] == 404
    client.create_deployment(ApiId="imported1", StageName="$default")
    assert gateway.request("imported1", "GET", "/more")[0] == 200


def test_kill_9_during_a_stream_of_changes(tmp_path, data_dir, upstream):
    """Routes are created as fast as the admin API answers while the gateway is SIGKILLed at an
    arbitrary moment: every route whose CreateRoute was answered 201 is there after the restart."""
    gw = Gateway(data_dir, tmp_path / "before.log").start()
    client = gw.client()
    api_id, integration_id = wired_api(client, upstream, route_key="GET /{proxy+}")
    acknowledged = []
    stop = threading.Event()

    def create_routes():
        c = gw.client()
        n = 0
        while not stop.is_set():
            try:
                r = c.create_route(ApiId=api_id, RouteKey=f"GET /burst/{n}", Target=f"integrations/{integration_id}")
            except Exception:  # noqa: BLE001 - the gateway is being killed
                return
            acknowledged.append(r["RouteId"])
            n += 1

    writer = threading.Thread(target=create_routes)
    writer.start()
    time.sleep(1.5)
    gw.kill()
    stop.set()
    writer.join(timeout=30)
    assert len(acknowledged) > 10, "the writer made too few changes to test anything"
    print(f"kill -9 after {len(acknowledged)} acknowledged CreateRoute calls")

    gw = Gateway(data_dir, tmp_path / "after.log").start()
    try:
        client = gw.client()
        stored = {r["RouteId"] for p in client.get_paginator("get_routes").paginate(ApiId=api_id) for r in p["Items"]}
        missing = [r for r in acknowledged if r not in stored]
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged routes lost"
        # The auto-deploying stage serves the last acknowledged route.
        last = len(acknowledged) - 1
        assert gw.request(api_id, "GET", f"/burst/{last}")[0] == 200
    finally:
        gw.stop()


def test_http_apis_have_no_mock_integrations(gateway):
    """AWS offers MOCK (and HTTP, AWS) integrations to REST and WebSocket APIs only: an HTTP API
    refuses them through the control plane (above) and in a configuration document alike."""
    doc = {"apis": [{"apiId": "mock1", "protocolType": "HTTP",
                     "routes": [{"routeKey": "$default", "target": "integrations/m"}],
                     "integrations": [{"integrationId": "m", "integrationType": "MOCK",
                                      "integrationUri": "http://127.0.0.1:1/"}],
                     "stages": [{"stageName": "$default"}]}]}
    status, headers, body = gateway.admin_raw("PUT", "/portico/config", json.dumps(doc).encode())
    assert status == 400, body
    assert "may only be associated with proxy integrations (AWS_PROXY, HTTP_PROXY)" in body.decode(), body
    status, _, _ = gateway.request("mock1", "GET", "/")
    assert status == 404
