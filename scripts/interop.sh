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
#     one more 127.0.0.1 port without compression (tests/interop_ws.rs);
#   - proxies (tests/interop_proxy.rs), the authenticating ones all taking
#     the user and password in AIOHTTP_PROXY_USER and AIOHTTP_PROXY_PASS:
#     squid from the distribution's packages, one process with an open HTTP
#     port, one asking for Basic credentials and an HTTPS (TLS) proxy port;
#     tinyproxy, also from the packages, one instance open and one with
#     BasicAuth (a wrong password gets 401 from it, not 407); proxy.py open,
#     with --basic-auth, and as an HTTPS proxy; pproxy as SOCKS4, SOCKS5 and
#     SOCKS5 with a user name and password; OpenSSH's dynamic forwarding
#     (`ssh -D`, one port speaking SOCKS4, SOCKS4a and SOCKS5) through a
#     private sshd. Every HTTP proxy tunnels CONNECT to any port, so ws:// and
#     http:// targets can go through tunnels too.
# The CA and the server certificate (localhost, 127.0.0.1, ::1) are made at
# run time by trustme; the TLS servers and TLS proxies all use them.
#
# Usage: scripts/interop.sh [extra args for the test binaries, e.g. a filter]
#
# Environment:
#   PYTHON            interpreter used to create .venv (default: python3)
#   INTEROP_TEST      cargo test targets to run, space-separated
#                     (default: "interop_httpbin interop_tls interop_ws
#                     interop_proxy")
#   INTEROP_PROFILE   cargo profile for the tests: dev (default, the build
#                     `cargo test` already made) or release. The 1 GiB
#                     download takes about 10 s over h2 and 6 s over
#                     http/1.1 in a dev build here, 2-6 s in release.
#   INTEROP_BIG_SIZE  size of nginx's large file, in truncate(1) syntax
#                     (default: 1G; the file is sparse)
#
# nginx (and its brotli module), squid, tinyproxy and OpenSSH (server and
# client) are installed with apt-get when missing, which needs root; their
# system services are not started. The venv lives in .venv/; server logs, pid
# files, the certificates, nginx's prefix directory, squid's directory, the
# proxies' configuration files and sshd's configuration and keys in .interop/.
# Exit status: that of `cargo test`; non-zero if the servers cannot be set up.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
LOGDIR="$ROOT/.interop"
REQS="$ROOT/scripts/requirements-interop.txt"
PYTHON="${PYTHON:-python3}"
TEST_TARGETS="${INTEROP_TEST:-interop_httpbin interop_tls interop_ws interop_proxy}"
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
    ! "$VENV/bin/python" -c 'import httpbin, gunicorn, brotlicffi, hypercorn, trustme, websockets, aiohttp, proxy, pproxy' 2>/dev/null; then
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

# --- Packages: nginx, squid, tinyproxy, OpenSSH -----------------------------

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

# find_proxies: sets SQUID, SQUID_NCSA (squid's basic-auth helper),
# TINYPROXY, SSHD, SSH and SSH_KEYGEN to the installed programs, or to "".
find_proxies() {
    SQUID="$(command -v squid 2>/dev/null || true)"
    [[ -z "$SQUID" && -x /usr/sbin/squid ]] && SQUID=/usr/sbin/squid
    SQUID_NCSA=/usr/lib/squid/basic_ncsa_auth
    [[ -x "$SQUID_NCSA" ]] || SQUID_NCSA=""
    TINYPROXY="$(command -v tinyproxy 2>/dev/null || true)"
    [[ -z "$TINYPROXY" && -x /usr/bin/tinyproxy ]] && TINYPROXY=/usr/bin/tinyproxy
    [[ -z "$TINYPROXY" && -x /usr/sbin/tinyproxy ]] && TINYPROXY=/usr/sbin/tinyproxy
    # sshd re-executes itself, so it must be started by its absolute path.
    SSHD="$(command -v sshd 2>/dev/null || true)"
    [[ -z "$SSHD" && -x /usr/sbin/sshd ]] && SSHD=/usr/sbin/sshd
    SSH="$(command -v ssh 2>/dev/null || true)"
    SSH_KEYGEN="$(command -v ssh-keygen 2>/dev/null || true)"
    return 0
}

