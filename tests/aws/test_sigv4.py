"""Admin authentication: with PORTICO_ADMIN_ACCESS_KEY_ID/SECRET set, the admin API takes only
requests SigV4-signed with them (as boto3 and the AWS CLI sign), and refuses the rest in AWS's
shape."""

import datetime
import json
import http.client
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from conftest import Gateway

KEY_ID = "AKIDPORTICOADMIN"
SECRET = "s3cr3t/portico+admin"


@pytest.fixture
def signed_gateway(tmp_path):
    gw = Gateway(
        tmp_path / "data",
        tmp_path / "portico.log",
        env={"PORTICO_ADMIN_ACCESS_KEY_ID": KEY_ID, "PORTICO_ADMIN_SECRET_ACCESS_KEY": SECRET},
    ).start()
    yield gw
    gw.stop()


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_right_credentials_are_accepted(signed_gateway):
    c = signed_gateway.client(KEY_ID, SECRET)
    api = c.create_api(Name="signed", ProtocolType="HTTP")
    assert c.get_api(ApiId=api["ApiId"])["Name"] == "signed"


def test_wrong_secret_and_unknown_key_are_refused(signed_gateway):
    assert error_of(lambda: signed_gateway.client(KEY_ID, "wrong").get_apis()) == ("InvalidSignatureException", 403)
    assert error_of(lambda: signed_gateway.client("AKIDOTHER", SECRET).get_apis()) == ("UnrecognizedClientException", 403)


def test_unsigned_request_is_refused(signed_gateway):
    status, headers, body = signed_gateway.admin_raw("GET", "/v2/apis")
    assert status == 403
    assert headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException")
    assert json.loads(body) == {"message": "Missing Authentication Token"}


def test_expired_signature_is_refused(signed_gateway):
    # Sign as botocore does, but 20 minutes in the past (the window is 15 minutes).
    then = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    req = botocore.awsrequest.AWSRequest(method="GET", url=f"http://{signed_gateway.admin}/v2/apis")
    with mock.patch.object(botocore.auth.datetime, "datetime", wraps=datetime.datetime) as dt:
        dt.utcnow.return_value = then
        dt.now.return_value = then
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(KEY_ID, SECRET), "apigateway", "us-east-1").add_auth(req)
    assert req.headers["X-Amz-Date"].startswith(then.strftime("%Y%m%dT%H%M"))
    host, port = signed_gateway.admin.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/v2/apis", headers=dict(req.headers.items()))
    r = conn.getresponse()
    body = json.loads(r.read())
    assert r.status == 403
    assert r.getheader("x-amzn-ErrorType").startswith("InvalidSignatureException")
    assert "Signature expired" in body["message"]


def test_metrics_and_ping_need_no_signature(signed_gateway):
    status, _, body = signed_gateway.admin_raw("GET", "/ping")
    assert status == 200 and body == b"pong"
    status, headers, body = signed_gateway.admin_raw("GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    assert b"portico_connections_accepted_total" in body
