"""AWS's exact answers on the admin API, through the real binary with boto3 (issue 23): request ids,
request validation errors, not-found texts, operations Portico does not serve, unknown members,
signed queries in every form botocore signs, and the operations added for the issue."""

import http.client
import json
import re

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from test_sigv4 import KEY_ID, SECRET, signed_gateway  # noqa: F401 (a fixture)
from test_tls import pem_pair

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def v1(gw, key_id="x", secret="y"):
    return gw.client(key_id, secret, service="apigateway")


def error(call):
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]


def test_every_answer_carries_a_fresh_request_id(gateway):
    c1, c2 = v1(gateway), gateway.client()
    ids = [
        c1.create_rest_api(name="ids")["ResponseMetadata"]["RequestId"],
        c1.get_rest_apis()["ResponseMetadata"]["RequestId"],
        c2.get_apis()["ResponseMetadata"]["RequestId"],
        error(lambda: c1.get_rest_api(restApiId="nope"))[2]["RequestId"],
        error(lambda: c2.get_api(ApiId="nope"))[2]["RequestId"],
    ]
    # Other services on the listener, and Portico's own endpoints, too.
    for path in ["/ping", "/portico/stats", "/2015-03-31/functions/"]:
        _, headers, _ = gateway.admin_raw("GET", path)
        ids.append(headers["x-amzn-requestid"])
    assert all(UUID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_enum_violations_are_validation_exceptions_in_aws_words(gateway):
    c = v1(gateway)
    code, message, meta = error(
        lambda: c.create_rest_api(name="x", endpointConfiguration={"types": ["wrong"]})
    )
    assert (code, meta["HTTPStatusCode"]) == ("ValidationException", 400)
    assert message == (
        "1 validation error detected: Value '[wrong]' at "
        "'createRestApiInput.endpointConfiguration.types' failed to satisfy constraint: Member must "
        "satisfy constraint: [Member must satisfy enum value set: [PRIVATE, EDGE, REGIONAL]]"
    )
    api = c.create_rest_api(name="ok")["id"]
    code, message, _ = error(
        lambda: c.update_rest_api(
            restApiId=api, patchOperations=[{"op": "wrong", "path": "/name", "value": "n"}]
        )
    )
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value 'wrong' at 'updateRestApiInput.patchOperations.1.member.op' "
        "failed to satisfy constraint: Member must satisfy enum value set: [add, remove, move, test, "
        "replace, copy]"
    )


def test_not_found_texts_are_aws_texts(gateway):
    c = v1(gateway)
    assert error(lambda: c.get_rest_api(restApiId="nope"))[:2] == (
        "NotFoundException",
        "Invalid API identifier specified 000000000000:nope",
    )
    assert error(lambda: gateway.client().get_api(ApiId="nope"))[:2] == (
        "NotFoundException",
        "Invalid API identifier specified 000000000000:nope",
    )
    api = c.create_rest_api(name="nf")["id"]
    assert error(lambda: c.get_model(restApiId=api, modelName="Nope"))[:2] == (
        "NotFoundException",
        "Invalid model name specified: Nope",
    )
    assert error(lambda: c.get_usage_plan(usagePlanId="nope"))[:2] == (
        "NotFoundException",
        "Invalid Usage Plan ID specified",
    )
    assert error(lambda: c.get_vpc_link(vpcLinkId="nope"))[:2] == (
        "NotFoundException",
        "Invalid Vpc Link identifier specified",
    )
    assert error(lambda: c.get_api_key(apiKey="nope"))[:2] == (
        "NotFoundException",
        "Invalid API Key identifier specified",
    )


