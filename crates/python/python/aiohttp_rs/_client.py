"""aiohttp's client API over the native session of ``aiohttp_rs._core``.

Every network operation is a native coroutine of the extension module; this module turns
aiohttp's keywords into its arguments and its results into aiohttp's types (``yarl.URL``,
``multidict.CIMultiDictProxy``, ``http.cookies.SimpleCookie``, aiohttp's exceptions).
"""

from __future__ import annotations

import asyncio
import codecs
import dataclasses
import json as _json
import re
import ssl as _ssl
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterable
from http.cookies import Morsel, SimpleCookie
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from . import _core, _payload
from ._tracing import Trace
from . import _exceptions as E
from ._cookiejar import CookieJar, DummyCookieJar, _parse_set_cookie

__all__ = [
    "BasicAuth",
    "ClientResponse",
    "ClientSession",
    "ClientTimeout",
    "CookieJar",
    "DummyCookieJar",
    "Fingerprint",
    "StreamReader",
    "TCPConnector",
    "UnixConnector",
    "request",
]

_SENTINEL: Any = object()
_SCHEMES = frozenset(("http", "https", "ws", "wss"))
_REDIRECT_TARGET = re.compile(r'redirected to "(.*?)"(?:,|$)')
_TLS_CONFIGS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_CoreError = _core.CoreError


@dataclasses.dataclass(frozen=True)
class ClientTimeout:
    """Timeouts in seconds; ``None`` is no limit (as aiohttp's ``ClientTimeout``)."""

    total: float | None = None
    connect: float | None = None
    sock_read: float | None = None
    sock_connect: float | None = None
    ceil_threshold: float = 5


DEFAULT_TIMEOUT = ClientTimeout(total=5 * 60, sock_connect=30)


def _timeout_tuple(t: Any) -> tuple[Any, Any, Any, Any]:
    if t is None:
        return (None, None, None, None)
    if isinstance(t, (int, float)):
        return (float(t), None, None, None)
    return (t.total, t.connect, t.sock_read, t.sock_connect)


class BasicAuth(tuple):
    """HTTP Basic credentials: ``BasicAuth(login, password='', encoding='latin1')``."""

    __slots__ = ()

    def __new__(cls, login: str, password: str = "", encoding: str = "latin1") -> BasicAuth:
        if login is None:
            raise ValueError("None is not allowed as login value")
        if password is None:
            raise ValueError("None is not allowed as password value")
        if ":" in login:
            raise ValueError('A ":" is not allowed in login (RFC 1945#section-11.1)')
        return tuple.__new__(cls, (login, password, encoding))

    login = property(lambda self: self[0])
    password = property(lambda self: self[1])
    encoding = property(lambda self: self[2])

    @classmethod
    def decode(cls, auth_header: str, encoding: str = "latin1") -> BasicAuth:
        import base64
        import binascii

        try:
            scheme, encoded = auth_header.split(" ", 1)
        except ValueError:
            raise ValueError("Could not parse authorization header.") from None
        if scheme.lower() != "basic":
            raise ValueError(f"Unknown authorization method {scheme}")
        try:
            decoded = base64.b64decode(encoded.encode("ascii"), validate=True).decode(encoding)
        except binascii.Error:
            raise ValueError("Invalid base64 encoding.") from None
        try:
            login, password = decoded.split(":", 1)
        except ValueError:
            raise ValueError("Invalid credentials.") from None
        return cls(login, password, encoding=encoding)

    @classmethod
    def from_url(cls, url: URL, *, encoding: str = "latin1") -> BasicAuth | None:
        if not isinstance(url, URL):
            raise TypeError("url should be yarl.URL instance")
        if url.raw_user is None and url.raw_password is None:
            return None
        return cls(url.user or "", url.password or "", encoding=encoding)

    def encode(self) -> str:
        import base64

        creds = f"{self.login}:{self.password}".encode(self.encoding)
        return "Basic " + base64.b64encode(creds).decode(self.encoding)

    def __repr__(self) -> str:
        return f"BasicAuth(login={self.login!r}, password={self.password!r}, encoding={self.encoding!r})"


def _auth_tuple(auth: Any) -> tuple[str, str, str] | None:
    if auth is None:
        return None
    if not (hasattr(auth, "login") and hasattr(auth, "password")):
        raise TypeError("BasicAuth() tuple is required instead")
    return (auth.login, auth.password, getattr(auth, "encoding", "latin1"))


class Fingerprint:
    """Pins the server's certificate by its SHA-256 digest."""

    def __init__(self, fingerprint: bytes) -> None:
        if len(fingerprint) == 16 or len(fingerprint) == 20:
            raise ValueError("md5 and sha1 are insecure and not supported. Use sha256.")
        if len(fingerprint) != 32:
            raise ValueError("fingerprint has invalid length")
        self._fingerprint = fingerprint

    @property
    def fingerprint(self) -> bytes:
        return self._fingerprint


def _ssl_arg(value: Any) -> Any:
    """``ssl=`` for the native side: True, False, or a SHA-256 digest."""
    if value is None or value is True:
        return None
    if value is False:
        return False
    if hasattr(value, "fingerprint") and isinstance(value.fingerprint, bytes):
        return value.fingerprint
    if isinstance(value, _ssl.SSLContext):
        if value.verify_mode == _ssl.CERT_NONE:
            return False
        config = _TLS_CONFIGS.get(value)
        if config is None:
            # The context's trust roots, once per context (the pool tells configurations
            # apart by identity). A context without CA certificates loaded from a file or
            # data verifies against the default roots. Client certificates in a context
            # cannot be read back from it and are not used.
            certs = value.get_ca_certs(binary_form=True)
            config = _core.TlsConfig(certs) if certs else True
            _TLS_CONFIGS[value] = config
        return None if config is True else config
    raise TypeError(f"ssl should be SSLContext, Fingerprint, or bool, got {value!r} instead.")


