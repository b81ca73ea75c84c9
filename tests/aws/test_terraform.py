"""Terraform's hashicorp/aws provider against the real binary (issue 18).

Each configuration in tests/terraform/ is written as the provider's documentation writes it. For
each: `terraform apply`; a second `terraform plan -detailed-exitcode` shows no changes (no drift
from defaults Portico fills differently); every managed resource is imported into a fresh state
(import blocks, one plan) with no changes beyond the attributes AWS cannot read back either; the
data plane serves the routes; `terraform destroy` leaves nothing behind (checked through boto3).

The provider comes from the machine's filesystem mirror (`find / -maxdepth 4 -type d -name
registry.terraform.io`); without terraform or the mirror the tests skip with the reason.
"""

import http.client
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import boto3
import botocore.config
import pytest

from conftest import Gateway, Upstream, REPO
from test_tls import pem_pair

CONFIGS = REPO / "tests" / "terraform"
TF_TIMEOUT_S = 240
MIRROR_ROOTS = ["/opt/tf-plugins", "/usr/share/terraform/plugins", "/usr/local/share/terraform/plugins"]


def find_mirror():
    for root in MIRROR_ROOTS:
        if (Path(root) / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return root
    try:
        out = subprocess.run(
            ["find", "/", "-maxdepth", "4", "-type", "d", "-name", "registry.terraform.io"],
            capture_output=True, text=True, timeout=60,
        ).stdout
    except subprocess.TimeoutExpired:
        return None
    for line in out.splitlines():
        if (Path(line) / "hashicorp" / "aws").is_dir():
            return str(Path(line).parent)
    return None


TERRAFORM = shutil.which("terraform")
MIRROR = find_mirror() if TERRAFORM else None
SKIP_REASON = (
    "TERRAFORM SUITE SKIPPED: no `terraform` on PATH" if not TERRAFORM
    else "TERRAFORM SUITE SKIPPED: no filesystem mirror of hashicorp/aws (registry.terraform.io) found"
)
pytestmark = pytest.mark.skipif(TERRAFORM is None or MIRROR is None, reason=SKIP_REASON)


# The import id of each resource type, from its state attributes (the provider's documented forms).
IMPORT_IDS = {
    "aws_acm_certificate": lambda a: a["arn"],
    "aws_api_gateway_account": lambda a: "api-gateway-account",
    "aws_api_gateway_api_key": lambda a: a["id"],
    "aws_api_gateway_authorizer": lambda a: f"{a['rest_api_id']}/{a['id']}",
    "aws_api_gateway_base_path_mapping": lambda a: f"{a['domain_name']}/{a['base_path']}",
    "aws_api_gateway_deployment": lambda a: f"{a['rest_api_id']}/{a['id']}",
    "aws_api_gateway_domain_name": lambda a: a["domain_name"],
    "aws_api_gateway_gateway_response": lambda a: f"{a['rest_api_id']}/{a['response_type']}",
    "aws_api_gateway_integration": lambda a: f"{a['rest_api_id']}/{a['resource_id']}/{a['http_method']}",
    "aws_api_gateway_integration_response":
        lambda a: f"{a['rest_api_id']}/{a['resource_id']}/{a['http_method']}/{a['status_code']}",
    "aws_api_gateway_method": lambda a: f"{a['rest_api_id']}/{a['resource_id']}/{a['http_method']}",
    "aws_api_gateway_method_response":
        lambda a: f"{a['rest_api_id']}/{a['resource_id']}/{a['http_method']}/{a['status_code']}",
    "aws_api_gateway_method_settings": lambda a: f"{a['rest_api_id']}/{a['stage_name']}/{a['method_path']}",
    "aws_api_gateway_model": lambda a: f"{a['rest_api_id']}/{a['name']}",
    "aws_api_gateway_request_validator": lambda a: f"{a['rest_api_id']}/{a['id']}",
    "aws_api_gateway_resource": lambda a: f"{a['rest_api_id']}/{a['id']}",
    "aws_api_gateway_rest_api": lambda a: a["id"],
    "aws_api_gateway_rest_api_policy": lambda a: a["rest_api_id"],
    "aws_api_gateway_stage": lambda a: f"{a['rest_api_id']}/{a['stage_name']}",
    "aws_api_gateway_usage_plan": lambda a: a["id"],
    "aws_api_gateway_usage_plan_key": lambda a: f"{a['usage_plan_id']}/{a['key_id']}",
    "aws_api_gateway_vpc_link": lambda a: a["id"],
    "aws_apigatewayv2_api": lambda a: a["id"],
    "aws_apigatewayv2_api_mapping": lambda a: f"{a['id']}/{a['domain_name']}",
    "aws_apigatewayv2_authorizer": lambda a: f"{a['api_id']}/{a['id']}",
    "aws_apigatewayv2_deployment": lambda a: f"{a['api_id']}/{a['id']}",
    "aws_apigatewayv2_domain_name": lambda a: a["domain_name"],
    "aws_apigatewayv2_integration": lambda a: f"{a['api_id']}/{a['id']}",
    "aws_apigatewayv2_integration_response": lambda a: f"{a['api_id']}/{a['integration_id']}/{a['id']}",
    "aws_apigatewayv2_model": lambda a: f"{a['api_id']}/{a['id']}",
    "aws_apigatewayv2_route": lambda a: f"{a['api_id']}/{a['id']}",
    "aws_apigatewayv2_route_response": lambda a: f"{a['api_id']}/{a['route_id']}/{a['id']}",
    "aws_apigatewayv2_stage": lambda a: f"{a['api_id']}/{a['name']}",
    "aws_apigatewayv2_vpc_link": lambda a: a["id"],
}

# Attributes an import cannot restore, on AWS as here (the provider's documentation says so for
# each): they exist only in the configuration or are write-only.
NOT_READ_BACK = {
    "aws_acm_certificate": {"private_key", "certificate_body", "certificate_chain"},
    "aws_api_gateway_deployment": {"triggers", "stage_name", "stage_description", "variables", "canary_settings"},
    "aws_apigatewayv2_deployment": {"triggers"},
    "aws_api_gateway_account": {"reset_on_delete"},
}


def provider_block(admin):
    url = f"http://{admin}"
    return f"""
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "AKIAIOSFODNN7EXAMPLE"
  secret_key                  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true

  endpoints {{
    acm          = "{url}"
    apigateway   = "{url}"
    apigatewayv2 = "{url}"
    iam          = "{url}"
    lambda       = "{url}"
    sts          = "{url}"
  }}
}}
"""


class Terraform:
    """One working directory holding a copy of a configuration and its provider block."""

    def __init__(self, config, workdir, cli_config, admin, variables):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        for f in [*(CONFIGS / config).glob("*.tf"), *(CONFIGS / "common").glob("*.tf")]:
            shutil.copy(f, self.dir / f.name)
        (self.dir / "provider.tf").write_text(provider_block(admin))
        (self.dir / "terraform.tfvars.json").write_text(json.dumps(variables))
        self.env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("TF_", "AWS_", "PORTICO_"))
        }
        self.env.update({
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "TF_DATA_DIR": str(self.dir / ".tfdata"),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        if os.environ.get("PORTICO_TF_LOG"):
            self.env["TF_LOG"] = os.environ["PORTICO_TF_LOG"]
            self.env["TF_LOG_PATH"] = str(self.dir / "terraform.log")

    def run(self, *args, codes=(0,)):
        try:
            p = subprocess.run(
                [TERRAFORM, *args], cwd=self.dir, env=self.env, capture_output=True, text=True,
                timeout=TF_TIMEOUT_S, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"terraform {' '.join(args)} ran over {TF_TIMEOUT_S} s:\n{e.stdout}\n{e.stderr}")
        if p.returncode not in codes:
            pytest.fail(
                f"terraform {' '.join(args)} exited {p.returncode} (wanted {codes}):\n"
                f"{p.stdout[-12000:]}\n{p.stderr[-12000:]}"
            )
        return p

    def init(self):
        self.run("init", "-input=false", "-no-color", "-lock=false")

    def apply(self):
        return self.run("apply", "-auto-approve", "-input=false", "-no-color", "-lock=false")

    def plan_clean(self):
        """A second plan shows no changes; on drift, the plan says which attributes."""
        p = self.run("plan", "-detailed-exitcode", "-input=false", "-no-color", "-lock=false", codes=(0, 2))
        assert p.returncode == 0, f"drift after apply:\n{p.stdout[-12000:]}"

    def state(self):
        return json.loads(self.run("show", "-json", "-no-color").stdout)


    def destroy(self):
        self.run("destroy", "-auto-approve", "-input=false", "-no-color", "-lock=false")


def managed(state):
    """(address, type, attributes) of every managed resource in `terraform show -json`."""
    out = []

    def walk(module):
        for r in module.get("resources", []):
            if r["mode"] == "managed":
                out.append((r["address"], r["type"], r["values"]))
        for child in module.get("child_modules", []):
            walk(child)

    walk(state["values"]["root_module"])
    return out


def check_import(tf_dir, config, cli_config, admin, variables, resources):
    """Every resource imported into a fresh state: the plan imports each and changes nothing but
    what no import can restore."""
    imp = Terraform(config, tf_dir, cli_config, admin, variables)
    blocks = []
    for address, rtype, attrs in resources:
        assert rtype in IMPORT_IDS, f"no import id known for {rtype}"
        blocks.append(f'import {{\n  to = {address}\n  id = {json.dumps(IMPORT_IDS[rtype](attrs))}\n}}\n')
    (imp.dir / "imports.tf").write_text("\n".join(blocks))
    imp.init()
    imp.run("plan", "-input=false", "-no-color", "-lock=false", "-out=import.plan")
    plan = json.loads(imp.run("show", "-json", "-no-color", "import.plan").stdout)
    imported, problems = set(), []
    for rc in plan.get("resource_changes", []):
        if rc["mode"] != "managed":
            continue
        change = rc["change"]
        if change.get("importing"):
            imported.add(rc["address"])
        if change["actions"] == ["no-op"]:
            continue
        if change["actions"] == ["create"] and not change.get("importing"):
            problems.append(f"{rc['address']}: not imported, would be created")
            continue
        before, after = change.get("before") or {}, change.get("after") or {}
        unknown = change.get("after_unknown") or {}
        allowed = NOT_READ_BACK.get(rc["type"], set())
        causes = {path[0] for path in rc.get("replace_paths", [])}
        if causes - allowed:
            problems.append(f"{rc['address']}: replaced on import because of {sorted(causes - allowed)}")
        # A replacement plans the configuration's own values: an unset attribute is null there
        # and empty in what was read.
        differ = sorted(
            k for k in set(before) | set(after)
            if before.get(k) != after.get(k) and not unknown.get(k) and k not in allowed
            and (before.get(k) or after.get(k))
        )
        if differ:
            problems.append(
                f"{rc['address']}: {change['actions']} on import: "
                + ", ".join(f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in differ)
            )
    missing = {a for a, _, _ in resources} - imported
    assert not missing, f"not imported: {sorted(missing)}"
    assert not problems, "import drift:\n" + "\n".join(problems)
    return len(imported)


@pytest.fixture(scope="module")
def tf_root():
    root = Path(tempfile.mkdtemp(prefix="portico-tf-"))
    cache = root / "plugin-cache"
    cache.mkdir()
    cli = root / "terraform.rc"
    cli.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path    = "{MIRROR}"\n'
        f'    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n}}\n'
        f'plugin_cache_dir = "{cache}"\n'
    )
    yield root, cli
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def tf_gateway(tmp_path):
    gw = Gateway(tmp_path / "data", tmp_path / "portico.log").start()
    yield gw
    gw.stop()


def boto(gw, service):
    return boto3.client(
        service, endpoint_url=f"http://{gw.admin}", region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="y",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def run_config(tf_root, gw, config, variables, serve):
    """apply, clean plan, import into a fresh state, serve, destroy; returns the resource types."""
    root, cli = tf_root
    work = Path(tempfile.mkdtemp(prefix=f"{config}-", dir=root))
    tf = Terraform(config, work / "main", cli, gw.admin, variables)
    tf.init()
    try:
        tf.apply()
        tf.plan_clean()
        state = tf.state()
        resources = managed(state)
        imported = check_import(work / "import", config, cli, gw.admin, variables, resources)
        assert imported == len(resources)
        serve({k: v["value"] for k, v in state["values"]["outputs"].items()})
    finally:
        tf.destroy()
    return sorted({t for _, t, _ in resources})


def certificate(tmp_path, domain):
    """A self-signed certificate and key for `domain`, as the configurations' variables."""
    cert, key = pem_pair(tmp_path, "tf", domain)
    return {"domain_name": domain, "certificate_pem": cert.decode(), "private_key_pem": key.decode()}


def domain_request(gw, domain, method, path):
    """One data plane request addressed to a custom domain name."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    try:
        conn.request(method, path, headers={"Host": f"{domain}:{gw.port}"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_http_api(tf_root, tf_gateway, tmp_path):
    gw = tf_gateway
    up = Upstream()
    try:
        def serve(out):
            api = out["api_id"]
            assert out["data_api_name"] == "example-http-api"
            assert api in out["data_apis_ids"]
            status, _, body = gw.request(api, "GET", "/items")
            assert status == 200, body
            seen = up.last()
            assert seen["path"] == "/items"
            assert ("x-from", "terraform") in seen["headers"]
            status, _, body = gw.request(api, "POST", "/open/a/b")
            assert status == 200, body
            assert up.last()["path"] == "/a/b"
            status, _, _ = gw.request(api, "GET", "/secret")
            assert status == 401
            status, headers, _ = gw.request(api, "OPTIONS", "/items", headers={
                "Origin": "https://example.com", "Access-Control-Request-Method": "GET"})
            assert status == 204
            assert {k.lower(): v for k, v in headers.items()}["access-control-allow-origin"] == "https://example.com"
            # The manually deployed stage serves the same routes under its name.
            status, _, body = gw.request(api, "GET", "/manual/items")
            assert status == 200, body
            status, body = domain_request(gw, "http.example.com", "GET", "/v1/items")
            assert status == 200, body

        types = run_config(tf_root, gw, "http_api", {
            "upstream_url": up.url(), "jwt_issuer": up.url("/issuer"),
            **certificate(tmp_path, "http.example.com")}, serve)
    finally:
        up.close()
    v2 = boto(gw, "apigatewayv2")
    assert v2.get_apis()["Items"] == []
    assert v2.get_vpc_links()["Items"] == []
    assert v2.get_domain_names()["Items"] == []
    assert boto(gw, "acm").list_certificates()["CertificateSummaryList"] == []
    assert "aws_apigatewayv2_route" in types


def test_rest_api(tf_root, tf_gateway, tmp_path):
    gw = tf_gateway
    up = Upstream()
    try:
        def serve(out):
            api = out["rest_api_id"]
            key = out["api_key_value"]
            assert len(key) >= 20 and key == out["data_key_value"]
            status, _, _ = gw.request(api, "GET", "/example/items")
            assert status == 403
            status, _, body = gw.request(api, "GET", "/example/items", headers={"x-api-key": key})
            assert status == 200, body
            assert up.last()["path"] == "/items"
            status, headers, body = gw.request(api, "GET", "/example/mock")
            assert status == 200, body
            assert json.loads(body) == {"mocked": True}
            assert {k.lower(): v for k, v in headers.items()}["x-mock"] == "yes"
            status, _, body = gw.request(api, "PUT", "/example/items/7", body=b'{"name":"x"}',
                                         headers={"Content-Type": "application/json"})
            assert status == 200, body
            assert up.last()["path"] == "/items/7"
            status, _, body = gw.request(api, "PUT", "/example/items/7", body=b'{"other":1}',
                                         headers={"Content-Type": "application/json"})
            assert status == 400, body
            assert out["data_domain_certificate"] == out["certificate_arn"]
            status, body = domain_request(gw, "rest.example.com", "GET", "/shop/mock")
            assert status == 200, body
            account = boto(gw, "apigateway").get_account()
            assert account["cloudwatchRoleArn"] == "arn:aws:iam::000000000000:role/api-gateway-cloudwatch"

        types = run_config(tf_root, gw, "rest_api", {
            "upstream_url": up.url(), "upstream_authority": up.authority,
            **certificate(tmp_path, "rest.example.com")}, serve)
    finally:
        up.close()
    v1 = boto(gw, "apigateway")
    assert v1.get_rest_apis()["items"] == []
    assert v1.get_api_keys()["items"] == []
    assert v1.get_usage_plans()["items"] == []
    assert v1.get_vpc_links()["items"] == []
    assert v1.get_domain_names()["items"] == []
    assert "cloudwatchRoleArn" not in v1.get_account()
    assert boto(gw, "acm").list_certificates()["CertificateSummaryList"] == []
    assert "aws_api_gateway_method_settings" in types


def test_unsupported_features_are_refused(tf_root, tf_gateway, tmp_path):
    """What Portico does not serve fails the apply with AWS's error shape and the reason; the rest
    of the configuration applies and destroys."""
    gw = tf_gateway
    root, cli = tf_root
    tf = Terraform("unsupported", Path(tempfile.mkdtemp(prefix="unsupported-", dir=root)), cli, gw.admin,
                   certificate(tmp_path, "unsupported.example.com"))
    tf.init()
    try:
        p = tf.run("apply", "-auto-approve", "-input=false", "-no-color", "-lock=false", codes=(1,))
        out = p.stdout + p.stderr
        for why in (
            "BadRequestException: GenerateClientCertificate is not supported by Portico: client certificates",
            "BadRequestException: CreateDocumentationPart is not supported by Portico: API documentation parts",
            "BadRequestException: CreateModel is not supported by Portico: apigatewayv2 models",
        ):
            assert why in " ".join(out.split()), out[-6000:]
    finally:
        tf.destroy()
    assert boto(gw, "apigateway").get_rest_apis()["items"] == []
    assert boto(gw, "apigatewayv2").get_apis()["Items"] == []
