"""Each region's resources kept apart, as AWS keeps them: the region of an admin request is its SigV4
credential scope's (boto3's `region_name`, the AWS CLI's `--region`); an unsigned request uses the node's
default region (`serve --region`, else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1)."""

import json
import os
import shutil
import subprocess

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import Gateway
from test_tls import pem_pair

US, EU = "us-east-1", "eu-west-1"


def aws(gateway, service, region):
    return boto3.client(
        service, endpoint_url=f"http://{gateway.admin}", region_name=region,
        aws_access_key_id="x", aws_secret_access_key="y",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


NOT_FOUND = ("NotFoundException", 404)


def test_http_apis_are_listed_fetched_and_served_per_region(gateway, upstream):
    us, eu = aws(gateway, "apigatewayv2", US), aws(gateway, "apigatewayv2", EU)
    a = us.create_api(Name="us-api", ProtocolType="HTTP", Target=upstream.url())["ApiId"]
    b = eu.create_api(Name="eu-api", ProtocolType="HTTP", Target=upstream.url())["ApiId"]
    assert a != b
    assert [x["ApiId"] for x in us.get_apis()["Items"]] == [a]
    assert [x["ApiId"] for x in eu.get_apis()["Items"]] == [b]
    assert eu.get_api(ApiId=b)["Name"] == "eu-api"
    # Another region's API is not found, whatever the call.
    assert error_of(lambda: us.get_api(ApiId=b)) == NOT_FOUND
    assert error_of(lambda: eu.get_api(ApiId=a)) == NOT_FOUND
    assert error_of(lambda: us.update_api(ApiId=b, Name="taken")) == NOT_FOUND
    assert error_of(lambda: us.get_routes(ApiId=b)) == NOT_FOUND
    assert error_of(lambda: us.create_stage(ApiId=b, StageName="s")) == NOT_FOUND
    assert error_of(lambda: us.delete_api(ApiId=b)) == NOT_FOUND
    assert eu.get_api(ApiId=b)["Name"] == "eu-api"
    # The data plane serves both, by id.
    for api in (a, b):
        status, _, _ = gateway.request(api, "GET", "/pets")
        assert status == 200, gateway.log()
    # Deleting in its own region works, and its region is forgotten with it.
    eu.delete_api(ApiId=b)
    assert eu.get_apis()["Items"] == []
    assert [x["ApiId"] for x in us.get_apis()["Items"]] == [a]


def test_rest_apis_keys_plans_links_and_domains_per_region(gateway, tmp_path):
    us, eu = aws(gateway, "apigateway", US), aws(gateway, "apigateway", EU)
    a = us.create_rest_api(name="us")["id"]
    b = eu.create_rest_api(name="eu")["id"]
    assert [x["id"] for x in us.get_rest_apis()["items"]] == [a]
    assert [x["id"] for x in eu.get_rest_apis()["items"]] == [b]
    assert error_of(lambda: us.get_rest_api(restApiId=b)) == NOT_FOUND
    assert error_of(lambda: us.get_resources(restApiId=b)) == NOT_FOUND
    assert error_of(lambda: eu.delete_rest_api(restApiId=a)) == NOT_FOUND

    key = eu.create_api_key(name="k", enabled=True)["id"]
    assert [k["id"] for k in eu.get_api_keys()["items"]] == [key]
    assert us.get_api_keys()["items"] == []
    assert error_of(lambda: us.get_api_key(apiKey=key)) == NOT_FOUND
    assert error_of(lambda: us.delete_api_key(apiKey=key)) == NOT_FOUND

    plan = eu.create_usage_plan(name="p")["id"]
    assert [p["id"] for p in eu.get_usage_plans()["items"]] == [plan]
    assert us.get_usage_plans()["items"] == []
    assert error_of(lambda: us.get_usage_plan(usagePlanId=plan)) == NOT_FOUND
    assert error_of(lambda: us.create_usage_plan_key(usagePlanId=plan, keyId=key, keyType="API_KEY")) == NOT_FOUND

    link = eu.create_vpc_link(name="l", targetArns=["127.0.0.1:9"])
    assert [x["id"] for x in eu.get_vpc_links()["items"]] == [link["id"]]
    assert us.get_vpc_links()["items"] == []
    assert error_of(lambda: us.get_vpc_link(vpcLinkId=link["id"])) == NOT_FOUND
    v2us, v2eu = aws(gateway, "apigatewayv2", US), aws(gateway, "apigatewayv2", EU)
    link2 = v2eu.create_vpc_link(Name="l2", SubnetIds=["subnet-1"])["VpcLinkId"]
    assert [x["VpcLinkId"] for x in v2eu.get_vpc_links()["Items"]] == [link2]
    assert v2us.get_vpc_links()["Items"] == []
    assert error_of(lambda: v2us.get_vpc_link(VpcLinkId=link2)) == NOT_FOUND

    # ACM: the ARN names the region of the request that imported the certificate.
    acm_us, acm_eu = aws(gateway, "acm", US), aws(gateway, "acm", EU)
    cert, pkey = pem_pair(tmp_path, "eu", "eu.example.test")
    arn = acm_eu.import_certificate(Certificate=cert, PrivateKey=pkey)["CertificateArn"]
    assert arn.startswith("arn:aws:acm:eu-west-1:")
    assert [c["CertificateArn"] for c in acm_eu.list_certificates()["CertificateSummaryList"]] == [arn]
    assert acm_us.list_certificates()["CertificateSummaryList"] == []
    with pytest.raises(ClientError) as e:
        acm_us.describe_certificate(CertificateArn=arn)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"

    eu.create_domain_name(domainName="eu.example.test", regionalCertificateArn=arn,
                          endpointConfiguration={"types": ["REGIONAL"]})
    assert [d["domainName"] for d in eu.get_domain_names()["items"]] == ["eu.example.test"]
    assert us.get_domain_names()["items"] == []
    assert [d["DomainName"] for d in v2eu.get_domain_names()["Items"]] == ["eu.example.test"]
    assert v2us.get_domain_names()["Items"] == []
    assert error_of(lambda: us.get_domain_name(domainName="eu.example.test")) == NOT_FOUND
    assert error_of(lambda: v2us.get_domain_name(DomainName="eu.example.test")) == NOT_FOUND
    assert error_of(lambda: us.get_base_path_mappings(domainName="eu.example.test")) == NOT_FOUND
    # Domain names stay unique across regions (a difference from AWS, see docs/differences.md).
    cert, pkey = pem_pair(tmp_path, "us", "eu.example.test")
    us_arn = acm_us.import_certificate(Certificate=cert, PrivateKey=pkey)["CertificateArn"]
    assert us_arn.startswith("arn:aws:acm:us-east-1:")
    code, _ = error_of(lambda: us.create_domain_name(
        domainName="eu.example.test", regionalCertificateArn=us_arn, endpointConfiguration={"types": ["REGIONAL"]}))
    assert code == "ConflictException"
    assert us.get_domain_names()["items"] == []


def test_regions_survive_a_restart_and_unsigned_requests_use_the_default_region(tmp_path, data_dir):
    gw = Gateway(data_dir, tmp_path / "portico.log").start()
    try:
        us, eu = aws(gw, "apigatewayv2", US), aws(gw, "apigatewayv2", EU)
        a = us.create_api(Name="us", ProtocolType="HTTP")["ApiId"]
        b = eu.create_api(Name="eu", ProtocolType="HTTP")["ApiId"]
        status, _, body = gw.admin_raw("GET", "/v2/apis")
        assert status == 200 and [x["apiId"] for x in json.loads(body)["items"]] == [a]
    finally:
        gw.stop()
    # The same store under a node whose default region is eu-west-1.
    gw = Gateway(data_dir, tmp_path / "portico.log", args=["--region", EU]).start()
    try:
        status, _, body = gw.admin_raw("GET", "/v2/apis")
        assert status == 200 and [x["apiId"] for x in json.loads(body)["items"]] == [b]
        status, _, _ = gw.admin_raw("GET", f"/v2/apis/{a}")
        assert status == 404
        us, eu = aws(gw, "apigatewayv2", US), aws(gw, "apigatewayv2", EU)
        assert [x["ApiId"] for x in us.get_apis()["Items"]] == [a]
        assert [x["ApiId"] for x in eu.get_apis()["Items"]] == [b]
    finally:
        gw.stop()


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed (pip install awscli)")
def test_the_aws_cli_region_flag_selects_the_region(gateway, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PORTICO_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-aws-config")
    env.update(AWS_ACCESS_KEY_ID="portico", AWS_SECRET_ACCESS_KEY="portico", AWS_DEFAULT_REGION=US)

    def cli(*args):
        run = subprocess.run(
            ["aws", "apigateway", *args, "--endpoint-url", f"http://{gateway.admin}", "--output", "json"],
            capture_output=True, text=True, timeout=60, env=env,
        )
        return run.returncode, run.stdout, run.stderr

    rc, out, err = cli("create-rest-api", "--name", "eu", "--region", EU)
    assert rc == 0, err
    eu_id = json.loads(out)["id"]
    rc, out, err = cli("get-rest-apis", "--region", EU)
    assert rc == 0 and [x["id"] for x in json.loads(out)["items"]] == [eu_id], err
    rc, out, err = cli("get-rest-apis")
    assert rc == 0 and json.loads(out)["items"] == [], err
    rc, _, err = cli("get-rest-api", "--rest-api-id", eu_id)
    assert rc != 0 and "NotFoundException" in err


def test_account_settings_per_region(gateway):
    us, eu = aws(gateway, "apigateway", US), aws(gateway, "apigateway", EU)
    role = "arn:aws:iam::123456789012:role/eu-logs"
    eu.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}])
    assert eu.get_account()["cloudwatchRoleArn"] == role
    assert "cloudwatchRoleArn" not in us.get_account()
    us_role = "arn:aws:iam::123456789012:role/us-logs"
    us.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": us_role}])
    assert (us.get_account()["cloudwatchRoleArn"], eu.get_account()["cloudwatchRoleArn"]) == (us_role, role)
