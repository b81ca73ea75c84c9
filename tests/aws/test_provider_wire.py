"""What Terraform's AWS provider sends and reads, checked with boto3 (without terraform): the
empty members it sends, tags by ARN (both control planes and ACM), the account's settings, the
escaped REST API policy."""

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import Gateway
from test_tls import pem_pair


def aws(gateway, service):
    return boto3.client(
        service, endpoint_url=f"http://{gateway.admin}", region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="y",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def test_tags_on_rest_apis_stages_and_keys(gateway):
    v1 = aws(gateway, "apigateway")
    api = v1.create_rest_api(name="t", tags={"team": "a"})["id"]
    arn = f"arn:aws:apigateway:us-east-1::/restapis/{api}"
    assert v1.get_tags(resourceArn=arn)["tags"] == {"team": "a"}
    v1.tag_resource(resourceArn=arn, tags={"env": "prod", "team": "b"})
    assert v1.get_rest_api(restApiId=api)["tags"] == {"env": "prod", "team": "b"}
    v1.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
    assert v1.get_tags(resourceArn=arn)["tags"] == {"env": "prod"}

    root = v1.get_resources(restApiId=api)["items"][0]["id"]
    v1.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    v1.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK",
                       requestTemplates={"application/json": '{"statusCode": 200}'})
    dep = v1.create_deployment(restApiId=api)["id"]
    v1.create_stage(restApiId=api, stageName="s", deploymentId=dep)
    stage_arn = f"{arn}/stages/s"
    v1.tag_resource(resourceArn=stage_arn, tags={"tier": "1"})
    assert v1.get_stage(restApiId=api, stageName="s")["tags"] == {"tier": "1"}

    key = v1.create_api_key(name="k")["id"]
    key_arn = f"arn:aws:apigateway:us-east-1::/apikeys/{key}"
    v1.tag_resource(resourceArn=key_arn, tags={"owner": "me"})
    assert v1.get_api_key(apiKey=key)["tags"] == {"owner": "me"}
    plan = v1.create_usage_plan(name="p")["id"]
    plan_arn = f"arn:aws:apigateway:us-east-1::/usageplans/{plan}"
    v1.tag_resource(resourceArn=plan_arn, tags={"cost": "x"})
    assert v1.get_usage_plan(usagePlanId=plan)["tags"] == {"cost": "x"}

    # Tags survive a restart: they are stored.
    gateway.stop()
    gateway.start()
    v1 = aws(gateway, "apigateway")
    assert v1.get_tags(resourceArn=arn)["tags"] == {"env": "prod"}
    assert v1.get_tags(resourceArn=key_arn)["tags"] == {"owner": "me"}
    assert v1.get_tags(resourceArn=plan_arn)["tags"] == {"cost": "x"}
    assert v1.get_tags(resourceArn=stage_arn)["tags"] == {"tier": "1"}

    with pytest.raises(ClientError) as e:
        v1.tag_resource(resourceArn=f"{arn}/resources/{root}", tags={"a": "b"})
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    assert "does not tag" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        v1.get_tags(resourceArn="arn:aws:apigateway:us-east-1::/restapis/nope")
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        v1.tag_resource(resourceArn=arn, tags={"": "empty key"})
    assert e.value.response["Error"]["Code"] == "BadRequestException"


def test_tags_on_http_apis_and_stages(gateway):
    v2 = aws(gateway, "apigatewayv2")
    api = v2.create_api(Name="h", ProtocolType="HTTP", Tags={"a": "1"})["ApiId"]
    arn = f"arn:aws:apigateway:us-east-1::/apis/{api}"
    v2.tag_resource(ResourceArn=arn, Tags={"b": "2"})
    assert v2.get_tags(ResourceArn=arn)["Tags"] == {"a": "1", "b": "2"}
    v2.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert v2.get_api(ApiId=api)["Tags"] == {"b": "2"}
    v2.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    stage_arn = f"{arn}/stages/$default"
    v2.tag_resource(ResourceArn=stage_arn, Tags={"s": "x"})
    assert v2.get_stage(ApiId=api, StageName="$default")["Tags"] == {"s": "x"}

    link = v2.create_vpc_link(Name="l", SubnetIds=["subnet-1"], Tags={"k": "v"})["VpcLinkId"]
    link_arn = f"arn:aws:apigateway:us-east-1::/vpclinks/{link}"
    assert v2.get_tags(ResourceArn=link_arn)["Tags"] == {"k": "v"}
    with pytest.raises(ClientError) as e:
        v2.tag_resource(ResourceArn=link_arn, Tags={"k2": "v"})
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    assert "when it is created" in e.value.response["Error"]["Message"]


