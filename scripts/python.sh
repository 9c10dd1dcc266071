#!/usr/bin/env bash
# The Python package aiohttp_rs (crates/python): builds its wheel with maturin into
# target/wheels, installs it (pip, not an editable install) into the venv .venv-py/ with
# the test requirements (scripts/requirements-python.txt), and runs its pytest tests.
#
# Usage:
#   scripts/python.sh build      build the release wheel and install it into .venv-py
#   scripts/python.sh test       build, install, then pytest crates/python/tests
#   scripts/python.sh compat     build, install, then aiohttp's own client tests
#                                (scripts/python_compat.py; prints pass counts)
#
# Environment:
#   PYTHON   interpreter used to create .venv-py (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv-py"
PY="$VENV/bin/python"

log() { printf 'python: %s\n' "$*" >&2; }

venv() {
    if [[ ! -x "$PY" ]]; then
        log "creating $VENV"
        "${PYTHON:-python3}" -m venv "$VENV"
    fi
    "$PY" -m pip install -q --disable-pip-version-check -r scripts/requirements-python.txt
}

build() {
    venv
    rm -f target/wheels/aiohttp_rs-*.whl
    log "building the wheel (maturin, release)"
    (cd crates/python && "$VENV/bin/maturin" build --release -q -i "$PY" -o "$ROOT/target/wheels")
    local wheel
    wheel="$(ls target/wheels/aiohttp_rs-*.whl)"
    log "installing $wheel"
    "$PY" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
    # The package's own dependencies, from its metadata.
    "$PY" -m pip install -q --disable-pip-version-check "$wheel"
}

case "${1:-test}" in
build) build ;;
test)
    build
    cd crates/python/tests
    "$PY" -m pytest -q -p no:cacheprovider .
    ;;
compat)
    build
    "$PY" scripts/python_compat.py "${@:2}"
    ;;
*)
    log "unknown command $1 (build, test or compat)"
    exit 2
    ;;
esac
