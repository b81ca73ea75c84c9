#!/usr/bin/env bash
# Runs every test: unit, stage and parser tests, the admin app tests, the end-to-end suite that
# drives the real `portico` binary over 127.0.0.1 sockets, and the acceptance tests that drive it
# with real AWS clients (boto3 and the AWS CLI v1; `pip install boto3 awscli pytest`).
set -euo pipefail
cd "$(dirname "$0")/.."
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
