"""What the two WebSocket echo servers of scripts/interop.sh share.

scripts/ws_echo_websockets.py (the websockets library) and
scripts/ws_echo_aiohttp.py (aiohttp.web) serve the same paths and write the
same addresses file, so tests/interop_ws.rs runs one set of tests against both.

Paths (any other path is /echo):
  /echo           echoes every message: text as text, binary as binary. On
                  every path but /last-close, ?id=ID records the close frame
                  the client sends under ID.
  /headers        first sends a JSON text message describing the upgrade
                  request (see request_report), then echoes.
  /subprotocol    the server speaks the subprotocols "chat" and "superchat"
                  and takes the first of them the client offers; it first
                  sends the chosen one as a text message ("" for none), then
                  echoes. No other path selects a subprotocol.
  /close          closes at once with ?code=N (default 1000) and ?reason=TEXT.
  /last-close     sends {"code": N or null, "reason": TEXT or null} for the
                  close frame recorded under ?id=ID (waiting up to 5 s for
                  it), then echoes.
  /ping           pings the client with the payload ?data=TEXT (default
                  "ping"), then sends "pong:TEXT" once the matching pong is
                  back, or "no pong" after 5 s; then echoes.
  /setcookie      the 101 response sets a cookie for each query parameter
                  (name=value, Path=/); then echoes.
  /health         plain HTTP: 200 "ok" (the readiness probe).

Listeners, written to the addresses file as KEY=VALUE lines once all are
bound (ports are chosen by the system):
  URL         ws://127.0.0.1:PORT, permessage-deflate offered
  NOCOMP_URL  ws://127.0.0.1:PORT, no compression
  TLS_URL     wss://127.0.0.1:PORT (the --cert/--key pair), permessage-deflate
  V6_URL      ws://[::1]:PORT, permessage-deflate
  UNIX        the UNIX socket path (--unix), permessage-deflate
"""

import argparse
import asyncio
import base64
import binascii
import http.cookies
import json
import os
import signal
import ssl
import urllib.parse

SUBPROTOCOLS = ("chat", "superchat")
MAX_MESSAGE = 16 * 1024 * 1024
WAIT_SECS = 5.0


def parse_args(server):
    p = argparse.ArgumentParser(description=f"WebSocket echo server ({server})")
    p.add_argument("--cert", required=True, help="server certificate (PEM)")
    p.add_argument("--key", required=True, help="server private key (PEM)")
    p.add_argument("--unix", required=True, help="UNIX socket path")
    p.add_argument(
        "--addresses", required=True, help="file to write the listeners to"
    )
    return p.parse_args()


def tls_context(args):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    return ctx


def split_target(target):
    """(path, {name: last value}) of a request target."""
    parts = urllib.parse.urlsplit(target)
    return parts.path or "/", dict(urllib.parse.parse_qsl(parts.query))


def select_subprotocol(path, offered):
    if path != "/subprotocol":
        return None
    for proto in offered:
        if proto in SUBPROTOCOLS:
            return proto
    return None


def request_report(server, target, header_items, subprotocol, extensions):
    """What /headers sends: the upgrade request as the server saw it.

    headers: lowercased names; repeated headers joined with ", " (Cookie with
    "; ").
    cookies: the Cookie headers parsed into {name: value}.
    auth: {"user", "password"} decoded from a Basic Authorization, else null.
    subprotocol: the one the server chose; extensions: the
    Sec-WebSocket-Extensions header of the 101 response (null without).
    """
    headers = {}
    for name, value in header_items:
        name = name.lower()
        if name in headers:
            sep = "; " if name == "cookie" else ", "
            headers[name] = headers[name] + sep + value
        else:
            headers[name] = value
    cookies = {}
    if "cookie" in headers:
        jar = http.cookies.SimpleCookie()
        jar.load(headers["cookie"])
        cookies = {k: m.value for k, m in jar.items()}
    auth = None
    scheme, _, cred = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(cred).decode().partition(":")
            auth = {"user": user, "password": password}
        except (binascii.Error, UnicodeDecodeError):
            auth = None
    path, query = split_target(target)
    return {
        "server": server,
        "path": path,
        "query": query,
        "headers": headers,
        "cookies": cookies,
        "auth": auth,
        "subprotocol": subprotocol,
        "extensions": extensions,
    }


def set_cookie_values(query):
    return [f"{name}={value}; Path=/" for name, value in query.items()]


class CloseLog:
    """Close frames received on /echo?id=ID, by ID."""

    def __init__(self):
        self._closes = {}
        self._changed = asyncio.Condition()

    async def record(self, ident, code, reason):
        async with self._changed:
            self._closes[ident] = {"code": code, "reason": reason}
            self._changed.notify_all()

    async def wait(self, ident):
        async def found():
            async with self._changed:
                await self._changed.wait_for(lambda: ident in self._closes)
                return self._closes[ident]

        try:
            return await asyncio.wait_for(found(), WAIT_SECS)
        except asyncio.TimeoutError:
            return {"code": None, "reason": None}


def write_addresses(path, addresses):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for key, value in addresses.items():
            f.write(f"{key}={value}\n")
    os.replace(tmp, path)


async def wait_for_stop():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def dumps(value):
    return json.dumps(value, sort_keys=True)
