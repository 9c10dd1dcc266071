"""The package against aiohttp's web server and raw asyncio servers on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import ssl
import subprocess
import sys
import tempfile

import aiohttp
import pytest
from aiohttp import web
from conftest import Seen, recording_app, web_server
from multidict import CIMultiDictProxy
from yarl import URL

import aiohttp_rs


def test_get_head_params_and_types(run):
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession() as s:
                async with s.get(base + "/hello", params={"a": "1", "b": 2}, headers={"X-Test": "yes"}) as r:
                    assert r.status == 200
                    assert r.reason == "OK"
                    assert r.version == aiohttp.HttpVersion(1, 1)
                    assert isinstance(r.url, URL) and r.url.path == "/hello"
                    assert r.url.query["b"] == "2"
                    assert isinstance(r.headers, CIMultiDictProxy)
                    assert r.headers["x-seen"] == "1"
                    assert r.content_type == "text/plain"
                    assert r.charset == "utf-8"
                    assert r.ok
                    assert await r.text() == "Hello, world!"
                    assert await r.read() == b"Hello, world!"
                    assert r.request_info.method == "GET"
        got = seen.requests[0]
        assert got["query"] == [("a", "1"), ("b", "2")]
        assert got["headers"]["X-Test"] == "yes"
        assert got["headers"]["User-Agent"].startswith("aiohttp-rs/")

    run(main())


def test_bodies_reach_the_server(run):
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession(json_serialize=lambda v: '{"custom": 1}') as s:
                r = await s.post(base + "/echo", data=b"\x00raw")
                assert await r.read() == b"\x00raw"
                await s.post(base + "/echo", data="text é")
                await s.post(base + "/echo", data={"k": "v w", "n": 1})
                await s.put(base + "/echo", json={"ignored": True})
                await s.patch(base + "/echo", data=b"p", headers={"Content-Type": "x/y"})
        bodies = [(q["method"], q["body"], q["headers"].get("Content-Type")) for q in seen.requests]
        assert bodies == [
            ("POST", b"\x00raw", "application/octet-stream"),
            ("POST", "text é".encode(), "text/plain; charset=utf-8"),
            ("POST", b"k=v+w&n=1", "application/x-www-form-urlencoded"),
            ("PUT", b'{"custom": 1}', "application/json"),
            ("PATCH", b"p", "x/y"),
        ]

    run(main())


def test_data_and_json_together_is_a_value_error(run):
    async def main():
        async with aiohttp_rs.ClientSession() as s:
            with pytest.raises(ValueError):
                await s.post("http://127.0.0.1:1/", data=b"x", json={})

    run(main())


def test_json_and_content_type_error(run):
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession() as s:
                async with s.get(base + "/json") as r:
                    assert await r.json() == {"ok": True, "n": 3}
                async with s.get(base + "/hello") as r:
                    with pytest.raises(aiohttp.ContentTypeError) as info:
                        await r.json()
                    assert info.value.status == 200
                    # Without the check the body is parsed, and is not JSON.
                    with pytest.raises(json.JSONDecodeError):
                        await r.json(content_type=None)

    run(main())


def test_redirects_history_and_no_follow(run):
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession() as s:
                async with s.get(base + "/redirect/2") as r:
                    assert r.status == 200
                    assert r.url.path == "/hello"
                    assert [h.status for h in r.history] == [302, 302]
                    assert [h.url.path for h in r.history] == ["/redirect/2", "/redirect/1"]
                async with s.get(base + "/redirect/1", allow_redirects=False) as r:
                    assert r.status == 302
                    assert r.headers["Location"] == "/hello"
                with pytest.raises(aiohttp.TooManyRedirects):
                    await s.get(base + "/redirect/5", max_redirects=2)
        assert [q["path"] for q in seen.requests[:3]] == ["/redirect/2", "/redirect/1", "/hello"]

    run(main())


def test_raise_for_status_session_and_response(run):
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession(raise_for_status=True) as s:
                with pytest.raises(aiohttp.ClientResponseError) as info:
                    await s.get(base + "/status/418")
                assert info.value.status == 418
                assert info.value.request_info.real_url.path == "/status/418"
                r = await s.get(base + "/status/404", raise_for_status=False)
                assert r.status == 404
                with pytest.raises(aiohttp.ClientResponseError) as info:
                    r.raise_for_status()
                assert info.value.status == 404

            async def check(resp):
                if resp.status == 503:
                    raise RuntimeError("checked by a callable")

            async with aiohttp_rs.ClientSession(raise_for_status=check) as s:
                with pytest.raises(RuntimeError, match="callable"):
                    await s.get(base + "/status/503")

    run(main())


def test_errors_are_aiohttps_classes(run):
    async def main():
        async with aiohttp_rs.ClientSession() as s:
            with pytest.raises(aiohttp.ClientConnectorError) as info:
                await s.get("http://127.0.0.1:1/")
            e = info.value
            assert isinstance(e, aiohttp.ClientOSError) and isinstance(e, OSError)
            assert (e.host, e.port) == ("127.0.0.1", 1)
            assert e.os_error.errno == 111
            with pytest.raises(aiohttp.InvalidURL):
                await s.get("http://")
            with pytest.raises(aiohttp.NonHttpUrlClientError):
                await s.get("ftp://127.0.0.1/")

    assert aiohttp_rs.ClientError is aiohttp.ClientError
    run(main())


def test_timeouts(run):
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession(timeout=aiohttp_rs.ClientTimeout(total=0.3)) as s:
                with pytest.raises(asyncio.TimeoutError):
                    await s.get(base + "/slow?s=5")
                r = await s.get(base + "/hello", timeout=aiohttp_rs.ClientTimeout(total=5))
                assert r.status == 200
            async with aiohttp_rs.ClientSession() as s:
                with pytest.raises(aiohttp.SocketTimeoutError):
                    await s.get(base + "/slow?s=5", timeout=aiohttp_rs.ClientTimeout(sock_read=0.2))

    run(main())


def test_cookies_round_trip(run):
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as base:
            # As aiohttp's, the default jar keeps no cookie from an IP host.
            async with aiohttp_rs.ClientSession() as s:
                await s.get(base + "/set-cookie")
                assert len(s.cookie_jar) == 0
            jar = aiohttp_rs.CookieJar(unsafe=True)
            async with aiohttp_rs.ClientSession(cookies={"preset": "1"}, cookie_jar=jar) as s:
                async with s.get(base + "/set-cookie") as r:
                    assert r.cookies["sid"].value == "abc123"
                await s.get(base + "/hello", cookies={"once": "x"})
                await s.get(base + "/hello")
                assert len(s.cookie_jar) == 2
                names = sorted(m.key for m in s.cookie_jar)
                assert names == ["preset", "sid"]
        assert seen.requests[0]["cookies"] == {}
        assert seen.requests[2]["cookies"] == {"preset": "1", "sid": "abc123", "once": "x"}
        assert seen.requests[3]["cookies"] == {"preset": "1", "sid": "abc123"}

    run(main())


def test_basic_auth(run):
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession(auth=aiohttp_rs.BasicAuth("user", "pass")) as s:
                await s.get(base + "/hello")
                await s.get(base + "/hello", auth=aiohttp.BasicAuth("other", "pw"))
        assert seen.requests[0]["headers"]["Authorization"] == aiohttp.BasicAuth("user", "pass").encode()
        assert seen.requests[1]["headers"]["Authorization"] == aiohttp.BasicAuth("other", "pw").encode()

    run(main())


def test_streaming_reads_and_decompression(run):
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as base:
            want = b"".join(f"line {i}\n".encode() for i in range(5000))
            async with aiohttp_rs.ClientSession() as s:
                async with s.get(base + "/big?lines=5000") as r:
                    h = hashlib.sha256()
                    async for chunk in r.content.iter_chunked(1000):
                        assert len(chunk) <= 1000
                        h.update(chunk)
                    assert h.digest() == hashlib.sha256(want).digest()
                    assert r.content.at_eof()
                async with s.get(base + "/big?lines=3") as r:
                    assert [line async for line in r.content] == [b"line 0\n", b"line 1\n", b"line 2\n"]
                async with s.get(base + "/big?lines=100") as r:
                    got = b""
                    async for chunk in r.content.iter_any():
                        got += chunk
                    assert got == b"".join(f"line {i}\n".encode() for i in range(100))
                async with s.get(base + "/gzip") as r:
                    assert r.headers["Content-Encoding"] == "gzip"
                    assert await r.text() == "compressed " * 100
                async with s.get(base + "/hello") as r:
                    assert await r.content.read(5) == b"Hello"
                    assert await r.content.read() == b", world!"

    run(main())


def test_connection_limit_is_kept(run):
    state = {"open": 0, "max": 0, "requests": 0}

    async def handle(reader, writer):
        state["open"] += 1
        state["max"] = max(state["max"], state["open"])
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                state["requests"] += 1
                await asyncio.sleep(0.05)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            state["open"] -= 1
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        conn = aiohttp_rs.TCPConnector(limit=2)
        async with aiohttp_rs.ClientSession(connector=conn) as s:

            async def one():
                async with s.get(f"http://127.0.0.1:{port}/") as r:
                    return await r.read()

            got = await asyncio.gather(*(one() for _ in range(8)))
        server.close()
        assert got == [b"ok"] * 8
        assert state["requests"] == 8
        assert state["max"] == 2

    run(main())


def test_cancelling_the_task_closes_the_connection(run):
    closed = asyncio.Event

    async def main():
        gone = closed()
        arrived = closed()

        async def handle(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            arrived.set()
            # Never answers; the client's side closing is EOF here.
            if await reader.read(1) == b"":
                gone.set()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with aiohttp_rs.ClientSession() as s:
            task = asyncio.ensure_future(s.get(f"http://127.0.0.1:{port}/"))
            await asyncio.wait_for(arrived.wait(), 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait_for(gone.wait(), 5)
        server.close()

    run(main())


def test_unix_connector(run):
    seen = Seen()

    async def main():
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            async with web_server(recording_app(seen), path=path) as base:
                async with aiohttp_rs.ClientSession(connector=aiohttp_rs.UnixConnector(path)) as s:
                    async with s.get(base + "/hello") as r:
                        assert await r.text() == "Hello, world!"
            async with aiohttp_rs.ClientSession(connector=aiohttp_rs.UnixConnector(path)) as s:
                with pytest.raises(aiohttp.client_exceptions.UnixClientConnectorError) as info:
                    await s.get("http://unix.test/hello")
                assert info.value.path == path
        assert seen.requests[0]["path"] == "/hello"

    run(main())


def test_tls_verification_and_ssl_false(run):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen), ssl_context=ctx) as base:
            async with aiohttp_rs.ClientSession() as s:
                with pytest.raises(aiohttp.ClientConnectorCertificateError):
                    await s.get(base + "/hello")
                async with s.get(base + "/hello", ssl=False) as r:
                    assert await r.text() == "Hello, world!"
                digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())).digest()
                async with s.get(base + "/hello", ssl=aiohttp_rs.Fingerprint(digest)) as r:
                    assert r.status == 200
                with pytest.raises(aiohttp.ServerFingerprintMismatch):
                    await s.get(base + "/hello", ssl=aiohttp_rs.Fingerprint(b"\x00" * 32))
        assert len(seen.requests) == 2

    run(main())


def test_module_level_request(run):
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.request("GET", base + "/hello") as r:
                assert await r.text() == "Hello, world!"

    run(main())


def test_own_exception_classes_without_aiohttp():
    code = (
        "import aiohttp_rs as a\n"
        "assert a.ClientError.__module__ == 'aiohttp_rs._exceptions', a.ClientError.__module__\n"
        "assert issubclass(a.ClientConnectorError, (a.ClientOSError)) and issubclass(a.ClientConnectorError, OSError)\n"
        "assert issubclass(a.ServerTimeoutError, TimeoutError)\n"
        "assert issubclass(a.InvalidURL, ValueError)\n"
        "import asyncio\n"
        "async def main():\n"
        "    async with a.ClientSession() as s:\n"
        "        try:\n"
        "            await s.get('http://127.0.0.1:1/')\n"
        "        except a.ClientConnectorError as e:\n"
        "            assert e.port == 1\n"
        "            print('ok')\n"
        "asyncio.run(main())\n"
    )
    env = dict(os.environ, AIOHTTP_RS_OWN_EXCEPTIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_interpreter_exit_is_clean():
    """A process that used the package exits with status 0: the runtime's threads stop at
    exit, before they could wake a coroutine during interpreter finalization (which
    aborted the process)."""
    code = (
        "import asyncio, aiohttp_rs\n"
        "async def main():\n"
        "    async with aiohttp_rs.ClientSession() as s:\n"
        "        for _ in range(3):\n"
        "            try:\n"
        "                await s.get('http://127.0.0.1:1/')\n"
        "            except aiohttp_rs.ClientConnectorError:\n"
        "                pass\n"
        "asyncio.run(main())\n"
        "print('done')\n"
    )
    for _ in range(8):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert (out.returncode, out.stdout.strip()) == (0, "done"), out.stderr


def test_file_fields_are_multipart(run):
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession() as s:
                import io

                await s.post(base + "/echo", data=[io.BytesIO(b"file body")])
                await s.post(base + "/echo", data={"name": "v", "doc": io.BytesIO(b"more")})
        first, second = seen.requests
        assert first["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
        assert b'name="unknown"; filename="unknown"' in first["body"]
        assert b"\r\n\r\nfile body\r\n" in first["body"]
        assert b'name="name"' in second["body"] and b"\r\n\r\nmore\r\n" in second["body"]

    run(main())


def test_custom_resolver_runs_python_on_the_loop(run):
    """A Python resolver (aiohttp's AbstractResolver shape) answers for a made-up host; its
    coroutine runs on the session's loop while the request waits, without deadlock."""
    seen = Seen()
    asked = []

    class Resolver:
        async def resolve(self, host, port=0, family=0):
            asked.append((host, port))
            await asyncio.sleep(0)  # Python code on the loop, mid-request
            if host == "unknown.test":
                raise OSError(-2, "Name or service not known")
            return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": 2, "proto": 0, "flags": 0}]

        async def close(self):
            pass

    async def main():
        async with web_server(recording_app(seen)) as base:
            port = URL(base).port
            conn = aiohttp_rs.TCPConnector(resolver=Resolver(), use_dns_cache=False)
            async with aiohttp_rs.ClientSession(connector=conn) as s:
                got = await asyncio.gather(*(s.get(f"http://made-up.test:{port}/hello") for _ in range(4)))
                assert [r.status for r in got] == [200] * 4
                # The resolver's failure is aiohttp's DNS error, naming the host and port.
                with pytest.raises(aiohttp.ClientConnectorDNSError) as ctx:
                    await s.get(f"http://unknown.test:{port}/hello")
                assert (ctx.value.host, ctx.value.port) == ("unknown.test", port)
                assert "Name or service not known" in str(ctx.value)
        asked.remove(("unknown.test", port))
        assert asked and all(a == ("made-up.test", port) for a in asked)
        assert {q["headers"]["Host"] for q in seen.requests} == {f"made-up.test:{port}"}

    run(main())


def test_per_request_morsels_use_their_own_names(run):
    from http.cookies import Morsel

    seen = Seen()

    async def main():
        m = Morsel()
        m.set("real", "v1", "v1")
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession() as s:
                await s.get(base + "/hello", cookies={"key": m, "plain": "v2"})
        assert seen.requests[0]["cookies"] == {"real": "v1", "plain": "v2"}

    run(main())


def _transfer_app(seen: Seen) -> web.Application:
    async def upload(req: web.Request) -> web.Response:
        body = await req.read()
        seen.requests.append({"path": req.path, "body": body, "chunked": req.headers.get("Transfer-Encoding")})
        return web.Response(text=str(len(body)))

    async def redirect_307(req: web.Request) -> web.Response:
        body = await req.read()
        seen.requests.append({"path": req.path, "body": body})
        raise web.HTTPTemporaryRedirect("/upload")

    async def bad_location(req: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": req.query["to"]})

    async def upgrade(req: web.Request) -> web.Response:
        return web.Response(status=101, headers={"Connection": "Upgrade", "Upgrade": "tcp"})

    async def no_content(req: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=204)
        resp.headers["Content-Encoding"] = "gzip"
        await resp.prepare(req)
        return resp

    async def lines(req: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(req)
        for _ in range(20):
            await resp.write(b"data\n")
            await asyncio.sleep(0.1)
        return resp

    async def large(req: web.Request) -> web.Response:
        return web.Response(body=b"1" * 1_000_000)

    async def gzip(req: web.Request) -> web.Response:
        resp = web.Response(text="compressed " * 100)
        resp.enable_compression(web.ContentCoding.gzip)
        return resp

    app = web.Application()
    app.router.add_post("/upload", upload)
    app.router.add_post("/redirect-307", redirect_307)
    app.router.add_get("/bad-location", bad_location)
    app.router.add_get("/upgrade", upgrade)
    app.router.add_get("/no-content", no_content)
    app.router.add_get("/lines", lines)
    app.router.add_get("/large", large)
    app.router.add_get("/gzip", gzip)
    return app


def test_output_size_upload_complete_and_raw_bytes(run):
    seen = Seen()

    async def main():
        async with web_server(_transfer_app(seen)) as base:
            async with aiohttp_rs.ClientSession() as s:
                body = b"x" * 100_000
                async with s.post(base + "/upload", data=body) as resp:
                    assert await resp.text() == "100000"
                    first = resp.output_size
                    await resp.upload_complete
                async with s.post(base + "/upload", data=body) as resp:
                    await resp.read()
                    second = resp.output_size
                # The body and a head, counted per request on the kept connection.
                assert body.__len__() < first < body.__len__() + 1024
                assert first == second
                async with s.get(base + "/large") as resp:
                    assert resp.upload_complete.done()
                    assert 0 < resp.output_size < 1024
                async with s.get(base + "/gzip") as resp:
                    text = await resp.text()
                    raw = resp.content.total_raw_bytes
                    assert 0 < raw < len(text.encode())
                    assert raw == int(resp.headers["Content-Length"])
                async with s.get(base + "/gzip", auto_decompress=False) as resp:
                    assert resp.headers["Content-Encoding"] == "gzip"
                    assert len(await resp.read()) == raw

    run(main())


def test_redirect_rules_as_aiohttp(run):
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as base:
            async with aiohttp_rs.ClientSession() as s:
                # The max_redirects-th redirect raises, with those responses as history.
                with pytest.raises(aiohttp.TooManyRedirects) as ctx:
                    await s.get(base + "/redirect/5", max_redirects=2)
                assert len(ctx.value.history) == 2
                assert [r.status for r in ctx.value.history] == [302, 302]
                assert len([r for r in seen.requests if r["path"].startswith("/redirect")]) == 2
                async with s.get(base + "/redirect/3", max_redirects=4) as resp:
                    assert resp.status == 200 and len(resp.history) == 3
        async with web_server(_transfer_app(Seen())) as base:
            async with aiohttp_rs.ClientSession() as s:
                for location, shown in [("http:/", "http:///"), ("http:/example.com", "http:///example.com")]:
                    with pytest.raises(aiohttp.InvalidUrlRedirectClientError, match=f"^{shown} - Invalid redirect URL origin"):
                        await s.get(base + "/bad-location", params={"to": location})

    run(main())


def test_a_spent_async_iterable_is_not_sent_again(run):
    seen = Seen()

    async def main():
        async def chunks():
            for c in (b"a", b"b", b"c"):
                yield c

        async with web_server(_transfer_app(seen)) as base:
            async with aiohttp_rs.ClientSession() as s:
                with pytest.raises(aiohttp.ClientPayloadError, match="Cannot follow redirect with a consumed request body"):
                    await s.post(base + "/redirect-307", data=chunks())
                # A body in memory is sent again.
                async with s.post(base + "/redirect-307", data=b"abc") as resp:
                    assert await resp.text() == "3"
        assert [(r["path"], r["body"]) for r in seen.requests] == [
            ("/redirect-307", b"abc"),
            ("/redirect-307", b"abc"),
            ("/upload", b"abc"),
        ]

    run(main())


def test_connection_states(run):
    async def main():
        async with web_server(_transfer_app(Seen())) as base:
            async with aiohttp_rs.ClientSession() as s:
                # A 101 keeps its connection after the (empty) body is read.
                resp = await s.get(base + "/upgrade")
                await resp.read()
                assert resp.connection is not None and not resp.closed
                resp.close()
                assert resp.connection is None and resp.closed
                # A 204 has no body whatever its headers: done with the head.
                async with s.get(base + "/no-content") as resp:
                    assert resp.status == 204 and resp.closed
                # set_exception: later reads raise it, and it stays.
                async with s.get(base + "/lines") as resp:
                    resp.content.set_exception(ValueError("mine"))
                    with pytest.raises(ValueError, match="mine"):
                        await resp.content.readline()
                    assert isinstance(resp.content.exception(), ValueError)
                # release() while a read waits: that read ends with ClientConnectionError.
                resp = await s.get(base + "/lines")
                assert await resp.content.readline() == b"data\n"
                asyncio.get_running_loop().call_later(0.15, resp.release)
                with pytest.raises(aiohttp.ClientConnectionError):
                    while await resp.content.readline():
                        pass
            # A body not read when its session closed can't be read after.
            async with aiohttp_rs.ClientSession() as s:
                resp = await s.get(base + "/large")
            with pytest.raises(RuntimeError, match="Connection closed"):
                await resp.read()

    run(main())


def test_proxy_headers_reach_the_proxy_only(run):
    # The recording server is the forward proxy: a plain-HTTP request through it carries
    # the proxy's headers and the absolute URL, and the origin's name is never resolved.
    seen = Seen()

    async def main():
        async with web_server(recording_app(seen)) as proxy:
            async with aiohttp_rs.ClientSession() as s:
                async with s.get(
                    "http://origin.invalid/hello",
                    proxy=proxy,
                    proxy_headers={"X-Proxy-Team": "search"},
                    headers={"X-Origin": "yes"},
                ) as r:
                    assert r.status == 200
                    assert await r.text() == "Hello, world!"
                with pytest.raises(ValueError):
                    await s.get("http://origin.invalid/hello", proxy=proxy, proxy_headers={"Bad Name": "x"})

    run(main())
    # The request with a bad proxy header was never sent.
    assert len(seen.requests) == 1
    req = seen.requests[0]
    assert req["path"] == "/hello"
    assert req["headers"]["Host"] == "origin.invalid"
    assert req["headers"]["X-Proxy-Team"] == "search"
    assert req["headers"]["X-Origin"] == "yes"


def test_a_session_outlives_its_loop_and_completes_on_the_next():
    # Requests complete through the loop of the session's last request; once that loop
    # is closed, the session takes up the running one (asyncio.run twice, one session).
    seen = Seen()

    async def serve_and(fn):
        async with web_server(recording_app(seen)) as base:
            return await fn(base)

    session = None

    async def first(base):
        nonlocal session
        session = aiohttp_rs.ClientSession()
        async with session.get(base + "/hello") as r:
            return await r.text()

    async def second(base):
        async with session.get(base + "/hello") as r:
            text = await r.text()
        await session.close()
        return text

    assert asyncio.run(serve_and(first)) == "Hello, world!"
    assert asyncio.run(serve_and(second)) == "Hello, world!"
    assert len(seen.requests) == 2
