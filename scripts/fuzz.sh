#!/usr/bin/env bash
# Runs one cargo-fuzz target for a number of seconds (default 60), or lists
# the targets with no argument. Installs cargo-fuzz once. Uses a nightly
# toolchain when one is installed, otherwise stable with RUSTC_BOOTSTRAP=1
# (libFuzzer's sanitizer flags need nightly features).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_tools
ensure_apt_packages g++

command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked --quiet cargo-fuzz --version 0.13.2

if [ $# -eq 0 ]; then
    cargo fuzz list --fuzz-dir fuzz
    exit 0
fi
target="$1"
seconds="${2:-60}"

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

mkdir -p "fuzz/corpus/$target"
cargo "${toolchain[@]}" fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=1100000 -rss_limit_mb=2048 -print_final_stats=1
