#!/usr/bin/env bash
# README command 1: a complete support session on loopback — relay, host on
# an Xvfb display showing a synthetic instrument screen, and the viewer.
# Installs what it needs (idempotent), builds the programs, then runs
# `assent-demo` (options: --yes, --headless, --seconds N, --out DIR; see
# `--help`). Without --yes you answer the technician's consent prompts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_build_tools
ensure_x11_packages

echo "==> building relay, host, viewer and the demo (first time: several minutes)"
cargo build --locked --quiet -p assent-relay -p assent-host -p assent-viewer -p assent --bins
exec target/debug/assent-demo "$@"
