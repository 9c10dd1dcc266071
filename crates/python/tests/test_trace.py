"""trace_configs: aiohttp's TraceConfig signals, in the order a request reaches them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import aiohttp
import pytest
from conftest import Seen, recording_app, web_server
from yarl import URL

import aiohttp_rs

SIGNALS = [
    "on_request_start",
    "on_request_chunk_sent",
    "on_response_chunk_received",
    "on_request_end",
    "on_request_exception",
    "on_request_redirect",
    "on_connection_queued_start",
    "on_connection_queued_end",
    "on_connection_create_start",
    "on_connection_create_end",
    "on_connection_reuseconn",
    "on_dns_resolvehost_start",
    "on_dns_resolvehost_end",
    "on_dns_cache_hit",
    "on_dns_cache_miss",
    "on_request_headers_sent",
]


def recorder() -> tuple[aiohttp.TraceConfig, list]:
    """A TraceConfig (aiohttp's own class) whose every signal appends (name, params, ctx)."""
    seen: list = []
    config = aiohttp_rs.TraceConfig()
    for name in SIGNALS:

        async def on(session, ctx, params, name=name):
            seen.append((name[3:], params, ctx))

        getattr(config, name).append(on)
    return config, seen


def test_trace_config_is_aiohttps_class():
    assert aiohttp_rs.TraceConfig is aiohttp.TraceConfig
    assert aiohttp_rs.TraceRequestStartParams is aiohttp.TraceRequestStartParams


def test_every_point_of_a_redirected_request_in_order(run):
    config, seen = recorder()
    server = Seen()

    async def main():
        async with web_server(recording_app(server)) as base:
            base = base.replace("127.0.0.1", "localhost")
            async with aiohttp_rs.ClientSession(trace_configs=[config], headers={"X-Session": "s"}) as s:
                assert s.trace_configs == [config]
                async with s.get(base + "/redirect/2", headers={"X-Req": "r"}, trace_request_ctx={"id": 7}) as r:
                    assert r.status == 200
                    assert await r.text() == "Hello, world!"
                # Frozen with the session, as in aiohttp.
                with pytest.raises(RuntimeError):
                    config.on_request_start.append(lambda *a: None)
                return base

    base = run(main())
    names = [n for n, _, _ in seen]
    dns = [n for n in names if n.startswith("dns_")]
    assert dns == ["dns_cache_miss", "dns_resolvehost_start", "dns_resolvehost_end"], names
    rest = [n for n in names if not n.startswith("dns_")]
    assert rest == [
        "request_start",
        "connection_create_start",
        "connection_create_end",
        "request_headers_sent",
        "request_redirect",
        "connection_reuseconn",
        "request_headers_sent",
        "request_redirect",
        "connection_reuseconn",
        "request_headers_sent",
        "request_end",
        "response_chunk_received",
    ], names
    # DNS happens while the connection is being created.
    assert names.index("connection_create_start") < names.index("dns_cache_miss")
    assert names.index("dns_resolvehost_end") < names.index("connection_create_end")
    by = {}
    for name, params, ctx in seen:
        by.setdefault(name, []).append(params)
        # One context per request and config, carrying trace_request_ctx.
        assert ctx.trace_request_ctx == {"id": 7}
        assert ctx is seen[0][2]
    start = by["request_start"][0]
    assert isinstance(start, aiohttp.TraceRequestStartParams)
    assert (start.method, start.url) == ("GET", URL(base + "/redirect/2"))
    assert start.headers["X-Session"] == "s" and start.headers["X-Req"] == "r"
    assert by["dns_cache_miss"][0].host == "localhost"
    sent = by["request_headers_sent"]
    assert [p.url.path for p in sent] == ["/redirect/2", "/redirect/1", "/hello"]
    assert all(p.headers["X-Req"] == "r" and p.headers["Host"].startswith("localhost:") for p in sent)
    redirects = by["request_redirect"]
    assert [p.response.status for p in redirects] == [302, 302]
    assert [p.url.path for p in redirects] == ["/redirect/2", "/redirect/1"]
    assert redirects[0].response.headers["Location"] == "/redirect/1"
    end = by["request_end"][0]
    assert end.response.status == 200 and end.url == URL(base + "/redirect/2")
    chunk = by["response_chunk_received"][0]
    assert (chunk.method, chunk.url.path, chunk.chunk) == ("GET", "/hello", b"Hello, world!")
    # And the server saw three requests, the ones the points describe.
    assert [r["path"] for r in server.requests] == ["/redirect/2", "/redirect/1", "/hello"]


def test_body_chunks_and_a_queued_connection(run):
    config, seen = recorder()
    server = Seen()

    async def main():
        async with web_server(recording_app(server)) as base:
            conn = aiohttp_rs.TCPConnector(limit=1)
            async with aiohttp_rs.ClientSession(connector=conn, trace_configs=[config]) as s:
                # The second request waits for the first one's connection.
                slow = asyncio.ensure_future(s.get(base + "/slow?s=0.3"))
                await asyncio.sleep(0.1)
                async with s.post(base + "/echo", data=b"payload bytes") as r:
                    assert await r.read() == b"payload bytes"
                (await slow).release()

    run(main())
    names = [n for n, _, _ in seen]
    assert "connection_queued_start" in names and "connection_queued_end" in names, names
    assert names.index("connection_queued_start") < names.index("connection_queued_end")
    chunks = [p.chunk for n, p, _ in seen if n == "request_chunk_sent"]
    assert b"".join(chunks) == b"payload bytes"
    assert server.requests[-1]["body"] == b"payload bytes"


def test_exceptions_reach_on_request_exception(run):
    config, seen = recorder()

    async def main():
        async with web_server(recording_app(Seen())) as base:
            async with aiohttp_rs.ClientSession(trace_configs=[config]) as s:
                with pytest.raises(aiohttp.ClientConnectorError) as refused:
                    await s.get("http://127.0.0.1:1/")
                with pytest.raises(aiohttp.ClientResponseError) as status:
                    await s.get(base + "/status/500", raise_for_status=True)
                task = asyncio.ensure_future(s.get(base + "/slow?s=5"))
                await asyncio.sleep(0.2)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                return refused.value, status.value

    refused, status = run(main())
    errors = [(p.url.path, p.exception) for n, p, _ in seen if n == "request_exception"]
    assert errors[0] == ("/", refused)
    assert errors[1] == ("/status/500", status)
    assert errors[2][0] == "/slow" and isinstance(errors[2][1], asyncio.CancelledError)
    assert len(errors) == 3
    assert [n for n, _, _ in seen].count("request_end") == 0


def test_a_failing_signal_handler_fails_the_request(run):
    config = aiohttp_rs.TraceConfig()

    async def boom(session, ctx, params):
        raise LookupError("handler failed")

    config.on_connection_create_end.append(boom)

    async def main():
        async with web_server(recording_app(Seen())) as base:
            async with aiohttp_rs.ClientSession(trace_configs=[config]) as s:
                with pytest.raises(LookupError):
                    await s.get(base + "/hello")
            # The request's task was cancelled with it: the session closes at once.
            return s.closed

    assert run(main(), timeout=10)


def test_own_trace_config_without_aiohttp():
    code = (
        "import asyncio, aiohttp_rs as a\n"
        "assert a.TraceConfig.__module__ == 'aiohttp_rs._tracing', a.TraceConfig.__module__\n"
        "seen = []\n"
        "c = a.TraceConfig()\n"
        "async def start(s, ctx, p): seen.append(('start', p.method, ctx.trace_request_ctx))\n"
        "async def exc(s, ctx, p): seen.append(('exception', type(p.exception).__name__))\n"
        "async def create(s, ctx, p): seen.append(('create', type(p).__name__))\n"
        "c.on_request_start.append(start)\n"
        "c.on_request_exception.append(exc)\n"
        "c.on_connection_create_start.append(create)\n"
        "async def main():\n"
        "    async with a.ClientSession(trace_configs=[c]) as s:\n"
        "        try:\n"
        "            await s.get('http://127.0.0.1:1/', trace_request_ctx='x')\n"
        "        except a.ClientConnectorError:\n"
        "            pass\n"
        "    try:\n"
        "        c.on_request_end.append(start)\n"
        "    except RuntimeError:\n"
        "        seen.append('frozen')\n"
        "asyncio.run(main())\n"
        "print(seen)\n"
    )
    env = dict(os.environ, AIOHTTP_RS_OWN_EXCEPTIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(
        [
            ("start", "GET", "x"),
            ("create", "TraceConnectionCreateStartParams"),
            ("exception", "ClientConnectorError"),
            "frozen",
        ]
    )