def test_an_operation_portico_does_not_serve_is_a_400_naming_it(gateway):
    c = v1(gateway)
    api = c.create_rest_api(name="sdk")["id"]
    code, message, meta = error(
        lambda: c.get_sdk(restApiId=api, stageName="prod", sdkType="javascript")
    )
    assert (code, message, meta["HTTPStatusCode"]) == (
        "BadRequestException",
        "GetSdk is not supported by Portico: SDK generation: no client SDK generator",
        400,
    )
    status, headers, body = gateway.admin_raw("GET", "/no/such/operation")
    assert status == 400
    assert headers["x-amzn-errortype"] == "UnknownOperationException"
    assert json.loads(body)["message"] == "No operation of the admin API matches GET /no/such/operation"


def test_unknown_members_are_ignored_known_ones_still_checked(gateway):
    c = gateway.client()
    status, _, body = gateway.admin_raw(
        "POST", "/v2/apis", json.dumps({"name": "new", "protocolType": "HTTP", "memberFromTheFuture": 1}).encode()
    )
    assert status == 201, body
    assert c.get_api(ApiId=json.loads(body)["apiId"])["Name"] == "new"
    status, _, body = gateway.admin_raw(
        "POST", "/restapis", json.dumps({"name": "new", "alsoNew": {"x": 1}}).encode()
    )
    assert status == 201, body
    status, headers, body = gateway.admin_raw(
        "POST", "/v2/apis", json.dumps({"name": 3, "protocolType": "HTTP", "memberFromTheFuture": 1}).encode()
    )
    assert status == 400 and headers["x-amzn-errortype"] == "BadRequestException", body


def signed_raw(gw, method, path_and_query, body=b""):
    """Signs `path_and_query` exactly as written with botocore's signer and sends it verbatim."""
    url = f"http://{gw.admin}{path_and_query}"
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body)
    botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(KEY_ID, SECRET), "apigateway", "us-east-1"
    ).add_auth(req)
    host, port = gw.admin.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path_and_query, body=body, headers=dict(req.headers.items()))
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "query",
    [
        "nameQuery=a+b&limit=5",  # a raw '+'
        "x=%c3%bc&x=%C3%A4&x=a&limit=5",  # a repeated key, lowercase and uppercase hex
        "nameQuery=%E2%82%AC%20x&customerId=a%2Bb",  # percent-encoded non-ASCII bytes
        "nameQuery=a*b!c",  # reserved characters left unencoded
    ],
)
def test_signed_queries_verify_in_every_form(signed_gateway, query):
    status, body = signed_raw(signed_gateway, "GET", f"/apikeys?{query}")
    assert status == 200, body


def test_signed_sdk_calls_with_awkward_query_values(signed_gateway):
    c = v1(signed_gateway, KEY_ID, SECRET)
    c.create_api_key(name="a+b ü", customerId="x&y=z")
    got = c.get_api_keys(nameQuery="a+b ü", customerId="x&y=z", includeValues=True)
    assert [k["name"] for k in got["items"]] == ["a+b ü"]


def test_import_api_keys_csv(gateway):
    c = v1(gateway)
    plan = c.create_usage_plan(name="gold")["id"]
    csv = (
        "Name,key,description,Enabled,usageplanIds\n"
        f"first,apikey1234abcdefghij0123456789,An imported key,TRUE,{plan}\n"
        "second,apikey1234abcdefghij0123456780,,false,\n"
    )
    got = c.import_api_keys(body=csv.encode(), format="csv", failOnWarnings=True)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert len(got["ids"]) == 2 and got.get("warnings", []) == []
    first = c.get_api_key(apiKey=got["ids"][0], includeValue=True)
    assert (first["name"], first["value"], first["enabled"], first["description"]) == (
        "first",
        "apikey1234abcdefghij0123456789",
        True,
        "An imported key",
    )
    assert not c.get_api_key(apiKey=got["ids"][1])["enabled"]
    assert [k["id"] for k in c.get_usage_plan_keys(usagePlanId=plan)["items"]] == [got["ids"][0]]
    # The same key value again updates that key.
    again = c.import_api_keys(body=b"key,name\napikey1234abcdefghij0123456789,renamed\n", format="csv")
    assert again["ids"] == [got["ids"][0]]
    assert c.get_api_key(apiKey=got["ids"][0])["name"] == "renamed"
    # A bad row is a warning, or fails the whole import with failonwarnings.
    bad = b"name,key\nshort,tooshort\nok,apikey1234abcdefghij0123456781\n"
    partial = c.import_api_keys(body=bad, format="csv")
    assert len(partial["ids"]) == 1 and len(partial["warnings"]) == 1
    code, _, _ = error(lambda: c.import_api_keys(body=bad, format="csv", failOnWarnings=True))
    assert code == "BadRequestException"
    assert len(c.get_api_keys()["items"]) == 3


