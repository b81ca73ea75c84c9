"""CORS and parameter mapping of HTTP APIs, configured with boto3 and checked with urllib (what a
browser's preflight and a mapped request look like on the wire)."""

import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

ORIGIN = "https://app.test"


def call(gateway, api_id, method, path, headers=None):
    """One request with urllib; returns (status, headers as a lowercase dict, body)."""
    host = f"{api_id}.execute-api.localhost:{gateway.port}"
    req = urllib.request.Request(
        f"http://{gateway.listen}{path}", method=method, headers={"Host": host, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def test_cors_and_request_parameters_through_boto3(gateway, client, upstream):
    api_id = client.create_api(Name="web", ProtocolType="HTTP")["ApiId"]
    integration = client.create_integration(
        ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
        IntegrationUri=upstream.url(), PayloadFormatVersion="1.0",
        RequestParameters={
            "append:header.x-pet": "${request.path.id}",
            "overwrite:querystring.v": "$stageVariables.version",
            "remove:header.x-secret": "''",
        },
        ResponseParameters={"200": {"append:header.x-mapped": "yes"}},
    )
    assert integration["RequestParameters"]["append:header.x-pet"] == "${request.path.id}"
    assert integration["ResponseParameters"] == {"200": {"append:header.x-mapped": "yes"}}
    client.create_route(ApiId=api_id, RouteKey="GET /pets/{id}",
                        Target=f"integrations/{integration['IntegrationId']}")
    client.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True,
                        StageVariables={"version": "2"})

    # Refusals are 400 BadRequestException, in AWS's shape.
    for bad in ({"AllowOrigins": ["*"], "AllowCredentials": True}, {"MaxAge": 90000}):
        with pytest.raises(ClientError) as e:
            client.update_api(ApiId=api_id, CorsConfiguration=bad)
        assert e.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as e:
        client.update_integration(ApiId=api_id, IntegrationId=integration["IntegrationId"],
                                  RequestParameters={"overwrite:header.Authorization": "x"})
    assert "reserved" in e.value.response["Error"]["Message"]

    api = client.update_api(ApiId=api_id, CorsConfiguration={
        "AllowOrigins": [ORIGIN], "AllowMethods": ["GET", "PUT"], "AllowHeaders": ["x-custom"],
        "ExposeHeaders": ["x-mapped"], "MaxAge": 300, "AllowCredentials": True,
    })
    assert api["CorsConfiguration"]["AllowOrigins"] == [ORIGIN]

    # The browser's preflight: answered by the gateway, never forwarded.
    before = len(upstream.requests)
    status, headers, body = call(gateway, api_id, "OPTIONS", "/pets/7", {
        "Origin": ORIGIN, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "x-custom",
    })
    assert status == 204 and body == b""
    assert headers["access-control-allow-origin"] == ORIGIN
    assert headers["access-control-allow-methods"] == "GET,PUT"
    assert headers["access-control-allow-headers"] == "x-custom"
    assert headers["access-control-max-age"] == "300"
    assert headers["access-control-allow-credentials"] == "true"
    status, headers, _ = call(gateway, api_id, "OPTIONS", "/pets/7", {
        "Origin": "https://evil.test", "Access-Control-Request-Method": "PUT",
    })
    assert status == 204 and not any(k.startswith("access-control-") for k in headers)
    assert len(upstream.requests) == before

    # The actual request: mapped on the way up, CORS lines on the way down.
    status, headers, _ = call(gateway, api_id, "GET", "/pets/7?v=1&keep=me", {
        "Origin": ORIGIN, "X-Secret": "s3cr3t",
    })
    assert status == 200
    assert headers["access-control-allow-origin"] == ORIGIN
    assert headers["access-control-expose-headers"] == "x-mapped"
    assert headers["x-mapped"] == "yes"
    seen = upstream.last()
    sent = dict(seen["headers"])
    assert sent["x-pet"] == "7"
    assert "x-secret" not in sent
    assert sorted(seen["query"].split("&")) == ["keep=me", "v=2"]

    client.delete_cors_configuration(ApiId=api_id)
    assert "CorsConfiguration" not in client.get_api(ApiId=api_id)
    status, headers, _ = call(gateway, api_id, "GET", "/pets/7", {"Origin": ORIGIN})
    assert status == 200 and "access-control-allow-origin" not in headers
