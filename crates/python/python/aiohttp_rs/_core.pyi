"""Type stubs of the native module aiohttp_rs._core (crates/python/src)."""

from collections.abc import Coroutine
from typing import Any

USER_AGENT: str
VERSION: str

class CoreError(Exception):
    """args: (kind: str, message: str, info: ErrorInfo)."""

class ErrorInfo:
    url: str | None
    status: int | None
    reason: str | None
    headers: list[tuple[str, str]] | None
    request: tuple[str, str, str, list[tuple[str, str]]] | None
    host: str | None
    port: int | None
    ssl: bool | None
    fingerprint: tuple[bytes, bytes] | None
    ws_close_code: int | None
    errno: tuple[int, str] | None
    redirect: bool
    history: list[Response]

class TlsConfig:
    def __init__(self, roots: list[bytes]) -> None: ...

_Ssl = bool | bytes | TlsConfig | None
_Auth = tuple[str, str, str] | None
_Timeout = tuple[float | None, float | None, float | None, float | None] | None
_Pairs = list[tuple[str, str]] | None

class Connector:
    @staticmethod
    def tcp(
        *,
        limit: int = ...,
        limit_per_host: int = ...,
        keepalive_timeout: float | None = ...,
        force_close: bool = ...,
        ssl: _Ssl = ...,
        use_dns_cache: bool = ...,
        ttl_dns_cache: float | None = ...,
        family: int = ...,
        local_addr: tuple[str, int] | None = ...,
        happy_eyeballs_delay: float | None = ...,
        interleave: int | None = ...,
        enable_cleanup_closed: bool = ...,
    ) -> Connector: ...
    @staticmethod
    def unix(
        path: str, *, limit: int = ..., limit_per_host: int = ..., keepalive_timeout: float | None = ..., force_close: bool = ...
    ) -> Connector: ...
    limit: int
    limit_per_host: int
    force_close: bool
    closed: bool
    def clear_dns_cache(self, host: str | None = ..., port: int | None = ...) -> None: ...
    def close(self) -> Coroutine[Any, Any, None]: ...

class Jar:
    def __init__(self, *, unsafe_: bool = ..., treat_as_secure_origin: list[str] | None = ..., dummy: bool = ...) -> None: ...
    unsafe_: bool
    def update(self, set_cookies: list[str], response_url: str | None = ...) -> None: ...
    def filter(self, request_url: str) -> list[tuple[str, str]]: ...
    def all(self) -> list[tuple[str, str, str, str, bool, bool, bool, float | None, str | None]]: ...
    def clear(self) -> None: ...
    def clear_domain(self, domain: str) -> None: ...
    def save(self, path: str) -> None: ...
    def load(self, path: str) -> None: ...
    def __len__(self) -> int: ...

class Response:
    status: int
    reason: str
    version: tuple[int, int]
    method: str
    url: str
    real_url: str
    content_type: str
    charset: str | None
    headers: list[tuple[str, str]]
    raw_headers: list[tuple[bytes, bytes]]
    request_headers: list[tuple[str, str]]
    history: list[Response]
    output_size: int | None
    upload_complete: bool
    total_raw_bytes: int
    connection_open: bool
    ready_body: bytes | None
    def read(self) -> Coroutine[Any, Any, bytes]: ...
    def text(self, encoding: str | None = ...) -> Coroutine[Any, Any, str]: ...
    def get_encoding(self) -> Coroutine[Any, Any, str]: ...
    def release(self) -> Coroutine[Any, Any, None]: ...
    def close(self) -> None: ...
    def content_read(self, n: int = ...) -> Coroutine[Any, Any, bytes]: ...
    def content_readany(self) -> Coroutine[Any, Any, bytes]: ...
    def content_readline(self) -> Coroutine[Any, Any, bytes]: ...
    def content_readuntil(self, separator: bytes) -> Coroutine[Any, Any, bytes]: ...
    def content_readexactly(self, n: int) -> Coroutine[Any, Any, bytes]: ...
    def content_readchunk(self) -> Coroutine[Any, Any, tuple[bytes, bool]]: ...
    def content_at_eof(self) -> bool: ...

class WebSocket:
    protocol: str | None
    compress: int
    closed: bool
    close_code: int | None
    def receive(self, timeout: float | None = ...) -> Coroutine[Any, Any, tuple[int, Any, str | None]]: ...
    def send_str(self, data: str) -> Coroutine[Any, Any, None]: ...
    def send_bytes(self, data: bytes) -> Coroutine[Any, Any, None]: ...
    def ping(self, data: bytes) -> Coroutine[Any, Any, None]: ...
    def pong(self, data: bytes) -> Coroutine[Any, Any, None]: ...
    def close(self, code: int, message: bytes) -> Coroutine[Any, Any, bool]: ...
    def exception(self) -> CoreError | None: ...
    def extra_info(self, name: str) -> str | None: ...

class TraceEvent:
    name: str
    method: str
    url: str
    host: str | None
    headers: list[tuple[str, str]] | None
    chunk: bytes | None
    def take_response(self) -> Response | None: ...

class TraceEvents:
    def __init__(self) -> None: ...
    def next(self) -> Coroutine[Any, Any, TraceEvent | None]: ...

class Completer:
    def __init__(self) -> None: ...
    def fileno(self) -> int: ...
    def drain(self) -> None: ...

class Started:
    def abort(self) -> None: ...

class Session:
    def __init__(
        self,
        *,
        connector: Connector | None = ...,
        connector_owner: bool = ...,
        base_url: str | None = ...,
        headers: _Pairs = ...,
        skip_auto_headers: list[str] | None = ...,
        auth: _Auth = ...,
        cookie_jar: Jar | None = ...,
        timeout: _Timeout = ...,
        raise_for_status: bool = ...,
        trust_env: bool = ...,
        auto_decompress: bool = ...,
        version: tuple[int, int] | None = ...,
        requote_redirect_url: bool = ...,
        max_line_size: int = ...,
        max_field_size: int = ...,
        max_headers: int = ...,
        read_bufsize: int = ...,
        proxy: str | None = ...,
        proxy_auth: _Auth = ...,
        trace: bool = ...,
    ) -> None: ...
    closed: bool
    def close(self) -> Coroutine[Any, Any, None]: ...
    def detach(self) -> None: ...
    def request(
        self,
        method: str,
        url: str,
        params: _Pairs = ...,
        headers: _Pairs = ...,
        body: bytes | None = ...,
        form: _Pairs = ...,
        content_type: str | None = ...,
        allow_redirects: bool = ...,
        once: bool = ...,
        **kwargs: Any,
    ) -> Coroutine[Any, Any, Response]: ...
    def start(
        self,
        completer: Completer,
        future: Any,
        method: str,
        url: str,
        params: _Pairs = ...,
        headers: _Pairs = ...,
        body: bytes | None = ...,
        form: _Pairs = ...,
        content_type: str | None = ...,
        allow_redirects: bool = ...,
        once: bool = ...,
    ) -> Started: ...
    def ws_connect(self, url: str, **kwargs: Any) -> Coroutine[Any, Any, WebSocket]: ...

def shutdown() -> None: ...
