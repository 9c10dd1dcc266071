"""The package's CookieJar: storage, matching, expiry, quoting, files, and the session's use."""

from __future__ import annotations

import json
import os
import stat
import time
from http.cookies import Morsel, SimpleCookie
from types import MappingProxyType

import pytest
from aiohttp import web
from conftest import Seen, recording_app, web_server
from yarl import URL

import aiohttp_rs
from aiohttp_rs import CookieJar, DummyCookieJar


def names(cookies) -> set[str]:
    return set(cookies.keys())


def test_caller_cookies_with_a_domain_go_to_that_domain_only():
    jar = CookieJar()
    jar.update_cookies(
        SimpleCookie(
            "shared=1; dom=2; Domain=example.com; sub=3; Domain=a.example.com; "
            "other=4; Domain=other.org; deep=5; Domain=example.com; Path=/one/two"
        )
    )
    assert names(jar.filter_cookies(URL("http://example.com/"))) == {"shared", "dom"}
    assert names(jar.filter_cookies(URL("http://a.example.com/one/two/x"))) == {
        "shared",
        "dom",
        "sub",
        "deep",
    }
    # "/one/two" is not a prefix at a "/" of "/one/twox".
    assert names(jar.filter_cookies(URL("http://a.example.com/one/twox"))) == {"shared", "dom", "sub"}
    assert names(jar.filter_cookies(URL("http://other.org/"))) == {"shared", "other"}
    # A safe jar sends only the shared cookies to an IP host.
    assert names(jar.filter_cookies(URL("http://1.2.3.4/"))) == {"shared"}


def test_the_most_specific_path_wins_whatever_the_order():
    jar = CookieJar()
    for text in ("c=one; Domain=t.com; Path=/one", "c=root; Domain=t.com; Path=/", "c=two; Domain=t.com; Path=/two"):
        jar.update_cookies(SimpleCookie(text))
    assert len(jar) == 3
    assert jar.filter_cookies(URL("http://t.com/"))["c"].value == "root"
    assert jar.filter_cookies(URL("http://t.com/one/x"))["c"].value == "one"
    assert jar.filter_cookies(URL("http://t.com/two"))["c"].value == "two"


def test_response_cookies_host_only_foreign_domains_and_default_path():
    jar = CookieJar()
    jar.update_cookies_from_headers(
        [
            "h=1",
            "d=2; Domain=.example.com; Path=/",
            "foreign=3; Domain=other.org",
            "sec=4; Secure; HttpOnly; SameSite=Strict",
        ],
        URL("http://www.example.com/app/page"),
    )
    assert len(jar) == 3
    assert jar.host_only_cookies == frozenset({("www.example.com", "h"), ("www.example.com", "sec")})
    by_name = {m.key: m for m in jar}
    assert by_name["h"]["domain"] == "www.example.com"
    assert by_name["h"]["path"] == "/app"
    assert by_name["d"]["domain"] == "example.com"
    assert by_name["sec"]["secure"] is True
    assert by_name["sec"]["httponly"] is True
    assert by_name["sec"]["samesite"] == "Strict"
    # Host-only cookies stay on their host; Secure ones need https.
    assert names(jar.filter_cookies(URL("http://api.example.com/app/"))) == {"d"}
    assert names(jar.filter_cookies(URL("http://www.example.com/app/"))) == {"h", "d"}
    assert names(jar.filter_cookies(URL("https://www.example.com/app/"))) == {"h", "d", "sec"}
    cookies = jar.cookies
    assert isinstance(cookies, MappingProxyType)
    assert cookies[("example.com", "")]["d"]["path"] == "/"
    with pytest.raises(TypeError):
        cookies[("x", "")] = SimpleCookie()  # type: ignore[index]


def test_malformed_set_cookie_is_skipped_with_a_warning(caplog):
    jar = CookieJar()
    with caplog.at_level("WARNING"):
        jar.update_cookies_from_headers(
            ["ok=1", "bad,name=2", "ISAW{A7F5}={925E}; HttpOnly", "q=\"a b\""], URL("http://example.com/")
        )
    assert "Can not load cookies" in caplog.text
    sent = jar.filter_cookies(URL("http://example.com/"))
    assert names(sent) == {"ok", "ISAW{A7F5}", "q"}
    assert sent["q"].value == "a b"
    # A value that came quoted is sent quoted as it came.
    assert sent["q"].coded_value == '"a b"'


def test_ip_hosts_need_an_unsafe_jar():
    safe = CookieJar()
    safe.update_cookies({"a": "1"}, URL("http://127.0.0.1/"))
    assert len(safe) == 0
    unsafe = CookieJar(unsafe=True)
    unsafe.update_cookies({"a": "1"}, URL("http://127.0.0.1/"))
    assert names(unsafe.filter_cookies(URL("http://127.0.0.1/x"))) == {"a"}
    assert names(unsafe.filter_cookies(URL("http://127.0.0.2/x"))) == set()


@pytest.mark.parametrize(
    ("quote", "value", "sent"),
    [(True, "value/one", '"value/one"'), (False, "value/one", "value/one"), (True, "plain", "plain")],
)
def test_quote_cookie(quote, value, sent):
    jar = CookieJar(quote_cookie=quote)
    assert jar.quote_cookie is quote
    jar.update_cookies(SimpleCookie(f"c={value}"))
    assert jar.filter_cookies(URL("http://h.test/")).output(header="Cookie:") == f"Cookie: c={sent}"