find_nginx
find_proxies
apt_pkgs=()
[[ -n "$NGINX" && -f "$BROTLI_MODULE" ]] || apt_pkgs+=(nginx libnginx-mod-http-brotli-filter)
[[ -n "$SQUID" && -n "$SQUID_NCSA" ]] || apt_pkgs+=(squid)
[[ -n "$TINYPROXY" ]] || apt_pkgs+=(tinyproxy)
[[ -n "$SSHD" && -n "$SSH" && -n "$SSH_KEYGEN" ]] || apt_pkgs+=(openssh-server openssh-client)
if [[ "${#apt_pkgs[@]}" != 0 ]]; then
    [[ "$(id -u)" == 0 ]] ||
        die "missing, and only root can install them: apt-get install ${apt_pkgs[*]}"
    command -v apt-get >/dev/null || die "${apt_pkgs[*]} missing and there is no apt-get to install them"
    log "installing ${apt_pkgs[*]} with apt-get (log: .interop/apt.log)"
    # Keep the packages from starting the system nginx on port 80, squid on
    # 3128, tinyproxy on 8888 or sshd on 22: only our own instances run.
    policy_rc=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d &&
            policy_rc=/usr/sbin/policy-rc.d
    fi
    apt_ok=1
    { timeout 600 apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q "${apt_pkgs[@]}"; } \
        >"$LOGDIR/apt.log" 2>&1 || apt_ok=0
    [[ -n "$policy_rc" ]] && rm -f "$policy_rc"
    if [[ "$apt_ok" == 0 ]]; then
        tail -n 20 "$LOGDIR/apt.log" >&2 || true
        die "apt-get could not install ${apt_pkgs[*]}"
    fi
    find_nginx
    find_proxies
    [[ -n "$NGINX" ]] || die "nginx missing after apt-get install"
    [[ -f "$BROTLI_MODULE" ]] || die "$BROTLI_MODULE missing after apt-get install"
    [[ -n "$SQUID" ]] || die "squid missing after apt-get install"
    [[ -n "$SQUID_NCSA" ]] || die "squid's basic_ncsa_auth missing after apt-get install"
    [[ -n "$TINYPROXY" ]] || die "tinyproxy missing after apt-get install"
    [[ -n "$SSHD" ]] || die "sshd missing after apt-get install"
    [[ -n "$SSH" && -n "$SSH_KEYGEN" ]] || die "ssh or ssh-keygen missing after apt-get install"
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
    squid) printf '%s' "squid -N -f $LOGDIR/squid/" ;;
    tinyproxy-*) printf '%s' "tinyproxy -d -c $LOGDIR/tinyproxy-" ;;
    proxypy-*) printf '%s' "bin/proxy .*--data-dir $LOGDIR/proxypy-" ;;
    pproxy) printf '%s' 'bin/pproxy --auth 0 ' ;;
    sshd) printf '%s' "sshd -D -e -f $LOGDIR/ssh/sshd_config" ;;
    ssh-socks) printf '%s' "ssh -F /dev/null -N -D 127.0.0.1:" ;;
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

