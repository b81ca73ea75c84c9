"""REST canary releases with boto3, as AWS documents them: `create_deployment` with
`canarySettings` on an existing stage, `update_stage` patches of `/canarySettings/*`, the split
of requests (0% and 100% exact, 50% within a bound over 1,000 requests), canary requests
reported as stage `prod/canary`, promotion by copying the canary's deployment and variables,
and removal."""

import http.client
import json
import time

import boto3
import botocore.config
import botocore.exceptions
import pytest


def v1(gateway):
    return boto3.client(
        "apigateway",
        endpoint_url=f"http://{gateway.admin}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def split(gateway, upstream, api_id, n):
    """Sends n requests on one connection; returns how many reached each upstream path."""
    host, port = gateway.listen.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    before = len(upstream.requests)
    for _ in range(n):
        conn.request("GET", "/prod/pets",
                     headers={"Host": f"{api_id}.execute-api.localhost:{gateway.port}"})
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, body
    conn.close()
    paths = {}
    for seen in upstream.requests[before:]:
        paths[seen["path"]] = paths.get(seen["path"], 0) + 1
    return paths


def test_canary_release_with_boto3(gateway, upstream):
    client = v1(gateway)
    api = client.create_rest_api(name="canary")
    api_id, root = api["id"], api["rootResourceId"]
    pets = client.create_resource(restApiId=api_id, parentId=root, pathPart="pets")["id"]
    client.put_method(restApiId=api_id, resourceId=pets, httpMethod="GET",
                      authorizationType="NONE")

    def integrate(prefix):
        client.put_integration(restApiId=api_id, resourceId=pets, httpMethod="GET",
                               type="HTTP_PROXY", integrationHttpMethod="GET",
                               uri=upstream.url(prefix + "/${stageVariables.v}"))

    integrate("/stable")
    stable = client.create_deployment(restApiId=api_id, stageName="prod", variables={"v": "a"})
    integrate("/canary")

    # A canary needs an existing stage; percentTraffic is 0 to 100.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.create_deployment(restApiId=api_id, stageName="nope",
                                 canarySettings={"percentTraffic": 10.0})
    assert e.value.response["Error"]["Code"] == "BadRequestException"

    canary = client.create_deployment(
        restApiId=api_id, stageName="prod",
        canarySettings={"percentTraffic": 0.0, "stageVariableOverrides": {"v": "b"}})
    stage = client.get_stage(restApiId=api_id, stageName="prod")
    assert stage["deploymentId"] == stable["id"]
    assert stage["canarySettings"]["deploymentId"] == canary["id"]
    assert stage["canarySettings"]["percentTraffic"] == 0.0
    assert stage["canarySettings"]["stageVariableOverrides"] == {"v": "b"}
    assert split(gateway, upstream, api_id, 50) == {"/stable/a": 50}

    client.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "100"}])
    assert split(gateway, upstream, api_id, 50) == {"/canary/b": 50}

    client.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "50.0"}])
    got = split(gateway, upstream, api_id, 1000)
    print("50% canary over 1,000 requests:", got)
    assert set(got) == {"/stable/a", "/canary/b"}
    assert 400 <= got["/canary/b"] <= 600, got

    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
            {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "150"}])
    assert e.value.response["Error"]["Code"] == "BadRequestException"

    # The canary's requests are reported apart, as stage "prod/canary".
    deadline = time.monotonic() + 5
    while True:
        status, _, body = gateway.admin_raw("GET", "/portico/stats")
        assert status == 200
        stages = {(r["stage"], r["count"]) for r in json.loads(body)["routes"]
                  if r["apiId"] == api_id}
        names = {s for s, _ in stages}
        if {"prod", "prod/canary"} <= names:
            break
        assert time.monotonic() < deadline, stages
        time.sleep(0.2)

    # Promote as AWS documents it, then the stage serves the canary's deployment alone.
    stage = client.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "copy", "from": "/canarySettings/deploymentId", "path": "/deploymentId"},
        {"op": "copy", "from": "/canarySettings/stageVariableOverrides", "path": "/variables"},
        {"op": "remove", "path": "/canarySettings"}])
    assert stage["deploymentId"] == canary["id"]
    assert "canarySettings" not in stage
    assert stage["variables"] == {"v": "b"}
    assert split(gateway, upstream, api_id, 30) == {"/canary/b": 30}

    # A canary set by patch on a stage without one starts on the stage's deployment; removing
    # it leaves the stage as it was.
    client.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/canarySettings/deploymentId", "value": stable["id"]},
        {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "100"}])
    assert split(gateway, upstream, api_id, 10) == {"/stable/b": 10}
    client.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "remove", "path": "/canarySettings"}])
    assert split(gateway, upstream, api_id, 10) == {"/canary/b": 10}


def test_is_canary_request_in_mapping_templates(gateway):
    """`$context.isCanaryRequest`: true for a request the split sent to the canary, false for
    one the stage served, absent on a stage without a canary (a boolean in `#if`)."""
    client = v1(gateway)
    api = client.create_rest_api(name="flag")
    api_id, root = api["id"], api["rootResourceId"]
    client.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    client.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK",
                           requestTemplates={"application/json": '{"statusCode": 200}'})
    client.put_method_response(restApiId=api_id, resourceId=root, httpMethod="GET", statusCode="200")
    client.put_integration_response(
        restApiId=api_id, resourceId=root, httpMethod="GET", statusCode="200",
        responseTemplates={"application/json":
                           '{"flag": "$context.isCanaryRequest", "branch": "#if($context.isCanaryRequest)canary#{else}stage#end"}'})
    client.create_deployment(restApiId=api_id, stageName="prod")

    def flag():
        host, port = gateway.listen.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/prod/", headers={"Host": f"{api_id}.execute-api.localhost:{gateway.port}"})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        assert r.status == 200, body
        return json.loads(body)

    assert flag() == {"flag": "", "branch": "stage"}
    client.create_deployment(restApiId=api_id, stageName="prod", canarySettings={"percentTraffic": 100.0})
    assert flag() == {"flag": "true", "branch": "canary"}
    client.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "0"}])
    assert flag() == {"flag": "false", "branch": "stage"}
