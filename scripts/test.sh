#!/usr/bin/env bash
# README command 2: the whole Assent test suite.
# Installs what it needs (idempotent), then runs every test of every crate,
# plus the PHI build (R11: no file transfer compiled in).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_build_tools
ensure_x11_packages

echo "==> unit, property and end-to-end tests (default build)"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

echo "==> PHI build: assent-proto and assent-host without file transfer (R11)"
cargo test -p assent-proto --no-default-features --locked
# Its own target directory: the binary has the same name as the full build.
cargo build -p assent-host --no-default-features --locked --target-dir target/phi
