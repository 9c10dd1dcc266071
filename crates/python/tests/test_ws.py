"""ws_connect against aiohttp's WebSocket server on loopback."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from conftest import web_server

import aiohttp_rs


def ws_app(received: list, *, close_after: int | None = None, ignore_close: bool = False) -> web.Application:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("chat",), autoclose=not ignore_close)
        await ws.prepare(request)
        async for msg in ws:
            received.append((msg.type, msg.data))
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data + "/answer")
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
            if close_after is not None and len(received) >= close_after:
                await ws.close(code=4001, message=b"enough")
        if ignore_close:
            await asyncio.sleep(5)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    return app


def test_messages_both_ways_and_close(run):
    received: list = []

    async def main():
        async with web_server(ws_app(received)) as base:
            async with aiohttp_rs.ClientSession() as s:
                async with s.ws_connect(base + "/ws", protocols=("chat",)) as ws:
                    assert ws.protocol == "chat"
                    await ws.send_str("hi")
                    msg = await ws.receive()
                    assert (msg.type, msg.data) == (aiohttp.WSMsgType.TEXT, "hi/answer")
                    await ws.send_bytes(b"abc")
                    assert await ws.receive_bytes() == b"cba"
                    await ws.send_json({"a": 1})
                    assert await ws.receive_str() == '{"a": 1}/answer'
                    assert await ws.close() is True
                    assert ws.closed
                    assert ws.close_code == 1000
        assert received[:3] == [
            (aiohttp.WSMsgType.TEXT, "hi"),
            (aiohttp.WSMsgType.BINARY, b"abc"),
            (aiohttp.WSMsgType.TEXT, '{"a": 1}'),
        ]

    run(main())


def test_server_close_ends_iteration(run):
    received: list = []

    async def main():
        async with web_server(ws_app(received, close_after=1)) as base:
            async with aiohttp_rs.ClientSession() as s:
                ws = await s.ws_connect(base + "/ws")
                await ws.send_str("one")
                got = [msg.data async for msg in ws]
                assert got == ["one/answer"]
                assert ws.close_code == 4001
                assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSED

    run(main())


def test_close_from_another_task_interrupts_receive(run):
    received: list = []

    async def main():
        async with web_server(ws_app(received)) as base:
            async with aiohttp_rs.ClientSession() as s:
                ws = await s.ws_connect(base + "/ws")
                waiting = asyncio.ensure_future(ws.receive())
                await asyncio.sleep(0.05)
                assert await ws.close() is True
                msg = await waiting
                assert msg.type == aiohttp.WSMsgType.CLOSING
                assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSED

    run(main())


def test_close_timeout_is_reported(run):
    received: list = []

    async def main():
        async with web_server(ws_app(received, ignore_close=True)) as base:
            async with aiohttp_rs.ClientSession() as s:
                ws = await s.ws_connect(base + "/ws", timeout=aiohttp_rs.ClientWSTimeout(ws_close=0.2))
                await ws.close()
                assert isinstance(ws.exception(), asyncio.TimeoutError)
                assert ws.close_code == 1006

    run(main())


def test_handshake_refused_is_wsserverhandshakeerror(run):
    async def main():
        async def plain(request: web.Request) -> web.Response:
            return web.Response(text="no")

        app = web.Application()
        app.router.add_get("/ws", plain)
        async with web_server(app) as base:
            async with aiohttp_rs.ClientSession() as s:
                with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                    await s.ws_connect(base + "/ws")
                assert info.value.status == 200

    run(main())


def test_heartbeat_runs_while_the_client_only_sends(run):
    """With a heartbeat the socket is read in the background: a client that sends and
    sleeps still pings, is closed with 1006 when no pong comes, and what arrived meanwhile
    is received in order."""
    seen: list = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        await ws.send_str("one")
        await ws.send_str("two")
        msg = await ws.receive()
        seen.append(msg.type)
        await asyncio.sleep(2)  # no pong
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)

    async def main():
        async with web_server(app) as base:
            async with aiohttp_rs.ClientSession() as s:
                ws = await s.ws_connect(base + "/ws", heartbeat=0.1)
                await asyncio.sleep(0.5)
                assert seen == [aiohttp.WSMsgType.PING]
                assert ws.close_code is aiohttp.WSCloseCode.ABNORMAL_CLOSURE
                assert (await ws.receive()).data == "one"
                assert (await ws.receive()).data == "two"
                msg = await ws.receive()
                assert msg.type is aiohttp.WSMsgType.ERROR
                assert isinstance(msg.data, aiohttp.ServerTimeoutError)
                assert (await ws.receive()).type is aiohttp.WSMsgType.CLOSED

    run(main())


def test_heartbeat_with_pongs_keeps_the_socket_open(run):
    received: list = []

    async def main():
        async with web_server(ws_app(received)) as base:
            async with aiohttp_rs.ClientSession() as s:
                async with s.ws_connect(base + "/ws", heartbeat=0.05) as ws:
                    await asyncio.sleep(0.4)  # several pings, answered by the server
                    assert not ws.closed
                    await ws.send_str("still")
                    assert await ws.receive_str() == "still/answer"
                    assert await ws.close() is True
                    assert ws.close_code == 1000

    run(main())


def test_messages_read_in_the_background_keep_their_order(run):
    """More messages than the background reader keeps arrive while the client sleeps: all
    are received, in order, and the socket stays open (the server answers pings)."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for i in range(150):
            await ws.send_str(f"m{i}")
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data + "/answer")
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)

    async def main():
        async with web_server(app) as base:
            async with aiohttp_rs.ClientSession() as s:
                async with s.ws_connect(base + "/ws", heartbeat=0.05) as ws:
                    await asyncio.sleep(0.3)
                    got = [await ws.receive_str() for _ in range(150)]
                    assert got == [f"m{i}" for i in range(150)]
                    await ws.send_str("end")
                    assert await ws.receive_str() == "end/answer"
                    assert not ws.closed

    run(main())
