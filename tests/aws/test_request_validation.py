"""REST request validation configured with boto3: CreateModel, CreateRequestValidator, PutMethod
with both, a deployment, then calls through the data plane that are refused (400 in AWS's shape)
or forwarded."""

import json

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

PET = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "required": ["name", "kind"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["dog", "cat"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


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
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_models_and_validators_with_boto3(gateway, upstream):
    client = v1(gateway)
    api = client.create_rest_api(name="validated")
    api_id, root = api["id"], api["rootResourceId"]
    pets = client.create_resource(restApiId=api_id, parentId=root, pathPart="pets")["id"]

    model = client.create_model(restApiId=api_id, name="Pet", contentType="application/json",
                                schema=json.dumps(PET), description="a pet")
    assert model["name"] == "Pet" and json.loads(model["schema"]) == PET
    assert [m["name"] for m in client.get_models(restApiId=api_id)["items"]] == ["Pet"]
    code, message = error_of(lambda: client.create_model(
        restApiId=api_id, name="Bad", contentType="application/json", schema="{nope"))
    assert code == "BadRequestException" and message.startswith("Invalid model specified"), message

    validator = client.create_request_validator(
        restApiId=api_id, name="all", validateRequestBody=True, validateRequestParameters=True)
    assert validator["validateRequestBody"] is True
    assert client.get_request_validator(restApiId=api_id, requestValidatorId=validator["id"])["name"] == "all"
    assert len(client.get_request_validators(restApiId=api_id)["items"]) == 1

    code, message = error_of(lambda: client.put_method(
        restApiId=api_id, resourceId=pets, httpMethod="POST", authorizationType="NONE",
        requestValidatorId="nosuchid00"))
    assert (code, message) == ("BadRequestException", "Invalid Request Validator identifier specified")

    method = client.put_method(
        restApiId=api_id, resourceId=pets, httpMethod="POST", authorizationType="NONE",
        requestValidatorId=validator["id"],
        requestParameters={"method.request.querystring.owner": True, "method.request.header.x-trace": False},
        requestModels={"application/json": "Pet"},
    )
    assert method["requestValidatorId"] == validator["id"]
    assert method["requestModels"] == {"application/json": "Pet"}
    client.put_integration(restApiId=api_id, resourceId=pets, httpMethod="POST", type="HTTP_PROXY",
                           integrationHttpMethod="POST", uri=upstream.url("/pets"))
    client.create_deployment(restApiId=api_id, stageName="prod")

    json_ct = {"Content-Type": "application/json"}
    status, headers, body = gateway.request(api_id, "POST", "/prod/pets", b'{"name": "Rex", "kind": "dog"}', json_ct)
    assert status == 400
    assert json.loads(body) == {"message": "Missing required request parameters: [owner]"}
    assert headers.get("x-amzn-errortype") == "BadRequestException"

    for bad in [b'{"name": "Rex"}', b'{"name": "Rex", "kind": "fish"}', b'{"name": "Rex", "kind": "dog", "x": 1}',
                b'{"name": "Rex", "kind": "dog", "tags": [1]}', b"not json"]:
        status, _, body = gateway.request(api_id, "POST", "/prod/pets?owner=me", bad, json_ct)
        assert status == 400, bad
        assert json.loads(body) == {"message": "Invalid request body"}
    assert upstream.last() is None

    status, _, _ = gateway.request(api_id, "POST", "/prod/pets?owner=me", b'{"name": "Rex", "kind": "cat"}', json_ct)
    assert status == 200
    assert upstream.last()["body"] == b'{"name": "Rex", "kind": "cat"}'

    code, message = error_of(lambda: client.delete_model(restApiId=api_id, modelName="Pet"))
    assert code == "BadRequestException" and "referenced" in message

    # Turning body validation off is served with the next deployment.
    client.update_request_validator(restApiId=api_id, requestValidatorId=validator["id"], patchOperations=[
        {"op": "replace", "path": "/validateRequestBody", "value": "false"}])
    client.create_deployment(restApiId=api_id, stageName="prod")
    status, _, _ = gateway.request(api_id, "POST", "/prod/pets?owner=me", b"not json", json_ct)
    assert status == 200
