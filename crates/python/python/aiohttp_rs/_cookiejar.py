"""aiohttp's ``CookieJar`` and ``DummyCookieJar`` over the native jar of ``aiohttp_rs._core``.

The native jar stores the cookies (and is the one a session reads and updates); this module
turns ``Morsel``s and ``Set-Cookie`` headers into its records and back, parses cookie dates,
and reads and writes cookie files.
"""

from __future__ import annotations

import calendar
import io
import json
import logging
import os
import pickle
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.cookies import BaseCookie, Morsel, SimpleCookie
from types import MappingProxyType
from typing import Any

from yarl import URL

from . import _core

__all__ = ["CookieJar", "DummyCookieJar"]

_log = logging.getLogger("aiohttp_rs.client")

# The attributes a Morsel of this Python has, and those of them that are flags.
_MORSEL_KEYS = frozenset(Morsel().keys())
_FLAGS = frozenset({"secure", "httponly", "partitioned"})
# What Set-Cookie attributes are called in a Morsel.
_ATTRIBUTE_NAMES = {
    "expires": "expires",
    "path": "path",
    "comment": "comment",
    "domain": "domain",
    "max-age": "max-age",
    "secure": "secure",
    "httponly": "httponly",
    "version": "version",
    "samesite": "samesite",
    "partitioned": "partitioned",
}
# The attributes the jar fills in or clears when it stores a cookie.
_NORMALISED = ("domain", "path", "max-age", "expires")
# A cookie name may hold anything but separators, whitespace and control characters.
_BAD_NAME = re.compile(r"[\x00-\x20\x7f,;=\"\\]")


