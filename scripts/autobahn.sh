#!/usr/bin/env bash
# Runs the Autobahn|Testsuite WebSocket conformance cases against the aiohttp
# crate's WebSocket client: the suite's fuzzing server (bound to 127.0.0.1
# only) plays the server side, crates/aiohttp/examples/autobahn_client.rs
# connects to it once per case and echoes every message back, then the
# server's report is checked by scripts/autobahn_report.py.
#
# Usage: scripts/autobahn.sh
#
# Environment:
#   AUTOBAHN_CASES    comma-separated case patterns to run (default: "*", all;
#                     e.g. "1.*,2.*" for a quick run)
#   AUTOBAHN_EXCLUDE  comma-separated case patterns to leave out (default: none)
#   AUTOBAHN_CLIENT   the client runner: "rust" (default: the example, built
#                     with cargo), "python" (scripts/autobahn_client.py on the
#                     Python websockets library, to check the harness or
#                     compare), or any other shell command; a command gets the
#                     server's port in $AUTOBAHN_PORT
#   AUTOBAHN_PROFILE  cargo profile for the example: release (default) or dev
#                     (about 3 times slower on the permessage-deflate cases)
#   AUTOBAHN_PORT     the fuzzing server's port (default: a free one)
#   AUTOBAHN_TIMEOUT  seconds the client runner may take (default: 1800)
#   AUTOBAHN_PYTHON2  Python 2.7 interpreter for the suite (default: found in
#                     ~/.pyenv/versions, then python2.7 on PATH)
#   PYTHON            interpreter used to create the Python 3 tools venv
#                     (default: python3)
#
# Everything it makes lives in .autobahn/: the Python 3 tools venv (tools/),
# the Python 2.7 venv with the suite (venv27/), the server's spec and log, and
# the reports (reports/clients/index.json, one JSON and HTML file per case).
# A full run takes about 13 minutes with a release build, almost all of it in
# cases 12.* and 13.* (permessage-deflate), where the Python 2 server is the
# slow side; cases 1.* to 10.* take about 30 s.
#
# Exit status: non-zero if a case FAILED or is UNIMPLEMENTED, if fewer cases
# ran than the server offers, or if the setup fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DIR="$ROOT/.autobahn"
TOOLS="$DIR/tools"
VENV27="$DIR/venv27"
REPORTS="$DIR/reports/clients"
SPEC="$DIR/fuzzingserver.json"
SERVER_LOG="$DIR/wstest.log"
REQS="$ROOT/scripts/requirements-autobahn.txt"
REQS27="$ROOT/scripts/requirements-autobahn-py2.txt"
PYTHON="${PYTHON:-python3}"
CASES="${AUTOBAHN_CASES:-*}"
EXCLUDE="${AUTOBAHN_EXCLUDE:-}"
CLIENT="${AUTOBAHN_CLIENT:-rust}"
PROFILE="${AUTOBAHN_PROFILE:-release}"
CLIENT_TIMEOUT="${AUTOBAHN_TIMEOUT:-1800}"
STARTUP_SECS=30

export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf 'autobahn: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

case "$PROFILE" in
release) profile_flags=(--release) ;;
dev | debug) profile_flags=() ;;
*) die "AUTOBAHN_PROFILE must be release or dev, not '$PROFILE'" ;;
esac

mkdir -p "$DIR"

# --- Python environments ----------------------------------------------------

# Installs requirements file $2 into venv $1 unless its stamp says it is there.
install_reqs() {
    local venv="$1" reqs="$2" stamp want
    stamp="$venv/.requirements.sha256"
    want="$(sha256sum "$reqs" | cut -d' ' -f1)"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
        log "installing $(basename "$reqs") into ${venv#"$ROOT"/}"
        "$venv/bin/python" -m pip install --quiet -r "$reqs" 2>&1 |
            grep -v -e 'DEPRECATION: Python 2.7' -e '^$' >&2 || true
        local out
        out="$("$venv/bin/python" -m pip check 2>&1)" ||
            die "pip check failed in ${venv#"$ROOT"/} after installing $(basename "$reqs"): $out"
        printf '%s\n' "$want" >"$stamp"
    fi
}

is_python27() {
    [[ -n "$1" ]] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' 2>/dev/null
}

find_python2() {
    local c
    for c in "${AUTOBAHN_PYTHON2:-}" \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python2.7 \
        "$(command -v python2.7 2>/dev/null || true)" \
        "$(command -v python2 2>/dev/null || true)"; do
        if is_python27 "$c"; then
            printf '%s\n' "$c"
            return 0
        fi
    done
    return 1
}

