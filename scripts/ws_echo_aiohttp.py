"""WebSocket echo server on aiohttp.web, for tests/interop_ws.rs; started by
scripts/interop.sh. Paths and listeners: see scripts/ws_echo_common.py.

Compression is aiohttp's permessage-deflate (WebSocketResponse(compress=True):
window bits 15 unless the client asks for fewer) on every listener but
NOCOMP_URL, served by a second application with compress=False.
"""

import asyncio
import logging
import socket

from aiohttp import WSMsgType, web

import ws_echo_common as common

SERVER = "aiohttp"
COMPRESS = web.AppKey("compress", bool)
closes = common.CloseLog()


async def echo(ws):
    """Echoes until the client closes; returns the close frame's (code, reason),
    or (None, None) when the connection ended otherwise."""
    while True:
        msg = await ws.receive()
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
        elif msg.type is WSMsgType.PING:
            # Only seen with autoping off (/ping).
            await ws.pong(msg.data)
        elif msg.type is WSMsgType.PONG:
            continue
        elif msg.type is WSMsgType.CLOSE:
            return msg.data, msg.extra
        else:
            return None, None


async def wait_for_pong(ws, data):
    while True:
        msg = await ws.receive()
        if msg.type is WSMsgType.PONG and msg.data == data:
            return True
        if msg.type is WSMsgType.PING:
            await ws.pong(msg.data)
        elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return False


async def handler(request):
    path = request.path
    query = {k: v for k, v in request.query.items()}
    if path == "/health":
        return web.Response(text="ok\n")
    ws = web.WebSocketResponse(
        protocols=common.SUBPROTOCOLS if path == "/subprotocol" else (),
        compress=request.app[COMPRESS],
        max_msg_size=common.MAX_MESSAGE,
        autoping=path != "/ping",
    )
    if path == "/setcookie":
        for name, value in query.items():
            ws.set_cookie(name, value, path="/")
    await ws.prepare(request)

    if path == "/close":
        await ws.close(
            code=int(query.get("code", "1000")),
            message=query.get("reason", "").encode(),
        )
        return ws
    if path == "/headers":
        report = common.request_report(
            SERVER,
            request.path_qs,
            request.headers.items(),
            ws.ws_protocol,
            ws.headers.get("Sec-WebSocket-Extensions"),
        )
        await ws.send_str(common.dumps(report))
    elif path == "/subprotocol":
        await ws.send_str(ws.ws_protocol or "")
    elif path == "/last-close":
        await ws.send_str(common.dumps(await closes.wait(query.get("id", ""))))
    elif path == "/ping":
        data = query.get("data", "ping")
        await ws.ping(data.encode())
        try:
            ok = await asyncio.wait_for(
                wait_for_pong(ws, data.encode()), common.WAIT_SECS
            )
        except asyncio.TimeoutError:
            ok = False
        await ws.send_str(f"pong:{data}" if ok else "no pong")
    code, reason = await echo(ws)
    if "id" in query and path != "/last-close":
        await closes.record(query["id"], code, reason)
    return ws


def make_app(compress):
    app = web.Application()
    app[COMPRESS] = compress
    app.router.add_get("/{tail:.*}", handler)
    return app


def bound(family, host):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


async def main():
    args = common.parse_args(SERVER)
    logging.basicConfig(level=logging.INFO)
    runner = web.AppRunner(make_app(True))
    plain_runner = web.AppRunner(make_app(False))
    await runner.setup()
    await plain_runner.setup()
    socks = {
        "URL": bound(socket.AF_INET, "127.0.0.1"),
        "NOCOMP_URL": bound(socket.AF_INET, "127.0.0.1"),
        "TLS_URL": bound(socket.AF_INET, "127.0.0.1"),
        "V6_URL": bound(socket.AF_INET6, "::1"),
    }
    sites = [
        web.SockSite(runner, socks["URL"]),
        web.SockSite(plain_runner, socks["NOCOMP_URL"]),
        web.SockSite(runner, socks["TLS_URL"], ssl_context=common.tls_context(args)),
        web.SockSite(runner, socks["V6_URL"]),
        web.UnixSite(runner, args.unix),
    ]
    for site in sites:
        await site.start()

    def port(key):
        return socks[key].getsockname()[1]

    common.write_addresses(
        args.addresses,
        {
            "URL": f"ws://127.0.0.1:{port('URL')}",
            "NOCOMP_URL": f"ws://127.0.0.1:{port('NOCOMP_URL')}",
            "TLS_URL": f"wss://127.0.0.1:{port('TLS_URL')}",
            "V6_URL": f"ws://[::1]:{port('V6_URL')}",
            "UNIX": args.unix,
        },
    )
    await common.wait_for_stop()
    await runner.cleanup()
    await plain_runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
