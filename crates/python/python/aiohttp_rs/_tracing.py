"""aiohttp's request tracing: ``TraceConfig``, its parameter classes, and the signals a
traced request sends.

When aiohttp is importable its own ``TraceConfig`` and parameter classes are used, so a
``TraceConfig`` written for aiohttp works unchanged. Otherwise the classes below stand in for
them: the same names, signals, ``trace_config_ctx`` and ``freeze``.

A request's points reach the signals in the order they happen. The start, the end, an
exception and the body read are sent from the request's coroutine, awaited where aiohttp
awaits them. The points inside the request (connection queued, created or reused, DNS,
headers and body chunks sent, redirects) come from the native side as they happen and are
awaited in the same coroutine while the request goes on: a slow signal handler delays the
next handler, not the request.
"""

from __future__ import annotations

import dataclasses
import os
from types import SimpleNamespace
from typing import Any

from multidict import CIMultiDict
from yarl import URL

__all__ = [
    "TraceConfig",
    "TraceRequestStartParams",
    "TraceRequestEndParams",
    "TraceRequestExceptionParams",
    "TraceConnectionQueuedStartParams",
    "TraceConnectionQueuedEndParams",
    "TraceConnectionCreateStartParams",
    "TraceConnectionCreateEndParams",
    "TraceConnectionReuseconnParams",
    "TraceDnsResolveHostStartParams",
    "TraceDnsResolveHostEndParams",
    "TraceDnsCacheHitParams",
    "TraceDnsCacheMissParams",
    "TraceRequestRedirectParams",
    "TraceRequestChunkSentParams",
    "TraceResponseChunkReceivedParams",
    "TraceRequestHeadersSentParams",
]


class _Signal(list):
    """A list of async callbacks, frozen before use (aiosignal's ``Signal``)."""

    def __init__(self, owner: Any) -> None:
        super().__init__()
        self._owner = owner
        self._frozen = False

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self) -> None:
        self._frozen = True

    def _check(self) -> None:
        if self._frozen:
            raise RuntimeError("Cannot modify frozen list.")

    def append(self, item: Any) -> None:
        self._check()
        super().append(item)

    def insert(self, index: Any, item: Any) -> None:
        self._check()
        super().insert(index, item)

    def extend(self, items: Any) -> None:
        self._check()
        super().extend(items)

    def remove(self, item: Any) -> None:
        self._check()
        super().remove(item)

    def __setitem__(self, index: Any, item: Any) -> None:
        self._check()
        super().__setitem__(index, item)

    def __delitem__(self, index: Any) -> None:
        self._check()
        super().__delitem__(index)

    async def send(self, *args: Any, **kwargs: Any) -> None:
        if not self._frozen:
            raise RuntimeError("Cannot send non-frozen signal.")
        for receiver in self:
            await receiver(*args, **kwargs)


_SIGNALS = (
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
)


class TraceConfig:
    """Signals for the requests of the sessions it is given to (``trace_configs=[...]``)."""

    def __init__(self, trace_config_ctx_factory: Any = SimpleNamespace) -> None:
        for name in _SIGNALS:
            setattr(self, "_" + name, _Signal(self))
        self._trace_config_ctx_factory = trace_config_ctx_factory

    def trace_config_ctx(self, trace_request_ctx: Any = None) -> Any:
        """A new context for one request's callbacks."""
        return self._trace_config_ctx_factory(trace_request_ctx=trace_request_ctx)

    def freeze(self) -> None:
        for name in _SIGNALS:
            getattr(self, "_" + name).freeze()


def _signal_property(name: str) -> property:
    return property(lambda self: getattr(self, "_" + name))


for _name in _SIGNALS:
    setattr(TraceConfig, _name, _signal_property(_name))
del _name


def _params(name: str, *fields: tuple[str, Any]) -> type:
    return dataclasses.make_dataclass(name, list(fields), frozen=True)


