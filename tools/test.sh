#!/usr/bin/env bash
# Runs every test: unit, stage and parser tests, the admin app tests, the end-to-end suite that
# drives the real `portico` binary over 127.0.0.1 sockets, and the acceptance tests that drive it
# with real clients (boto3, the AWS CLI v1, moto, cargo lambda, websockets).
#
# On a fresh machine it sets up what it needs first: the Debian tools the tests call (as root,
# with apt-get) and a Python virtual environment in .venv with tests/requirements.txt, made on the
# first run and again whenever that file changes. Its bin/ goes first on PATH for every test, so
# `aws`, `moto_server`, `cargo-lambda` and `python3 -m awslambdaric` are the pinned ones.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# Debian packages for commands the tests run: openssl (TLS tests make their certificates with it),
# python3-venv (the venv below, on Debian's own Python), curl, postgresql (the cluster tests start a
# throwaway server with initdb/pg_ctl from /usr/lib/postgresql/NN/bin).
missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${missing[*]} (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "test.sh: missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

venv="$root/.venv"
stamp="$venv/.requirements.sha256"
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/python3" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "test.sh: making the test venv in .venv (tests/requirements.txt)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
export VIRTUAL_ENV="$venv"

cargo build --quiet -p portico-dataplane --bin portico
cargo test --workspace --quiet
# The I/O-facing end-to-end suites once more on monoio's epoll ("legacy") driver, for machines
# without io_uring: framing, keep-alive, limits and timeouts, upstream faults, shutdown, reloads, TLS.
# The feature suites (REST, cache, authorizers, Lambda, ...) run above; they do not depend on the driver.
PORTICO_TEST_DRIVER=legacy cargo test --quiet -p portico-tests \
  --test harness --test framing --test proxy --test limits --test faults --test shutdown \
  --test reload --test tls --test https
# The admin API through real AWS clients (tests/aws: boto3, the AWS CLI, the README walkthrough).
python3 -m pytest -q -p no:cacheprovider tests/aws
