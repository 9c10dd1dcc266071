"""aiohttp's client exception classes.

When aiohttp is importable its own classes are used, so that ``except aiohttp.ClientError``
catches what this package raises. Otherwise the classes below stand in for them: the same
names, bases, constructor arguments and attributes.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from typing import Any, NamedTuple

__all__ = [
    "ClientError",
    "ClientResponseError",
    "ContentTypeError",
    "WSServerHandshakeError",
    "ClientHttpProxyError",
    "TooManyRedirects",
    "ClientConnectionError",
    "ClientConnectionResetError",
    "ClientOSError",
    "ClientConnectorError",
    "ClientConnectorDNSError",
    "ClientProxyConnectionError",
    "UnixClientConnectorError",
    "ClientSSLError",
    "ClientConnectorSSLError",
    "ClientConnectorCertificateError",
    "ServerConnectionError",
    "ServerDisconnectedError",
    "ServerTimeoutError",
    "ConnectionTimeoutError",
    "SocketTimeoutError",
    "ServerFingerprintMismatch",
    "ClientPayloadError",
    "InvalidURL",
    "InvalidUrlClientError",
    "RedirectClientError",
    "NonHttpUrlClientError",
    "InvalidUrlRedirectClientError",
    "NonHttpUrlRedirectClientError",
    "WSMessageTypeError",
    "WebSocketError",
    "ConnectionKey",
    "RequestInfo",
    "HttpVersion",
]


class ConnectionKey(NamedTuple):
    """What a pooled connection is for (as in aiohttp)."""

    host: str
    port: int | None
    is_ssl: bool
    ssl: Any
    proxy: Any
    proxy_auth: Any
    proxy_headers_hash: int | None


class RequestInfo(NamedTuple):
    """The request a response answers."""

    url: Any
    method: str
    headers: Any
    real_url: Any


class HttpVersion(NamedTuple):
    """An HTTP version."""

    major: int
    minor: int


class ClientError(Exception):
    """The root of the client's errors."""


class ClientResponseError(ClientError):
    """An error about a response: its status, message and headers."""

    def __init__(
        self,
        request_info: Any,
        history: tuple[Any, ...],
        *,
        code: int | None = None,
        status: int | None = None,
        message: str = "",
        headers: Any = None,
    ) -> None:
        self.request_info = request_info
        if code is not None and status is not None:
            raise ValueError("Both code and status arguments are provided")
        self.status = status if status is not None else (code if code is not None else 0)
        self.message = message
        self.headers = headers
        self.history = history
        self.args = (request_info, history)

    @property
    def code(self) -> int:
        return self.status

    def __str__(self) -> str:
        url = str(self.request_info.real_url) if self.request_info is not None else ""
        return f"{self.status}, message={self.message!r}, url={url!r}"

    def __repr__(self) -> str:
        args = f"{self.request_info!r}, {self.history!r}"
        if self.status != 0:
            args += f", status={self.status!r}"
        if self.message != "":
            args += f", message={self.message!r}"
        if self.headers is not None:
            args += f", headers={self.headers!r}"
        return f"{type(self).__name__}({args})"


class ContentTypeError(ClientResponseError):
    """`json()` found a content type that is not JSON."""


class WSServerHandshakeError(ClientResponseError):
    """The server refused the WebSocket handshake."""


class ClientHttpProxyError(ClientResponseError):
    """The proxy answered CONNECT with an error status."""


class TooManyRedirects(ClientResponseError):
    """More redirects than `max_redirects`."""


class ClientConnectionError(ClientError):
    """A connection failed."""


class ClientConnectionResetError(ClientConnectionError, ConnectionResetError):
    """The connection was reset."""


class ClientOSError(ClientConnectionError, OSError):
    """An OS error on a connection."""


class ClientConnectorError(ClientOSError):
    """A connection could not be opened."""

    def __init__(self, connection_key: ConnectionKey, os_error: OSError) -> None:
        self._conn_key = connection_key
        self._os_error = os_error
        super().__init__(os_error.errno, os_error.strerror)
        self.args = (connection_key, os_error)

    @property
    def os_error(self) -> OSError:
        return self._os_error

    @property
    def host(self) -> str:
        return self._conn_key.host

    @property
    def port(self) -> int | None:
        return self._conn_key.port

    @property
    def ssl(self) -> Any:
        return self._conn_key.ssl

    def __str__(self) -> str:
        shown = "default" if self.ssl is True else self.ssl
        return f"Cannot connect to host {self.host}:{self.port} ssl:{shown} [{self.strerror}]"

    __reduce__ = BaseException.__reduce__


class ClientConnectorDNSError(ClientConnectorError):
    """The host name did not resolve."""


class ClientProxyConnectionError(ClientConnectorError):
    """The proxy could not be reached."""