class _BaseConnector:
    _core: Any
    _unix_path: str | None = None

    @property
    def limit(self) -> int:
        return self._core.limit

    @property
    def limit_per_host(self) -> int:
        return self._core.limit_per_host

    @property
    def force_close(self) -> bool:
        return self._core.force_close

    @property
    def closed(self) -> bool:
        return self._core.closed

    async def close(self, *, abort_ssl: bool = False) -> None:
        await self._core.close()
        resolver = getattr(self, "_resolver", None)
        if resolver is not None and hasattr(resolver, "close"):
            await resolver.close()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class TCPConnector(_BaseConnector):
    """A TCP (and TLS) connector with a pool: aiohttp's ``TCPConnector`` keywords."""

    def __init__(
        self,
        *,
        ssl: Any = True,
        verify_ssl: bool = True,
        fingerprint: bytes | None = None,
        use_dns_cache: bool = True,
        ttl_dns_cache: float | None = 10,
        family: int = 0,
        ssl_context: Any = None,
        local_addr: tuple[str, int] | None = None,
        resolver: Any = None,
        keepalive_timeout: Any = _SENTINEL,
        force_close: bool = False,
        limit: int = 100,
        limit_per_host: int = 0,
        enable_cleanup_closed: bool = False,
        loop: Any = None,
        timeout_ceil_threshold: float = 5,
        happy_eyeballs_delay: float | None = 0.25,
        interleave: int | None = None,
    ) -> None:
        resolver_arg = None
        if resolver is not None:
            # aiohttp's AbstractResolver: its resolve() runs on this event loop.
            resolver_arg = (resolver, asyncio.get_running_loop())
        if force_close and keepalive_timeout not in (_SENTINEL, None):
            raise ValueError("keepalive_timeout cannot be set if force_close is True")
        if keepalive_timeout is _SENTINEL:
            keepalive_timeout = None if force_close else 15.0
        if not verify_ssl:
            ssl = False
        if fingerprint is not None:
            ssl = Fingerprint(fingerprint)
        if ssl_context is not None:
            ssl = ssl_context
        self._ssl = ssl
        self._core = _core.Connector.tcp(
            limit=limit,
            limit_per_host=limit_per_host,
            keepalive_timeout=keepalive_timeout,
            force_close=force_close,
            ssl=_ssl_arg(ssl),
            use_dns_cache=use_dns_cache,
            ttl_dns_cache=ttl_dns_cache,
            family=int(family),
            local_addr=local_addr,
            happy_eyeballs_delay=happy_eyeballs_delay,
            interleave=interleave,
            enable_cleanup_closed=enable_cleanup_closed,
            resolver=resolver_arg,
        )
        self._resolver = resolver

    @property
    def family(self) -> int:
        return 0

    def clear_dns_cache(self, host: str | None = None, port: int | None = None) -> None:
        if host is not None and port is None:
            raise ValueError("either both host and port or none of them are allowed")
        self._core.clear_dns_cache(host, port)


class UnixConnector(_BaseConnector):
    """Connects every request to a UNIX socket."""

    def __init__(
        self,
        path: str,
        force_close: bool = False,
        keepalive_timeout: Any = _SENTINEL,
        limit: int = 100,
        limit_per_host: int = 0,
        loop: Any = None,
    ) -> None:
        if keepalive_timeout is _SENTINEL:
            keepalive_timeout = None if force_close else 15.0
        self._unix_path = str(path)
        self._core = _core.Connector.unix(
            str(path),
            limit=limit,
            limit_per_host=limit_per_host,
            keepalive_timeout=keepalive_timeout,
            force_close=force_close,
        )

    @property
    def path(self) -> str:
        return self._unix_path or ""


# ---------------------------------------------------------------------------------------
# errors


def _headers_proxy(pairs: Any) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs or ()))


def _request_info(req: Any) -> Any:
    if req is None:
        return None
    method, url, real_url, headers = req
    return E.RequestInfo(URL(url, encoded=True), method, _headers_proxy(headers), URL(real_url, encoded=True))


_RESPONSE_KINDS = {
    "ClientResponseError": "ClientResponseError",
    "ContentTypeError": "ContentTypeError",
    "TooManyRedirects": "TooManyRedirects",
    "WSServerHandshakeError": "WSServerHandshakeError",
    "ClientHttpProxyError": "ClientHttpProxyError",
}
_CONNECTOR_KINDS = {
    "ClientConnectorError",
    "ClientConnectorDNSError",
    "ClientProxyConnectionError",
    "ClientSSLError",
    "ClientConnectorSSLError",
}
_MESSAGE_KINDS = {
    "ClientError",
    "ClientConnectionError",
    "ClientConnectionResetError",
    "ServerConnectionError",
    "ServerTimeoutError",
    "ConnectionTimeoutError",
    "SocketTimeoutError",
    "ClientPayloadError",
    "WSMessageTypeError",
}


def _convert(err: BaseException, ssl: Any = True, unix_path: str | None = None, history: tuple = ()) -> BaseException:
    """aiohttp's exception for a ``CoreError``."""
    if not isinstance(err, _CoreError):
        return err
    kind, message, info = err.args
    if kind in _RESPONSE_KINDS:
        cls = getattr(E, kind)
        if not history and info.history:
            history = tuple(ClientResponse(h, None) for h in info.history)
        return cls(
            _request_info(info.request),
            history,
            status=info.status if info.status is not None else 0,
            message=info.reason if info.reason is not None else message,
            headers=_headers_proxy(info.headers) if info.headers is not None else None,
        )
    if kind in _CONNECTOR_KINDS or kind in ("UnixClientConnectorError", "ClientConnectorCertificateError"):
        key = E.ConnectionKey(info.host or "", info.port, bool(info.ssl), ssl if ssl is not None else True, None, None, None)
        errno, strerror = info.errno if info.errno else (None, message)
        if kind == "ClientConnectorCertificateError":
            return E.ClientConnectorCertificateError(key, _ssl.SSLCertVerificationError(1, message))
        os_error = OSError(errno, strerror) if errno is not None else OSError(None, message)
        if kind == "UnixClientConnectorError":
            return E.UnixClientConnectorError(unix_path or "", key, os_error)
        return getattr(E, kind)(key, os_error)
    if kind == "ClientOSError":
        if info.errno:
            return E.ClientOSError(info.errno[0], message)
        return E.ClientOSError(message)
    if kind == "ServerDisconnectedError":
        return E.ServerDisconnectedError(message)
    if kind == "ServerFingerprintMismatch":
        want, got = info.fingerprint or (b"", b"")
        return E.ServerFingerprintMismatch(bytes(want), bytes(got), info.host or "", info.port or 0)
    if kind in ("InvalidUrlRedirectClientError", "NonHttpUrlRedirectClientError"):
        # The crate names the rejected Location in its message: `redirected to "<it>"`.
        found = _REDIRECT_TARGET.search(message)
        target = found.group(1) if found else (info.url or message)
        if kind == "NonHttpUrlRedirectClientError":
            return E.NonHttpUrlRedirectClientError(target)
        if "which has no host" in message:
            # An http(s) URL without a host: aiohttp names it as yarl prints it.
            try:
                shown: Any = URL(target, encoded=True)
            except ValueError:
                shown = target
            return E.InvalidUrlRedirectClientError(shown, "Invalid redirect URL origin")
        return E.InvalidUrlRedirectClientError(
            target, "Server attempted redirecting to a location that does not look like a URL"
        )
    if kind in ("InvalidURL", "InvalidUrlClientError"):
        return getattr(E, kind)(info.url or message, message)
    if kind == "NonHttpUrlClientError":
        return E.NonHttpUrlClientError(info.url or message)
    if kind == "ClientPayloadError" and "needs the request body again" in message:
        # aiohttp's words for a redirect that would send a spent body again.
        return E.ClientPayloadError(f"Cannot follow redirect with a consumed request body ({message})")
    if kind in _MESSAGE_KINDS:
        return getattr(E, kind)(message)
    if kind == "InvalidArgument":
        return ValueError(message)
    if kind == "WebSocketError":
        return E.WebSocketError(info.ws_close_code or 1002, message)
    return E.ClientError(message)


