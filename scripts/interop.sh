#!/usr/bin/env bash
# Runs the aiohttp crate's interop tests against a real third-party server:
# httpbin under gunicorn, once on a loopback TCP port and once on a UNIX
# socket.
#
# Usage: scripts/interop.sh [extra args for the test binary, e.g. a filter]
#
# Environment:
#   PYTHON        interpreter used to create .venv (default: python3)
#   INTEROP_TEST  cargo test target to run (default: interop_httpbin)
#
# The venv lives in .venv/, server logs and pid files in .interop/.
# Exit status: that of `cargo test` (0 with a notice if the test target
# does not exist yet); non-zero if the servers cannot be set up.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
LOGDIR="$ROOT/.interop"
REQS="$ROOT/scripts/requirements-interop.txt"
PYTHON="${PYTHON:-python3}"
TEST_TARGET="${INTEROP_TEST:-interop_httpbin}"
STARTUP_SECS=30

export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf 'interop: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

mkdir -p "$LOGDIR"

# --- Python environment -----------------------------------------------------

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV" ||
        die "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
fi

stamp="$VENV/.interop-requirements.sha256"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]] ||
    ! "$VENV/bin/python" -c 'import httpbin, gunicorn, brotlicffi' 2>/dev/null; then
    log "installing $(basename "$REQS") into $VENV"
    "$VENV/bin/python" -m pip install --quiet -r "$REQS"
    printf '%s\n' "$want" >"$stamp"
fi

GUNICORN="$VENV/bin/gunicorn"
[[ -x "$GUNICORN" ]] || die "$GUNICORN missing after install"

# gunicorn >= 24 opens a control socket at a fixed path in $HOME by default;
# two instances would fight over it.
ctl_flags=()
if "$GUNICORN" --help 2>/dev/null | grep -q -- '--no-control-socket'; then
    ctl_flags=(--no-control-socket)
fi

# --- Servers ----------------------------------------------------------------

# Stop servers a previous, interrupted run left behind (by recorded pid,
# only if that pid is still a gunicorn serving httpbin).
for pidfile in "$LOGDIR"/httpbin-*.pid; do
    [[ -f "$pidfile" ]] || continue
    old="$(cat "$pidfile")"
    if [[ "$old" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$old/cmdline" 2>/dev/null |
        grep -q 'gunicorn.*httpbin:app'; then
        log "stopping leftover server pid $old"
        kill -TERM "$old" 2>/dev/null || true
    fi
    rm -f "$pidfile"
done
if [[ -f "$LOGDIR/sockdir" ]]; then
    old="$(cat "$LOGDIR/sockdir")"
    [[ "$old" == */aiohttp-interop.* ]] && rm -rf "$old"
    rm -f "$LOGDIR/sockdir"
fi

SOCK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/aiohttp-interop.XXXXXX")"
SOCK="$SOCK_DIR/httpbin.sock"
printf '%s\n' "$SOCK_DIR" >"$LOGDIR/sockdir"
pids=()

cleanup() {
    local status=$?
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -f "$LOGDIR"/httpbin-*.pid "$LOGDIR/env"
    rm -rf "$SOCK_DIR"
    rm -f "$LOGDIR/sockdir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    "$VENV/bin/python" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# probe TARGET: succeeds if GET /get on TARGET (host:port or socket path)
# answers 200.
probe() {
    "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import socket, sys
target = sys.argv[1]
if target.startswith("/"):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(target)
else:
    host, port = target.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=2)
s.sendall(b"GET /get HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
data = b""
while len(data) < 12:
    chunk = s.recv(64)
    if not chunk:
        break
    data += chunk
sys.exit(0 if data.startswith(b"HTTP/1.1 200") else 1)
PY
}

# start NAME BIND: starts gunicorn on BIND, records its pid in
# .interop/httpbin-NAME.pid and sets $started_pid.
start() {
    local name="$1" bind="$2"
    "$GUNICORN" -b "$bind" -k gthread --threads 8 -w 1 \
        --graceful-timeout 2 "${ctl_flags[@]}" \
        httpbin:app >"$LOGDIR/httpbin-$name.log" 2>&1 &
    started_pid=$!
    pids+=("$started_pid")
    printf '%s\n' "$started_pid" >"$LOGDIR/httpbin-$name.pid"
}

# wait_ready PID TARGET NAME: waits (bounded) until the server answers.
wait_ready() {
    local pid="$1" target="$2" name="$3" i
    for ((i = 0; i < STARTUP_SECS * 10; i++)); do
        if probe "$target"; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.1
    done
    log "$name server did not answer within ${STARTUP_SECS}s"
    return 1
}

tcp_ok=0
for attempt in 1 2 3; do
    PORT="$(free_port)"
    start tcp "127.0.0.1:$PORT"
    if wait_ready "$started_pid" "127.0.0.1:$PORT" tcp; then
        tcp_ok=1
        break
    fi
    log "TCP server failed to start (attempt $attempt); log:"
    tail -n 20 "$LOGDIR/httpbin-tcp.log" >&2 || true
    kill -TERM "$started_pid" 2>/dev/null || true
done
[[ "$tcp_ok" == 1 ]] || die "could not start httpbin on TCP"

start unix "unix:$SOCK"
if ! wait_ready "$started_pid" "$SOCK" unix; then
    tail -n 20 "$LOGDIR/httpbin-unix.log" >&2 || true
    die "could not start httpbin on $SOCK"
fi

export AIOHTTP_HTTPBIN_URL="http://127.0.0.1:$PORT"
export AIOHTTP_HTTPBIN_UNIX="$SOCK"
log "httpbin at $AIOHTTP_HTTPBIN_URL and unix:$AIOHTTP_HTTPBIN_UNIX (logs in .interop/)"
printf 'AIOHTTP_HTTPBIN_URL=%s\nAIOHTTP_HTTPBIN_UNIX=%s\n' \
    "$AIOHTTP_HTTPBIN_URL" "$AIOHTTP_HTTPBIN_UNIX" >"$LOGDIR/env"

# --- Tests ------------------------------------------------------------------

if [[ ! -f "$ROOT/crates/aiohttp/tests/$TEST_TARGET.rs" ]]; then
    log "crates/aiohttp/tests/$TEST_TARGET.rs does not exist yet: servers are up, no test to run"
    exit 0
fi

set +e
cargo test -p aiohttp --test "$TEST_TARGET" -- --ignored --test-threads=4 "$@"
status=$?
set -e
if [[ "$status" != 0 ]]; then
    for name in tcp unix; do
        log "last lines of .interop/httpbin-$name.log:"
        tail -n 30 "$LOGDIR/httpbin-$name.log" >&2 || true
    done
fi
exit "$status"