_DATE_TOKENS = re.compile(r"[^\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_TIME = re.compile(r"^(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\D.*)?$")
_DAY = re.compile(r"^(\d{1,2})(?:\D.*)?$")
_YEAR = re.compile(r"^(\d{2,4})(?:\D.*)?$")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _parse_date(text: str) -> int | None:
    """A cookie date as seconds since the epoch, or ``None`` when it does not parse."""
    if not text:
        return None
    hms = day = month = year = None
    for token in _DATE_TOKENS.findall(text):
        if hms is None and (m := _TIME.match(token)):
            hms = tuple(int(g) for g in m.groups())
        elif day is None and (m := _DAY.match(token)):
            day = int(m.group(1))
        elif month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS.index(token[:3].lower()) + 1
        elif year is None and (m := _YEAR.match(token)):
            year = int(m.group(1))
    if hms is None or day is None or month is None or year is None:
        return None
    if 70 <= year <= 99:
        year += 1900
    elif 0 <= year <= 69:
        year += 2000
    hour, minute, second = hms
    if not 1 <= day <= 31 or year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    return calendar.timegm((year, month, day, hour, minute, second, -1, -1, -1))


# ---------------------------------------------------------------------------------------
# Morsels and records


def _morsel(name: str, value: str, coded: str) -> Morsel:
    m: Morsel = Morsel()
    # The name was accepted when it was stored; Morsel.set would refuse some that servers send.
    m.__setstate__({"key": name, "value": value, "coded_value": coded})
    return m


def _attrs(items: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    """A Morsel's set attributes as text (a flag as ``"1"``)."""
    return [(k, "1" if k in _FLAGS else str(v)) for k, v in items if k in _MORSEL_KEYS and v]


def _record(name: str, m: Morsel) -> tuple[str, str, str, list[tuple[str, str]], float | None]:
    expires = m.get("expires") or ""
    ts = _parse_date(str(expires)) if expires else None
    value = m.value if m.value is not None else ""
    coded = m.coded_value if m.coded_value is not None else value
    return (name, value, coded, _attrs(m.items()), None if ts is None else float(ts))


def _from_record(name: str, value: str, coded: str, attrs: Iterable[tuple[str, str]]) -> Morsel:
    m = _morsel(name, value, coded)
    for key, val in attrs:
        if key in _MORSEL_KEYS:
            dict.__setitem__(m, key, True if key in _FLAGS else val)
    return m


def _loose_items(cookies: Any) -> Iterator[tuple[str, Morsel]]:
    """``(name, Morsel)`` pairs of a mapping or pairs of names to values or ``Morsel``s."""
    items = cookies.items() if isinstance(cookies, Mapping) else cookies
    for name, cookie in items:
        if isinstance(cookie, Morsel):
            # A Morsel's own name, when it has one, is the cookie's.
            yield cookie.key or name, cookie
            continue
        tmp: SimpleCookie = SimpleCookie()
        tmp[name] = cookie
        yield name, tmp[name]


def _split_unquoted(text: str) -> list[str]:
    """`text` split at the `;`s outside double quotes."""
    parts, start, quoted = [], 0, False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _unquote(coded: str) -> str:
    if len(coded) < 2 or coded[0] != '"' or coded[-1] != '"':
        return coded
    return re.sub(
        r"\\(?:([0-3][0-7][0-7])|(.))",
        lambda m: chr(int(m.group(1), 8)) if m.group(1) else m.group(2),
        coded[1:-1],
    )


def _parse_set_cookie(header: str) -> tuple[str, Morsel] | None:
    """A ``Set-Cookie`` value as a name and a ``Morsel``; ``None`` with a warning if malformed."""
    first, *attributes = _split_unquoted(header)
    name, sep, coded = first.partition("=")
    name, coded = name.strip(), coded.strip()
    if not sep or not name or _BAD_NAME.search(name):
        _log.warning("Can not load cookies: Illegal cookie name %r", name)
        return None
    m = _morsel(name, _unquote(coded), coded)
    pending = [tuple(a.partition("=")[::2]) for a in attributes]
    while pending:
        key, val = pending.pop(0)
        key, val = _ATTRIBUTE_NAMES.get(key.strip().lower()), val.strip()
        if key is None or key not in _MORSEL_KEYS:
            continue
        if key in ("path", "domain"):
            val, extra = _unglue(val)
            pending[:0] = extra
        dict.__setitem__(m, key, True if key in _FLAGS else val)
    return name, m


def _unglue(value: str) -> tuple[str, list[tuple[str, str]]]:
    """A ``Path`` or ``Domain`` value with attributes run into it without a ``;``
    (``/ Expires=Tue, 1 Jan 1980 12:00:00 GMT``), read as ``http.cookies`` does: its first
    word, and the attributes after it."""
    head, _, rest = value.strip().partition(" ")
    extra = []
    rest = rest.strip()
    while rest:
        m = re.match(r"([^=\s]+)(=?)", rest)
        if m is None:
            break
        key, rest = m.group(1), rest[m.end() :]
        if not m.group(2):
            extra.append((key, ""))
        elif key.lower() == "expires":  # a date holds spaces
            extra.append((key, rest))
            rest = ""
        else:
            val, _, rest = rest.partition(" ")
            extra.append((key, val))
        rest = rest.strip()
    return head, extra


def _origin(url: Any) -> str:
    u = URL(str(url)) if not isinstance(url, URL) else url
    return str(u.origin())


# ---------------------------------------------------------------------------------------
# the jars


class CookieJar:
    """aiohttp's cookie jar: cookies stored by domain, path and name, sent by RFC 6265 rules."""

    MAX_TIME = 253402300799.0

    def __init__(
        self,
        *,
        unsafe: bool = False,
        quote_cookie: bool = True,
        treat_as_secure_origin: Any = None,
        loop: Any = None,
    ) -> None:
        if treat_as_secure_origin is None:
            origins: list[str] = []
        elif isinstance(treat_as_secure_origin, (str, URL)):
            origins = [_origin(treat_as_secure_origin)]
        else:
            origins = [_origin(o) for o in treat_as_secure_origin]
        self._secure_origins = frozenset(origins)
        self._core = _core.Jar(
            unsafe_=unsafe, quote_cookie=quote_cookie, treat_as_secure_origin=origins
        )

    @property
    def unsafe(self) -> bool:
        return self._core.unsafe_

    @property
    def quote_cookie(self) -> bool:
        return self._core.quote_cookie

    # -- storing

    def update_cookies(self, cookies: Any, response_url: URL = URL()) -> None:
        """Stores cookies (a mapping or pairs of names to values or ``Morsel``s) received from
        ``response_url``; without one, a cookie with a ``Domain`` is stored for that domain
        and one without for every host."""
        url = response_url if isinstance(response_url, URL) else URL(str(response_url))
        items = list(_loose_items(cookies))
        stored = self._core.update(
            [_record(name, m) for name, m in items],
            url.raw_host,
            url.path if url.raw_host else "",
            time.time(),
        )
        # As aiohttp does, the Morsels given get the domain and path they were stored with.
        for (_, m), attrs in zip(items, stored):
            if attrs is not None:
                given = dict(attrs)
                for key in _NORMALISED:
                    dict.__setitem__(m, key, given.get(key, ""))

    def update_cookies_from_headers(self, headers: Iterable[str], response_url: URL) -> None:
        """Stores the cookies of ``Set-Cookie`` header values received from ``response_url``."""
        parsed = [p for h in headers if (p := _parse_set_cookie(h)) is not None]
        if parsed:
            self.update_cookies(parsed, response_url)

    # -- reading

    def filter_cookies(self, request_url: URL = URL()) -> BaseCookie:
        """The cookies to send to ``request_url``, as ``Morsel``s of names and values."""
        if type(request_url) is not URL:
            warnings.warn(
                f"filter_cookies expects yarl.URL instances only, got {type(request_url)}",
                DeprecationWarning,
                stacklevel=2,
            )
            request_url = URL(str(request_url))
        secure = request_url.scheme in ("https", "wss")
        if not secure and self._secure_origins and request_url.absolute:
            try:
                secure = str(request_url.origin()) in self._secure_origins
            except ValueError:
                secure = False
        out: BaseCookie = BaseCookie()
        for name, value, coded in self._core.filter(
            request_url.raw_host or "", request_url.path, secure, time.time()
        ):
            dict.__setitem__(out, name, _morsel(name, value, coded))
        return out

    def _records(self) -> list[Any]:
        return self._core.all(time.time())

    def __iter__(self) -> Iterator[Morsel]:
        return iter([_from_record(n, v, c, a) for n, v, c, a, *_ in self._records()])

    def __len__(self) -> int:
        return len(self._core)

    @property
    def cookies(self) -> MappingProxyType:
        """The stored cookies by ``(domain, path)``, as ``SimpleCookie``s (a read-only copy)."""
        out: dict[tuple[str, str], SimpleCookie] = {}
        for name, value, coded, attrs, domain, path, *_ in self._records():
            dict.__setitem__(
                out.setdefault((domain, path), SimpleCookie()),
                name,
                _from_record(name, value, coded, attrs),
            )
        return MappingProxyType(out)

    @property
    def host_only_cookies(self) -> frozenset[tuple[str, str]]:
        """``(domain, name)`` of the cookies sent back to their host only."""
        return frozenset((r[4], r[0]) for r in self._records() if r[6])

    # -- removing

    def clear(self, predicate: Callable[[Morsel], bool] | None = None) -> None:
        """Removes every cookie, or the expired ones and those ``predicate`` is true for."""
        if predicate is None:
            self._core.clear()
            return
        self._core.expire(time.time())
        doomed = [
            (domain, path, name)
            for name, value, coded, attrs, domain, path, *_ in self._core.all(time.time())
            if predicate(_from_record(name, value, coded, attrs))
        ]
        if doomed:
            self._core.delete(doomed)

    def clear_domain(self, domain: str) -> None:
        """Removes the cookies of ``domain`` and its subdomains."""
        self._core.clear_domain(domain, time.time())

    # -- files

    def save(self, file_path: Any) -> None:
        """Writes the cookies to ``file_path`` as JSON (a new file is readable by its owner
        only, an existing one keeps its permissions)."""
        data: dict[str, dict[str, Any]] = {}
        for name, value, coded, attrs, domain, path, host_only, expires_at in self._records():
            entry: dict[str, Any] = {"key": name, "value": value, "coded_value": coded}
            for key, val in attrs:
                entry[key] = True if key in _FLAGS else val
            entry["host_only"] = host_only
            entry["expires_timestamp"] = expires_at
            data.setdefault(f"{domain}|{path}", {})[name] = entry
        _core.Jar.write_file(os.fspath(file_path), json.dumps(data, indent=2).encode())

    def load(self, file_path: Any) -> None:
        """Reads cookies written by ``save`` (or aiohttp's JSON or pickle files), adding them
        to the jar. A pickle file may hold cookies only: any other class is refused with
        ``pickle.UnpicklingError``."""
        raw = _core.Jar.read_file(os.fspath(file_path))
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            entries = _pickled_entries(raw)
        else:
            entries = _json_entries(data)
        now = time.time()
        records = []
        for domain, path, name, entry in entries:
            value = str(entry.get("value") or "")
            coded = str(entry.get("coded_value") or value)
            expires_at = entry.get("expires_timestamp")
            if not isinstance(expires_at, (int, float)) or isinstance(expires_at, bool):
                expires_at = None
                # No deadline kept: from the attributes, Max-Age counted from now.
                max_age = str(entry.get("max-age") or "").strip()
                if max_age:
                    try:
                        expires_at = min(now + int(max_age), self.MAX_TIME)
                    except ValueError:
                        pass
                elif entry.get("expires"):
                    ts = _parse_date(str(entry["expires"]))
                    expires_at = None if ts is None else float(ts)
            records.append(
                (
                    str(name),
                    value,
                    coded,
                    _attrs(entry.items()),
                    domain,
                    path,
                    entry.get("host_only") is True,
                    None if expires_at is None else float(expires_at),
                )
            )
        self._core.restore(records, now)


def _json_entries(data: Any) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(domain, path, name, attributes) of a JSON cookie file."""
    if not isinstance(data, dict):
        raise ValueError("not a cookie file")
    out = []
    for key, cookies in data.items():
        domain, _, path = str(key).partition("|")
        if not isinstance(cookies, dict):
            raise ValueError("not a cookie file")
        for name, entry in cookies.items():
            if not isinstance(entry, dict):
                raise ValueError("not a cookie file")
            out.append((domain, path, str(name), entry))
    return out


class _CookieUnpickler(pickle.Unpickler):
    """Unpickles the classes of a cookie file only."""

    _ALLOWED = frozenset(
        {
            ("collections", "defaultdict"),
            ("builtins", "dict"),
            ("builtins", "set"),
            ("builtins", "frozenset"),
            ("http.cookies", "SimpleCookie"),
            ("http.cookies", "BaseCookie"),
            ("http.cookies", "Morsel"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"Forbidden class: {module}.{name}")
        return super().find_class(module, name)


def _pickled_entries(raw: bytes) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(domain, path, name, attributes) of a pickled mapping of (domain, path) to cookies."""
    data = _CookieUnpickler(io.BytesIO(raw)).load()
    if not isinstance(data, Mapping):
        raise pickle.UnpicklingError("not a cookie file")
    out = []
    for key, cookies in data.items():
        if not (isinstance(key, tuple) and len(key) == 2 and isinstance(cookies, Mapping)):
            raise pickle.UnpicklingError("not a cookie file")
        domain, path = str(key[0]), str(key[1])
        for name, m in cookies.items():
            if not isinstance(m, Morsel):
                raise pickle.UnpicklingError("not a cookie file")
            entry: dict[str, Any] = dict(m.items())
            entry["value"], entry["coded_value"] = m.value, m.coded_value
            out.append((domain, path, str(name), entry))
    return out


class DummyCookieJar(CookieJar):
    """A jar that keeps nothing."""

    def __init__(self, *, loop: Any = None) -> None:
        self._secure_origins = frozenset()
        self._core = _core.Jar(dummy=True)

    def update_cookies(self, cookies: Any, response_url: URL = URL()) -> None:
        pass

    def update_cookies_from_headers(self, headers: Iterable[str], response_url: URL) -> None:
        pass