# ---------------------------------------------------------------------------------------
# responses


class Connection:
    """``response.connection``: the connection a response holds (aiohttp's ``Connection``);
    closing or releasing it closes or releases the response's."""

    __slots__ = ("_resp",)

    def __init__(self, resp: ClientResponse) -> None:
        self._resp = resp

    @property
    def closed(self) -> bool:
        return self._resp.closed

    @property
    def transport(self) -> None:
        return None

    def close(self) -> None:
        self._resp.close()

    def release(self) -> None:
        self._resp.release()

    def __repr__(self) -> str:
        return f"<Connection {self._resp.url}>"


# How often an unfinished upload is looked at, for ``upload_complete``.
_UPLOAD_POLL = 0.005


def _watch_upload(resp: ClientResponse, fut: asyncio.Future[None]) -> None:
    """Completes `fut` once `resp`'s request body is sent whole. The crate answers whether it
    is (it has no wake-up for it), so an unfinished upload is looked at every few ms until
    it is, or until the response lets its connection go (then the upload stopped short)."""
    if fut.done():
        return
    if resp._core.upload_complete:
        fut.set_result(None)
    elif resp._released or not resp._core.connection_open:
        fut.set_exception(E.ClientConnectionError("the connection closed before the request body was sent"))
    else:
        fut.get_loop().call_later(_UPLOAD_POLL, _watch_upload, resp, fut)


class _Noop:
    """What ``release()`` answers: awaitable, for code that awaits it."""

    __slots__ = ()

    def __await__(self) -> Any:
        return iter(())


_NOOP = _Noop()


class StreamReader:
    """``response.content``: the body as a stream (aiohttp's ``StreamReader`` reads)."""

    __slots__ = ("_resp", "_exc")

    def __init__(self, resp: ClientResponse) -> None:
        self._resp = resp
        self._exc: BaseException | None = None

    async def _call(self, coro: Awaitable[Any]) -> Any:
        if self._exc is not None:
            coro.close()  # type: ignore[attr-defined]
            raise self._exc
        if self._resp._released and self._resp._body is None:
            coro.close()  # type: ignore[attr-defined]
            raise E.ClientConnectionError("Connection closed")
        try:
            return await coro
        except _CoreError as e:
            if self._exc is not None:
                raise self._exc from None
            if self._resp._released and self._resp._body is None:
                # Released (its connection closed) while this read waited.
                raise E.ClientConnectionError("Connection closed") from None
            raise _convert(e) from None

    def at_eof(self) -> bool:
        return self._resp._core.content_at_eof()

    def is_eof(self) -> bool:
        return self.at_eof()

    def exception(self) -> BaseException | None:
        return self._exc

    def set_exception(self, exc: BaseException, exc_cause: BaseException | None = None) -> None:
        """Makes every later read raise `exc` (aiohttp's ``StreamReader.set_exception``)."""
        if exc_cause is not None:
            exc.__cause__ = exc_cause
        self._exc = exc

    @property
    def total_raw_bytes(self) -> int:
        """The body bytes received so far, before any Content-Encoding was undone."""
        return self._resp._core.total_raw_bytes

    def get_read_buffer_limits(self) -> tuple[int, int]:
        n = self._resp._read_bufsize
        return (n, 2 * n)

    async def read(self, n: int = -1) -> bytes:
        return await self._call(self._resp._core.content_read(n))

    async def readany(self) -> bytes:
        return await self._call(self._resp._core.content_readany())

    async def readline(self) -> bytes:
        return await self._call(self._resp._core.content_readline())

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        if not separator:
            raise ValueError("Separator should be at least one-byte string")
        return await self._call(self._resp._core.content_readuntil(separator))

    async def readexactly(self, n: int) -> bytes:
        if self._exc is not None:
            raise self._exc
        try:
            return await self._resp._core.content_readexactly(n)
        except _CoreError as e:
            if e.args[0] == "ClientPayloadError":
                raise asyncio.IncompleteReadError(b"", n) from None
            raise _convert(e) from None

    async def readchunk(self) -> tuple[bytes, bool]:
        return await self._call(self._resp._core.content_readchunk())

    def iter_chunked(self, n: int) -> Any:
        return _Iter(lambda: self.read(n))

    def iter_any(self) -> Any:
        return _Iter(self.readany)

    def iter_chunks(self) -> Any:
        return _Iter(self.readchunk, chunks=True)

    def __aiter__(self) -> Any:
        return _Iter(self.readline)


class _Iter:
    __slots__ = ("_read", "_chunks")

    def __init__(self, read: Callable[[], Awaitable[Any]], chunks: bool = False) -> None:
        self._read = read
        self._chunks = chunks

    def __aiter__(self) -> _Iter:
        return self

    async def __anext__(self) -> Any:
        got = await self._read()
        if (got == (b"", False)) if self._chunks else (got == b""):
            raise StopAsyncIteration
        return got


def _version(v: tuple[int, int]) -> Any:
    return E.HttpVersion(*v)


