"""Fixtures: an event loop per test (asyncio and uvloop) and local servers on loopback.

The servers are aiohttp's own web server (a real third-party server) or a raw asyncio
server for what a web framework hides (connections, half-written requests). Each records
what it received, and the tests check those records from the client's side.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator, Callable

import pytest
from aiohttp import web


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: Any) -> Callable[[Any], Any]:
    """Runs a coroutine to its end on a fresh loop of the parametrised kind, bounded."""

    def runner(coro: Any, timeout: float = 30) -> Any:
        async def bounded() -> Any:
            return await asyncio.wait_for(coro, timeout)

        if request.param == "uvloop":
            import uvloop

            return uvloop.run(bounded())
        return asyncio.run(bounded())

    return runner


class Seen:
    """What a server received."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []


@contextlib.asynccontextmanager
async def web_server(app: web.Application, **site_kwargs: Any) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    if "path" in site_kwargs:
        site: Any = web.UnixSite(runner, site_kwargs["path"])
        await site.start()
        try:
            yield "http://unix.test"
        finally:
            await runner.cleanup()
        return
    site = web.TCPSite(runner, "127.0.0.1", 0, **site_kwargs)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scheme = "https" if site_kwargs.get("ssl_context") else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def recording_app(seen: Seen) -> web.Application:
    """Routes that record each request (method, path, query, headers, body)."""

    async def record(req: web.Request) -> None:
        seen.requests.append(
            {
                "method": req.method,
                "path": req.path,
                "query": list(req.query.items()),
                "headers": req.headers.copy(),
                "body": await req.read(),
                "cookies": dict(req.cookies),
            }
        )

    async def hello(req: web.Request) -> web.Response:
        await record(req)
        return web.Response(text="Hello, world!", headers={"X-Seen": str(len(seen.requests))})

    async def echo(req: web.Request) -> web.Response:
        await record(req)
        return web.Response(body=seen.requests[-1]["body"], content_type="application/octet-stream")

    async def json_(req: web.Request) -> web.Response:
        await record(req)
        return web.json_response({"ok": True, "n": 3})

    async def status(req: web.Request) -> web.Response:
        await record(req)
        return web.Response(status=int(req.match_info["code"]), text="status")

    async def redirect(req: web.Request) -> web.Response:
        await record(req)
        n = int(req.match_info["n"])
        raise web.HTTPFound("/hello" if n <= 1 else f"/redirect/{n - 1}")

    async def set_cookie(req: web.Request) -> web.Response:
        await record(req)
        resp = web.Response(text="cookie")
        resp.set_cookie("sid", "abc123", path="/")
        return resp

    async def big(req: web.Request) -> web.StreamResponse:
        await record(req)
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(req)
        for i in range(int(req.query.get("lines", "1000"))):
            await resp.write(f"line {i}\n".encode())
        await resp.write_eof()
        return resp

    async def slow(req: web.Request) -> web.Response:
        await record(req)
        await asyncio.sleep(float(req.query.get("s", "5")))
        return web.Response(text="late")

    async def gzip(req: web.Request) -> web.Response:
        await record(req)
        resp = web.Response(text="compressed " * 100)
        resp.enable_compression(web.ContentCoding.gzip)
        return resp

    app = web.Application()
    app.router.add_route("*", "/hello", hello)
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/json", json_)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/redirect/{n}", redirect)
    app.router.add_get("/set-cookie", set_cookie)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    app.router.add_get("/gzip", gzip)
    return app
