"""The README's three-node cluster on PostgreSQL, run as written with the AWS CLI v1 and curl.

The commands are read from README.md (the block after `<!-- cluster -->`). Only the places change:
PostgreSQL's directory is a temp dir, and PostgreSQL, the nodes and the backend listen on free
ports. As root, PostgreSQL runs as the `postgres` user, as the README shows.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import REPO, portico_bin


def readme_block():
    text = (REPO / "README.md").read_text()
    at = text.index("<!-- cluster -->")
    return re.compile(r"```sh\n(.*?)```", re.S).search(text, at).group(1)


def free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_prefix():
    """A prefix P such that P1, P2 and P3 are free ports."""
    for prefix in range(2100, 6500, 7):
        if all(free(prefix * 10 + n) for n in (1, 2, 3)):
            return prefix
    pytest.skip("no three free ports in a row")


def pg_bin():
    versions = sorted(p for p in os.listdir("/usr/lib/postgresql")) if os.path.isdir("/usr/lib/postgresql") else []
    return f"/usr/lib/postgresql/{versions[-1]}/bin" if versions else None


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed (pip install awscli)")
@pytest.mark.skipif(os.geteuid() != 0 or pg_bin() is None, reason="needs root and Debian's postgresql")
def test_readme_cluster_with_the_aws_cli(tmp_path):
    work = tempfile.mkdtemp(prefix="portico-cluster-", dir="/tmp")
    os.chmod(work, 0o755)
    pg = f"{work}/pg"
    data_prefix = free_prefix()
    admin_prefix = next(p for p in range(data_prefix + 1, 6500, 7) if all(free(p * 10 + n) for n in (1, 2, 3)))
    pg_port = next(p for p in range(15433, 16000) if free(p))
    backend_port = next(p for p in range(13000, 14000) if free(p))
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "7").write_text('{"name": "Rex"}')
    backend = subprocess.Popen(
        ["python3", "-m", "http.server", str(backend_port), "--bind", "127.0.0.1", "--directory", str(tmp_path / "www")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    script = (
        readme_block()
        .replace("PG=/usr/lib/postgresql/15/bin", f"PG={pg_bin()}")
        .replace("/tmp/pg", pg)
        .replace("5433", str(pg_port))
        .replace("/tmp/node$n &", f"{work}/node$n >/dev/null 2>&1 &")
        .replace("portico serve", f"{portico_bin()} serve --workers 1")
        .replace("127.0.0.1:808$n", f"127.0.0.1:{data_prefix}$n")
        .replace("127.0.0.1:909$n", f"127.0.0.1:{admin_prefix}$n")
        .replace("127.0.0.1:9092", f"127.0.0.1:{admin_prefix}2")
        .replace("127.0.0.1:9091", f"127.0.0.1:{admin_prefix}1")
        .replace("localhost:808$n", f"localhost:{data_prefix}$n")
        .replace("127.0.0.1:3000", f"127.0.0.1:{backend_port}")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    run = subprocess.Popen(
        ["bash", "-euc", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, start_new_session=True,
    )
    try:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, f"{out}\n{err}"
        assert out.count('{"name": "Rex"}') == 3, f"{out}\n{err}"
        assert '"lag":0' in out and '"stale":false' in out, out
    finally:
        try:
            os.killpg(run.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        backend.terminate()
        backend.wait(timeout=10)
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{pg_bin()}/pg_ctl", "-D", f"{pg}/data", "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        time.sleep(0.5)
        shutil.rmtree(work, ignore_errors=True)
