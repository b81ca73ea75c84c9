#!/usr/bin/env bash
# Runs every test: unit, stage and parser tests, the admin app tests, and the end-to-end suite
# that drives the real `portico` binary over 127.0.0.1 sockets.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p portico-dataplane --bin portico
cargo test --workspace --quiet