class UnixClientConnectorError(ClientConnectorError):
    """The UNIX socket could not be reached."""

    def __init__(self, path: str, connection_key: ConnectionKey, os_error: OSError) -> None:
        self._path = path
        super().__init__(connection_key, os_error)

    @property
    def path(self) -> str:
        return self._path

    def __str__(self) -> str:
        shown = "default" if self.ssl is True else self.ssl
        return f"Cannot connect to unix socket {self.path} ssl:{shown} [{self.strerror}]"


class ServerConnectionError(ClientConnectionError):
    """The server's side of a connection failed."""


class ServerDisconnectedError(ServerConnectionError):
    """The server closed the connection."""

    def __init__(self, message: Any = None) -> None:
        if message is None:
            message = "Server disconnected"
        self.args = (message,)
        self.message = message


class ServerTimeoutError(ServerConnectionError, asyncio.TimeoutError):
    """A timeout while talking to the server."""


class ConnectionTimeoutError(ServerTimeoutError):
    """Getting a connection took too long."""


class SocketTimeoutError(ServerTimeoutError):
    """A read took too long."""


class ServerFingerprintMismatch(ServerConnectionError):
    """The server's certificate has another fingerprint."""

    def __init__(self, expected: bytes, got: bytes, host: str, port: int) -> None:
        self.expected = expected
        self.got = got
        self.host = host
        self.port = port
        self.args = (expected, got, host, port)

    def __repr__(self) -> str:
        return (
            f"<{self.__class__.__name__} expected={self.expected!r} got={self.got!r} "
            f"host={self.host!r} port={self.port!r}>"
        )


class ClientPayloadError(ClientError):
    """A broken response body."""


class InvalidURL(ClientError, ValueError):
    """A URL that cannot be used."""

    def __init__(self, url: Any, description: str | None = None) -> None:
        self._url = url
        self._description = description
        if description:
            super().__init__(url, description)
        else:
            super().__init__(url)

    @property
    def url(self) -> Any:
        return self._url

    @property
    def description(self) -> str | None:
        return self._description

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self}>"

    def __str__(self) -> str:
        if self._description:
            return f"{self._url} - {self._description}"
        return str(self._url)


class InvalidUrlClientError(InvalidURL):
    """An invalid URL given to the client."""


class RedirectClientError(ClientError):
    """A redirect that cannot be followed."""


class NonHttpUrlClientError(ClientError):
    """A URL whose scheme is not HTTP(S)."""


class InvalidUrlRedirectClientError(InvalidUrlClientError, RedirectClientError):
    """A redirect to an invalid URL."""


class NonHttpUrlRedirectClientError(NonHttpUrlClientError, RedirectClientError):
    """A redirect to a URL whose scheme is not HTTP(S)."""


class ClientSSLError(ClientConnectorError):
    """A TLS error."""


class ClientConnectorSSLError(ClientSSLError, ssl.SSLError):
    """The TLS handshake failed."""


class ClientConnectorCertificateError(ClientSSLError, ssl.CertificateError):
    """The server's certificate was refused."""

    def __init__(self, connection_key: ConnectionKey, certificate_error: Exception) -> None:
        if isinstance(certificate_error, (ssl.CertificateError, OSError)):
            os_error = certificate_error
        else:
            os_error = OSError()
        super().__init__(connection_key, os_error)
        self._certificate_error = certificate_error
        self.args = (connection_key, certificate_error)

    @property
    def certificate_error(self) -> Exception:
        return self._certificate_error

    @property
    def ssl(self) -> bool:
        return self._conn_key.is_ssl

    def __str__(self) -> str:
        err = self._certificate_error
        return (
            f"Cannot connect to host {self.host}:{self.port} ssl:{self.ssl} "
            f"[{err.__class__.__name__}: {err.args}]"
        )


class WSMessageTypeError(TypeError):
    """A WebSocket message of another type than asked for."""


class WebSocketError(Exception):
    """A WebSocket protocol failure, with the close code it closed with."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        super().__init__(code, message)

    def __str__(self) -> str:
        return str(self.args[1])


try:  # aiohttp's own classes, when it is installed (AIOHTTP_RS_OWN_EXCEPTIONS=1: never)
    if os.environ.get("AIOHTTP_RS_OWN_EXCEPTIONS") == "1":
        raise ImportError("aiohttp's classes are turned off")
    import aiohttp as _aio_top
    from aiohttp import client_exceptions as _aio
    from aiohttp import client_reqrep as _aio_reqrep
    from aiohttp import connector as _aio_connector
    from aiohttp import http as _aio_http
except ImportError:  # pragma: no cover - exercised by the tests without aiohttp
    USING_AIOHTTP = False
else:
    USING_AIOHTTP = True
    for _name in __all__:
        for _mod in (_aio_reqrep, _aio_http, _aio_connector, _aio, _aio_top):
            if getattr(_mod, _name, None) is not None:
                globals()[_name] = getattr(_mod, _name)
                break
    del _name, _mod