def test_expiry_follows_the_clock_given_at_each_call(monkeypatch):
    now = [10_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    jar = CookieJar()
    jar.update_cookies(SimpleCookie("m=1; Domain=t.com; Max-Age=60"))
    jar.update_cookies(SimpleCookie("e=1; Domain=t.com; Expires=Thu, 01 Jan 1970 12:00:00 GMT"))
    jar.update_cookies(SimpleCookie("bad=1; Domain=t.com; Max-Age=soon"))
    assert names(jar.filter_cookies(URL("http://t.com/"))) == {"m", "e", "bad"}
    assert {m.key: m["max-age"] for m in jar}["bad"] == ""
    now[0] += 60
    assert names(jar.filter_cookies(URL("http://t.com/"))) == {"e", "bad"}
    now[0] = 43200.0 + 1
    assert len(jar) == 2
    jar.clear(lambda m: False)  # removes the expired cookies only
    assert len(jar) == 1
    # Max-Age=0 deletes.
    jar.update_cookies(SimpleCookie("bad=; Domain=t.com; Max-Age=0"))
    assert len(jar) == 0


def test_clear_with_a_predicate_and_clear_domain():
    jar = CookieJar()
    jar.update_cookies(SimpleCookie("foo=bar; a=1; Domain=example.com; b=2; Domain=x.example.com; c=3; Domain=example.org"))
    jar.clear(lambda m: m.key == "c")
    assert sorted(m.key for m in jar) == ["a", "b", "foo"]
    jar.clear_domain("example.com")
    assert [(m.key, m.value) for m in jar] == [("foo", "bar")]
    jar.clear()
    assert len(jar) == 0


def test_dummy_jar_keeps_nothing():
    jar = DummyCookieJar()
    jar.update_cookies(SimpleCookie("a=1"))
    jar.update_cookies_from_headers(["b=2"], URL("http://example.com/"))
    assert len(jar) == 0
    assert list(jar) == []
    assert not jar.filter_cookies(URL("http://example.com/"))
    assert dict(jar.cookies) == {}
    assert jar.host_only_cookies == frozenset()
    assert jar.unsafe is False and jar.quote_cookie is True


def test_save_and_load_round_trip(tmp_path):
    path = tmp_path / "cookies.json"
    jar = CookieJar()
    jar.update_cookies_from_headers(
        [
            "host=1; Secure; HttpOnly",
            "dom=2; Domain=example.com; Path=/p; Max-Age=3600; SameSite=Lax",
            "gone=3; Domain=example.com; Expires=Tue, 1 Jan 2999 12:00:00 GMT",
        ],
        URL("https://auth.example.com/login"),
    )
    jar.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = CookieJar()
    loaded.load(path)
    assert sorted((m.key, m.value, m["domain"], m["path"]) for m in loaded) == sorted(
        (m.key, m.value, m["domain"], m["path"]) for m in jar
    )
    assert loaded.host_only_cookies == frozenset({("auth.example.com", "host")})
    sec = {m.key: m for m in loaded}["host"]
    assert sec["secure"] is True and sec["httponly"] is True
    assert names(loaded.filter_cookies(URL("https://sub.auth.example.com/p"))) == {"dom", "gone"}
    assert names(loaded.filter_cookies(URL("https://auth.example.com/p"))) == {"host", "dom", "gone"}
    # A deadline in the past drops the cookie on load.
    data = json.loads(path.read_text())
    for cookies in data.values():
        for entry in cookies.values():
            entry["expires_timestamp"] = 0.0
    path.write_text(json.dumps(data))
    again = CookieJar()
    again.load(path)
    assert len(again) == 0


def test_morsels_keep_the_attributes_given():
    jar = CookieJar()
    jar.update_cookies(
        SimpleCookie("e=1; Domain=t.com; Path=/; Expires=Tue, 1 Jan 2999 12:00:00 GMT; m=2; Domain=t.com; Max-Age=60")
    )
    by_name = {m.key: m for m in jar}
    assert isinstance(by_name["e"], Morsel)
    assert by_name["e"]["expires"] == "Tue, 1 Jan 2999 12:00:00 GMT"
    assert by_name["m"]["max-age"] == "60"
    assert by_name["m"]["path"] == "/"


def test_session_uses_the_jar(run):
    seen = Seen()

    async def main():
        app = recording_app(seen)

        async def set_cookies(req: web.Request) -> web.Response:
            resp = web.Response(text="ok")
            resp.set_cookie("sid", "abc", path="/", httponly=True, max_age=3600)
            resp.set_cookie("scoped", "x", path="/hello")
            return resp

        app.router.add_get("/set", set_cookies)
        async with web_server(app) as base:
            jar = aiohttp_rs.CookieJar(unsafe=True)
            jar.update_cookies(SimpleCookie("here=1; Domain=127.0.0.1; elsewhere=2; Domain=other.test; all=3"))
            async with aiohttp_rs.ClientSession(cookie_jar=jar) as s:
                await s.get(base + "/set")
                await s.get(base + "/hello")
                await s.get(base + "/echo")
            by_name = {m.key: m for m in jar}
            assert by_name["sid"]["domain"] == "127.0.0.1"
            assert by_name["sid"]["httponly"] is True
            assert by_name["sid"]["max-age"] == "3600"
            assert by_name["scoped"]["path"] == "/hello"
            assert ("127.0.0.1", "sid") in jar.host_only_cookies
        assert seen.requests[0]["cookies"] == {"here": "1", "all": "3", "sid": "abc", "scoped": "x"}
        assert seen.requests[1]["cookies"] == {"here": "1", "all": "3", "sid": "abc"}

    run(main())