def mock_api(c, stage):
    """A REST API whose `GET /` is a MOCK integration, deployed to `stage`; returns its id."""
    api = c.create_rest_api(name="mock")["id"]
    root = c.get_resources(restApiId=api)["items"][0]["id"]
    c.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK",
                      requestTemplates={"application/json": '{"statusCode": 200}'})
    c.create_deployment(restApiId=api, stageName=stage)
    return api


def test_update_base_path_mapping(gateway, tmp_path):
    c = v1(gateway)
    api = mock_api(c, "prod")
    c.create_deployment(restApiId=api, stageName="beta")
    acm = boto3.client("acm", endpoint_url=f"http://{gateway.admin}", region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="y")
    cert, key = pem_pair(tmp_path, "bp", "api.example.test")
    arn = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    c.create_domain_name(domainName="api.example.test", regionalCertificateArn=arn,
                         endpointConfiguration={"types": ["REGIONAL"]})
    c.create_base_path_mapping(domainName="api.example.test", restApiId=api, stage="prod", basePath="v1")
    got = c.update_base_path_mapping(
        domainName="api.example.test", basePath="v1",
        patchOperations=[{"op": "replace", "path": "/stage", "value": "beta"},
                         {"op": "replace", "path": "/basePath", "value": "v2"}],
    )
    assert (got["basePath"], got["stage"], got["restApiId"]) == ("v2", "beta", api)
    assert c.get_base_path_mapping(domainName="api.example.test", basePath="v2")["stage"] == "beta"
    code, _, _ = error(lambda: c.get_base_path_mapping(domainName="api.example.test", basePath="v1"))
    assert code == "NotFoundException"


