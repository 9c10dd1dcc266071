"""WebSocket echo server on the websockets library (websockets.asyncio.server),
for tests/interop_ws.rs; started by scripts/interop.sh. Paths and listeners:
see scripts/ws_echo_common.py.

Compression is websockets' default permessage-deflate (server and client
window bits 12) on every listener but NOCOMP_URL, which has compression=None.
"""

import asyncio
import http
import logging

from websockets.asyncio.server import serve, unix_serve
from websockets.exceptions import ConnectionClosed

import ws_echo_common as common

SERVER = "websockets"
closes = common.CloseLog()


def target_of(connection):
    return common.split_target(connection.request.path)


async def echo(connection):
    try:
        async for message in connection:
            await connection.send(message)
    except ConnectionClosed:
        pass


async def handler(connection):
    path, query = target_of(connection)
    if path == "/close":
        await connection.close(
            int(query.get("code", "1000")), query.get("reason", "")
        )
        return
    if path == "/headers":
        report = common.request_report(
            SERVER,
            connection.request.path,
            connection.request.headers.raw_items(),
            connection.subprotocol,
            connection.response.headers.get("Sec-WebSocket-Extensions"),
        )
        await connection.send(common.dumps(report))
    elif path == "/subprotocol":
        await connection.send(connection.subprotocol or "")
    elif path == "/last-close":
        await connection.send(common.dumps(await closes.wait(query.get("id", ""))))
    elif path == "/ping":
        data = query.get("data", "ping")
        waiter = await connection.ping(data)
        try:
            await asyncio.wait_for(waiter, common.WAIT_SECS)
            await connection.send(f"pong:{data}")
        except asyncio.TimeoutError:
            await connection.send("no pong")
    await echo(connection)
    if "id" in query and path != "/last-close":
        rcvd = connection.protocol.close_rcvd
        await closes.record(
            query["id"], rcvd.code if rcvd else None, rcvd.reason if rcvd else None
        )


def process_request(connection, request):
    if common.split_target(request.path)[0] == "/health":
        return connection.respond(http.HTTPStatus.OK, "ok\n")
    return None


def process_response(connection, request, response):
    path, query = common.split_target(request.path)
    if path == "/setcookie":
        for value in common.set_cookie_values(query):
            response.headers["Set-Cookie"] = value
    return None


def select_subprotocol(connection, offered):
    return common.select_subprotocol(target_of(connection)[0], offered)


async def main():
    args = common.parse_args(SERVER)
    logging.basicConfig(level=logging.INFO)
    options = dict(
        process_request=process_request,
        process_response=process_response,
        select_subprotocol=select_subprotocol,
        max_size=common.MAX_MESSAGE,
    )
    servers = {
        "URL": await serve(handler, "127.0.0.1", 0, **options),
        "NOCOMP_URL": await serve(handler, "127.0.0.1", 0, compression=None, **options),
        "TLS_URL": await serve(
            handler, "127.0.0.1", 0, ssl=common.tls_context(args), **options
        ),
        "V6_URL": await serve(handler, "::1", 0, **options),
        "UNIX": await unix_serve(handler, args.unix, **options),
    }

    def port(key):
        return servers[key].sockets[0].getsockname()[1]

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
    for server in servers.values():
        server.close()
    await asyncio.gather(*(s.wait_closed() for s in servers.values()))


if __name__ == "__main__":
    asyncio.run(main())
