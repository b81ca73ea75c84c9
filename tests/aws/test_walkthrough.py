"""The README's walkthrough, run as written with the AWS CLI v1 and curl.

The commands are read from README.md (the blocks after `<!-- walkthrough:backend -->` and
`<!-- walkthrough:client -->`), so the README cannot drift from what is tested. Only the
addresses change: the gateway and the backend listen on free ports here, not 8080/9090/3000, and
the backend's directory is a temp dir. The `pip install` line is left to the test command.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import REPO


def readme_block(marker):
    text = (REPO / "README.md").read_text()
    at = text.index(f"<!-- walkthrough:{marker} -->")
    m = re.compile(r"```sh\n(.*?)```", re.S).search(text, at)
    return m.group(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed (pip install awscli)")
def test_readme_walkthrough_with_the_aws_cli(tls_gateway, tmp_path):
    gateway = tls_gateway
    backend_port = free_port()
    pets = tmp_path / "pets"

    def localize(script):
        return (
            script.replace("/tmp/pets", str(pets))
            .replace("http.server 3000", f"http.server {backend_port}")
            .replace("127.0.0.1:3000", f"127.0.0.1:{backend_port}")
            .replace("127.0.0.1:9090", gateway.admin)
            .replace("localhost:8080", f"localhost:{gateway.port}")
            .replace(":8443", ":" + gateway.tls.rsplit(":", 1)[1])
        )

    backend = subprocess.Popen(
        ["bash", "-euc", localize(readme_block("backend"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", backend_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the walkthrough's backend did not start"
                time.sleep(0.05)

        client = "\n".join(
            line for line in readme_block("client").splitlines() if not line.startswith("pip install")
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PORTICO_"))}
        env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-aws-config")
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", localize(client)],
            capture_output=True, text=True, timeout=300, env=env,
        )
        assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}\ngateway:\n{gateway.log()}"
        out = run.stdout
        assert out.count('{"name": "Rex"}') == 3, out
        assert '"RouteKey": "GET /pets/{id}"' in out, out
        assert '"prod"' in out and '"$default"' in out, out
        assert f"execute-api.localhost:{gateway.port}" in out, out

        # The REST API, API key and usage plan section, then the custom domain section, in the
        # same shell session's variables.
        rest = localize(client + "\n" + readme_block("rest") + "\n" + readme_block("tls"))
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", rest],
            capture_output=True, text=True, timeout=300, env=env,
        )
        assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}\ngateway:\n{gateway.log()}"
        out = run.stdout
        assert out.count('{"name": "Rex"}') == 5, out
        assert '"DomainName": "api.example.test"' in out, out
        assert '{"message":"Forbidden"}' in out, out
        assert '"usagePlanId"' in out, out
        # get-usage prints the last JSON object (after curl's, which ends without a newline).
        usage = None
        for at in (i for i, c in enumerate(out) if c == "{"):
            try:
                obj, _ = json.JSONDecoder().raw_decode(out[at:])
            except ValueError:
                continue
            if isinstance(obj, dict) and "usagePlanId" in obj:
                usage = obj
                break
        assert usage is not None, out
        assert list(usage["items"].values()) == [[[1, 999]]], (usage, out)
    finally:
        os.killpg(backend.pid, signal.SIGTERM)
        backend.wait(timeout=10)
