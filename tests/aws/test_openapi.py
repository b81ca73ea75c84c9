"""OpenAPI import and export (issue 18) through the real binary, boto3 and the AWS CLI.

REST APIs: `ImportRestApi`, `PutRestApi` and `GetExport` with AWS's PetStore example and a
definition using most `x-amazon-apigateway-*` extensions; HTTP APIs: `ImportApi`, `ReimportApi`
and `ExportApi`. Each import is served through the data plane (HTTP integrations rewritten to a
local upstream: nothing leaves loopback), each export passes openapi-spec-validator, and export →
delete → import gives the same API, field by field.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import boto3
import botocore.config
import pytest
import yaml
from botocore.exceptions import ClientError

from conftest import Gateway

FIXTURES = Path(__file__).resolve().parent / "openapi"
PETSTORE_UPSTREAM = "http://petstore-demo-endpoint.execute-api.com"

try:
    from openapi_spec_validator import validate as validate_spec
except ImportError:  # older releases
    from openapi_spec_validator import validate_spec


def v1(gateway):
    return boto3.client(
        "apigateway", endpoint_url=f"http://{gateway.admin}", region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="y",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def v2(gateway):
    return gateway.client()


def cli(gateway, tmp_path, service, *args):
    """Runs `aws SERVICE ARGS` against the gateway; returns stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PORTICO_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-aws-config")
    env.update(AWS_ACCESS_KEY_ID="portico", AWS_SECRET_ACCESS_KEY="portico", AWS_DEFAULT_REGION="us-east-1")
    run = subprocess.run(
        ["aws", service, *args, "--endpoint-url", f"http://{gateway.admin}", "--output", "json"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert run.returncode == 0, f"aws {service} {' '.join(args)}:\n{run.stderr}\ngateway:\n{gateway.log()}"
    return run.stdout


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def petstore(upstream):
    text = (FIXTURES / "petstore.json").read_text()
    return text.replace(PETSTORE_UPSTREAM, upstream.url())


def fixture(name, upstream):
    return (FIXTURES / name).read_text().replace("UPSTREAM", upstream.url())


# === field-by-field views of an API ===


def rest_view(c, api_id):
    """Everything an import creates, without ids: resources by path, methods with their
    integrations and responses (authorizers and validators by name), models, validators,
    authorizers and gateway responses."""
    authorizers = {a["id"]: a for a in c.get_authorizers(restApiId=api_id)["items"]}
    validators = {v["id"]: v for v in c.get_request_validators(restApiId=api_id)["items"]}
    resources = {}
    for r in c.get_resources(restApiId=api_id, embed=["methods"])["items"]:
        methods = {}
        for verb, m in r.get("resourceMethods", {}).items():
            m = dict(m)
            m.pop("ResponseMetadata", None)
            if "authorizerId" in m:
                m["authorizerId"] = authorizers[m["authorizerId"]]["name"]
            if "requestValidatorId" in m:
                m["requestValidatorId"] = validators[m["requestValidatorId"]]["name"]
            integration = m.get("methodIntegration")
            if integration:
                integration = dict(integration)
                integration.pop("cacheNamespace", None)  # the resource's id by default
                m["methodIntegration"] = integration
            methods[verb] = m
        resources[r["path"]] = methods
    models = {
        m["name"]: (m["contentType"], json.loads(m["schema"]))
        for m in c.get_models(restApiId=api_id)["items"]
    }
    return {
        "resources": resources,
        "models": models,
        "validators": sorted(
            (v["name"], v["validateRequestBody"], v["validateRequestParameters"]) for v in validators.values()
        ),
        "authorizers": sorted(
            json.dumps({k: v for k, v in a.items() if k != "id"}, sort_keys=True) for a in authorizers.values()
        ),
        "gateway_responses": sorted(
            json.dumps(g, sort_keys=True)
            for g in c.get_gateway_responses(restApiId=api_id)["items"]
            if not g["defaultResponse"]
        ),
    }


def http_view(c, api_id):
    """An HTTP API without ids: routes by key with their integration and authorizer inline."""
    integrations = {i["IntegrationId"]: i for i in c.get_integrations(ApiId=api_id)["Items"]}
    authorizers = {a["AuthorizerId"]: a for a in c.get_authorizers(ApiId=api_id)["Items"]}
    routes = {}
    for r in c.get_routes(ApiId=api_id)["Items"]:
        r = {k: v for k, v in r.items() if k != "RouteId"}
        if "Target" in r:
            i = dict(integrations[r.pop("Target").split("/", 1)[1]])
            i.pop("IntegrationId")
            r["Integration"] = i
        if "AuthorizerId" in r:
            a = dict(authorizers[r.pop("AuthorizerId")])
            a.pop("AuthorizerId")
            r["Authorizer"] = a
        routes[r["RouteKey"]] = r
    api = c.get_api(ApiId=api_id)
    return {
        "routes": routes,
        "authorizers": sorted(a["Name"] for a in authorizers.values()),
        "integrations": len(integrations),
        "api": {k: api.get(k) for k in ("Name", "Description", "CorsConfiguration", "Tags", "ProtocolType")},
    }


def deploy_rest(c, api_id, stage="test"):
    c.create_deployment(restApiId=api_id, stageName=stage)


# === REST APIs ===


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed (pip install awscli)")
def test_petstore_imports_with_the_cli_serves_and_round_trips(gateway, upstream, tmp_path):
    """`aws apigateway import-rest-api --body fileb://petstore.json`, deploy, serve; then
    get-export (oas30 and swagger, JSON and YAML) → delete → import gives the same API."""
    body = tmp_path / "petstore.json"
    body.write_text(petstore(upstream))
    api = json.loads(cli(gateway, tmp_path, "apigateway", "import-rest-api", "--body", f"fileb://{body}"))
    api_id = api["id"]
    assert api["name"] == "PetStore"
    assert api["description"].startswith("Your first API with Amazon API Gateway")
    assert "warnings" not in api, api.get("warnings")
    c = v1(gateway)
    view = rest_view(c, api_id)
    assert set(view["resources"]) == {"/", "/pets", "/pets/{petId}"}
    assert set(view["resources"]["/pets"]) == {"GET", "POST", "OPTIONS"}
    get_pets = view["resources"]["/pets"]["GET"]
    assert get_pets["requestParameters"] == {
        "method.request.querystring.type": False, "method.request.querystring.page": False,
    }
    assert get_pets["methodIntegration"]["type"] == "HTTP"
    assert get_pets["methodIntegration"]["passthroughBehavior"] == "WHEN_NO_MATCH"
    assert get_pets["methodResponses"]["200"]["responseModels"] == {"application/json": "Pets"}
    assert view["resources"]["/pets"]["POST"]["requestModels"] == {"application/json": "NewPet"}
    assert view["resources"]["/pets"]["POST"]["operationName"] == "CreatePet"
    assert set(view["models"]) == {"Pets", "Empty", "NewPetResponse", "Pet", "NewPet", "PetType"}

    deploy_rest(c, api_id)
    status, headers, out = gateway.request(api_id, "GET", "/test/")
    assert status == 200 and b"Welcome to your Pet Store API" in out
    assert headers.get("Content-Type", headers.get("content-type", "")).startswith("text/html")
    status, headers, out = gateway.request(api_id, "GET", "/test/pets?type=dog&page=2")
    assert status == 200, out
    seen = upstream.last()
    assert seen["path"] == "/petstore/pets" and sorted(seen["query"].split("&")) == ["page=2", "type=dog"]
    status, _, _ = gateway.request(api_id, "GET", "/test/pets/7")
    assert status == 200 and upstream.last()["path"] == "/petstore/pets/7"
    status, _, _ = gateway.request(
        api_id, "POST", "/test/pets", body=b'{"type": "cat", "price": 12.5}',
        headers={"Content-Type": "application/json"},
    )
    assert status == 200 and upstream.last()["method"] == "POST"
    status, headers, _ = gateway.request(api_id, "OPTIONS", "/test/pets")
    assert status == 200 and headers.get("Access-Control-Allow-Methods") == "POST,GET,OPTIONS"

    # Exports: every flavour and dialect is a valid definition.
    for export_type in ("oas30", "swagger"):
        for accepts, load in (("application/json", json.loads), ("application/yaml", yaml.safe_load)):
            r = c.get_export(
                restApiId=api_id, stageName="test", exportType=export_type,
                parameters={"extensions": "integrations"}, accepts=accepts,
            )
            assert r["contentType"] == accepts
            doc = load(r["body"].read())
            validate_spec(doc)
            assert ("openapi" in doc) == (export_type == "oas30")
    plain = json.loads(c.get_export(restApiId=api_id, stageName="test", exportType="oas30")["body"].read())
    validate_spec(plain)
    assert "x-amazon-apigateway-integration" not in json.dumps(plain)

    out = tmp_path / "export.json"
    cli(gateway, tmp_path, "apigateway", "get-export", "--rest-api-id", api_id, "--stage-name", "test",
        "--export-type", "oas30", "--parameters", "extensions=integrations", str(out))
    exported = json.loads(out.read_text())
    validate_spec(exported)

    # Round trip through each flavour: export, delete, import.
    previous_id = api_id
    for export_type in ("oas30", "swagger"):
        definition = c.get_export(
            restApiId=previous_id, stageName="test", exportType=export_type,
            parameters={"extensions": "integrations"}, accepts="application/yaml",
        )["body"].read()
        c.delete_rest_api(restApiId=previous_id)
        again = c.import_rest_api(body=definition, failOnWarnings=True)
        assert again["name"] == "PetStore"
        assert rest_view(c, again["id"]) == view, export_type
        deploy_rest(c, again["id"])
        previous_id = again["id"]


@pytest.fixture
def lambda_gateway(tmp_path, upstream):
    """A gateway whose Lambda endpoint is the local upstream (the authorizer is never called
    here, but its endpoint must resolve for the stage to compile)."""
    g = Gateway(tmp_path / "data", tmp_path / "portico.log", env={
        "AWS_ENDPOINT_URL_LAMBDA": upstream.url(),
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }).start()
    yield g
    g.stop()


def test_rest_extensions_import_serve_and_round_trip(lambda_gateway, upstream):
    gateway = lambda_gateway
    c = v1(gateway)
    api = c.import_rest_api(
        body=fixture("rest-features.yaml", upstream).encode(), failOnWarnings=True,
        parameters={"endpointConfigurationTypes": "REGIONAL", "basepath": "prepend"},
    )
    api_id = api["id"]
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"]
    assert api["binaryMediaTypes"] == ["image/png"]
    assert api["minimumCompressionSize"] == 1024
    assert api["tags"] == {"team": "payments"}
    assert api["version"] == "2024-01-01"
    view = rest_view(c, api_id)
    # basepath=prepend puts the server's /v1 in front of every path.
    assert set(view["resources"]) == {"/", "/v1", "/v1/items", "/v1/items/{id}", "/v1/ping"}
    items = view["resources"]["/v1/items"]
    assert items["GET"]["apiKeyRequired"] is True
    assert items["GET"]["requestValidatorId"] == "params"  # the document's default validator
    assert items["GET"]["requestParameters"] == {"method.request.querystring.limit": True}
    assert items["GET"]["methodIntegration"]["timeoutInMillis"] == 5000
    assert items["POST"]["requestValidatorId"] == "all"
    assert items["POST"]["requestModels"] == {"application/json": "Item"}
    one = view["resources"]["/v1/items/{id}"]["GET"]
    assert one["authorizationType"] == "CUSTOM" and one["authorizerId"] == "tokenAuth"
    assert set(view["resources"]["/v1/ping"]) == {"ANY"}
    assert view["validators"] == [("all", True, True), ("params", False, True)]
    [authorizer] = [json.loads(a) for a in view["authorizers"]]
    assert authorizer["type"] == "TOKEN" and authorizer["identitySource"] == "method.request.header.Authorization"
    assert authorizer["authorizerResultTtlInSeconds"] == 300
    [gr] = [json.loads(g) for g in view["gateway_responses"]]
    assert gr["responseType"] == "MISSING_AUTHENTICATION_TOKEN" and gr["statusCode"] == "404"

    deploy_rest(c, api_id, "prod")
    status, _, out = gateway.request(api_id, "GET", "/prod/v1/ping")
    assert status == 200 and json.loads(out) == {"pong": True}
    status, _, out = gateway.request(api_id, "POST", "/prod/v1/items", body=b'{"price": 1}',
                                     headers={"Content-Type": "application/json"})
    assert status == 400, out  # the Item model requires name: the "all" validator checks it
    status, _, _ = gateway.request(api_id, "POST", "/prod/v1/items", body=b'{"name": "x"}',
                                   headers={"Content-Type": "application/json"})
    assert status == 200 and upstream.last()["path"] == "/items"
    status, _, _ = gateway.request(api_id, "GET", "/prod/v1/items?limit=1")
    assert status == 403  # no API key
    status, headers, out = gateway.request(api_id, "GET", "/prod/nowhere")
    assert status == 404 and headers.get("x-portico-test") == "imported", (headers, out)

    definition = c.get_export(restApiId=api_id, stageName="prod", exportType="oas30",
                              parameters={"extensions": "apigateway"})["body"].read()
    doc = json.loads(definition)
    validate_spec(doc)
    assert doc["x-amazon-apigateway-request-validators"]["all"]["validateRequestBody"] is True
    assert doc["components"]["securitySchemes"]["tokenAuth"]["x-amazon-apigateway-authorizer"]["type"] == "token"
    swagger = json.loads(c.get_export(restApiId=api_id, stageName="prod", exportType="swagger",
                                      parameters={"extensions": "apigateway"})["body"].read())
    validate_spec(swagger)
    c.delete_rest_api(restApiId=api_id)
    again = c.import_rest_api(body=definition, failOnWarnings=True)
    assert rest_view(c, again["id"]) == view


def test_put_rest_api_merges_and_overwrites(gateway, upstream):
    c = v1(gateway)
    api = c.import_rest_api(body=petstore(upstream).encode())
    api_id = api["id"]
    deploy_rest(c, api_id)
    extra = {
        "openapi": "3.0.1", "info": {"title": "PetStore v2", "version": "2"},
        "paths": {"/health": {"get": {
            "responses": {"200": {"description": "ok"}},
            "x-amazon-apigateway-integration": {
                "type": "mock", "requestTemplates": {"application/json": '{"statusCode": 200}'},
                "responses": {"default": {"statusCode": "200"}},
            },
        }}},
    }
    merged = c.put_rest_api(restApiId=api_id, mode="merge", body=json.dumps(extra).encode())
    assert merged["name"] == "PetStore"  # merge keeps the API's own members
    paths = {r["path"] for r in c.get_resources(restApiId=api_id)["items"]}
    assert {"/pets", "/pets/{petId}", "/health"} <= paths
    overwritten = c.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(extra).encode())
    assert overwritten["name"] == "PetStore v2"
    paths = {r["path"] for r in c.get_resources(restApiId=api_id)["items"]}
    assert paths == {"/", "/health"}
    assert c.get_models(restApiId=api_id)["items"] == []
    # The stage still serves its deployment until the next one.
    assert gateway.request(api_id, "GET", "/test/pets/1")[0] == 200
    deploy_rest(c, api_id)
    assert gateway.request(api_id, "GET", "/test/health")[0] == 200
    assert gateway.request(api_id, "GET", "/test/pets/1")[0] in (403, 404)


def test_rest_warnings_and_fail_on_warnings(gateway):
    c = v1(gateway)
    doc = {
        "swagger": "2.0", "info": {"title": "warned", "version": "1"},
        "x-amazon-apigateway-documentation": {"version": "1", "documentationParts": []},
        "securityDefinitions": {"oauth": {"type": "oauth2", "flow": "implicit",
                                          "authorizationUrl": "https://x.example", "scopes": {}}},
        "paths": {"/a": {"get": {
            "parameters": [{"name": "f", "in": "formData", "type": "string"}],
            "security": [{"oauth": []}],
            "responses": {"200": {"description": "ok"}},
            "x-amazon-apigateway-integration": {"type": "mock", "tlsConfig": {"insecureSkipVerification": True}},
            "x-amazon-apigateway-made-up": True,
        }}},
    }
    body = json.dumps(doc).encode()
    before = c.get_rest_apis()["items"]
    code, message = error_of(lambda: c.import_rest_api(body=body, failOnWarnings=True))
    assert code == "BadRequestException" and "formData" in message and "made-up" in message
    assert c.get_rest_apis()["items"] == before
    api = c.import_rest_api(body=body)
    warnings = api["warnings"]
    assert any("documentation" in w for w in warnings)
    assert any("oauth" in w for w in warnings)
    assert any("formData" in w for w in warnings)
    assert any("tlsConfig" in w for w in warnings)
    assert any("x-amazon-apigateway-made-up" in w for w in warnings)
    [resource] = [r for r in c.get_resources(restApiId=api["id"])["items"] if r["path"] == "/a"]
    assert set(resource["resourceMethods"]) == {"GET"}


def test_a_failing_import_leaves_nothing_behind(gateway, client):
    c = v1(gateway)
    before = c.get_rest_apis()["items"]
    doc = {
        "openapi": "3.0.1", "info": {"title": "broken", "version": "1"},
        "paths": {
            "/ok": {"get": {"responses": {"200": {"description": "ok"}},
                            "x-amazon-apigateway-integration": {
                                "type": "mock", "requestTemplates": {"application/json": '{"statusCode": 200}'},
                                "responses": {"default": {"statusCode": "200"}}}}},
            "/bad": {"get": {"responses": {"200": {"description": "ok"}},
                             "x-amazon-apigateway-integration": {"type": "bogus"}}},
        },
    }
    code, message = error_of(lambda: c.import_rest_api(body=json.dumps(doc).encode()))
    assert code == "BadRequestException", message
    assert c.get_rest_apis()["items"] == before
    # The same for HTTP APIs: a route whose integration is refused.
    http = {"openapi": "3.0.1", "info": {"title": "broken", "version": "1"}, "paths": {
        "/ok": {"get": {"responses": {"default": {"description": "ok"}}, "x-amazon-apigateway-integration": {
            "type": "http_proxy", "httpMethod": "GET", "uri": "http://127.0.0.1:9/ok", "payloadFormatVersion": "1.0"}}},
        "/bad": {"get": {"responses": {"default": {"description": "ok"}}, "x-amazon-apigateway-integration": {
            "type": "http_proxy", "httpMethod": "GET", "uri": "not a url", "payloadFormatVersion": "1.0"}}},
    }}
    apis = client.get_apis()["Items"]
    code, message = error_of(lambda: client.import_api(Body=json.dumps(http)))
    assert code == "BadRequestException", message
    assert client.get_apis()["Items"] == apis

    # What an import commits is durable, what a failed one did is not: restart and look again.
    del doc["paths"]["/bad"]
    ok = c.import_rest_api(body=json.dumps(doc).encode())
    gateway.stop()
    gateway.start()
    c = v1(gateway)
    assert [a["id"] for a in c.get_rest_apis()["items"]] == [a["id"] for a in before] + [ok["id"]]
    assert {r["path"] for r in c.get_resources(restApiId=ok["id"])["items"]} == {"/", "/ok"}
    assert gateway.client().get_apis()["Items"] == apis
    deploy_rest(c, ok["id"])
    assert gateway.request(ok["id"], "GET", "/test/ok")[0] == 200


def test_malformed_definitions_are_400(gateway, client):
    c = v1(gateway)
    cases = [
        (b"{\"swagger\": ", "not valid JSON"),
        (b"openapi: [unclosed\n", "YAML"),
        (b'{"openapi": "3.1.0", "info": {"title": "x"}, "paths": {}}', "Unsupported OpenAPI version"),
        (b'{"swagger": "1.2", "info": {"title": "x"}}', "Unsupported Swagger version"),
        (b'{"info": {"title": "x"}, "paths": {}}', "no version"),
        (b'{"openapi": "3.0.1", "info": {}, "paths": {}}', "info.title"),
        (b"", "empty"),
    ]
    for body, want in cases:
        code, message = error_of(lambda: c.import_rest_api(body=body))
        assert code == "BadRequestException" and want in message, (body, message)
        code, message = error_of(lambda: client.import_api(Body=body.decode()))
        assert code == "BadRequestException" and want in message, (body, message)
    huge = b'{"openapi": "3.0.1", "info": {"title": "x", "description": "' + b"a" * (7 * 1024 * 1024) + b'"}}'
    status, headers, out = gateway.admin_raw("POST", "/restapis?mode=import", huge)
    assert status == 400 and headers["x-amzn-errortype"] == "BadRequestException"
    assert b"larger than 6 MiB" in out
    status, headers, out = gateway.admin_raw("PUT", "/v2/apis", json.dumps({"body": huge.decode()}).encode())
    assert status == 400 and headers["x-amzn-errortype"] == "BadRequestException"
    assert b"larger than 6 MiB" in out
    code, _ = error_of(lambda: c.get_export(restApiId="nope", stageName="x", exportType="oas30"))
    assert code == "NotFoundException"


# === HTTP APIs ===


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed (pip install awscli)")
def test_http_api_import_serve_export_round_trip(gateway, upstream, tmp_path):
    c = v2(gateway)
    body = tmp_path / "http-api.yaml"
    body.write_text(fixture("http-api.yaml", upstream))
    api = json.loads(cli(gateway, tmp_path, "apigatewayv2", "import-api", "--body", f"file://{body}"))
    api_id = api["ApiId"]
    assert api["Name"] == "Orders" and api["ProtocolType"] == "HTTP"
    assert "Warnings" not in api, api.get("Warnings")
    assert api["CorsConfiguration"]["AllowOrigins"] == ["https://shop.example"]
    view = http_view(c, api_id)
    assert set(view["routes"]) == {
        "GET /orders", "POST /orders", "GET /orders/{id}", "ANY /files/{proxy+}", "$default",
    }
    assert view["integrations"] == 4  # the two /orders routes share one
    post = view["routes"]["POST /orders"]
    assert post["AuthorizationType"] == "JWT" and post["AuthorizationScopes"] == ["orders/write"]
    assert post["Authorizer"]["JwtConfiguration"] == {"Audience": ["orders"], "Issuer": upstream.url("/issuer")}
    assert view["routes"]["GET /orders"]["OperationName"] == "ListOrders"
    assert view["routes"]["GET /orders"]["Integration"]["TimeoutInMillis"] == 10000
    assert view["api"]["Tags"] == {"owner": "orders-team"}

    c.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    status, _, out = gateway.request(api_id, "GET", "/orders")
    assert status == 200 and upstream.last()["path"] == "/orders", out
    status, _, _ = gateway.request(api_id, "GET", "/orders/42")
    assert status == 200 and upstream.last()["path"] == "/orders/42"
    status, _, _ = gateway.request(api_id, "POST", "/orders")
    assert status == 401  # the JWT authorizer
    status, _, _ = gateway.request(api_id, "DELETE", "/anything/else")
    assert status == 200 and upstream.last()["path"].startswith("/fallback")

    exports = {}
    for output in ("JSON", "YAML"):
        r = c.export_api(ApiId=api_id, Specification="OAS30", OutputType=output, IncludeExtensions=True)
        raw = r["body"].read()
        doc = json.loads(raw) if output == "JSON" else yaml.safe_load(raw)
        validate_spec(doc)
        exports[output] = doc
    assert exports["JSON"] == exports["YAML"]
    staged = json.loads(c.export_api(ApiId=api_id, Specification="OAS30", OutputType="JSON",
                                     StageName="$default")["body"].read())
    validate_spec(staged)
    # The auto-deploying stage serves the current routes: its deployment exports the same.
    assert staged["paths"] == exports["JSON"]["paths"]
    assert staged["servers"][0]["variables"]["basePath"]["default"] == ""
    plain = json.loads(c.export_api(ApiId=api_id, Specification="OAS30", OutputType="JSON",
                                    IncludeExtensions=False)["body"].read())
    validate_spec(plain)
    # ANY routes stay x-amazon-apigateway-any-method: OpenAPI has no other way to say them.
    assert "x-amazon-apigateway-integration" not in json.dumps(plain)
    assert "x-amazon-apigateway-cors" not in plain
    out = tmp_path / "export.yaml"
    cli(gateway, tmp_path, "apigatewayv2", "export-api", "--api-id", api_id, "--specification", "OAS30",
        "--output-type", "YAML", str(out))
    validate_spec(yaml.safe_load(out.read_text()))

    # Round trip: export, delete, import.
    c.delete_api(ApiId=api_id)
    again = c.import_api(Body=json.dumps(exports["JSON"]), FailOnWarnings=True)
    fresh = http_view(c, again["ApiId"])
    # Integrations the definition shared by $ref are exported inline, one per route.
    assert fresh["integrations"] == 5
    fresh["integrations"] = view["integrations"]
    assert fresh == view

    # ReimportApi replaces the routes; an auto-deploying stage serves the result.
    smaller = {"openapi": "3.0.1", "info": {"title": "Orders v2", "version": "2"}, "paths": {
        "/status": {"get": {"responses": {"default": {"description": "ok"}}, "x-amazon-apigateway-integration": {
            "type": "http_proxy", "httpMethod": "GET", "uri": upstream.url("/status"), "payloadFormatVersion": "1.0"}}},
    }}
    api_id = again["ApiId"]
    c.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    pinned = c.create_deployment(ApiId=api_id)["DeploymentId"]
    c.create_stage(ApiId=api_id, StageName="old", DeploymentId=pinned)
    out = c.reimport_api(ApiId=api_id, Body=yaml.safe_dump(smaller))
    assert out["Name"] == "Orders v2" and "CorsConfiguration" not in out
    assert [r["RouteKey"] for r in c.get_routes(ApiId=api_id)["Items"]] == ["GET /status"]
    assert c.get_authorizers(ApiId=api_id)["Items"] == []
    status, _, _ = gateway.request(api_id, "GET", "/status")
    assert status == 200 and upstream.last()["path"] == "/status"
    assert gateway.request(api_id, "GET", "/orders")[0] == 404
    # ExportApi with stageName writes what that stage serves: "old" still has the orders routes.
    old = json.loads(c.export_api(ApiId=api_id, Specification="OAS30", OutputType="JSON",
                                  StageName="old")["body"].read())
    validate_spec(old)
    assert set(old["paths"]) == set(exports["JSON"]["paths"])
    # The authorizer was deleted by the reimport: the deployment's frozen copy, named by its id.
    [requirement] = old["paths"]["/orders"]["post"]["security"]
    assert list(requirement.values()) == [["orders/write"]]
    assert old["servers"][0]["variables"]["basePath"]["default"] == "old"
    current = json.loads(c.export_api(ApiId=api_id, Specification="OAS30", OutputType="JSON")["body"].read())
    assert set(current["paths"]) == {"/status"}


def test_http_api_warnings_and_basepath(gateway):
    c = v2(gateway)
    doc = {
        "openapi": "3.0.1", "info": {"title": "w", "version": "1"},
        "servers": [{"url": "https://api.example.com/v1/shop"}],
        "x-amazon-apigateway-binary-media-types": ["image/png"],
        "paths": {"/items": {"get": {
            "responses": {"default": {"description": "ok"}},
            "x-amazon-apigateway-integration": {
                "type": "http_proxy", "httpMethod": "GET", "uri": "http://127.0.0.1:9/i",
                "payloadFormatVersion": "1.0", "requestTemplates": {"a/b": "x"},
            },
        }}},
    }
    code, message = error_of(lambda: c.import_api(Body=json.dumps(doc), FailOnWarnings=True))
    assert code == "BadRequestException" and "binary-media-types" in message
    api = c.import_api(Body=json.dumps(doc), Basepath="split")
    assert any("binary-media-types" in w for w in api["Warnings"])
    assert any("requestTemplates" in w for w in api["Warnings"])
    assert [r["RouteKey"] for r in c.get_routes(ApiId=api["ApiId"])["Items"]] == ["GET /shop/items"]
    api = c.import_api(Body=json.dumps(doc), Basepath="prepend")
    assert [r["RouteKey"] for r in c.get_routes(ApiId=api["ApiId"])["Items"]] == ["GET /v1/shop/items"]
    code, _ = error_of(lambda: c.export_api(ApiId=api["ApiId"], Specification="OAS30", OutputType="XML"))
    assert code == "BadRequestException"
    code, _ = error_of(lambda: c.export_api(ApiId=api["ApiId"], Specification="OAS30", OutputType="JSON",
                                            StageName="missing"))
    assert code == "NotFoundException"


# === Terraform: both API types defined by an OpenAPI `body` ===

TF_MIRROR = Path("/opt/tf-plugins")


def terraform(workdir, *args, ok=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PORTICO_", "TF_"))}
    env.update(TF_CLI_CONFIG_FILE=str(workdir / "cli.tfrc"), TF_IN_AUTOMATION="1", TF_INPUT="0",
               CHECKPOINT_DISABLE="1")
    run = subprocess.run(["terraform", *args, "-no-color"], cwd=workdir, capture_output=True, text=True,
                         timeout=600, env=env)
    if ok:
        assert run.returncode == 0, f"terraform {' '.join(args)}:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return run


def test_terraform_apis_defined_by_an_openapi_body(gateway, upstream, tmp_path):
    """`aws_api_gateway_rest_api` and `aws_apigatewayv2_api` with a `body`: apply, a clean
    second plan, serve through the data plane, destroy."""
    if shutil.which("terraform") is None or not TF_MIRROR.is_dir():
        print("\n*** SKIPPED LOUDLY: terraform or its provider mirror (/opt/tf-plugins) is missing; "
              "the OpenAPI body test for Terraform did not run ***\n")
        pytest.skip("terraform or the hashicorp/aws mirror at /opt/tf-plugins is not installed")
    work = tmp_path / "tf"
    work.mkdir()
    (work / "cli.tfrc").write_text(
        'provider_installation {\n'
        f'  filesystem_mirror {{\n    path    = "{TF_MIRROR}"\n    include = ["registry.terraform.io/hashicorp/aws"]\n  }}\n'
        '  direct { exclude = ["registry.terraform.io/hashicorp/aws"] }\n}\n'
    )
    (work / "petstore.json").write_text(petstore(upstream))
    (work / "http-api.yaml").write_text(fixture("http-api.yaml", upstream))
    admin = f"http://{gateway.admin}"
    (work / "main.tf").write_text(f'''
terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws" }}
  }}
}}

provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "portico"
  secret_key                  = "portico"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {{
    apigateway   = "{admin}"
    apigatewayv2 = "{admin}"
  }}
}}

resource "aws_api_gateway_rest_api" "petstore" {{
  name = "PetStore"
  body = file("${{path.module}}/petstore.json")
  endpoint_configuration {{
    types = ["REGIONAL"]
  }}
}}

resource "aws_apigatewayv2_api" "orders" {{
  name          = "Orders"
  protocol_type = "HTTP"
  body          = file("${{path.module}}/http-api.yaml")
  version       = "1.0" # the body's info.version, which the import sets
}}

resource "aws_apigatewayv2_stage" "default" {{
  api_id      = aws_apigatewayv2_api.orders.id
  name        = "$default"
  auto_deploy = true
}}

output "rest_api_id" {{
  value = aws_api_gateway_rest_api.petstore.id
}}

output "http_api_id" {{
  value = aws_apigatewayv2_api.orders.id
}}
''')
    terraform(work, "init")
    terraform(work, "apply", "-auto-approve")
    plan = terraform(work, "plan", "-detailed-exitcode", ok=False)
    assert plan.returncode == 0, f"second plan is not clean:\n{plan.stdout[-6000:]}\n{plan.stderr[-3000:]}"
    outputs = json.loads(terraform(work, "output", "-json").stdout)
    rest_id, http_id = outputs["rest_api_id"]["value"], outputs["http_api_id"]["value"]

    c = v1(gateway)
    paths = {r["path"] for r in c.get_resources(restApiId=rest_id)["items"]}
    assert paths == {"/", "/pets", "/pets/{petId}"}
    deploy_rest(c, rest_id)
    status, _, _ = gateway.request(rest_id, "GET", "/test/pets/3")
    assert status == 200 and upstream.last()["path"] == "/petstore/pets/3"
    status, _, _ = gateway.request(http_id, "GET", "/orders/9")
    assert status == 200 and upstream.last()["path"] == "/orders/9"

    terraform(work, "destroy", "-auto-approve")
    assert c.get_rest_apis()["items"] == []
    assert v2(gateway).get_apis()["Items"] == []


def test_lambda_integrations_import_and_export(lambda_gateway):
    """AWS_PROXY integrations (Lambda) with credentials, on both API types; a greedy path."""
    gateway = lambda_gateway
    client = gateway.client()
    fn = "arn:aws:lambda:us-east-1:123456789012:function:orders"
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn}/invocations"
    role = "arn:aws:iam::123456789012:role/invoke"
    rest = {"swagger": "2.0", "info": {"title": "lambda", "version": "1"}, "paths": {"/{proxy+}": {
        "x-amazon-apigateway-any-method": {
            "parameters": [{"name": "proxy", "in": "path", "required": True, "type": "string"}],
            "responses": {},
            "x-amazon-apigateway-integration": {
                "type": "aws_proxy", "httpMethod": "POST", "uri": uri, "credentials": role,
                "timeoutInMillis": 12000, "contentHandling": "CONVERT_TO_TEXT"},
        }}}}
    c = v1(gateway)
    api = c.import_rest_api(body=json.dumps(rest).encode(), failOnWarnings=True)
    [r] = [r for r in c.get_resources(restApiId=api["id"])["items"] if r["path"] == "/{proxy+}"]
    i = c.get_integration(restApiId=api["id"], resourceId=r["id"], httpMethod="ANY")
    assert (i["type"], i["httpMethod"], i["uri"], i["credentials"], i["timeoutInMillis"], i["contentHandling"]) == (
        "AWS_PROXY", "POST", uri, role, 12000, "CONVERT_TO_TEXT")
    assert r["resourceMethods"] and c.get_method(
        restApiId=api["id"], resourceId=r["id"], httpMethod="ANY")["requestParameters"] == {
        "method.request.path.proxy": True}
    c.create_deployment(restApiId=api["id"], stageName="s")
    for export_type in ("oas30", "swagger"):
        doc = json.loads(c.get_export(restApiId=api["id"], stageName="s", exportType=export_type,
                                      parameters={"extensions": "integrations"})["body"].read())
        validate_spec(doc)
        [p] = doc["paths"]["/{proxy+}"]["x-amazon-apigateway-any-method"]["parameters"]
        assert p["name"] == "proxy+"
        again = c.import_rest_api(body=json.dumps(doc).encode(), failOnWarnings=True)
        [r2] = [r for r in c.get_resources(restApiId=again["id"])["items"] if r["path"] == "/{proxy+}"]
        assert c.get_method(restApiId=again["id"], resourceId=r2["id"], httpMethod="ANY")["requestParameters"] == {
            "method.request.path.proxy": True}
    http = {"openapi": "3.0.1", "info": {"title": "lambda", "version": "1"}, "paths": {"/orders": {"post": {
        "responses": {"default": {"description": "ok"}},
        "x-amazon-apigateway-integration": {
            "type": "aws_proxy", "httpMethod": "POST", "uri": fn, "credentials": role,
            "payloadFormatVersion": "2.0", "timeoutInMillis": 8000},
    }}}}
    api = client.import_api(Body=json.dumps(http), FailOnWarnings=True)
    [i] = client.get_integrations(ApiId=api["ApiId"])["Items"]
    assert (i["IntegrationType"], i["IntegrationUri"], i["CredentialsArn"], i["PayloadFormatVersion"],
            i["TimeoutInMillis"]) == ("AWS_PROXY", fn, role, "2.0", 8000)
    doc = json.loads(client.export_api(ApiId=api["ApiId"], Specification="OAS30", OutputType="JSON")["body"].read())
    validate_spec(doc)
    exported = doc["paths"]["/orders"]["post"]["x-amazon-apigateway-integration"]
    assert (exported["type"], exported["uri"], exported["credentials"], exported["payloadFormatVersion"]) == (
        "aws_proxy", fn, role, "2.0")
