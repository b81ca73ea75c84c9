"""API keys, usage plans, usage plan keys and usage (`apigateway` v1) through the AWS CLI and boto3.

REST API stages come with the REST API control plane, so the plans here cover no API stage; what
is checked is the control plane a user drives and that what it stores survives restarts.
"""

import datetime
import json
import os
import re
import shutil
import subprocess

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import Gateway


def v1(gateway):
    return boto3.client(
        "apigateway",
        endpoint_url=f"http://{gateway.admin}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def today():
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response["Error"]
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], err["Code"], err["Message"]


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed (pip install awscli)")
def test_usage_plan_with_the_aws_cli(gateway, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PORTICO_"))}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-config"),
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="y",
        AWS_DEFAULT_REGION="us-east-1",
    )

    def aws(*args):
        run = subprocess.run(
            ["aws", "apigateway", *args, "--endpoint-url", f"http://{gateway.admin}", "--output", "json"],
            capture_output=True, text=True, timeout=60, env=env,
        )
        assert run.returncode == 0, f"{args}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}\ngateway:\n{gateway.log()}"
        return json.loads(run.stdout) if run.stdout.strip() else None

    key = aws("create-api-key", "--name", "alice", "--enabled")
    assert re.fullmatch(r"[a-z0-9]{10}", key["id"])
    assert re.fullmatch(r"[A-Za-z0-9]{40}", key["value"])
    assert key["enabled"] is True

    plan = aws(
        "create-usage-plan", "--name", "gold",
        "--throttle", "burstLimit=10,rateLimit=5",
        "--quota", "limit=1000,offset=0,period=MONTH",
    )
    assert plan["throttle"] == {"burstLimit": 10, "rateLimit": 5.0}
    assert plan["quota"] == {"limit": 1000, "offset": 0, "period": "MONTH"}

    plan_key = aws(
        "create-usage-plan-key", "--usage-plan-id", plan["id"], "--key-id", key["id"], "--key-type", "API_KEY",
    )
    assert plan_key == {"id": key["id"], "type": "API_KEY", "value": key["value"], "name": "alice"}

    keys = aws("get-usage-plan-keys", "--usage-plan-id", plan["id"])
    assert [k["id"] for k in keys["items"]] == [key["id"]]

    day = today()
    usage = aws("get-usage", "--usage-plan-id", plan["id"], "--start-date", day, "--end-date", day)
    assert usage["usagePlanId"] == plan["id"]
    assert usage["items"] == {key["id"]: [[0, 1000]]}

    updated = aws(
        "update-usage", "--usage-plan-id", plan["id"], "--key-id", key["id"],
        "--patch-operations", "op=replace,path=/remaining,value=500",
    )
    assert updated["items"] == {key["id"]: [[0, 500]]}
    usage = aws("get-usage", "--usage-plan-id", plan["id"], "--start-date", day, "--end-date", day)
    assert usage["items"] == {key["id"]: [[0, 500]]}

    plans = aws("get-usage-plans", "--key-id", key["id"])
    assert [p["id"] for p in plans["items"]] == [plan["id"]]


