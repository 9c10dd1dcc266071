#!/usr/bin/env bash
# Runs the aiohttp crate's interop tests against real third-party servers, all
# bound to loopback:
#   - httpbin under gunicorn (HTTP/1.1), on a TCP port and on a UNIX socket;
#   - nginx from the distribution's packages: TLS with a test CA, h2 and
#     http/1.1 chosen by ALPN, serving a small text file and a large sparse
#     file (tests/interop_tls.rs);
#   - httpbin under hypercorn: HTTP/2 over TLS (ALPN) on one port, h2c with
#     prior knowledge on a cleartext port (tests/interop_tls.rs);
#   - two WebSocket echo servers, one on the websockets library and one on
#     aiohttp.web (scripts/ws_echo_*.py), each on ws and wss (TLS) at
#     127.0.0.1, ws at [::1], a UNIX socket, all with permessage-deflate, and
#     one more 127.0.0.1 port without compression (tests/interop_ws.rs).
# The CA and the server certificate (localhost, 127.0.0.1, ::1) are made at
# run time by trustme.
#
# Usage: scripts/interop.sh [extra args for the test binaries, e.g. a filter]
#
# Environment:
#   PYTHON            interpreter used to create .venv (default: python3)
#   INTEROP_TEST      cargo test targets to run, space-separated
#                     (default: "interop_httpbin interop_tls interop_ws")
#   INTEROP_PROFILE   cargo profile for the tests: dev (default, the build
#                     `cargo test` already made) or release. The 1 GiB
#                     download takes about 10 s over h2 and 6 s over
#                     http/1.1 in a dev build here, 2-6 s in release.
#   INTEROP_BIG_SIZE  size of nginx's large file, in truncate(1) syntax
#                     (default: 1G; the file is sparse)
#
# nginx (and its brotli module) is installed with apt-get when missing, which
# needs root. The venv lives in .venv/; server logs, pid files, the
# certificates and nginx's prefix directory in .interop/.
# Exit status: that of `cargo test`; non-zero if the servers cannot be set up.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
LOGDIR="$ROOT/.interop"
REQS="$ROOT/scripts/requirements-interop.txt"
PYTHON="${PYTHON:-python3}"
TEST_TARGETS="${INTEROP_TEST:-interop_httpbin interop_tls interop_ws}"
PROFILE="${INTEROP_PROFILE:-dev}"
BIG_SIZE="${INTEROP_BIG_SIZE:-1G}"
STARTUP_SECS=30

export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf 'interop: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

case "$PROFILE" in
release) profile_flags=(--release) ;;
dev | debug) profile_flags=() ;;
*) die "INTEROP_PROFILE must be release or dev, not '$PROFILE'" ;;
esac

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
    ! "$VENV/bin/python" -c 'import httpbin, gunicorn, brotlicffi, hypercorn, trustme, websockets, aiohttp' 2>/dev/null; then
    log "installing $(basename "$REQS") into $VENV"
    "$VENV/bin/python" -m pip install --quiet -r "$REQS"
    printf '%s\n' "$want" >"$stamp"
fi

GUNICORN="$VENV/bin/gunicorn"
HYPERCORN="$VENV/bin/hypercorn"
[[ -x "$GUNICORN" ]] || die "$GUNICORN missing after install"
[[ -x "$HYPERCORN" ]] || die "$HYPERCORN missing after install"

# gunicorn >= 24 opens a control socket at a fixed path in $HOME by default;
# two instances would fight over it.
ctl_flags=()
if "$GUNICORN" --help 2>/dev/null | grep -q -- '--no-control-socket'; then
    ctl_flags=(--no-control-socket)
fi

# --- nginx ------------------------------------------------------------------

find_nginx() {
    NGINX="$(command -v nginx 2>/dev/null || true)"
    if [[ -z "$NGINX" && -x /usr/sbin/nginx ]]; then
        NGINX=/usr/sbin/nginx
    fi
    NGINX_MODULES=/usr/lib/nginx/modules
    if [[ -n "$NGINX" ]]; then
        local m
        m="$("$NGINX" -V 2>&1 | grep -o -- '--modules-path=[^ ]*' | cut -d= -f2 || true)"
        [[ -n "$m" ]] && NGINX_MODULES="$m"
    fi
    BROTLI_MODULE="$NGINX_MODULES/ngx_http_brotli_filter_module.so"
}