class ClientResponse:
    """A response: aiohttp's ``ClientResponse``."""

    __slots__ = (
        "_core",
        "_session",
        "status",
        "_headers",
        "_url",
        "_body",
        "_released",
        "_history",
        "_cookies",
        "_ssl",
        "_read_bufsize",
        "_in_context",
        "_content",
        "_upload",
        "_lost",
        "_traces",
        "__weakref__",
    )

    def __init__(
        self, core: Any, session: ClientSession | None, history: tuple = (), ssl: Any = True, read_bufsize: int = 2**16
    ) -> None:
        self._core = core
        self._session = session
        self.status: int = core.status
        self._headers: CIMultiDictProxy[str] | None = None
        self._url: URL | None = None
        self._body: bytes | None = None
        self._released = False
        self._history: tuple | None = history or None
        self._cookies: SimpleCookie | None = None
        self._ssl = ssl
        self._read_bufsize = read_bufsize
        self._in_context = False
        self._content: StreamReader | None = None
        self._upload: asyncio.Future[None] | None = None
        self._lost = False
        self._traces: Any = ()

    # head -------------------------------------------------------------------------
    @property
    def reason(self) -> str:
        return self._core.reason

    @property
    def version(self) -> Any:
        return _version(self._core.version)

    @property
    def method(self) -> str:
        return self._core.method

    @property
    def url(self) -> URL:
        if self._url is None:
            self._url = URL(self._core.url, encoded=True)
        return self._url

    @property
    def real_url(self) -> URL:
        return URL(self._core.real_url, encoded=True)

    @property
    def host(self) -> str:
        return self.url.host or ""

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        if self._headers is None:
            self._headers = CIMultiDictProxy(CIMultiDict(self._core.headers))
        return self._headers

    @property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        return tuple(self._core.raw_headers)

    @property
    def request_info(self) -> Any:
        return E.RequestInfo(self.url, self.method, _headers_proxy(self._core.request_headers), self.real_url)

    @property
    def history(self) -> tuple[ClientResponse, ...]:
        if self._history is None:
            self._history = tuple(ClientResponse(h, self._session) for h in self._core.history)
        return self._history

    @property
    def cookies(self) -> SimpleCookie:
        if self._cookies is None:
            jar: SimpleCookie = SimpleCookie()
            for value in self.headers.getall("Set-Cookie", ()):
                parsed = _parse_set_cookie(value)
                if parsed is not None:
                    dict.__setitem__(jar, parsed[0], parsed[1])
            self._cookies = jar
        return self._cookies

    @property
    def content_type(self) -> str:
        return self._core.content_type

    @property
    def charset(self) -> str | None:
        return self._core.charset

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return int(value) if value is not None else None

    @property
    def content_disposition(self) -> Any:
        return None

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def closed(self) -> bool:
        """Released, or done with its connection: the body is all in (the connection is back
        in the pool) or the connection closed. A ``101`` response keeps its connection."""
        return self._released or not self._core.connection_open

    @property
    def connection(self) -> Connection | None:
        """The connection while the response holds it (until the body is all in, or
        ``release()``); ``None`` after."""
        return None if self.closed else Connection(self)

    @property
    def output_size(self) -> int | None:
        """The bytes written for the request so far: request line, headers, body and chunk
        framing, as the connection took them. ``None`` over HTTP/2."""
        return self._core.output_size

    @property
    def upload_complete(self) -> asyncio.Future[None]:
        """A future done once the request body was sent whole (at once without a body)."""
        fut = self._upload
        if fut is None:
            fut = self._upload = asyncio.get_running_loop().create_future()
            _watch_upload(self, fut)
        return fut

    @property
    def content(self) -> StreamReader:
        reader = self._content
        if reader is None:
            reader = self._content = StreamReader(self)
        return reader

    @property
    def links(self) -> Any:
        from multidict import MultiDict, MultiDictProxy

        out: MultiDict[Any] = MultiDict()
        for value in self.headers.getall("Link", ()):
            for part in value.split(","):
                bits = [b.strip() for b in part.split(";")]
                if not bits or not bits[0].startswith("<") or not bits[0].endswith(">"):
                    continue
                link: MultiDict[Any] = MultiDict()
                for param in bits[1:]:
                    if "=" in param:
                        k, v = param.split("=", 1)
                        link.add(k.strip().lower(), v.strip().strip('"'))
                link.add("url", self.url.join(URL(bits[0][1:-1])))
                key = link.get("rel", str(link["url"]))
                out.add(key, MultiDictProxy(link))
        return MultiDictProxy(out)

    def __repr__(self) -> str:
        return f"<ClientResponse({self.url}) [{self.status} {self.reason}]>\n{self.headers!r}\n"

    # body -------------------------------------------------------------------------
    async def read(self) -> bytes:
        if self._released:
            # As aiohttp: a released response is not read again, cached body or not.
            raise E.ClientConnectionError("Connection closed")
        if self._body is None:
            body = self._core.ready_body
            if body is None:
                if self._lost:
                    raise RuntimeError("Connection closed.")
                try:
                    body = await self._core.read()
                except _CoreError as e:
                    if self._lost:
                        raise RuntimeError("Connection closed.") from None
                    raise _convert(e, self._ssl) from None
            self._body = body
            for trace in self._traces:
                await trace.response_chunk_received(self.method, self.url, body)
        return self._body

    def _connection_lost(self) -> None:
        """The session closed the connection under this response (aiohttp's reads then
        raise ``RuntimeError("Connection closed.")``)."""
        if self._body is None and not self._released:
            self._lost = True
            self._core.close()

    def get_encoding(self) -> str:
        charset = self._core.charset
        if charset:
            try:
                codecs.lookup(charset)
                return charset
            except LookupError:
                pass
        ctype = self._core.content_type
        if ctype in ("application/json", "application/rdap+json") or (
            ctype.startswith("application/") and ctype.endswith("+json")
        ):
            return "utf-8"
        resolver = getattr(self._session, "_fallback_charset_resolver", None)
        if resolver is not None and self._body is not None:
            return resolver(self, self._body)
        return "utf-8"

    async def text(self, encoding: str | None = None, errors: str = "strict") -> str:
        body = await self.read()
        if encoding is None:
            encoding = self.get_encoding()
        return body.decode(encoding, errors=errors)

    async def json(
        self,
        *,
        encoding: str | None = None,
        loads: Callable[[str], Any] = _json.loads,
        content_type: str | None = "application/json",
    ) -> Any:
        body = await self.read()
        if content_type:
            ctype = self._core.content_type
            if not _is_json(ctype, content_type):
                raise E.ContentTypeError(
                    self.request_info,
                    self.history,
                    status=self.status,
                    message=f"Attempt to decode JSON with unexpected mimetype: {ctype}",
                    headers=self.headers,
                )
        if not body.strip():
            return None
        if encoding is None:
            encoding = self.get_encoding()
        return loads(body.decode(encoding))

    def release(self) -> Any:
        if not self._released:
            self._released = True
            self._core.close()
        return _NOOP

    def close(self) -> None:
        self._released = True
        self._core.close()

    async def wait_for_close(self) -> None:
        self.release()

    def raise_for_status(self) -> None:
        if self.status >= 400:
            # Inside ``async with`` the response stays readable, as in aiohttp.
            if not self._in_context:
                self.release()
            raise E.ClientResponseError(
                self.request_info,
                self.history,
                status=self.status,
                message=self.reason,
                headers=self.headers,
            )

    async def __aenter__(self) -> ClientResponse:
        self._in_context = True
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._in_context = False
        self.release()


def _is_json(ctype: str, expected: str) -> bool:
    if expected == "application/json":
        return ctype == "application/json" or (ctype.startswith("application/") and ctype.endswith("+json"))
    return expected in ctype


# ---------------------------------------------------------------------------------------
# sessions


class _WSContextManager:
    """``session.ws_connect(...)``: awaitable, and an async context manager that closes."""

    __slots__ = ("_coro", "_resp")

    def __init__(self, coro: Any) -> None:
        self._coro = coro
        self._resp: Any = None

    def __await__(self) -> Any:
        return self._coro.__await__()

    def send(self, arg: Any) -> Any:
        return self._coro.send(arg)

    def throw(self, *args: Any) -> Any:
        return self._coro.throw(*args)

    def close(self) -> None:
        self._coro.close()

    async def __aenter__(self) -> Any:
        self._resp = await self._coro
        return self._resp

    async def __aexit__(self, *exc: Any) -> None:
        if self._resp is not None:
            await self._resp.close()


