"""Client middlewares (aiohttp 3.12's ``middlewares=``), against aiohttp's web server."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from conftest import Seen, recording_app, web_server

import aiohttp_rs


def flaky_app(seen: Seen) -> web.Application:
    """``/flaky`` answers 503 to its first request and 200 after; every request recorded."""
    app = recording_app(seen)
    calls = {"n": 0}

    async def flaky(req: web.Request) -> web.Response:
        seen.requests.append({"path": req.path, "method": req.method, "headers": req.headers.copy()})
        calls["n"] += 1
        return web.Response(status=503 if calls["n"] == 1 else 200, text=f"call {calls['n']}")

    app.router.add_get("/flaky", flaky)
    return app


def test_session_middlewares_run_in_order_and_change_the_request(run):
    seen = Seen()
    order = []

    async def outer(req, handler):
        order.append("outer in")
        assert isinstance(req, aiohttp_rs.ClientRequest)
        req.headers["X-Outer"] = "1"
        resp = await handler(req)
        order.append(f"outer out {resp.status}")
        return resp

    async def inner(req, handler):
        order.append("inner in")
        # The outer one ran first: its header is already there.
        req.headers["X-Inner"] = req.headers["X-Outer"] + "2"
        req.url = req.url.with_path("/hello", keep_query=True)
        req.method = "POST"
        req.body = b"from the middleware"
        return await handler(req)

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession(middlewares=(outer, inner), headers={"X-Session": "s"}) as s:
                assert s.middlewares == (outer, inner)
                async with s.get(base + "/nowhere", params={"q": "1"}) as r:
                    assert r.status == 200
                    assert await r.text() == "Hello, world!"

    run(main())
    assert order == ["outer in", "inner in", "outer out 200"]
    (req,) = seen.requests
    assert (req["method"], req["path"], req["query"]) == ("POST", "/hello", [("q", "1")])
    assert req["body"] == b"from the middleware"
    assert req["headers"]["X-Outer"] == "1" and req["headers"]["X-Inner"] == "12"
    assert req["headers"]["X-Session"] == "s"


def test_a_retrying_middleware_sends_again(run):
    seen = Seen()
    statuses = []

    async def retry(req, handler):
        for _ in range(3):
            resp = await handler(req)
            statuses.append(resp.status)
            if resp.status < 500:
                return resp
            resp.release()
        return resp

    async def main():
        async with web_server(flaky_app(seen)) as base:
            async with aiohttp_rs.ClientSession(middlewares=[retry]) as s:
                async with s.get(base + "/flaky") as r:
                    return r.status, await r.text()

    assert run(main()) == (200, "call 2")
    assert statuses == [503, 200]
    assert [r["path"] for r in seen.requests] == ["/flaky", "/flaky"]


def test_per_request_middlewares_replace_the_sessions(run):
    seen = Seen()

    async def tag(value):
        async def mw(req, handler):
            req.headers["X-Tag"] = value
            return await handler(req)

        return mw

    async def main():
        session_mw = await tag("session")
        request_mw = await tag("request")
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession(middlewares=[session_mw]) as s:
                (await s.get(base + "/hello")).release()
                (await s.get(base + "/hello", middlewares=())).release()
                (await s.get(base + "/hello", middlewares=[request_mw])).release()

    run(main())
    assert [r["headers"].get("X-Tag") for r in seen.requests] == ["session", None, "request"]


def test_middlewares_wrap_the_redirects_and_errors_pass_through(run):
    seen = Seen()
    calls = []

    async def count(req, handler):
        calls.append(str(req.url.path))
        req.headers["X-Mw"] = "yes"
        return await handler(req)

    async def refuse(req, handler):
        raise LookupError("refused by the middleware")

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession(middlewares=[count]) as s:
                async with s.get(base + "/redirect/2") as r:
                    assert r.status == 200 and len(r.history) == 2
                with pytest.raises(LookupError):
                    await s.get(base + "/hello", middlewares=[refuse])
                with pytest.raises(aiohttp.ClientResponseError):
                    await s.get(base + "/status/500", raise_for_status=True)

    run(main())
    # Once around the whole request (aiohttp runs them per hop); its header is on every hop.
    assert calls == ["/redirect/2", "/status/500"]
    assert [r["path"] for r in seen.requests] == ["/redirect/2", "/redirect/1", "/hello", "/status/500"]
    assert all(r["headers"]["X-Mw"] == "yes" for r in seen.requests)


def test_middlewares_with_trace_configs(run):
    seen = Seen()
    points = []
    config = aiohttp_rs.TraceConfig()
    for name in ("on_request_start", "on_request_headers_sent", "on_request_end"):

        async def on(session, ctx, params, name=name):
            points.append(name[3:])

        getattr(config, name).append(on)

    async def twice(req, handler):
        (await handler(req)).release()
        return await handler(req)

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession(middlewares=[twice], trace_configs=[config]) as s:
                async with s.get(base + "/hello") as r:
                    assert await r.text() == "Hello, world!"

    run(main())
    assert points == ["request_start", "request_headers_sent", "request_headers_sent", "request_end"]
    assert len(seen.requests) == 2
