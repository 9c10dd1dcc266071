#!/usr/bin/env bash
# Counts where the time goes: user-space instructions (valgrind's callgrind) and heap
# allocations per request of aiohttp-rs, raw hyper and reqwest, for scenarios 1, 2, 3, 7a and
# 7b of the benchmark (crates/bench). Each client runs twice under callgrind, for a short and
# a long measured phase, and each figure is the difference of the two runs divided by the
# difference of their requests, so start-up and warm-up cancel out. Prints markdown tables
# with the ratio of aiohttp-rs to raw hyper and to reqwest, and writes them to
# target/bench/profile.md (every run's figures: target/bench/profile.jsonl).
#
# Usage:
#   scripts/profile.sh                          all five scenarios, 2 s and 6 s runs (~5 minutes)
#   scripts/profile.sh --quick                  1 s and 3 s runs
#   scripts/profile.sh --scenarios 1,2 --clients aiohttp-rs,hyper
#   scripts/profile.sh --short 2 --long 10 --warmup 1 --out DIR --no-pin
#
# Installs valgrind with apt-get when it is missing (as root). Builds the bench binaries with
# the release profile (BENCH_PROFILE overrides it) and runs `bench-run profile`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'profile: %s\n' "$*" >&2; }

if ! command -v valgrind >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
        log "installing valgrind with apt-get"
        apt-get update -qq
        apt-get install -y -qq valgrind >/dev/null
    else
        log "valgrind is not installed and apt-get is not usable (needs root)"
        exit 2
    fi
fi

profile="${BENCH_PROFILE:-release}"
target_base="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$profile" in
dev) target_dir="$target_base/debug" ;;
*) target_dir="$target_base/$profile" ;;
esac

log "building the bench binaries ($profile profile)"
cargo build --profile "$profile" -p bench --bins

exec "$target_dir/bench-run" profile "$@"
