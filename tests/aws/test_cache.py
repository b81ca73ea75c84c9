"""The REST response cache configured with boto3, as AWS users configure it: the stage's
`cacheClusterEnabled`/`cacheClusterSize`, method settings `*/*/caching/*` by patch path,
`cacheKeyParameters` on the integration, and `flush_stage_cache`. The upstream counts what
reaches it."""

import http.client

import boto3
import botocore.config


def v1(gateway):
    return boto3.client(
        "apigateway",
        endpoint_url=f"http://{gateway.admin}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def get(conn, gateway, api_id, path):
    conn.request("GET", path, headers={"Host": f"{api_id}.execute-api.localhost:{gateway.port}"})
    r = conn.getresponse()
    return r.status, r.read()


def test_stage_cache_with_boto3(gateway, upstream):
    client = v1(gateway)
    api = client.create_rest_api(name="cached")
    api_id, root = api["id"], api["rootResourceId"]
    pets = client.create_resource(restApiId=api_id, parentId=root, pathPart="pets")["id"]
    client.put_method(restApiId=api_id, resourceId=pets, httpMethod="GET",
                      authorizationType="NONE",
                      requestParameters={"method.request.querystring.kind": False})
    client.put_integration(restApiId=api_id, resourceId=pets, httpMethod="GET",
                           type="HTTP_PROXY", integrationHttpMethod="GET",
                           uri=upstream.url("/pets"),
                           cacheKeyParameters=["method.request.querystring.kind"])
    client.create_deployment(restApiId=api_id, stageName="prod")
    stage = client.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/cacheClusterEnabled", "value": "true"},
        {"op": "replace", "path": "/cacheClusterSize", "value": "0.5"},
        {"op": "replace", "path": "/*/*/caching/enabled", "value": "true"},
        {"op": "replace", "path": "/*/*/caching/ttlInSeconds", "value": "300"},
    ])
    assert stage["cacheClusterEnabled"] is True
    assert stage["methodSettings"]["*/*"]["cachingEnabled"] is True

    # One keep-alive connection: one worker. Each worker has its own shard of the stage cache,
    # so a key is fetched at most once per worker per TTL.
    host, port = gateway.listen.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)

    def hits(path, n):
        before = len(upstream.requests)
        for _ in range(n):
            status, body = get(conn, gateway, api_id, path)
            assert status == 200, body
        return len(upstream.requests) - before

    # Three calls, one upstream request; another value of the key parameter is another entry.
    assert hits("/prod/pets?kind=dog", 3) == 1
    assert hits("/prod/pets?kind=cat", 2) == 1
    assert hits("/prod/pets?kind=dog", 1) == 0

    client.flush_stage_cache(restApiId=api_id, stageName="prod")
    assert hits("/prod/pets?kind=dog", 2) == 1

    # Caching off for the method: every call reaches the upstream.
    client.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/~1pets/GET/caching/enabled", "value": "false"},
    ])
    assert hits("/prod/pets?kind=dog", 2) == 2