def test_keys_plans_and_errors_with_boto3(gateway):
    c = v1(gateway)
    k = c.create_api_key(name="bob", value="bobsKeyValue0123456789abc", enabled=True, customerId="cust-1")
    assert k["value"] == "bobsKeyValue0123456789abc"
    assert isinstance(k["createdDate"], datetime.datetime)  # epoch seconds, parsed by botocore
    assert c.create_api_key(name="carol")["enabled"] is False

    listed = c.get_api_keys()["items"]
    assert len(listed) == 2 and all("value" not in i for i in listed)
    assert {i["value"] for i in c.get_api_keys(includeValues=True)["items"]} >= {"bobsKeyValue0123456789abc"}
    assert [i["name"] for i in c.get_api_keys(nameQuery="bo")["items"]] == ["bob"]
    assert "value" not in c.get_api_key(apiKey=k["id"])
    assert c.get_api_key(apiKey=k["id"], includeValue=True)["value"] == "bobsKeyValue0123456789abc"
    pages = list(c.get_paginator("get_api_keys").paginate(PaginationConfig={"PageSize": 1}))
    assert [len(p["items"]) for p in pages] == [1, 1]

    assert error_of(lambda: c.create_api_key(value="bobsKeyValue0123456789abc")) == (
        409, "ConflictException", "API Key already exists")
    status, code, msg = error_of(lambda: c.create_api_key(value="short"))
    assert (status, code) == (400, "BadRequestException") and "20" in msg
    status, code, msg = error_of(lambda: c.get_api_key(apiKey="nope"))
    assert (status, code) == (404, "NotFoundException") and msg.startswith("Invalid API Key identifier specified")

    updated = c.update_api_key(apiKey=k["id"], patchOperations=[
        {"op": "replace", "path": "/enabled", "value": "false"},
        {"op": "replace", "path": "/description", "value": "demo"},
    ])
    assert updated["enabled"] is False and updated["description"] == "demo"
    status, code, _ = error_of(lambda: c.update_api_key(
        apiKey=k["id"], patchOperations=[{"op": "replace", "path": "/bogus", "value": "1"}]))
    assert (status, code) == (400, "BadRequestException")

    plan = c.create_usage_plan(
        name="silver",
        throttle={"rateLimit": 10.0, "burstLimit": 5},
        quota={"limit": 100, "offset": 0, "period": "DAY"},
    )
    status, code, msg = error_of(lambda: c.create_usage_plan(name="bad", quota={"limit": 10, "period": "YEAR"}))
    # A value outside the model's enum: AWS's request validation answer.
    assert (status, code) == (400, "ValidationException") and "createUsagePlanInput.quota.period" in msg
    status, code, _ = error_of(lambda: c.create_usage_plan(name="bad", throttle={"rateLimit": -1.0}))
    assert (status, code) == (400, "BadRequestException")
    status, code, msg = error_of(lambda: c.get_usage_plan(usagePlanId="nope"))
    assert (status, code) == (404, "NotFoundException") and msg.startswith("Invalid Usage Plan ID specified")

    plan = c.update_usage_plan(usagePlanId=plan["id"], patchOperations=[
        {"op": "replace", "path": "/quota/limit", "value": "200"},
        {"op": "replace", "path": "/throttle/burstLimit", "value": "8"},
    ])
    assert plan["quota"]["limit"] == 200 and plan["throttle"]["burstLimit"] == 8

    c.create_usage_plan_key(usagePlanId=plan["id"], keyId=k["id"], keyType="API_KEY")
    assert c.get_usage_plan_key(usagePlanId=plan["id"], keyId=k["id"])["name"] == "bob"
    usage = c.get_usage(usagePlanId=plan["id"], startDate=today(), endDate=today())
    assert usage["items"] == {k["id"]: [[0, 200]]}

    assert c.delete_usage_plan_key(usagePlanId=plan["id"], keyId=k["id"])["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert c.get_usage_plan_keys(usagePlanId=plan["id"])["items"] == []
    assert c.delete_usage_plan(usagePlanId=plan["id"])["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert c.delete_api_key(apiKey=k["id"])["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert error_of(lambda: c.delete_api_key(apiKey=k["id"]))[:2] == (404, "NotFoundException")


def test_everything_survives_restarts_and_kill_9(tmp_path, data_dir):
    gw = Gateway(data_dir, tmp_path / "portico.log").start()
    try:
        c = v1(gw)
        key = c.create_api_key(name="dave", enabled=True)
        plan = c.create_usage_plan(name="p", quota={"limit": 1000, "period": "WEEK"})
        c.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        c.update_usage(usagePlanId=plan["id"], keyId=key["id"], patchOperations=[
            {"op": "replace", "path": "/remaining", "value": "700"}])
    finally:
        gw.kill()  # SIGKILL right after the 2xx
    gw = Gateway(data_dir, tmp_path / "portico.log").start()
    try:
        c = v1(gw)
        assert c.get_api_key(apiKey=key["id"], includeValue=True)["value"] == key["value"]
        assert c.get_usage_plan(usagePlanId=plan["id"])["quota"]["period"] == "WEEK"
        assert [k["id"] for k in c.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
        usage = c.get_usage(usagePlanId=plan["id"], startDate=today(), endDate=today())
        assert usage["items"] == {key["id"]: [[0, 700]]}
    finally:
        gw.stop()
    gw = Gateway(data_dir, tmp_path / "portico.log").start()
    try:
        usage = v1(gw).get_usage(usagePlanId=plan["id"], startDate=today(), endDate=today())
        assert usage["items"] == {key["id"]: [[0, 700]]}, "a graceful restart keeps the counts too"
    finally:
        gw.stop()
