#!/usr/bin/env bash
# Dependency checks with cargo-deny (deny.toml): security advisories (with the
# single documented exception, see SECURITY.md), licences, bans and sources.
# Idempotent: installs cargo-deny once, reuses the advisory database.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_tools

DENY_VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -q " $DENY_VERSION"; then
    echo "==> installing cargo-deny $DENY_VERSION (once)"
    cargo install --locked --quiet cargo-deny --version "$DENY_VERSION"
fi

# cargo-deny keeps the RustSec database here (directory named after its URL).
db_dir="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"

if timeout 120 cargo deny fetch db >/dev/null 2>&1; then
    echo "==> advisory database ready"
elif [ ! -d "$db_dir/.git" ]; then
    # No network to the database: seed it from a local snapshot if one exists.
    for snapshot in "${ASSENT_ADVISORY_DB:-}" ../shared/advisory-db /work/.mirror/rustsec+advisory-db/repo; do
        if [ -n "$snapshot" ] && [ -d "$snapshot" ]; then
            echo "==> seeding advisory database from local snapshot $snapshot"
            mkdir -p "$(dirname "$db_dir")"
            git clone --quiet "$snapshot" "$db_dir"
            break
        fi
    done
fi

if [ -d "$db_dir/.git" ]; then
    echo "==> advisory database as of $(git -C "$db_dir" log -1 --format=%cs)"
    cargo deny --offline --locked check
else
    cargo deny --offline --locked check bans licenses sources
    cat >&2 <<MSG
WARNING: the RustSec advisory database could not be fetched (no network to it)
and no local snapshot was found (set ASSENT_ADVISORY_DB to a clone of
rustsec/advisory-db). Licences, bans and sources were checked; ADVISORIES WERE NOT.
MSG
fi