find_nginx
if [[ -z "$NGINX" || ! -f "$BROTLI_MODULE" ]]; then
    [[ "$(id -u)" == 0 ]] ||
        die "nginx is missing and only root can install it: apt-get install nginx libnginx-mod-http-brotli-filter"
    command -v apt-get >/dev/null || die "nginx is missing and there is no apt-get to install it"
    log "installing nginx and its brotli module with apt-get (log: .interop/apt.log)"
    # Keep the package from starting the system nginx on port 80: only our own instance runs.
    policy_rc=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d &&
            policy_rc=/usr/sbin/policy-rc.d
    fi
    apt_ok=1
    { timeout 600 apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q \
            nginx libnginx-mod-http-brotli-filter; } >"$LOGDIR/apt.log" 2>&1 || apt_ok=0
    [[ -n "$policy_rc" ]] && rm -f "$policy_rc"
    if [[ "$apt_ok" == 0 ]]; then
        tail -n 20 "$LOGDIR/apt.log" >&2 || true
        die "apt-get could not install nginx"
    fi
    find_nginx
    [[ -n "$NGINX" ]] || die "nginx missing after apt-get install"
    [[ -f "$BROTLI_MODULE" ]] || die "$BROTLI_MODULE missing after apt-get install"
fi

# --- Leftovers of an interrupted run ----------------------------------------