setup_started=$SECONDS
if [[ ! -x "$TOOLS/bin/python" ]]; then
    log "creating .autobahn/tools"
    "$PYTHON" -m venv "$TOOLS" ||
        die "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
fi
install_reqs "$TOOLS" "$REQS"

if [[ ! -x "$VENV27/bin/python" ]]; then
    PY2="$(find_python2)" ||
        die "Autobahn|Testsuite needs Python 2.7: set AUTOBAHN_PYTHON2 (none in ~/.pyenv/versions or on PATH)"
    log "creating .autobahn/venv27 with $PY2"
    "$TOOLS/bin/virtualenv" --quiet -p "$PY2" "$VENV27" >&2 ||
        die "virtualenv could not make a Python 2.7 venv with $PY2"
fi
install_reqs "$VENV27" "$REQS27"
log "Python environments ready in $((SECONDS - setup_started))s"

# --- the client runner ------------------------------------------------------

case "$CLIENT" in
rust)
    log "building the example autobahn_client ($PROFILE)"
    build_started=$SECONDS
    cargo build -q "${profile_flags[@]}" -p aiohttp --example autobahn_client
    log "built in $((SECONDS - build_started))s"
    client_cmd=(cargo run -q "${profile_flags[@]}" -p aiohttp --example autobahn_client --)
    ;;
python)
    client_cmd=("$TOOLS/bin/python" "$ROOT/scripts/autobahn_client.py")
    ;;
*)
    client_cmd=(bash -c "$CLIENT")
    ;;
esac

# --- the fuzzing server -----------------------------------------------------

if [[ -n "${AUTOBAHN_PORT:-}" ]]; then
    port="$AUTOBAHN_PORT"
else
    port="$("$TOOLS/bin/python" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()')"
fi
export AUTOBAHN_PORT="$port"

AB_URL="ws://127.0.0.1:$port" AB_OUTDIR="$REPORTS" AB_CASES="$CASES" AB_EXCLUDE="$EXCLUDE" \
    "$TOOLS/bin/python" - >"$SPEC" <<'PY'
import json, os

def patterns(s):
    return [p.strip() for p in s.split(",") if p.strip()]

print(json.dumps({
    "url": os.environ["AB_URL"],
    "outdir": os.environ["AB_OUTDIR"],
    "cases": patterns(os.environ["AB_CASES"]),
    "exclude-cases": patterns(os.environ["AB_EXCLUDE"]),
    "exclude-agent-cases": {},
}, indent=2))
PY

rm -rf "$REPORTS"
mkdir -p "$REPORTS"

server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

log "starting the fuzzing server on 127.0.0.1:$port (log: .autobahn/wstest.log)"
# -u 0: no embedded web server. The launcher binds every listener to loopback.
(cd "$DIR" && exec "$VENV27/bin/python" "$ROOT/scripts/autobahn_wstest.py" \
    -m fuzzingserver -s "$SPEC" -u 0) >"$SERVER_LOG" 2>&1 &
server_pid=$!

deadline=$((SECONDS + STARTUP_SECS))
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$server_pid" 2>/dev/null || {
        tail -n 20 "$SERVER_LOG" >&2
        die "the fuzzing server exited before listening"
    }
    ((SECONDS < deadline)) || {
        tail -n 20 "$SERVER_LOG" >&2
        die "the fuzzing server is not listening after ${STARTUP_SECS}s"
    }
    sleep 0.2
done

expect="$("$TOOLS/bin/python" "$ROOT/scripts/autobahn_client.py" --count "$port")" ||
    die "could not get the case count from the server"
log "the server offers $expect cases (AUTOBAHN_CASES='$CASES'); client: $CLIENT"

started=$SECONDS
client_rc=0
timeout "$CLIENT_TIMEOUT" "${client_cmd[@]}" "$port" || client_rc=$?
log "the client runner took $((SECONDS - started))s (exit status $client_rc)"
stop_server

# --- the report -------------------------------------------------------------

report_rc=0
"$TOOLS/bin/python" "$ROOT/scripts/autobahn_report.py" "$REPORTS/index.json" \
    --expect "$expect" || report_rc=$?
if ((client_rc != 0)); then
    die "the client runner failed (exit status $client_rc)"
fi
exit "$report_rc"
