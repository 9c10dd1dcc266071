#!/usr/bin/env bash
# Runs the side-by-side benchmark (crates/bench): builds the server and the
# client binaries, prepares the Python aiohttp clients' venv (aiohttp, uvloop),
# makes sure wrk
# is installed, then runs bench-run, which prints a markdown table and writes
# target/bench/results.md and target/bench/runs.jsonl.
#
# Usage:
#   scripts/bench.sh            full run (release build, ~10 minutes)
#   scripts/bench.sh --smoke    smoke run for CI (dev build, tiny counts)
#   scripts/bench.sh [--smoke] [bench-run flags, e.g. --scenarios 1,2 --reps 3]
#   scripts/bench.sh --scenarios 7 --reps 3   HTTPS keep-alive (7a) and HTTP/2 (7b) alone
#   scripts/bench.sh --scenarios 8            WebSocket echo (8a) and bulk (8b) alone
#   scripts/bench.sh --python-package [--smoke] [--reps N] [--duration S]
#                  the Python scenario alone: aiohttp against the package aiohttp_rs
#                  (crates/python, built by scripts/python.sh), asyncio and uvloop, 64
#                  tasks GETting 13 bytes, client on one core (scripts/bench_python.py)
#
# Environment:
#   PYTHON         interpreter used to create .venv-bench (default: python3)
#   BENCH_PROFILE  cargo profile for the binaries (default: release; dev for --smoke)
#
# Exit status: non-zero if a client failed a request or the harness broke;
# timings never decide it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv-bench"
REQS="$ROOT/scripts/requirements-bench.txt"
PYTHON="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf 'bench: %s\n' "$*" >&2; }

smoke=0
python_package=0
for a in "$@"; do
    [[ "$a" == "--smoke" ]] && smoke=1
    [[ "$a" == "--python-package" ]] && python_package=1
done

# --- the Python scenario (its own driver and venv) ---------------------------

if [[ "$python_package" == 1 ]]; then
    args=()
    for a in "$@"; do
        [[ "$a" != "--python-package" ]] && args+=("$a")
    done
    log "building bench-server (release) and the aiohttp_rs wheel"
    cargo build --release -p bench --bin bench-server
    bash scripts/python.sh build
    exec "$ROOT/.venv-py/bin/python" scripts/bench_python.py --python "$ROOT/.venv-py/bin/python" "${args[@]}"
fi
if [[ "$smoke" == 1 ]]; then
    profile="${BENCH_PROFILE:-dev}"
else
    profile="${BENCH_PROFILE:-release}"
fi
target_base="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$profile" in
dev) target_dir="$target_base/debug" ;;
*) target_dir="$target_base/$profile" ;;
esac

# --- wrk (optional: skipped with a notice when it cannot be installed) -------

if ! command -v wrk >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
        log "installing wrk with apt-get"
        if ! { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; then
            log "notice: apt-get could not install wrk; the wrk rows will be skipped"
        fi
    else
        log "notice: wrk is not installed and apt-get is not usable; the wrk rows will be skipped"
    fi
fi

# --- Python aiohttp client ---------------------------------------------------

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.bench-requirements.sha256"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]] ||
    ! "$VENV/bin/python" -c 'import aiohttp' 2>/dev/null; then
    log "installing $(basename "$REQS") into $VENV"
    "$VENV/bin/python" -m pip install --quiet -r "$REQS"
    printf '%s\n' "$want" >"$stamp"
fi

# --- Rust binaries -----------------------------------------------------------

log "building the bench binaries ($profile profile)"
cargo build --profile "$profile" -p bench --bins

exec "$target_dir/bench-run" --python "$VENV/bin/python" "$@"