TraceRequestStartParams = _params("TraceRequestStartParams", ("method", str), ("url", URL), ("headers", Any))
TraceRequestChunkSentParams = _params("TraceRequestChunkSentParams", ("method", str), ("url", URL), ("chunk", bytes))
TraceResponseChunkReceivedParams = _params(
    "TraceResponseChunkReceivedParams", ("method", str), ("url", URL), ("chunk", bytes)
)
TraceRequestEndParams = _params(
    "TraceRequestEndParams", ("method", str), ("url", URL), ("headers", Any), ("response", Any)
)
TraceRequestExceptionParams = _params(
    "TraceRequestExceptionParams", ("method", str), ("url", URL), ("headers", Any), ("exception", BaseException)
)
TraceRequestRedirectParams = _params(
    "TraceRequestRedirectParams", ("method", str), ("url", URL), ("headers", Any), ("response", Any)
)
TraceConnectionQueuedStartParams = _params("TraceConnectionQueuedStartParams")
TraceConnectionQueuedEndParams = _params("TraceConnectionQueuedEndParams")
TraceConnectionCreateStartParams = _params("TraceConnectionCreateStartParams")
TraceConnectionCreateEndParams = _params("TraceConnectionCreateEndParams")
TraceConnectionReuseconnParams = _params("TraceConnectionReuseconnParams")
TraceDnsResolveHostStartParams = _params("TraceDnsResolveHostStartParams", ("host", str))
TraceDnsResolveHostEndParams = _params("TraceDnsResolveHostEndParams", ("host", str))
TraceDnsCacheHitParams = _params("TraceDnsCacheHitParams", ("host", str))
TraceDnsCacheMissParams = _params("TraceDnsCacheMissParams", ("host", str))
TraceRequestHeadersSentParams = _params(
    "TraceRequestHeadersSentParams", ("method", str), ("url", URL), ("headers", Any)
)

try:  # aiohttp's own classes, when it is installed (AIOHTTP_RS_OWN_EXCEPTIONS=1: never)
    if os.environ.get("AIOHTTP_RS_OWN_EXCEPTIONS") == "1":
        raise ImportError("aiohttp's classes are turned off")
    from aiohttp import tracing as _aio_tracing
except ImportError:  # pragma: no cover - exercised by the tests without aiohttp
    pass
else:
    for _name in __all__:
        globals()[_name] = getattr(_aio_tracing, _name)
    del _name


class Trace:
    """One request's callbacks of one ``TraceConfig``."""

    __slots__ = ("_config", "_ctx", "_session")

    def __init__(self, session: Any, config: Any, ctx: Any) -> None:
        self._session = session
        self._config = config
        self._ctx = ctx

    async def _send(self, signal: str, params: Any) -> None:
        await getattr(self._config, signal).send(self._session, self._ctx, params)

    async def request_start(self, method: str, url: URL, headers: CIMultiDict[str]) -> None:
        await self._send("on_request_start", TraceRequestStartParams(method, url, headers))

    async def request_end(self, method: str, url: URL, headers: CIMultiDict[str], response: Any) -> None:
        await self._send("on_request_end", TraceRequestEndParams(method, url, headers, response))

    async def request_exception(self, method: str, url: URL, headers: CIMultiDict[str], exc: BaseException) -> None:
        await self._send("on_request_exception", TraceRequestExceptionParams(method, url, headers, exc))

    async def response_chunk_received(self, method: str, url: URL, chunk: bytes) -> None:
        await self._send("on_response_chunk_received", TraceResponseChunkReceivedParams(method, url, chunk))

    async def native(self, event: Any, response: Any) -> None:
        """A point the native side reached (a ``_core.TraceEvent``); ``response`` is the
        redirect response of ``request_redirect``."""
        name = event.name
        if name == "request_headers_sent":
            params: Any = TraceRequestHeadersSentParams(
                event.method, URL(event.url), CIMultiDict(event.headers or ())
            )
        elif name == "request_chunk_sent":
            params = TraceRequestChunkSentParams(event.method, URL(event.url), event.chunk)
        elif name == "request_redirect":
            params = TraceRequestRedirectParams(
                event.method, URL(event.url), CIMultiDict(event.headers or ()), response
            )
        elif name.startswith("dns_"):
            params = _DNS[name](event.host)
        else:
            params = _CONNECTION[name]()
        await self._send("on_" + name, params)


_DNS = {
    "dns_resolvehost_start": TraceDnsResolveHostStartParams,
    "dns_resolvehost_end": TraceDnsResolveHostEndParams,
    "dns_cache_hit": TraceDnsCacheHitParams,
    "dns_cache_miss": TraceDnsCacheMissParams,
}
_CONNECTION = {
    "connection_queued_start": TraceConnectionQueuedStartParams,
    "connection_queued_end": TraceConnectionQueuedEndParams,
    "connection_create_start": TraceConnectionCreateStartParams,
    "connection_create_end": TraceConnectionCreateEndParams,
    "connection_reuseconn": TraceConnectionReuseconnParams,
}
