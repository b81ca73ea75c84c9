"""The apigateway (v1) control plane for REST APIs through the real AWS CLI v1 and boto3."""

import datetime
import json
import os
import shutil
import subprocess

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import Gateway


def cli(gateway, tmp_path, *args, ok=True):
    """Runs `aws apigateway ARGS` against the gateway; returns the parsed JSON output (or the run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PORTICO_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-aws-config")
    env.update(AWS_ACCESS_KEY_ID="portico", AWS_SECRET_ACCESS_KEY="portico", AWS_DEFAULT_REGION="us-east-1")
    run = subprocess.run(
        ["aws", "apigateway", *args, "--endpoint-url", f"http://{gateway.admin}", "--output", "json"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    if not ok:
        return run
    assert run.returncode == 0, f"aws apigateway {' '.join(args)}:\n{run.stderr}\ngateway:\n{gateway.log()}"
    return json.loads(run.stdout) if run.stdout.strip() else None


def v1(gateway):
    return boto3.client(
        "apigateway",
        endpoint_url=f"http://{gateway.admin}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"], e.value.response


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed (pip install awscli)")
def test_mock_api_walkthrough_with_the_aws_cli(gateway, tmp_path):
    api = cli(gateway, tmp_path, "create-rest-api", "--name", "pets", "--description", "demo")
    api_id, root_id = api["id"], api["rootResourceId"]
    assert api["name"] == "pets" and api["description"] == "demo"
    assert api["apiKeySource"] == "HEADER"
    assert api["endpointConfiguration"]["types"] == ["EDGE"]
    assert api["disableExecuteApiEndpoint"] is False
    ids = ["--rest-api-id", api_id]

    resources = cli(gateway, tmp_path, "get-resources", *ids)
    assert [(r["id"], r["path"]) for r in resources["items"]] == [(root_id, "/")]

    pets = cli(gateway, tmp_path, "create-resource", *ids, "--parent-id", root_id, "--path-part", "pets")
    assert pets["path"] == "/pets" and pets["parentId"] == root_id and pets["pathPart"] == "pets"
    at = [*ids, "--resource-id", pets["id"], "--http-method", "GET"]

    method = cli(gateway, tmp_path, "put-method", *at, "--authorization-type", "NONE")
    assert method == {"httpMethod": "GET", "authorizationType": "NONE", "apiKeyRequired": False}

    integration = cli(
        gateway, tmp_path, "put-integration", *at, "--type", "MOCK",
        "--request-templates", json.dumps({"application/json": '{"statusCode": 200}'}),
    )
    assert integration["type"] == "MOCK"
    assert integration["requestTemplates"] == {"application/json": '{"statusCode": 200}'}
    assert integration["timeoutInMillis"] == 29000
    assert integration["passthroughBehavior"] == "WHEN_NO_MATCH"

    ir = cli(
        gateway, tmp_path, "put-integration-response", *at, "--status-code", "200",
        "--response-templates", json.dumps({"application/json": '{"ok": true}'}),
    )
    assert ir["statusCode"] == "200" and ir["responseTemplates"] == {"application/json": '{"ok": true}'}
    mr = cli(gateway, tmp_path, "put-method-response", *at, "--status-code", "200")
    assert mr["statusCode"] == "200"

    got = cli(gateway, tmp_path, "get-method", *at)
    assert got["methodIntegration"]["integrationResponses"]["200"]["statusCode"] == "200"
    assert got["methodResponses"]["200"]["statusCode"] == "200"

    deployment = cli(gateway, tmp_path, "create-deployment", *ids, "--stage-name", "prod", "--description", "v1")
    assert deployment["description"] == "v1"
    assert isinstance(deployment["createdDate"], (int, float))
    summary = cli(gateway, tmp_path, "get-deployment", *ids, "--deployment-id", deployment["id"], "--embed", "apisummary")
    assert summary["apiSummary"] == {"/pets": {"GET": {"authorizationType": "NONE", "apiKeyRequired": False}}}

    stages = cli(gateway, tmp_path, "get-stages", *ids)
    assert [(s["stageName"], s["deploymentId"]) for s in stages["item"]] == [("prod", deployment["id"])]

    embedded = cli(gateway, tmp_path, "get-resources", *ids, "--embed", "methods")
    by_path = {r["path"]: r for r in embedded["items"]}
    assert set(by_path) == {"/", "/pets"}
    assert by_path["/pets"]["resourceMethods"]["GET"]["methodIntegration"]["type"] == "MOCK"

    listed = cli(gateway, tmp_path, "get-rest-apis")
    assert [a["id"] for a in listed["items"]] == [api_id]

    # Errors come back with AWS's codes.
    run = cli(gateway, tmp_path, "get-rest-api", "--rest-api-id", "nope", ok=False)
    assert run.returncode != 0 and "NotFoundException" in run.stderr, run.stderr
    run = cli(gateway, tmp_path, "create-resource", *ids, "--parent-id", root_id, "--path-part", "pets", ok=False)
    assert run.returncode != 0 and "ConflictException" in run.stderr, run.stderr
    run = cli(gateway, tmp_path, "create-resource", *ids, "--parent-id", root_id, "--path-part", "a b", ok=False)
    assert run.returncode != 0 and "BadRequestException" in run.stderr, run.stderr


def test_update_stage_method_settings_with_boto3(gateway):
    c = v1(gateway)
    api = c.create_rest_api(name="pets")
    assert isinstance(api["createdDate"], datetime.datetime)
    api_id = api["id"]
    pets = c.create_resource(restApiId=api_id, parentId=api["rootResourceId"], pathPart="pets")
    c.put_method(restApiId=api_id, resourceId=pets["id"], httpMethod="GET", authorizationType="NONE")
    c.put_integration(
        restApiId=api_id, resourceId=pets["id"], httpMethod="GET", type="MOCK",
        requestTemplates={"application/json": '{"statusCode": 200}'},
    )
    c.put_integration_response(restApiId=api_id, resourceId=pets["id"], httpMethod="GET", statusCode="200")
    deployment = c.create_deployment(restApiId=api_id, stageName="prod", variables={"colour": "blue"})

    stage = c.update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "50"},
            {"op": "replace", "path": "/~1pets/GET/throttling/burstLimit", "value": "5"},
            {"op": "replace", "path": "/~1pets/GET/metrics/enabled", "value": "true"},
            {"op": "replace", "path": "/description", "value": "live"},
            {"op": "add", "path": "/variables/size", "value": "large"},
        ],
    )
    settings = stage["methodSettings"]
    assert settings["*/*"]["throttlingRateLimit"] == 100.0
    assert settings["*/*"]["throttlingBurstLimit"] == 50
    assert settings["~1pets/GET"]["throttlingBurstLimit"] == 5
    assert settings["~1pets/GET"]["metricsEnabled"] is True
    assert settings["~1pets/GET"]["cacheTtlInSeconds"] == 300
    assert stage["variables"] == {"colour": "blue", "size": "large"}
    assert stage["description"] == "live"
    assert stage["deploymentId"] == deployment["id"]

    stage = c.update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[
            {"op": "remove", "path": "/~1pets/GET"},
            {"op": "remove", "path": "/variables/colour"},
        ],
    )
    assert list(stage["methodSettings"]) == ["*/*"]
    assert stage["variables"] == {"size": "large"}
    assert c.get_stage(restApiId=api_id, stageName="prod")["methodSettings"] == stage["methodSettings"]

    code, message, _ = error_of(lambda: c.update_stage(
        restApiId=api_id, stageName="prod",
        patchOperations=[{"op": "replace", "path": "/*/*/throttling/speed", "value": "1"}],
    ))
    assert code == "BadRequestException"
    assert message == "Invalid patch path '/*/*/throttling/speed' specified for op 'replace'"

    assert [s["stageName"] for s in c.get_stages(restApiId=api_id)["item"]] == ["prod"]
    code, message, _ = error_of(lambda: c.delete_deployment(restApiId=api_id, deploymentId=deployment["id"]))
    assert code == "BadRequestException"
    c.delete_stage(restApiId=api_id, stageName="prod")
    c.delete_deployment(restApiId=api_id, deploymentId=deployment["id"])
    assert c.get_stages(restApiId=api_id)["item"] == []


def test_rest_apis_page_and_stay_apart_from_http_apis(gateway, client):
    c = v1(gateway)
    rest_ids = {c.create_rest_api(name=f"r{n}")["id"] for n in range(3)}
    http_id = client.create_api(Name="h", ProtocolType="HTTP")["ApiId"]
    assert http_id not in rest_ids

    pages = list(c.get_paginator("get_rest_apis").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["items"]) for p in pages] == [2, 1]
    assert {a["id"] for p in pages for a in p["items"]} == rest_ids
    assert [a["ApiId"] for a in client.get_apis()["Items"]] == [http_id]

    code, message, response = error_of(lambda: c.get_rest_api(restApiId=http_id))
    assert (code, message) == ("NotFoundException", f"Invalid API identifier specified 000000000000:{http_id}")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404

    api_id = sorted(rest_ids)[0]
    responses = c.get_gateway_responses(restApiId=api_id)["items"]
    assert len(responses) == 21 and all(r["defaultResponse"] for r in responses)
    c.put_gateway_response(restApiId=api_id, responseType="THROTTLED", statusCode="503")
    assert c.get_gateway_response(restApiId=api_id, responseType="THROTTLED")["statusCode"] == "503"
    c.delete_gateway_response(restApiId=api_id, responseType="THROTTLED")
    assert c.get_gateway_response(restApiId=api_id, responseType="THROTTLED")["defaultResponse"] is True

    c.delete_rest_api(restApiId=api_id)
    code, _, _ = error_of(lambda: c.get_rest_api(restApiId=api_id))
    assert code == "NotFoundException"


def test_restart_keeps_rest_apis(tmp_path, data_dir):
    def read(c, api_id):
        return {
            "api": c.get_rest_api(restApiId=api_id),
            "resources": c.get_resources(restApiId=api_id, embed=["methods"])["items"],
            "deployments": c.get_deployments(restApiId=api_id)["items"],
            "stages": c.get_stages(restApiId=api_id)["item"],
            "responses": c.get_gateway_responses(restApiId=api_id)["items"],
        }

    gw = Gateway(data_dir, tmp_path / "one.log").start()
    try:
        c = v1(gw)
        api = c.create_rest_api(name="kept", binaryMediaTypes=["image/png"])
        pets = c.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="pets")
        c.put_method(restApiId=api["id"], resourceId=pets["id"], httpMethod="GET", authorizationType="NONE")
        c.put_integration(
            restApiId=api["id"], resourceId=pets["id"], httpMethod="GET", type="MOCK",
            requestTemplates={"application/json": '{"statusCode": 200}'},
        )
        c.put_gateway_response(restApiId=api["id"], responseType="DEFAULT_4XX", statusCode="400")
        c.create_deployment(restApiId=api["id"], stageName="prod", variables={"k": "v"})
        c.update_stage(
            restApiId=api["id"], stageName="prod",
            patchOperations=[{"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "10"}],
        )
        before = read(c, api["id"])
    finally:
        gw.stop()
    assert gw.proc.returncode == 0, gw.log()

    gw = Gateway(data_dir, tmp_path / "two.log").start()
    try:
        c = v1(gw)
        after = read(c, api["id"])
        for k in before:
            before[k] = strip(before[k])
            after[k] = strip(after[k])
        assert after == before
        assert after["stages"][0]["methodSettings"]["*/*"]["throttlingRateLimit"] == 10.0
        assert "does not compile" not in gw.log(), gw.log()
    finally:
        gw.stop()


def strip(value):
    """Drops botocore's per-response metadata."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "ResponseMetadata"}
    return value
