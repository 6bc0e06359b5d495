#!/usr/bin/env bash
# README command 1: a complete support session on loopback.
# Until assent-relay/host/viewer serve real sessions (open issues), this runs
# the protocol core's in-process session: real RSA-4096 identities, argon2id,
# x25519 + SPAKE2, ChaCha20-Poly1305 records, consent and the audit chain,
# through a simulated blind relay. Idempotent; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_build_tools
cargo run --locked --quiet -p assent-proto --example loopback_session