# Stop servers a previous, interrupted run left behind: by recorded pid, and
# only if that pid is still the server this script started.
leftover_pattern() {
    case "$(basename "$1" .pid)" in
    httpbin-*) printf '%s' 'gunicorn.*httpbin:app' ;;
    hypercorn) printf '%s' 'hypercorn.*httpbin:app' ;;
    nginx) printf '%s' "nginx.*$LOGDIR/nginx" ;;
    ws-*) printf '%s' 'scripts/ws_echo_[a-z]*\.py' ;;
    *) printf '%s' '^$' ;;
    esac
}
for pidfile in "$LOGDIR"/*.pid; do
    [[ -f "$pidfile" ]] || continue
    old="$(cat "$pidfile")"
    if [[ "$old" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$old/cmdline" 2>/dev/null |
        grep -q -- "$(leftover_pattern "$pidfile")"; then
        log "stopping leftover server pid $old ($(basename "$pidfile" .pid))"
        kill -TERM "$old" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$old" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$old" 2>/dev/null || true
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
CERTS="$LOGDIR/certs"
NGINX_DIR="$LOGDIR/nginx"
BIG_FILE="$NGINX_DIR/www/big.bin"
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
    rm -f "$LOGDIR"/*.pid "$LOGDIR"/ws-*.addr "$LOGDIR/env" "$BIG_FILE"
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

# probe TARGET [PATH [CAFILE]]: succeeds if GET PATH (default /get) on TARGET
# (host:port or socket path) answers 200 over HTTP/1.1; over TLS, verified
# against CAFILE for the name localhost, when CAFILE is given.
probe() {
    "$VENV/bin/python" - "$1" "${2:-/get}" "${3:-}" <<'PY' 2>/dev/null
import socket, ssl, sys
target, path, cafile = sys.argv[1:4]
if target.startswith("/"):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(target)
else:
    host, port = target.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=2)
if cafile:
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["http/1.1"])
    s = ctx.wrap_socket(s, server_hostname="localhost")
s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
data = b""
while len(data) < 12:
    chunk = s.recv(64)
    if not chunk:
        break
    data += chunk
sys.exit(0 if data.startswith(b"HTTP/1.1 200") else 1)
PY
}

# wait_ready PID NAME PROBE-ARGS...: waits (bounded) until the server answers.
wait_ready() {
    local pid="$1" name="$2" i
    shift 2
    for ((i = 0; i < STARTUP_SECS * 10; i++)); do
        if probe "$@"; then
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

# track NAME PID: records a started server's pid.
track() {
    started_pid="$2"
    pids+=("$started_pid")
    printf '%s\n' "$started_pid" >"$LOGDIR/$1.pid"
}

# stop_failed PID: stops a server that did not come up.
stop_failed() {
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
}

# --- httpbin under gunicorn -------------------------------------------------

# start_gunicorn NAME BIND
start_gunicorn() {
    local name="$1" bind="$2"
    "$GUNICORN" -b "$bind" -k gthread --threads 8 -w 1 \
        --graceful-timeout 2 "${ctl_flags[@]}" \
        httpbin:app >"$LOGDIR/httpbin-$name.log" 2>&1 &
    track "httpbin-$name" $!
}

tcp_ok=0
for attempt in 1 2 3; do
    PORT="$(free_port)"
    start_gunicorn tcp "127.0.0.1:$PORT"
    if wait_ready "$started_pid" "httpbin (tcp)" "127.0.0.1:$PORT"; then
        tcp_ok=1
        break
    fi
    log "TCP server failed to start (attempt $attempt); log:"
    tail -n 20 "$LOGDIR/httpbin-tcp.log" >&2 || true
    stop_failed "$started_pid"
done
[[ "$tcp_ok" == 1 ]] || die "could not start httpbin on TCP"

start_gunicorn unix "unix:$SOCK"
if ! wait_ready "$started_pid" "httpbin (unix)" "$SOCK"; then
    tail -n 20 "$LOGDIR/httpbin-unix.log" >&2 || true
    die "could not start httpbin on $SOCK"
fi

export AIOHTTP_HTTPBIN_URL="http://127.0.0.1:$PORT"
export AIOHTTP_HTTPBIN_UNIX="$SOCK"
log "httpbin (gunicorn) at $AIOHTTP_HTTPBIN_URL and unix:$AIOHTTP_HTTPBIN_UNIX"

# --- Certificates -----------------------------------------------------------

rm -rf "$CERTS"
mkdir -p "$CERTS"
"$VENV/bin/python" -m trustme -d "$CERTS" -i localhost 127.0.0.1 ::1 >/dev/null ||
    die "trustme could not make the certificates"
export AIOHTTP_INTEROP_CA="$CERTS/client.pem"
export AIOHTTP_INTEROP_SERVER_CERT="$CERTS/server.pem"

# --- nginx: TLS, h2 and http/1.1 by ALPN ------------------------------------

rm -rf "$NGINX_DIR"
mkdir -p "$NGINX_DIR/www" "$NGINX_DIR/tmp" "$NGINX_DIR/logs"

# The small file: 500 numbered lines, text/plain (compressed on request).
for ((i = 0; i < 500; i++)); do
    printf 'line %05d of the small static file\n' "$i"
done >"$NGINX_DIR/www/small.txt"

# The large file is sparse, so it needs next to no room where sparse files
# are supported; the check below covers a filesystem where they are not.
big_bytes="$(numfmt --from=iec "$BIG_SIZE")" || die "INTEROP_BIG_SIZE '$BIG_SIZE' is not a size"
avail_bytes="$(($(df --output=avail -k "$NGINX_DIR/www" | tail -n 1) * 1024))"
if ((avail_bytes < big_bytes + 256 * 1024 * 1024)); then
    die "$(df -h "$NGINX_DIR/www" | tail -n 1 | awk '{print $4}') free where the $BIG_SIZE test file goes ($NGINX_DIR/www); set INTEROP_BIG_SIZE lower"
fi
truncate -s "$big_bytes" "$BIG_FILE"
export AIOHTTP_NGINX_BIG_BYTES="$big_bytes"

# write_nginx_conf PORT
write_nginx_conf() {
    cat >"$NGINX_DIR/nginx.conf" <<EOF
# Written by scripts/interop.sh; everything nginx writes stays under this directory.
load_module $BROTLI_MODULE;
user $(id -un) $(id -gn);
worker_processes 1;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/logs/error.log info;

events {
    worker_connections 256;
}

http {
    # \$connection numbers each connection; the tests count them.
    log_format interop '\$connection \$connection_requests \$server_protocol "\$request" \$status \$body_bytes_sent';
    access_log $NGINX_DIR/logs/access.log interop;

    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;

    types {
        text/plain txt;
        application/octet-stream bin;
    }
    default_type application/octet-stream;
    output_buffers 2 256k;
    keepalive_requests 10000;

    gzip on;
    gzip_types text/plain;
    brotli on;
    brotli_types text/plain;

    server {
        listen 127.0.0.1:$1 ssl http2;
        server_name localhost;
        ssl_certificate $CERTS/server.pem;
        ssl_certificate_key $CERTS/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $NGINX_DIR/www;
    }
}
EOF
}

nginx_ok=0
for attempt in 1 2 3; do
    NGINX_PORT="$(free_port)"
    write_nginx_conf "$NGINX_PORT"
    "$NGINX" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/logs/error.log" \
        -g 'daemon off;' >"$LOGDIR/nginx.log" 2>&1 &
    track nginx $!
    if wait_ready "$started_pid" nginx "127.0.0.1:$NGINX_PORT" /small.txt "$AIOHTTP_INTEROP_CA"; then
        nginx_ok=1
        break
    fi
    log "nginx failed to start (attempt $attempt); log:"
    tail -n 20 "$LOGDIR/nginx.log" "$NGINX_DIR/logs/error.log" >&2 || true
    stop_failed "$started_pid"
done
[[ "$nginx_ok" == 1 ]] || die "could not start nginx"

export AIOHTTP_NGINX_URL="https://127.0.0.1:$NGINX_PORT"
export AIOHTTP_NGINX_ACCESS_LOG="$NGINX_DIR/logs/access.log"
log "nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') at $AIOHTTP_NGINX_URL ($BIG_SIZE file, logs in .interop/nginx/logs)"

# --- httpbin under hypercorn: h2 over TLS and h2c ---------------------------

hc_ok=0
for attempt in 1 2 3; do
    HC_TLS_PORT="$(free_port)"
    HC_PLAIN_PORT="$(free_port)"
    # --workers 0: one process, so the recorded pid is the whole server.
    "$HYPERCORN" --certfile "$CERTS/server.pem" --keyfile "$CERTS/server.key" \
        --bind "127.0.0.1:$HC_TLS_PORT" --insecure-bind "127.0.0.1:$HC_PLAIN_PORT" \
        --workers 0 --graceful-timeout 2 --access-logfile - \
        httpbin:app >"$LOGDIR/hypercorn.log" 2>&1 &
    track hypercorn $!
    if wait_ready "$started_pid" "hypercorn (tls)" "127.0.0.1:$HC_TLS_PORT" /get "$AIOHTTP_INTEROP_CA" &&
        wait_ready "$started_pid" "hypercorn (cleartext)" "127.0.0.1:$HC_PLAIN_PORT" /get; then
        hc_ok=1
        break
    fi
    log "hypercorn failed to start (attempt $attempt); log:"
    tail -n 20 "$LOGDIR/hypercorn.log" >&2 || true
    stop_failed "$started_pid"
done
[[ "$hc_ok" == 1 ]] || die "could not start hypercorn"

export AIOHTTP_HYPERCORN_URL="https://127.0.0.1:$HC_TLS_PORT"
export AIOHTTP_HYPERCORN_H2C_URL="http://127.0.0.1:$HC_PLAIN_PORT"
log "httpbin (hypercorn) at $AIOHTTP_HYPERCORN_URL and $AIOHTTP_HYPERCORN_H2C_URL"

# --- WebSocket echo servers: websockets and aiohttp.web ---------------------

# start_ws NAME: starts scripts/ws_echo_NAME.py, which binds its listeners to
# ports of the system's choice and then writes them to .interop/ws-NAME.addr
# (KEY=VALUE lines, see scripts/ws_echo_common.py); waits for that file and
# for every listener's plain-HTTP /health, then exports
# AIOHTTP_WS_<NAME>_{URL,NOCOMP_URL,TLS_URL,V6_URL,UNIX}.
start_ws() {
    local name="$1" upper key value target ca i
    local addr_file="$LOGDIR/ws-$name.addr" sock="$SOCK_DIR/ws-$name.sock"
    upper="$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')"
    rm -f "$addr_file" "$sock"
    "$VENV/bin/python" "$ROOT/scripts/ws_echo_$name.py" \
        --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
        --unix "$sock" --addresses "$addr_file" >"$LOGDIR/ws-$name.log" 2>&1 &
    track "ws-$name" $!
    for ((i = 0; i < STARTUP_SECS * 10; i++)); do
        [[ -f "$addr_file" ]] && break
        kill -0 "$started_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ ! -f "$addr_file" ]]; then
        tail -n 20 "$LOGDIR/ws-$name.log" >&2 || true
        die "the $name WebSocket server did not start"
    fi
    while IFS='=' read -r key value; do
        [[ -n "$key" ]] || continue
        ca=""
        case "$key" in
        UNIX) target="$value" ;;
        TLS_URL)
            target="${value#wss://}"
            ca="$AIOHTTP_INTEROP_CA"
            ;;
        *) target="${value#ws://}" ;;
        esac
        target="${target/\[::1\]/::1}"
        if ! wait_ready "$started_pid" "$name WebSocket ($key)" "$target" /health "$ca"; then
            tail -n 20 "$LOGDIR/ws-$name.log" >&2 || true
            die "the $name WebSocket server does not answer on $value"
        fi
        export "AIOHTTP_WS_${upper}_$key=$value"
    done <"$addr_file"
    log "WebSocket echo ($name): $(paste -sd ' ' "$addr_file")"
}

start_ws websockets
start_ws aiohttp

env | grep -E '^AIOHTTP_(HTTPBIN|NGINX|HYPERCORN|INTEROP|WS)_' | sort >"$LOGDIR/env"

# --- Tests ------------------------------------------------------------------

test_args=()
for target in $TEST_TARGETS; do
    if [[ -f "$ROOT/crates/aiohttp/tests/$target.rs" ]]; then
        test_args+=(--test "$target")
    else
        log "crates/aiohttp/tests/$target.rs does not exist: skipped"
    fi
done
if [[ "${#test_args[@]}" == 0 ]]; then
    log "no test target to run: servers were up, nothing was tested"
    exit 0
fi

set +e
cargo test "${profile_flags[@]}" -p aiohttp "${test_args[@]}" -- --ignored --test-threads=4 "$@"
status=$?
set -e
if [[ "$status" != 0 ]]; then
    for f in httpbin-tcp.log httpbin-unix.log hypercorn.log nginx/logs/error.log \
        ws-websockets.log ws-aiohttp.log; do
        log "last lines of .interop/$f:"
        tail -n 30 "$LOGDIR/$f" >&2 || true
    done
fi
exit "$status"
