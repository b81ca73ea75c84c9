"""Certificates and custom domain names with boto3: ACM's JSON 1.1 protocol on the admin
listener, v1 and v2 domain names and mappings, AWS-shaped errors."""

import subprocess

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError


def pem_pair(tmp_path, name, cn):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(tmp_path / f"{name}.key"), "-out", str(tmp_path / f"{name}.pem"),
         "-days", "5", "-subj", f"/CN={cn}", "-addext", f"subjectAltName=DNS:{cn}"],
        check=True, capture_output=True,
    )
    return (tmp_path / f"{name}.pem").read_bytes(), (tmp_path / f"{name}.key").read_bytes()


def aws(gateway, service):
    return boto3.client(
        service, endpoint_url=f"http://{gateway.admin}", region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="y",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def test_acm_and_domain_names_with_boto3(gateway, tmp_path):
    acm, v1, v2 = aws(gateway, "acm"), aws(gateway, "apigateway"), aws(gateway, "apigatewayv2")
    cert, key = pem_pair(tmp_path, "a", "a.example.test")
    _, other_key = pem_pair(tmp_path, "b", "b.example.test")

    arn = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    assert arn.startswith("arn:aws:acm:us-east-1:000000000000:certificate/")
    described = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert described["DomainName"] == "a.example.test"
    assert described["Type"] == "IMPORTED" and described["NotAfter"] > described["NotBefore"]
    assert [c["CertificateArn"] for c in acm.list_certificates()["CertificateSummaryList"]] == [arn]

    with pytest.raises(ClientError) as e:
        acm.import_certificate(Certificate=cert, PrivateKey=other_key)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        acm.import_certificate(Certificate=b"-----BEGIN CERTIFICATE-----\nnope\n", PrivateKey=key)
    assert e.value.response["Error"]["Code"] == "ValidationException"

    api = v2.create_api(Name="a", ProtocolType="HTTP", Target="http://127.0.0.1:9")["ApiId"]
    d = v1.create_domain_name(domainName="a.example.test", regionalCertificateArn=arn,
                              endpointConfiguration={"types": ["REGIONAL"]}, securityPolicy="TLS_1_2")
    assert d["regionalCertificateArn"] == arn and d["domainNameStatus"] == "AVAILABLE"
    m = v1.create_base_path_mapping(domainName="a.example.test", basePath="orders",
                                    restApiId=api, stage="$default")
    assert m == {k: m[k] for k in ("basePath", "restApiId", "stage", "ResponseMetadata")}
    got = v2.get_api_mappings(DomainName="a.example.test")["Items"]
    assert [(x["ApiMappingKey"], x["ApiId"]) for x in got] == [("orders", api)]
    assert v2.get_domain_name(DomainName="a.example.test")["DomainNameConfigurations"][0][
        "CertificateArn"] == arn

    with pytest.raises(ClientError) as e:
        v2.create_domain_name(DomainName="b.example.test", DomainNameConfigurations=[
            {"CertificateArn": arn.replace(arn[-4:], "0000"), "EndpointType": "REGIONAL"}])
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as e:
        v2.create_api_mapping(DomainName="a.example.test", ApiId=api, Stage="$default",
                              ApiMappingKey="orders")
    assert e.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as e:
        acm.delete_certificate(CertificateArn=arn)
    assert e.value.response["Error"]["Code"] == "ResourceInUseException"

    v1.delete_domain_name(domainName="a.example.test")
    assert v2.get_domain_names()["Items"] == []
    acm.delete_certificate(CertificateArn=arn)
    with pytest.raises(ClientError) as e:
        acm.describe_certificate(CertificateArn=arn)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
