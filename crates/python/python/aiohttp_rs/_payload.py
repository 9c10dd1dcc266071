"""Request bodies: what ``data=`` can be, turned into bytes or form fields for the native
request.

Bytes, text and plain fields are handled here. Everything else that aiohttp accepts -
its ``FormData`` (multipart when a field is a file), ``Payload`` objects, file objects,
async iterables, ``MultipartWriter`` - goes through aiohttp's own payload classes when
aiohttp is installed, and is written out to bytes: the body is then known in full, which
also lets a 307/308 redirect send it again.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping
from typing import Any

try:
    from aiohttp import payload as _aio_payload
    from aiohttp.formdata import FormData as _AioFormData
except ImportError:  # pragma: no cover - exercised by the tests without aiohttp
    _aio_payload = None
    _AioFormData = None


class Body:
    """A request body: bytes or form fields, the headers it brings, and whether its size
    was unknown (then it is sent chunked, as aiohttp does)."""

    __slots__ = ("data", "form", "headers", "chunked", "once")

    def __init__(
        self, data: bytes | None = None, form: Any = None, headers: Any = (), chunked: bool = False, once: bool = False
    ) -> None:
        self.data = data
        self.form = form
        self.headers = list(headers)
        self.chunked = chunked
        # Sent once only (an async iterable's): a redirect can't send it again.
        self.once = once


class _Collector:
    """A stream writer that keeps what a payload writes."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.buffer_size = 0
        self.output_size = 0
        self.length: int | None = None

    async def write(self, chunk: Any) -> None:
        b = bytes(chunk)
        self.parts.append(b)
        self.output_size += len(b)

    async def write_eof(self, chunk: bytes = b"") -> None:
        if chunk:
            await self.write(chunk)

    async def drain(self) -> None:
        return None

    def enable_compression(self, *args: Any, **kwargs: Any) -> None:
        return None

    def enable_chunking(self) -> None:
        return None


def _field(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return str(v)
    return None


def _plain_fields(data: Any) -> list[tuple[str, str]] | None:
    """``(name, value)`` pairs if every value is text or a number, else None."""
    items = data.items() if hasattr(data, "items") else data
    out = []
    try:
        for item in items:
            # Only (name, value) pairs: unpacking anything else (a file in a list) would
            # read from it.
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                return None
            k, v = item
            s = _field(v)
            if s is None:
                return None
            out.append((str(k), s))
    except (TypeError, ValueError):
        return None
    return out


async def _write_payload(payload: Any, has_ct: bool) -> Body:
    size = payload.size
    headers = [(k, v) for k, v in payload.headers.items() if not (has_ct and k.lower() == "content-type")]
    w = _Collector()
    try:
        await payload.write(w)
    finally:
        # The body is in memory now; the payload's file or iterator is done with.
        await payload.close()
    once = isinstance(payload, _aio_payload.AsyncIterablePayload) if _aio_payload is not None else False
    return Body(b"".join(w.parts), headers=headers, chunked=size is None, once=once)


async def encode(data: Any, has_ct: bool) -> Body:
    """The body for ``data=``; ``has_ct``: the request sets its own Content-Type."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return Body(bytes(data), headers=() if has_ct else [("Content-Type", "application/octet-stream")])
    if isinstance(data, str):
        return Body(data.encode("utf-8"), headers=() if has_ct else [("Content-Type", "text/plain; charset=utf-8")])
    if _aio_payload is not None:
        if _AioFormData is not None and isinstance(data, _AioFormData):
            return await _write_payload(data(), has_ct)
        if isinstance(data, _aio_payload.Payload):
            return await _write_payload(data, has_ct)
    if isinstance(data, (Mapping, list, tuple)) or hasattr(data, "items"):
        fields = _plain_fields(data)
        if fields is not None:
            return Body(form=fields)
        if _AioFormData is not None:
            return await _write_payload(_AioFormData(data)(), has_ct)
        raise TypeError("form fields with files need aiohttp installed (for its FormData)")
    if _aio_payload is not None:
        try:
            payload = _aio_payload.PAYLOAD_REGISTRY.get(data, disposition=None)
        except _aio_payload.LookupError:
            raise TypeError(f"data type {type(data).__name__} is not supported") from None
        return await _write_payload(payload, has_ct)
    # Without aiohttp: file objects and async iterables, read in full.
    if hasattr(data, "read"):
        loop = asyncio.get_running_loop()
        chunk = await loop.run_in_executor(None, data.read)
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        ct = "text/plain; charset=utf-8" if isinstance(data, io.TextIOBase) else "application/octet-stream"
        return Body(bytes(chunk), headers=() if has_ct else [("Content-Type", ct)])
    if hasattr(data, "__aiter__"):
        parts = []
        async for part in data:
            parts.append(part.encode("utf-8") if isinstance(part, str) else bytes(part))
        return Body(b"".join(parts), headers=() if has_ct else [("Content-Type", "application/octet-stream")], chunked=True, once=True)
    raise TypeError(f"data type {type(data).__name__} is not supported")