# free_port [N]: prints N (default 1) distinct free ports on 127.0.0.1, one a line.
free_port() {
    "$VENV/bin/python" - "${1:-1}" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
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

# proxy_probe KIND PROXY [USER:PASS]: succeeds if GET $AIOHTTP_HTTPBIN_URL/get
# through the proxy at PROXY (host:port) answers 200. KIND: http (a forward
# request in absolute form, with Proxy-Authorization when credentials are
# given), https (the same over TLS, verified against $AIOHTTP_INTEROP_CA for
# the name localhost), socks4 (the client resolves; the user id is USER),
# socks4a (the name localhost, for the proxy to resolve; the user id is USER),
# socks5 (with RFC 1929 authentication when credentials are given).
proxy_probe() {
    "$VENV/bin/python" - "$1" "$2" "${3:-}" "$AIOHTTP_HTTPBIN_URL" "${AIOHTTP_INTEROP_CA:-}" <<'PY' 2>/dev/null
import base64, socket, ssl, struct, sys
from urllib.parse import urlsplit
kind, proxy, cred, origin, cafile = sys.argv[1:6]
user, _, password = cred.partition(":")
o = urlsplit(origin)
host, port = proxy.rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=2)

def exact(n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            sys.exit(1)
        data += chunk
    return data

headers = b"Host: " + o.netloc.encode() + b"\r\nConnection: close\r\n"
if kind in ("http", "https"):
    if kind == "https":
        s = ssl.create_default_context(cafile=cafile).wrap_socket(s, server_hostname="localhost")
    if cred:
        headers += b"Proxy-Authorization: Basic " + base64.b64encode(cred.encode()) + b"\r\n"
    target = origin.rstrip("/").encode() + b"/get"
elif kind in ("socks4", "socks4a"):
    if kind == "socks4":
        s.sendall(struct.pack(">BBH", 4, 1, o.port) + socket.inet_aton(o.hostname) + user.encode() + b"\0")
    else:
        # SOCKS4a: the address 0.0.0.1, then the name after the user id.
        s.sendall(struct.pack(">BBH", 4, 1, o.port) + bytes([0, 0, 0, 1]) + user.encode() + b"\0localhost\0")
    if exact(8)[1] != 0x5A:
        sys.exit(1)
    target = b"/get"
elif kind == "socks5":
    method = 2 if cred else 0
    s.sendall(bytes([5, 1, method]))
    if exact(2) != bytes([5, method]):
        sys.exit(1)
    if cred:
        u, p = user.encode(), password.encode()
        s.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
        if exact(2)[1] != 0:
            sys.exit(1)
    s.sendall(bytes([5, 1, 0, 1]) + socket.inet_aton(o.hostname) + struct.pack(">H", o.port))
    reply = exact(4)
    if reply[1] != 0:
        sys.exit(1)
    exact({1: 4, 4: 16}.get(reply[3]) or exact(1)[0])
    exact(2)
    target = b"/get"
else:
    sys.exit(2)
s.sendall(b"GET " + target + b" HTTP/1.1\r\n" + headers + b"\r\n")
data = b""
while len(data) < 12:
    chunk = s.recv(64)
    if not chunk:
        break
    data += chunk
sys.exit(0 if data.startswith(b"HTTP/1.1 200") else 1)
PY
}

# ssh_probe HOST:PORT: succeeds if an SSH server's version line comes from
# HOST:PORT.
ssh_probe() {
    "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=2)
data = b""
while b"\n" not in data and len(data) < 256:
    chunk = s.recv(256)
    if not chunk:
        break
    data += chunk
sys.exit(0 if data.startswith(b"SSH-2.0-") else 1)
PY
}

# wait_for PID NAME CMD...: waits (bounded) until CMD succeeds, as long as the
# server PID runs.
wait_for() {
    local pid="$1" name="$2" i
    shift 2
    for ((i = 0; i < STARTUP_SECS * 10; i++)); do
        if "$@"; then
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

# wait_ready PID NAME PROBE-ARGS...: waits (bounded) until the server answers.
wait_ready() {
    local pid="$1" name="$2"
    shift 2
    wait_for "$pid" "$name" probe "$@"
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

# --- Proxies: squid, tinyproxy, proxy.py, pproxy, ssh -D ---------------------

# One credential pair for every proxy that asks for one.
export AIOHTTP_PROXY_USER=proxyuser
export AIOHTTP_PROXY_PASS=proxy-pass-1
PROXY_CRED="$AIOHTTP_PROXY_USER:$AIOHTTP_PROXY_PASS"

# start_proxy NAME N LAUNCH: up to three attempts to start the proxy NAME on N
# fresh ports: `LAUNCH P1 ... PN` starts it in the background, tracks it and
# waits until it answers. The ports it listens on are left in PORTS; its
# output is in .interop/NAME.log.
start_proxy() {
    local name="$1" n="$2" launch="$3" attempt
    for attempt in 1 2 3; do
        mapfile -t PORTS < <(free_port "$n")
        [[ "${#PORTS[@]}" == "$n" ]] || die "no free port for $name"
        if "$launch" "${PORTS[@]}"; then
            return 0
        fi
        log "$name failed to start (attempt $attempt); log:"
        tail -n 20 "$LOGDIR/$name.log" >&2 || true
        stop_failed "$started_pid"
    done
    die "could not start $name"
}

# squid: one process with an open port, a port asking for Basic credentials
# (checked by basic_ncsa_auth against an htpasswd file) and an open port
# serving TLS to its clients (https_port, with the trustme certificate; this
# is Debian's GnuTLS build), all for loopback clients only. CONNECT goes to
# any port (there is no SSL_ports rule), nothing is cached, and everything
# squid writes stays in .interop/squid.
SQUID_DIR="$LOGDIR/squid"
rm -rf "$SQUID_DIR"
mkdir -p "$SQUID_DIR/logs"
command -v openssl >/dev/null || die "openssl is needed for squid's password file"
printf '%s:%s\n' "$AIOHTTP_PROXY_USER" "$(openssl passwd -apr1 "$AIOHTTP_PROXY_PASS")" \
    >"$SQUID_DIR/passwd"

# write_squid_conf OPEN-PORT AUTH-PORT TLS-PORT
write_squid_conf() {
    cat >"$SQUID_DIR/squid.conf" <<EOF
# Written by scripts/interop.sh; everything squid writes stays under this directory.
http_port 127.0.0.1:$1 name=open
http_port 127.0.0.1:$2 name=auth
https_port 127.0.0.1:$3 name=tls tls-cert=$CERTS/server.pem tls-key=$CERTS/server.key
visible_hostname localhost
pid_filename $SQUID_DIR/squid.pid
cache_log $SQUID_DIR/logs/cache.log
access_log stdio:$SQUID_DIR/logs/access.log
cache_store_log none
netdb_filename none
coredump_dir $SQUID_DIR
cache_effective_user proxy
cache deny all
cache_mem 8 MB
# A new connection to the origin for every request: gunicorn drops idle ones
# after 2 s, and squid answers 502 when it reuses one just then.
server_persistent_connections off
dns_nameservers 127.0.0.1
udp_incoming_address 127.0.0.1
udp_outgoing_address 127.0.0.1
icp_port 0
htcp_port 0
pinger_enable off
shutdown_lifetime 1 seconds

auth_param basic program $SQUID_NCSA $SQUID_DIR/passwd
auth_param basic children 2 startup=1 idle=1
auth_param basic realm aiohttp interop
auth_param basic credentialsttl 1 second

acl interop_clients src 127.0.0.1/32 ::1
acl auth_port myportname auth
acl authenticated proxy_auth REQUIRED
http_access deny !interop_clients
http_access deny auth_port !authenticated
http_access allow interop_clients
http_access deny all
EOF
}

launch_squid() {
    write_squid_conf "$1" "$2" "$3"
    # Started as root, squid works as proxy (cache_effective_user).
    if [[ "$(id -u)" == 0 ]]; then
        chown -R proxy:proxy "$SQUID_DIR"
    fi
    "$SQUID" -N -f "$SQUID_DIR/squid.conf" >"$LOGDIR/squid.log" 2>&1 &
    track squid $!
    wait_for "$started_pid" squid proxy_probe http "127.0.0.1:$1" &&
        wait_for "$started_pid" "squid (auth)" proxy_probe http "127.0.0.1:$2" "$PROXY_CRED" &&
        wait_for "$started_pid" "squid (tls)" proxy_probe https "127.0.0.1:$3"
}

start_proxy squid 3 launch_squid
export AIOHTTP_PROXY_SQUID_URL="http://127.0.0.1:${PORTS[0]}"
export AIOHTTP_PROXY_SQUID_AUTH_URL="http://127.0.0.1:${PORTS[1]}"
export AIOHTTP_PROXY_SQUID_TLS_URL="https://127.0.0.1:${PORTS[2]}"
log "squid $("$SQUID" -v | sed -n 's/^Squid Cache: Version //p') at $AIOHTTP_PROXY_SQUID_URL, $AIOHTTP_PROXY_SQUID_AUTH_URL (Basic auth) and $AIOHTTP_PROXY_SQUID_TLS_URL (TLS)"

# tinyproxy: one instance open, one with BasicAuth; both for 127.0.0.1 only,
# CONNECT to any port (there is no ConnectPort line). The log is on stdout.
# run_tinyproxy NAME PORT [USER PASS]
run_tinyproxy() {
    local name="$1" port="$2" conf="$LOGDIR/$1.conf"
    {
        printf '# Written by scripts/interop.sh.\n'
        printf 'Port %s\nListen 127.0.0.1\nAllow 127.0.0.1\n' "$port"
        printf 'Timeout 600\nMaxClients 100\nLogLevel Info\n'
        # Started as root, it would stay root without a User line.
        if [[ "$(id -u)" == 0 ]]; then
            printf 'User nobody\nGroup %s\n' "$(id -gn nobody)"
        fi
        if [[ $# -ge 4 ]]; then
            printf 'BasicAuth %s %s\n' "$3" "$4"
        fi
    } >"$conf"
    "$TINYPROXY" -d -c "$conf" >"$LOGDIR/$name.log" 2>&1 &
    track "$name" $!
    if [[ $# -ge 4 ]]; then
        wait_for "$started_pid" "$name" proxy_probe http "127.0.0.1:$port" "$3:$4"
    else
        wait_for "$started_pid" "$name" proxy_probe http "127.0.0.1:$port"
    fi
}
launch_tinyproxy_open() { run_tinyproxy tinyproxy-open "$1"; }
launch_tinyproxy_auth() {
    run_tinyproxy tinyproxy-auth "$1" "$AIOHTTP_PROXY_USER" "$AIOHTTP_PROXY_PASS"
}

start_proxy tinyproxy-open 1 launch_tinyproxy_open
export AIOHTTP_PROXY_TINYPROXY_URL="http://127.0.0.1:${PORTS[0]}"
start_proxy tinyproxy-auth 1 launch_tinyproxy_auth
export AIOHTTP_PROXY_TINYPROXY_AUTH_URL="http://127.0.0.1:${PORTS[0]}"
log "tinyproxy $("$TINYPROXY" -v | sed 's/^tinyproxy //') at $AIOHTTP_PROXY_TINYPROXY_URL and $AIOHTTP_PROXY_TINYPROXY_AUTH_URL (Basic auth)"

# proxy.py: open, with --basic-auth, and serving TLS to its clients (an HTTPS
# proxy, with the trustme server certificate). One worker and one acceptor
# each, and its data directory in .interop rather than ~/.proxypy. Beware:
# proxy.py 2.4.10 sends every later request of a kept-alive client connection
# to the first request's origin server, whatever its URL says.
# run_proxypy NAME PORT PROBE-KIND PROBE-CREDENTIALS [ARGS...]
run_proxypy() {
    local name="$1" port="$2" kind="$3" cred="$4"
    shift 4
    rm -rf "${LOGDIR:?}/$name"
    mkdir -p "$LOGDIR/$name"
    "$VENV/bin/proxy" --hostname 127.0.0.1 --port "$port" --num-workers 1 --num-acceptors 1 \
        --data-dir "$LOGDIR/$name" "$@" >"$LOGDIR/$name.log" 2>&1 &
    track "$name" $!
    wait_for "$started_pid" "$name" proxy_probe "$kind" "127.0.0.1:$port" "$cred"
}
launch_proxypy_open() { run_proxypy proxypy-open "$1" http ""; }
launch_proxypy_auth() {
    run_proxypy proxypy-auth "$1" http "$PROXY_CRED" --basic-auth "$PROXY_CRED"
}
launch_proxypy_tls() {
    run_proxypy proxypy-tls "$1" https "" \
        --cert-file "$CERTS/server.pem" --key-file "$CERTS/server.key"
}

start_proxy proxypy-open 1 launch_proxypy_open
export AIOHTTP_PROXY_PROXYPY_URL="http://127.0.0.1:${PORTS[0]}"
start_proxy proxypy-auth 1 launch_proxypy_auth
export AIOHTTP_PROXY_PROXYPY_AUTH_URL="http://127.0.0.1:${PORTS[0]}"
start_proxy proxypy-tls 1 launch_proxypy_tls
export AIOHTTP_PROXY_PROXYPY_TLS_URL="https://127.0.0.1:${PORTS[0]}"
log "proxy.py $("$VENV/bin/proxy" --version 2>/dev/null | sed 's/^v//') at $AIOHTTP_PROXY_PROXYPY_URL, $AIOHTTP_PROXY_PROXYPY_AUTH_URL (Basic auth) and $AIOHTTP_PROXY_PROXYPY_TLS_URL (TLS)"

# pproxy: one process listening as socks4 (which takes socks4a too), socks5,
# and socks5 with a user name and password. --auth 0 has it check every
# connection's credentials: by default one good login trusts the client's IP
# for 30 days, bad passwords included.
launch_pproxy() {
    "$VENV/bin/pproxy" --auth 0 -l "socks4://127.0.0.1:$1" -l "socks5://127.0.0.1:$2" \
        -l "socks5://127.0.0.1:$3#$PROXY_CRED" >"$LOGDIR/pproxy.log" 2>&1 &
    track pproxy $!
    wait_for "$started_pid" "pproxy (socks4)" proxy_probe socks4 "127.0.0.1:$1" &&
        wait_for "$started_pid" "pproxy (socks5)" proxy_probe socks5 "127.0.0.1:$2" &&
        wait_for "$started_pid" "pproxy (socks5, auth)" proxy_probe socks5 "127.0.0.1:$3" "$PROXY_CRED"
}

start_proxy pproxy 3 launch_pproxy
export AIOHTTP_PROXY_PPROXY_SOCKS4_URL="socks4://127.0.0.1:${PORTS[0]}"
export AIOHTTP_PROXY_PPROXY_SOCKS5_URL="socks5://127.0.0.1:${PORTS[1]}"
export AIOHTTP_PROXY_PPROXY_SOCKS5_AUTH_URL="socks5://127.0.0.1:${PORTS[2]}"
log "pproxy $("$VENV/bin/pproxy" --version 2>/dev/null | sed 's/^pproxy //') at $AIOHTTP_PROXY_PPROXY_SOCKS4_URL, $AIOHTTP_PROXY_PPROXY_SOCKS5_URL and $AIOHTTP_PROXY_PPROXY_SOCKS5_AUTH_URL (user and password)"

# OpenSSH's dynamic forwarding: a private sshd on loopback, run by the current
# user with a configuration, a host key and an authorized client key of its
# own in .interop/ssh (the system's sshd_config is not read), and
# `ssh -N -D` logged in to it with that key. ssh's SOCKS port takes SOCKS4,
# SOCKS4a (the address 0.0.0.x and a host name, which sshd resolves) and
# SOCKS5 (no authentication), all on the one port. -vv has ssh log every SOCKS
# request it decodes, with the host and port it was asked for, to
# .interop/ssh-socks.log; the tests read it (AIOHTTP_PROXY_SSH_LOG).
SSH_DIR="$LOGDIR/ssh"
SSH_USER="$(id -un)"
rm -rf "$SSH_DIR"
mkdir -p "$SSH_DIR"
"$SSH_KEYGEN" -q -t ed25519 -N '' -C interop-host -f "$SSH_DIR/host_key" ||
    die "ssh-keygen could not make sshd's host key"
"$SSH_KEYGEN" -q -t ed25519 -N '' -C interop-client -f "$SSH_DIR/client_key" ||
    die "ssh-keygen could not make the client key"
cp "$SSH_DIR/client_key.pub" "$SSH_DIR/authorized_keys"
# Run as root, sshd separates privileges into /run/sshd, which it does not make
# (the system service's unit does).
if [[ "$(id -u)" == 0 && ! -d /run/sshd ]]; then
    mkdir -p -m 0755 /run/sshd || die "cannot make /run/sshd for sshd's privilege separation"
fi

# write_sshd_conf PORT
write_sshd_conf() {
    cat >"$SSH_DIR/sshd_config" <<EOF
# Written by scripts/interop.sh; started with -f, sshd reads no other configuration.
Port $1
ListenAddress 127.0.0.1
HostKey "$SSH_DIR/host_key"
PidFile "$SSH_DIR/sshd.pid"
AuthorizedKeysFile "$SSH_DIR/authorized_keys"
AllowUsers $SSH_USER
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding local
PermitOpen any
PermitTTY no
X11Forwarding no
AllowAgentForwarding no
UseDNS no
PrintMotd no
LogLevel VERBOSE
EOF
}

# launch_ssh_socks SSHD-PORT SOCKS-PORT: sshd, then ssh -D logged in to it.
launch_ssh_socks() {
    local sshd_pid
    write_sshd_conf "$1"
    # Nothing of an earlier run or attempt shown as ssh's log if sshd does not start.
    : >"$LOGDIR/ssh-socks.log"
    "$SSHD" -D -e -f "$SSH_DIR/sshd_config" >"$LOGDIR/sshd.log" 2>&1 &
    track sshd $!
    sshd_pid="$started_pid"
    if ! wait_for "$sshd_pid" sshd ssh_probe "127.0.0.1:$1"; then
        log "sshd failed to start; its log:"
        tail -n 20 "$LOGDIR/sshd.log" >&2 || true
        return 1
    fi
    "$SSH" -F /dev/null -N -D "127.0.0.1:$2" -p "$1" -i "$SSH_DIR/client_key" \
        -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o GlobalKnownHostsFile=/dev/null -o ExitOnForwardFailure=yes -o BatchMode=yes \
        -o ConnectTimeout=10 -vv "$SSH_USER@127.0.0.1" >"$LOGDIR/ssh-socks.log" 2>&1 &
    track ssh-socks $!
    if wait_for "$started_pid" "ssh -D (socks4)" proxy_probe socks4 "127.0.0.1:$2" &&
        wait_for "$started_pid" "ssh -D (socks4a)" proxy_probe socks4a "127.0.0.1:$2" &&
        wait_for "$started_pid" "ssh -D (socks5)" proxy_probe socks5 "127.0.0.1:$2"; then
        return 0
    fi
    log "ssh -D failed to start; sshd's log:"
    tail -n 20 "$LOGDIR/sshd.log" >&2 || true
    stop_failed "$sshd_pid"
    return 1
}

start_proxy ssh-socks 2 launch_ssh_socks
export AIOHTTP_PROXY_SSH_SOCKS_URL="socks4a://127.0.0.1:${PORTS[1]}"
export AIOHTTP_PROXY_SSH_LOG="$LOGDIR/ssh-socks.log"
log "$("$SSH" -V 2>&1 | cut -d, -f1): ssh -D at $AIOHTTP_PROXY_SSH_SOCKS_URL (SOCKS4, SOCKS4a and SOCKS5 on one port), through sshd at 127.0.0.1:${PORTS[0]} as $SSH_USER"

env | grep -E '^AIOHTTP_(HTTPBIN|NGINX|HYPERCORN|INTEROP|WS|PROXY)_' | sort >"$LOGDIR/env"

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
        ws-websockets.log ws-aiohttp.log squid.log squid/logs/cache.log \
        tinyproxy-open.log tinyproxy-auth.log proxypy-open.log proxypy-auth.log \
        proxypy-tls.log pproxy.log sshd.log ssh-socks.log; do
        log "last lines of .interop/$f:"
        tail -n 30 "$LOGDIR/$f" >&2 || true
    done
fi
exit "$status"