def test_delete_route_request_parameter(gateway):
    c = gateway.client()
    api = c.create_api(Name="ws", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")["ApiId"]
    route = c.create_route(
        ApiId=api, RouteKey="$connect",
        RequestParameters={"route.request.header.X-Token": {"Required": True},
                           "route.request.querystring.q": {"Required": False}},
    )["RouteId"]
    c.delete_route_request_parameter(ApiId=api, RouteId=route, RequestParameterKey="route.request.header.X-Token")
    assert c.get_route(ApiId=api, RouteId=route)["RequestParameters"] == {
        "route.request.querystring.q": {"Required": False}
    }
    code, _, meta = error(lambda: c.delete_route_request_parameter(
        ApiId=api, RouteId=route, RequestParameterKey="route.request.header.X-Token"))
    assert (code, meta["HTTPStatusCode"]) == ("NotFoundException", 404)


def test_stage_access_log_settings(gateway):
    c = v1(gateway)
    api = mock_api(c, "prod")
    arn = "arn:aws:logs:us-east-1:000000000000:log-group:access"
    got = c.update_stage(restApiId=api, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": arn},
        {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.requestId"},
    ])
    assert got["accessLogSettings"] == {"destinationArn": arn, "format": "$context.requestId"}
    assert c.get_stage(restApiId=api, stageName="prod")["accessLogSettings"]["format"] == "$context.requestId"
    got = c.update_stage(restApiId=api, stageName="prod",
                         patchOperations=[{"op": "remove", "path": "/accessLogSettings"}])
    assert "accessLogSettings" not in got
    code, message, _ = error(lambda: c.update_stage(restApiId=api, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/other", "value": "x"}]))
    assert code == "BadRequestException" and message.startswith("Invalid accessLogSettings path")

    v2 = gateway.client()
    http_api = v2.create_api(Name="h", ProtocolType="HTTP")["ApiId"]
    settings = {"DestinationArn": arn, "Format": "$context.requestId"}
    assert v2.create_stage(ApiId=http_api, StageName="s", AccessLogSettings=settings)["AccessLogSettings"] == settings
    v2.update_stage(ApiId=http_api, StageName="s", AccessLogSettings={"DestinationArn": arn, "Format": "$context.status"})
    assert v2.get_stage(ApiId=http_api, StageName="s")["AccessLogSettings"]["Format"] == "$context.status"
    v2.delete_access_log_settings(ApiId=http_api, StageName="s")
    assert "AccessLogSettings" not in v2.get_stage(ApiId=http_api, StageName="s")


def test_integration_tls_config_is_stored_and_returned(gateway, upstream):
    c = v1(gateway)
    api = c.create_rest_api(name="tls")["id"]
    root = c.get_resources(restApiId=api)["items"][0]["id"]
    c.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    put = c.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="HTTP_PROXY",
                            integrationHttpMethod="GET", uri=upstream.url("/"),
                            tlsConfig={"insecureSkipVerification": True})
    assert put["tlsConfig"] == {"insecureSkipVerification": True}
    c.update_integration(restApiId=api, resourceId=root, httpMethod="GET", patchOperations=[
        {"op": "replace", "path": "/tlsConfig/insecureSkipVerification", "value": "false"}])
    got = c.get_integration(restApiId=api, resourceId=root, httpMethod="GET")
    assert got["tlsConfig"] == {"insecureSkipVerification": False}

    v2 = gateway.client()
    http_api = v2.create_api(Name="h", ProtocolType="HTTP")["ApiId"]
    i = v2.create_integration(ApiId=http_api, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
                              IntegrationUri=upstream.url("/"), PayloadFormatVersion="1.0",
                              TlsConfig={"ServerNameToVerify": "backend.example.test"})
    assert i["TlsConfig"] == {"ServerNameToVerify": "backend.example.test"}
    assert v2.get_integration(ApiId=http_api, IntegrationId=i["IntegrationId"])["TlsConfig"] == {
        "ServerNameToVerify": "backend.example.test"
    }


def test_create_answers_carry_aws_defaults(gateway):
    # As recorded against AWS: an EDGE API's ipAddressType, an integration's empty
    # cacheKeyParameters.
    c = v1(gateway)
    api = c.create_rest_api(name="defaults")
    assert api["endpointConfiguration"] == {"types": ["EDGE"], "ipAddressType": "ipv4"}
    assert c.get_rest_api(restApiId=api["id"])["endpointConfiguration"]["ipAddressType"] == "ipv4"
    root = c.get_resources(restApiId=api["id"])["items"][0]["id"]
    c.put_method(restApiId=api["id"], resourceId=root, httpMethod="POST", authorizationType="NONE")
    put = c.put_integration(restApiId=api["id"], resourceId=root, httpMethod="POST", type="MOCK")
    assert put["cacheKeyParameters"] == []
    assert (put["passthroughBehavior"], put["timeoutInMillis"]) == ("WHEN_NO_MATCH", 29000)


def test_get_model_template(gateway):
    c = v1(gateway)
    api = c.create_rest_api(name="tpl")["id"]
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "price": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    c.create_model(restApiId=api, name="Pet", contentType="application/json", schema=json.dumps(schema))
    value = c.get_model_template(restApiId=api, modelName="Pet")["value"]
    assert value.startswith("#set($inputRoot = $input.path('$'))\n{\n")
    assert '  "name" : "$inputRoot.name",\n' in value
    assert '  "price" : $inputRoot.price,\n' in value
    assert "#foreach($elem1 in $inputRoot.tags)" in value
    code, message, _ = error(lambda: c.get_model_template(restApiId=api, modelName="Nope"))
    assert (code, message) == ("NotFoundException", "Invalid model name specified: Nope")
