#!/usr/bin/env bash
# Soak test of the client (crates/aiohttp/tests/soak.rs) in a release build: one session with
# limit = 50 and 200 tasks run a million requests against a local server that injects faults
# (resets mid-body, closes before the head, slow and truncated responses, 500s), some requests
# cancelled mid-flight and some bodies dropped half-read. Fails on a panic, an outcome the fault
# does not explain, a corrupt body, more than 50 connections open at once, a pool not back to
# idle, leaked descriptors or RSS growth past the bound; prints the summary either way.
#
# Usage:
#   scripts/soak.sh                  1 000 000 requests (a few minutes on two cores)
#   scripts/soak.sh 100000           another count
#   AIOHTTP_SOAK_SEED=0x... scripts/soak.sh   replay the plans of a printed seed
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export AIOHTTP_SOAK_REQUESTS="${1:-${AIOHTTP_SOAK_REQUESTS:-1000000}}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

set +e
cargo test --release -p aiohttp --test soak -- --nocapture 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

printf '\n==== soak summary (exit %s) ====\n' "$rc"
grep '^soak: ' "$log" || echo "soak: no summary printed (the test failed before it)"
exit "$rc"