def test_acm_tags(gateway, tmp_path):
    acm = aws(gateway, "acm")
    cert, key = pem_pair(tmp_path, "c", "tags.example.com")
    arn = acm.import_certificate(Certificate=cert, PrivateKey=key,
                                 Tags=[{"Key": "team", "Value": "a"}])["CertificateArn"]
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "team"}])
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]
    # A re-import keeps the tags.
    acm.import_certificate(CertificateArn=arn, Certificate=cert, PrivateKey=key)
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]


def test_account(gateway):
    v1 = aws(gateway, "apigateway")
    account = v1.get_account()
    # The account-level throttle is off unless configured: no throttleSettings.
    assert "throttleSettings" not in account
    assert account["features"] == ["UsagePlans"]
    assert account["apiKeyVersion"] == "4"
    assert "cloudwatchRoleArn" not in account
    role = "arn:aws:iam::000000000000:role/apigw-logs"
    out = v1.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}])
    assert out["cloudwatchRoleArn"] == role
    gateway.stop()
    gateway.start()
    v1 = aws(gateway, "apigateway")
    assert v1.get_account()["cloudwatchRoleArn"] == role
    with pytest.raises(ClientError) as e:
        v1.update_account(patchOperations=[{"op": "replace", "path": "/throttle/rateLimit", "value": "1"}])
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as e:
        v1.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": "nope"}])
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    v1.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn"}])
    assert "cloudwatchRoleArn" not in v1.get_account()


def test_account_throttle_shows_the_configured_bucket(tmp_path):
    gw = Gateway(tmp_path / "d", tmp_path / "p.log",
                 env={"PORTICO_ACCOUNT_RATE_LIMIT": "250", "PORTICO_ACCOUNT_BURST_LIMIT": "40"}).start()
    try:
        assert aws(gw, "apigateway").get_account()["throttleSettings"] == {"burstLimit": 40, "rateLimit": 250.0}
    finally:
        gw.stop()
    # One flag turns it on; the other takes AWS's default.
    gw = Gateway(tmp_path / "f", tmp_path / "f.log", args=["--account-rate-limit", "300"]).start()
    try:
        assert aws(gw, "apigateway").get_account()["throttleSettings"] == {"burstLimit": 5000, "rateLimit": 300.0}
    finally:
        gw.stop()


def test_rest_api_policy_is_shown_escaped_as_aws_shows_it(gateway):
    """AWS shows a REST API's policy as JSON escaped once more; Terraform unescapes it."""
    v1 = aws(gateway, "apigateway")
    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",' \
             '"Action":"execute-api:Invoke","Resource":"execute-api:/*"}]}'
    api = v1.create_rest_api(name="p", policy=policy)["id"]
    shown = v1.get_rest_api(restApiId=api)["policy"]
    assert shown == policy.replace('"', '\\"').replace("/", "\\/")
    gateway.stop()
    gateway.start()
    assert aws(gateway, "apigateway").get_rest_api(restApiId=api)["policy"] == shown


def test_the_empty_members_terraform_sends(gateway):
    v2 = aws(gateway, "apigatewayv2")
    api = v2.create_api(Name="h", ProtocolType="HTTP", RouteSelectionExpression="$request.method $request.path")
    assert api["RouteSelectionExpression"] == "$request.method $request.path"
    braced = v2.create_api(Name="b", ProtocolType="HTTP", RouteSelectionExpression="${request.method} ${request.path}")
    assert braced["RouteSelectionExpression"] == "$request.method $request.path"
    with pytest.raises(ClientError) as e:
        v2.create_api(Name="x", ProtocolType="HTTP", RouteSelectionExpression="$request.body.action")
    assert e.value.response["Error"]["Code"] == "BadRequestException"

    v1 = aws(gateway, "apigateway")
    rest = v1.create_rest_api(name="r")["id"]
    root = v1.get_resources(restApiId=rest)["items"][0]["id"]
    v1.put_method(restApiId=rest, resourceId=root, httpMethod="GET", authorizationType="NONE")
    v1.put_integration(restApiId=rest, resourceId=root, httpMethod="GET", type="MOCK")
    dep = v1.create_deployment(restApiId=rest, stageName="", stageDescription="", description="",
                               variables={})
    assert v1.get_stages(restApiId=rest)["item"] == []
    assert v1.get_deployment(restApiId=rest, deploymentId=dep["id"])["id"] == dep["id"]

    key = v1.create_api_key(name="k", value="", enabled=True)
    assert len(v1.get_api_key(apiKey=key["id"], includeValue=True)["value"]) >= 20