class _RequestContextManager(_WSContextManager):
    """``session.get(...)``: awaitable, and an async context manager that releases.

    The request's coroutine is given this object (``_request``'s ``cm``) and records its
    response here itself, so that ``async with`` awaits that coroutine directly."""

    __slots__ = ("_entered",)

    def __init__(self) -> None:
        self._resp = None
        self._entered = False

    def __aenter__(self) -> Any:
        self._entered = True
        return self._coro

    async def __aexit__(self, *exc: Any) -> None:
        if self._resp is not None:
            self._resp.release()


def _pairs(values: Any, what: str) -> list[tuple[str, str]]:
    items = values.items() if hasattr(values, "items") else values
    out = []
    for k, v in items:
        out.append((str(k), _param_value(v, what)))
    return out


def _param_value(v: Any, what: str) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        raise TypeError(f"Invalid variable type: value should be str, int or float, got {v!r} of type {type(v)}")
    if isinstance(v, (int, float)):
        return str(v)
    raise TypeError(f"Invalid variable type: value should be str, int or float, got {v!r} of type {type(v)}")


def _cookie_pairs(cookies: Any) -> list[tuple[str, str]]:
    items = cookies.items() if hasattr(cookies, "items") else cookies
    # A Morsel is sent under its own name, whatever key it was given under (as aiohttp).
    return [(v.key, v.value) if isinstance(v, Morsel) else (str(k), str(v)) for k, v in items]


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    items = headers.items() if hasattr(headers, "items") else headers
    return [(str(k), str(v)) for k, v in items]


def _default_fallback_charset_resolver(resp: ClientResponse, body: bytes) -> str:
    return "utf-8"


_COMPLETERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _completer_for(loop: asyncio.AbstractEventLoop) -> Any:
    """The loop's ``_core.Completer``, made and watched by the loop at first use: finished
    requests resolve their futures in batches on the loop's thread, so the runtime's thread
    never waits for the GIL. ``None`` for a loop that cannot watch a descriptor (the
    requests then await the native coroutine itself)."""
    try:
        return _COMPLETERS[loop]
    except KeyError:
        pass
    completer = _core.Completer()
    try:
        loop.add_reader(completer.fileno(), completer.drain)
    except (NotImplementedError, AttributeError):
        completer = None
    _COMPLETERS[loop] = completer
    return completer


