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
# throwaway server with initdb/pg_ctl from /usr/lib/postgresql/NN/bin), redis-server (the shared
# limits tests start a throwaway one).
missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${missing[*]} (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "test.sh: missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# Optional tools of the profiling tests (tests/aws/test_profiling.py): tmux (`portico top` in a
# real terminal), Debian's chromium and npm (the console in a headless browser, driven by
# playwright-core from tests/console). Installed as root with apt-get; where that is impossible
# the tests that need them are skipped, and say so.
optional=()
command -v tmux >/dev/null 2>&1 || optional+=(tmux)
[ -x /usr/bin/chromium ] || optional+=(chromium)
command -v npm >/dev/null 2>&1 || optional+=(npm)
if [ ${#optional[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${optional[*]} (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${optional[@]}" >/dev/null; } ||
      echo "test.sh: WARNING: could not install ${optional[*]}: the tests that need them will be skipped" >&2
  else
    echo "test.sh: WARNING: ${optional[*]} missing and not root: the tests that need them will be skipped" >&2
  fi
fi
# playwright-core for the console test, in the git-ignored tests/console/node_modules (again
# whenever the lock file changes). It drives the Debian chromium above: no browser download.
console="$root/tests/console"
console_want=$(sha256sum "$console/package-lock.json" | cut -d' ' -f1)
if command -v npm >/dev/null 2>&1 &&
  [ "$(cat "$console/node_modules/.lock.sha256" 2>/dev/null)" != "$console_want" ]; then
  echo "test.sh: npm ci in tests/console (playwright-core)"
  if (cd "$console" && npm ci --no-audit --no-fund --silent >/dev/null); then
    echo "$console_want" > "$console/node_modules/.lock.sha256"
  else
    echo "test.sh: WARNING: npm ci failed in tests/console: the console test will be skipped" >&2
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
# WebSocket connections wait for bytes differently on each driver (a ring poll; epoll readiness
# confirmed by poll(2)): their suites once more on epoll.
PORTICO_TEST_DRIVER=legacy python3 -m pytest -q -p no:cacheprovider \
  tests/aws/test_websocket.py tests/aws/test_websocket_parameters.py tests/aws/test_ws_execution_logs.py
# The admin API through real AWS clients (tests/aws: boto3, the AWS CLI, the README walkthrough).
python3 -m pytest -q -rs -p no:cacheprovider tests/aws
