#!/usr/bin/env bash
# Runs every test: unit, stage and parser tests, the admin app tests, and the end-to-end suite
# that drives the real `portico` binary over 127.0.0.1 sockets.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p portico-dataplane --bin portico
cargo test --workspace --quiet
# The end-to-end suite once more on monoio's epoll ("legacy") driver, for machines without io_uring.
PORTICO_TEST_DRIVER=legacy cargo test --quiet -p portico-tests