class ClientSession:
    """aiohttp's ``ClientSession``: a pool, defaults, cookies, and the request methods."""

    def __init__(
        self,
        base_url: Any = None,
        *,
        connector: Any = None,
        loop: Any = None,
        cookies: Any = None,
        headers: Any = None,
        proxy: Any = None,
        proxy_auth: Any = None,
        skip_auto_headers: Iterable[str] | None = None,
        auth: Any = None,
        json_serialize: Callable[[Any], str] = _json.dumps,
        request_class: Any = None,
        response_class: Any = None,
        ws_response_class: Any = None,
        version: Any = (1, 1),
        cookie_jar: Any = None,
        connector_owner: bool = True,
        raise_for_status: Any = False,
        read_timeout: Any = _SENTINEL,
        conn_timeout: float | None = None,
        timeout: Any = _SENTINEL,
        auto_decompress: bool = True,
        trust_env: bool = False,
        requote_redirect_url: bool = True,
        trace_configs: Any = None,
        read_bufsize: int = 2**16,
        max_line_size: int = 8190,
        max_field_size: int = 8190,
        max_headers: int = 128,
        fallback_charset_resolver: Callable[[ClientResponse, bytes], str] = _default_fallback_charset_resolver,
        middlewares: Any = (),
        ssl_shutdown_timeout: Any = _SENTINEL,
    ) -> None:
        if base_url is not None:
            base_url = URL(base_url)
            if not (base_url.is_absolute() and base_url.path.endswith("/")):
                raise ValueError("base_url must be an absolute URL with a path ending in /")
        self._base_url = base_url
        if timeout is _SENTINEL:
            timeout = DEFAULT_TIMEOUT
            if read_timeout is not _SENTINEL:
                timeout = dataclasses.replace(timeout, sock_read=read_timeout)
            if conn_timeout is not None:
                timeout = dataclasses.replace(timeout, connect=conn_timeout)
        elif read_timeout is not _SENTINEL or conn_timeout is not None:
            raise ValueError("read_timeout and conn_timeout cannot be used together with timeout")
        self._trace_configs = list(trace_configs or ())
        for trace_config in self._trace_configs:
            trace_config.freeze()
        self._middlewares = tuple(middlewares or ())
        # Requests of this session take the general path (see _request).
        self._hooked = bool(self._middlewares or self._trace_configs)
        if connector is None:
            connector = TCPConnector()
            connector_owner = True
        if not hasattr(connector, "_core"):
            raise TypeError("connector must be an aiohttp_rs TCPConnector or UnixConnector")
        if cookie_jar is None:
            cookie_jar = CookieJar()
        if cookies:
            cookie_jar.update_cookies(cookies)
        self._connector = connector
        self._connector_owner = connector_owner
        # Responses whose body was not all in with the head: closing the session (and with
        # it the connector it owns) closes their connections, as aiohttp's does.
        self._streaming: weakref.WeakSet[ClientResponse] = weakref.WeakSet()
        self._cookie_jar = cookie_jar
        self._timeout = timeout
        self._json_serialize = json_serialize
        self._raise_for_status = raise_for_status
        # The session's own raise_for_status check, when it is a callable.
        self._check = raise_for_status if callable(raise_for_status) else None
        self._auto_decompress = auto_decompress
        self._trust_env = trust_env
        self._requote_redirect_url = requote_redirect_url
        self._fallback_charset_resolver = fallback_charset_resolver
        self._default_auth = auth
        self._default_proxy = proxy
        self._version = version
        self._read_bufsize = read_bufsize
        self._max_line_size = max_line_size
        self._max_field_size = max_field_size
        self._default_headers: CIMultiDict[str] = CIMultiDict(headers or {})
        self._skip_auto_headers = frozenset(skip_auto_headers or ())
        self._unix_path = getattr(connector, "_unix_path", None)
        self._ssl = getattr(connector, "_ssl", True)
        self._closed = False
        # (loop, its Completer) of the last request: see _completer_for.
        self._completer: tuple[Any, Any] | None = None
        self._checked_urls: dict[str, str] = {}
        self._core = _core.Session(
            connector=connector._core,
            connector_owner=connector_owner,
            base_url=str(base_url) if base_url is not None else None,
            headers=_header_pairs(self._default_headers) if headers else None,
            skip_auto_headers=list(self._skip_auto_headers) or None,
            auth=_auth_tuple(auth),
            cookie_jar=cookie_jar._core,
            timeout=_timeout_tuple(timeout),
            raise_for_status=raise_for_status is True,
            trust_env=trust_env,
            auto_decompress=auto_decompress,
            version=tuple(version),
            requote_redirect_url=requote_redirect_url,
            max_line_size=max_line_size,
            max_field_size=max_field_size,
            max_headers=max_headers,
            read_bufsize=read_bufsize,
            proxy=str(proxy) if proxy is not None else None,
            proxy_auth=_auth_tuple(proxy_auth),
            trace=bool(self._trace_configs),
        )

    # properties ---------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed or self._core.closed

    @property
    def connector(self) -> Any:
        return self._connector

    @property
    def cookie_jar(self) -> Any:
        return self._cookie_jar

    @property
    def timeout(self) -> Any:
        return self._timeout

    @property
    def headers(self) -> CIMultiDict[str]:
        return self._default_headers

    @property
    def skip_auto_headers(self) -> frozenset[str]:
        return self._skip_auto_headers

    @property
    def auth(self) -> Any:
        return self._default_auth

    @property
    def json_serialize(self) -> Callable[[Any], str]:
        return self._json_serialize

    @property
    def connector_owner(self) -> bool:
        return self._connector_owner

    @property
    def raise_for_status(self) -> Any:
        return self._raise_for_status

    @property
    def auto_decompress(self) -> bool:
        return self._auto_decompress

    @property
    def trust_env(self) -> bool:
        return self._trust_env

    @property
    def version(self) -> Any:
        return self._version

    @property
    def requote_redirect_url(self) -> bool:
        return self._requote_redirect_url

    @property
    def trace_configs(self) -> list[Any]:
        return self._trace_configs

    @property
    def middlewares(self) -> tuple[Any, ...]:
        return self._middlewares

    # lifecycle ----------------------------------------------------------------------
    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._connector_owner:
                for resp in list(self._streaming):
                    resp._connection_lost()
            await self._core.close()

    def detach(self) -> None:
        self._connector_owner = False
        self._core.detach()

    async def __aenter__(self) -> ClientSession:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # requests -----------------------------------------------------------------------
    def request(self, method: str, url: Any, **kwargs: Any) -> _RequestContextManager:
        cm = _RequestContextManager()
        cm._coro = self._request(method, url, cm, **kwargs)
        return cm

    def get(self, url: Any, *, allow_redirects: bool = True, **kwargs: Any) -> _RequestContextManager:
        cm = _RequestContextManager()
        if kwargs:
            cm._coro = self._request("GET", url, cm, allow_redirects=allow_redirects, **kwargs)
        else:
            cm._coro = self._request("GET", url, cm, None, None, None, None, allow_redirects)
        return cm

    def options(self, url: Any, *, allow_redirects: bool = True, **kwargs: Any) -> _RequestContextManager:
        return self.request("OPTIONS", url, allow_redirects=allow_redirects, **kwargs)

    def head(self, url: Any, *, allow_redirects: bool = False, **kwargs: Any) -> _RequestContextManager:
        return self.request("HEAD", url, allow_redirects=allow_redirects, **kwargs)

    def post(self, url: Any, *, data: Any = None, **kwargs: Any) -> _RequestContextManager:
        return self.request("POST", url, data=data, **kwargs)

    def put(self, url: Any, *, data: Any = None, **kwargs: Any) -> _RequestContextManager:
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url: Any, *, data: Any = None, **kwargs: Any) -> _RequestContextManager:
        return self.request("PATCH", url, data=data, **kwargs)

    def delete(self, url: Any, **kwargs: Any) -> _RequestContextManager:
        return self.request("DELETE", url, **kwargs)

    def _checked_url(self, str_or_url: Any) -> str:
        """The URL to send to, checked as aiohttp checks it (yarl's parser). The answers for
        the last few hundred URL strings are kept: requests repeat their URLs, and the
        check depends only on the string and the session."""
        if type(str_or_url) is str:
            checked = self._checked_urls.get(str_or_url)
            if checked is None:
                checked = self._check_url(str_or_url)
                if len(self._checked_urls) >= 256:
                    self._checked_urls.clear()
                self._checked_urls[str_or_url] = checked
            return checked
        return self._check_url(str_or_url)

    def _check_url(self, str_or_url: Any) -> str:
        try:
            url = str_or_url if isinstance(str_or_url, URL) else URL(str_or_url)
        except (ValueError, TypeError) as e:
            raise E.InvalidUrlClientError(str_or_url) from e
        if self._base_url is not None and not url.absolute:
            url = self._base_url.join(url)
            str_or_url = url
        if url.scheme not in _SCHEMES:
            raise E.NonHttpUrlClientError(url)
        if not url.raw_host and not self._unix_path:
            raise E.InvalidUrlClientError(url)
        return str_or_url if type(str_or_url) is str else str(url)

    async def _request(
        self,
        method: str,
        str_or_url: Any,
        cm: _RequestContextManager | None = None,
        params: Any = None,
        data: Any = None,
        json: Any = None,
        headers: Any = None,
        allow_redirects: bool = True,
        **options: Any,
    ) -> ClientResponse:
        """A request. The keywords of most requests are handled here; any other (see
        ``_request_options``), or a session with middlewares or trace configs, takes the
        general path. Both build the same request. ``cm`` is the context manager that
        awaits this (``session.get(...)``): it gets the response."""
        if self._closed:
            raise RuntimeError("Session is closed")
        url = self._checked_url(str_or_url)
        method = method.upper()
        query = None
        if params is not None:
            if isinstance(params, str):
                if params:
                    url = url + ("&" if "?" in url else "?") + params
            else:
                query = _pairs(params, "params")
        hdrs = _header_pairs(headers) if headers else None
        body = form = ctype = None
        once = auto_chunked = False
        if json is not None:
            if data is not None:
                raise ValueError("data and json parameters can not be used at the same time")
            body = self._json_serialize(json)
            if isinstance(body, str):
                body = body.encode("utf-8")
            if not (hdrs and any(k.lower() == "content-type" for k, _ in hdrs)):
                ctype = "application/json"
        elif data is not None:
            encoded = await _payload.encode(data, bool(hdrs) and any(k.lower() == "content-type" for k, _ in hdrs))
            body, form = encoded.data, encoded.form
            if encoded.headers:
                hdrs = (hdrs or []) + encoded.headers
            length = next((v for k, v in hdrs or () if k.lower() == "content-length"), None)
            if length is not None and body is not None and length.isdigit():
                # A Content-Length given by the caller bounds what is sent, as in aiohttp.
                body = body[: int(length)]
            else:
                auto_chunked = encoded.chunked
            once = encoded.once
        if options or self._hooked or auto_chunked:
            resp = await self._request_options(
                method, url, query, hdrs, body, form, ctype, allow_redirects, once, auto_chunked, **options
            )
            if cm is not None:
                cm._resp = resp
                resp._in_context = cm._entered
            return resp
        # The common request, inline (another coroutine would cost a frame per request),
        # completes through the queue of the session's loop: the loop of its last request
        # (a session belongs to one loop, as in aiohttp; asking for the running loop costs
        # a system call per request on 3.11).
        completer = self._completer
        if completer is None or completer[0].is_closed():
            loop = asyncio.get_running_loop()
            completer = self._completer = (loop, _completer_for(loop))
        else:
            loop = completer[0]
        try:
            if completer[1] is None:
                core = await self._core.request(method, url, query, hdrs, body, form, ctype, allow_redirects, once)
            else:
                # Positional arguments: the cheapest call there is to the native side.
                future = loop.create_future()
                started = self._core.start(
                    completer[1], future, method, url, query, hdrs, body, form, ctype, allow_redirects, once
                )
                try:
                    core = await future
                except asyncio.CancelledError:
                    started.abort()
                    raise
        except _CoreError as e:
            raise _convert(e, True, self._unix_path) from None
        resp = ClientResponse(core, self, read_bufsize=self._read_bufsize)
        if core.ready_body is None:
            self._streaming.add(resp)
        if self._check is not None:
            await self._check(resp)
        if cm is not None:
            cm._resp = resp
            resp._in_context = cm._entered
        return resp

    async def _request_options(
        self,
        method: str,
        url: str,
        query: Any,
        hdrs: Any,
        body: Any,
        form: Any,
        ctype: Any,
        allow_redirects: bool,
        once: bool,
        auto_chunked: bool,
        *,
        cookies: Any = None,
        skip_auto_headers: Iterable[str] | None = None,
        auth: Any = None,
        max_redirects: int = 10,
        compress: Any = False,
        chunked: Any = None,
        expect100: bool = False,
        raise_for_status: Any = None,
        read_until_eof: bool = True,
        proxy: Any = None,
        proxy_auth: Any = None,
        timeout: Any = _SENTINEL,
        ssl: Any = True,
        server_hostname: str | None = None,
        proxy_headers: Any = None,
        trace_request_ctx: Any = None,
        read_bufsize: int | None = None,
        auto_decompress: bool | None = None,
        max_line_size: int | None = None,
        max_field_size: int | None = None,
        max_headers: int | None = None,
        middlewares: Any = None,
        verify_ssl: Any = None,
        fingerprint: Any = None,
        ssl_context: Any = None,
    ) -> ClientResponse:
        """The rest of ``_request``: every other keyword of aiohttp's ``request``."""
        if verify_ssl is False:
            ssl = False
        if fingerprint is not None:
            ssl = Fingerprint(fingerprint)
        if ssl_context is not None:
            ssl = ssl_context
        if auto_chunked and chunked is None:
            chunked = True
        if chunked is not None and not isinstance(chunked, bool):
            warnings.warn("Chunk size is deprecated #1615", DeprecationWarning, stacklevel=4)
        if proxy is not None:
            proxy = URL(proxy)
        if compress is True:
            compress = "deflate"
        if chunked is True:
            chunked = 8192
        elif chunked is False:
            chunked = None
        if raise_for_status is None:
            raise_for_status = self._raise_for_status
        check = raise_for_status if callable(raise_for_status) else None
        if middlewares is None:
            middlewares = self._middlewares
        kw = dict(
            params=query,
            form=form,
            content_type=ctype,
            allow_redirects=allow_redirects,
            once=once,
            skip_auto_headers=list(skip_auto_headers) if skip_auto_headers else None,
            auth=_auth_tuple(auth),
            # aiohttp counts the redirect responses: the max_redirects-th one raises
            # TooManyRedirects (max_redirects - 1 are followed), and 0 means no limit. The
            # crate counts the redirects it follows.
            max_redirects=max_redirects - 1 if max_redirects > 0 else 2**32,
            compress=bool(compress),
            chunked=chunked,
            expect100=expect100,
            raise_for_status=raise_for_status is True,
            read_until_eof=read_until_eof,
            proxy=str(proxy) if proxy is not None else None,
            proxy_auth=_auth_tuple(proxy_auth),
            proxy_headers=_header_pairs(proxy_headers) if proxy_headers else None,
            timeout=_timeout_tuple(timeout) if timeout is not _SENTINEL else None,
            ssl=_ssl_arg(ssl),
            server_hostname=server_hostname,
            cookies=_cookie_pairs(cookies) if cookies else None,
            read_bufsize=read_bufsize,
            max_line_size=max_line_size,
            max_field_size=max_field_size,
            max_headers=max_headers,
            auto_decompress=auto_decompress,
        )
        if middlewares or self._trace_configs:
            return await self._request_hooked(
                method, url, query, hdrs, body, kw, middlewares, trace_request_ctx, ssl, read_bufsize, check
            )
        resp = await self._send(method, url, hdrs, body, kw, (), ssl, read_bufsize)
        if check is not None:
            await check(resp)
        return resp

    def _merged_headers(self, pairs: list[tuple[str, str]] | None) -> CIMultiDict[str]:
        """The session's headers with the request's over them, as aiohttp merges them."""
        merged = CIMultiDict(self._default_headers)
        added: set[str] = set()
        for name, value in pairs or ():
            key = name.lower()
            if key in added:
                merged.add(name, value)
            else:
                merged[name] = value
                added.add(key)
        return merged

    async def _request_hooked(
        self,
        method: str,
        url: str,
        query: Any,
        hdrs: Any,
        body: Any,
        kw: dict[str, Any],
        middlewares: Any,
        trace_request_ctx: Any,
        ssl: Any,
        read_bufsize: Any,
        check: Any,
    ) -> ClientResponse:
        """A request with trace configs or middlewares (the plain path stays short).

        The middlewares run once around the whole request, the redirects it follows
        included (aiohttp runs them around each hop); each call of the innermost handler
        sends the request as the middleware left it (method, URL, headers, body)."""
        traces = [Trace(self, tc, tc.trace_config_ctx(trace_request_ctx=trace_request_ctx)) for tc in self._trace_configs]
        req = ClientRequest(method, URL(url).extend_query(query) if query else URL(url), self._merged_headers(hdrs), body, self)
        # What the signals are told, as the request was made (middlewares may change `req`).
        params = (req.method, req.url, req.headers.copy())
        try:
            for trace in traces:
                await trace.request_start(*params)

            # The query is in the request's URL by now.
            sent_kw = {**kw, "params": None}

            async def send(r: ClientRequest) -> ClientResponse:
                hdrs = list(r.headers.items()) if r.headers is not None else None
                body = r.body.encode("utf-8") if isinstance(r.body, str) else r.body
                return await self._send(r.method, str(r.url), hdrs, body, sent_kw, traces, ssl, read_bufsize)

            handler: Any = send
            for middleware in reversed(middlewares or ()):
                handler = _chain(middleware, handler)
            resp = await handler(req)
            if check is not None:
                await check(resp)
        except BaseException as e:
            for trace in traces:
                await trace.request_exception(*params, e)
            raise
        for trace in traces:
            await trace.request_end(*params, resp)
        return resp

    async def _send(
        self,
        method: str,
        url: str,
        hdrs: Any,
        body: Any,
        kw: dict[str, Any],
        traces: Any,
        ssl: Any,
        read_bufsize: Any,
    ) -> ClientResponse:
        """One native request (with its redirects) by keywords; with trace configs, the
        native points are sent to the signals as they arrive while the request runs as a
        task."""
        events = _core.TraceEvents() if traces else None
        call = self._core.request(method, url, headers=hdrs, body=body, trace=events, **kw)
        if events is None:
            try:
                core = await call
            except _CoreError as e:
                raise _convert(e, ssl, self._unix_path) from None
        else:
            task = asyncio.ensure_future(call)
            try:
                while (event := await events.next()) is not None:
                    redirect = None
                    if event.name == "request_redirect":
                        head = event.take_response()
                        redirect = ClientResponse(head, None) if head is not None else None
                    for trace in traces:
                        await trace.native(event, redirect)
                core = await task
            except _CoreError as e:
                raise _convert(e, ssl, self._unix_path) from None
            except BaseException:
                if not task.done():
                    task.cancel()
                elif not task.cancelled():
                    task.exception()  # retrieved: the error raised here is the one reported
                raise
        resp = ClientResponse(core, self, ssl=ssl, read_bufsize=read_bufsize or self._read_bufsize)
        resp._traces = traces
        if core.ready_body is None:
            self._streaming.add(resp)
        return resp

    def ws_connect(self, url: Any, **kwargs: Any) -> _RequestContextManager:
        return _WSContextManager(self._ws_connect(url, **kwargs))

    async def _ws_connect(
        self,
        url: Any,
        *,
        method: str = "GET",
        protocols: Iterable[str] = (),
        timeout: Any = _SENTINEL,
        receive_timeout: float | None = None,
        autoclose: bool = True,
        autoping: bool = True,
        heartbeat: float | None = None,
        auth: Any = None,
        origin: str | None = None,
        params: Any = None,
        headers: Any = None,
        proxy: Any = None,
        proxy_auth: Any = None,
        ssl: Any = True,
        verify_ssl: Any = None,
        fingerprint: Any = None,
        ssl_context: Any = None,
        server_hostname: str | None = None,
        proxy_headers: Any = None,
        compress: int = 0,
        max_msg_size: int = 4 * 1024 * 1024,
        decode_text: bool = True,
    ) -> Any:
        from ._ws import DEFAULT_WS_CLIENT_TIMEOUT, ClientWebSocketResponse, ClientWSTimeout

        if self._closed:
            raise RuntimeError("Session is closed")
        if timeout is _SENTINEL:
            timeout = DEFAULT_WS_CLIENT_TIMEOUT
        elif isinstance(timeout, (int, float)):
            warnings.warn(
                "parameter 'timeout' of type 'float' is deprecated, please use "
                "'timeout=ClientWSTimeout(ws_close=...)'",
                DeprecationWarning,
                stacklevel=3,
            )
            timeout = ClientWSTimeout(ws_receive=DEFAULT_WS_CLIENT_TIMEOUT.ws_receive, ws_close=float(timeout))
        if receive_timeout is not None:
            warnings.warn(
                "float parameter 'receive_timeout' is deprecated, please use parameter "
                "'timeout=ClientWSTimeout(ws_receive=...)'",
                DeprecationWarning,
                stacklevel=3,
            )
        if verify_ssl is False:
            ssl = False
        if fingerprint is not None:
            ssl = Fingerprint(fingerprint)
        if ssl_context is not None:
            ssl = ssl_context
        try:
            core = await self._core.ws_connect(
                str(url),
                method=method,
                protocols=list(protocols) or None,
                ws_receive=timeout.ws_receive,
                ws_close=timeout.ws_close,
                receive_timeout=receive_timeout,
                autoclose=autoclose,
                autoping=autoping,
                heartbeat=heartbeat,
                auth=_auth_tuple(auth),
                origin=origin,
                params=_pairs(params, "params") if params is not None else None,
                headers=_header_pairs(headers) if headers else None,
                proxy=str(proxy) if proxy is not None else None,
                proxy_auth=_auth_tuple(proxy_auth),
                proxy_headers=_header_pairs(proxy_headers) if proxy_headers else None,
                ssl=_ssl_arg(ssl),
                server_hostname=server_hostname,
                compress=compress,
                max_msg_size=max_msg_size,
            )
        except _CoreError as e:
            raise _convert(e, ssl, self._unix_path) from None
        return ClientWebSocketResponse(core, _convert, decode_text)


class ClientRequest:
    """The request a client middleware gets (``middlewares=``): what it changes here is
    what the next handler sends. The session's default headers are in ``headers`` (a
    middleware may replace them; removing one leaves the session's value)."""

    __slots__ = ("body", "headers", "method", "session", "url")

    def __init__(self, method: str, url: URL, headers: CIMultiDict[str], body: bytes | None, session: Any) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.session = session

    @property
    def host(self) -> str | None:
        return self.url.raw_host

    @property
    def port(self) -> int | None:
        return self.url.port

    def __repr__(self) -> str:
        return f"<ClientRequest({self.method} {self.url})>"


def _chain(middleware: Any, handler: Any) -> Any:
    """``handler`` wrapped in ``middleware`` (``async def mw(req, handler)``)."""

    async def wrapped(req: ClientRequest) -> ClientResponse:
        return await middleware(req, handler)

    return wrapped


class _SessionRequestContextManager:
    """``aiohttp_rs.request(...)``: a one-off session closed with the response."""

    __slots__ = ("_coro", "_resp", "_session")

    def __init__(self, coro: Any, session: ClientSession) -> None:
        self._coro = coro
        self._session = session
        self._resp: ClientResponse | None = None

    def __await__(self) -> Any:
        return self._await().__await__()

    async def _await(self) -> ClientResponse:
        try:
            return await self._coro
        except BaseException:
            await self._session.close()
            raise

    async def __aenter__(self) -> ClientResponse:
        self._resp = await self._await()
        return self._resp

    async def __aexit__(self, *exc: Any) -> None:
        if self._resp is not None:
            self._resp.release()
        await self._session.close()


def request(
    method: str,
    url: Any,
    *,
    connector: Any = None,
    loop: Any = None,
    **kwargs: Any,
) -> _SessionRequestContextManager:
    """One request on a session of its own, closed with the response."""
    session_keys = ("cookies", "version", "connector_owner", "auto_decompress")
    session_kwargs = {k: kwargs.pop(k) for k in session_keys if k in kwargs}
    if connector is None:
        connector = TCPConnector(force_close=True)
    session = ClientSession(connector=connector, **session_kwargs)
    return _SessionRequestContextManager(session._request(method, url, **kwargs), session)

