"""WebSockets: aiohttp's ``ClientWebSocketResponse`` over the native WebSocket."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json as _json
import os
from collections.abc import Callable
from typing import Any, NamedTuple

from . import _core
from . import _exceptions as E

__all__ = ["ClientWebSocketResponse", "ClientWSTimeout", "WSCloseCode", "WSMessage", "WSMsgType"]


class WSMsgType(enum.IntEnum):
    """The kinds of WebSocket messages (RFC 6455 opcodes, and aiohttp's states)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    PING = 0x9
    PONG = 0xA
    CLOSE = 0x8
    CLOSING = 0x100
    CLOSED = 0x101
    ERROR = 0x102


class WSCloseCode(enum.IntEnum):
    """Close codes (RFC 6455 section 7.4.1)."""

    OK = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    ABNORMAL_CLOSURE = 1006
    INVALID_TEXT = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


class WSMessage(NamedTuple):
    """A message: its type, its data (text, bytes, close code or error) and the close reason."""

    type: Any
    data: Any
    extra: Any

    def json(self, *, loads: Callable[[Any], Any] = _json.loads) -> Any:
        return loads(self.data)


@dataclasses.dataclass(frozen=True)
class ClientWSTimeout:
    """``ws_receive``: the longest a receive waits; ``ws_close``: the longest close waits."""

    ws_receive: float | None = None
    ws_close: float | None = None


if os.environ.get("AIOHTTP_RS_OWN_EXCEPTIONS") != "1":
    try:  # aiohttp's own types, when it is installed
        from aiohttp import ClientWSTimeout, WSCloseCode, WSMessage, WSMsgType  # type: ignore[assignment]  # noqa: F811
    except ImportError:  # pragma: no cover
        pass

DEFAULT_WS_CLIENT_TIMEOUT = ClientWSTimeout(ws_receive=None, ws_close=10.0)
_CLOSED = WSMessage(WSMsgType.CLOSED, None, None)
_ENDS = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)


def _addr(text: str | None) -> Any:
    if text is None:
        return None
    host, _, port = text.rpartition(":")
    return (host.strip("[]"), int(port))


class ClientWebSocketResponse:
    """An open WebSocket: aiohttp's ``ClientWebSocketResponse``."""

    def __init__(self, core: Any, convert: Callable[[BaseException], BaseException], decode_text: bool = True) -> None:
        self._core = core
        self._convert = convert
        self._waiting = False
        self._interrupted = False
        self._abnormal = False
        self._decode_text = decode_text
        self._exception: BaseException | None = None

    @property
    def closed(self) -> bool:
        return self._core.closed

    @property
    def close_code(self) -> int | None:
        if self._abnormal:
            return WSCloseCode.ABNORMAL_CLOSURE
        code = self._core.close_code
        if code is None:
            return None
        try:
            # aiohttp's own codes are its enum's members (`is WSCloseCode.ABNORMAL_CLOSURE`).
            return WSCloseCode(code)
        except ValueError:
            return code

    @property
    def protocol(self) -> str | None:
        return self._core.protocol

    @property
    def compress(self) -> int:
        return self._core.compress

    @property
    def client_notakeover(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        value = _addr(self._core.extra_info(name))
        return default if value is None else value

    def exception(self) -> BaseException | None:
        if self._exception is not None:
            return self._exception
        err = self._core.exception()
        return self._convert(err) if err is not None else None

    async def _call(self, coro: Any) -> Any:
        try:
            return await coro
        except _core.CoreError as e:
            raise self._convert(e) from None

    async def ping(self, message: bytes = b"") -> None:
        await self._call(self._core.ping(bytes(message)))

    async def pong(self, message: bytes = b"") -> None:
        await self._call(self._core.pong(bytes(message)))

    async def send_frame(self, message: bytes, opcode: Any, compress: int | None = None) -> None:
        if opcode == WSMsgType.TEXT:
            await self._call(self._core.send_str(bytes(message).decode("utf-8")))
        elif opcode == WSMsgType.BINARY:
            await self._call(self._core.send_bytes(bytes(message)))
        elif opcode == WSMsgType.PING:
            await self.ping(message)
        elif opcode == WSMsgType.PONG:
            await self.pong(message)
        else:
            raise ValueError(f"send_frame: unsupported opcode {opcode!r}")

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if not isinstance(data, str):
            raise TypeError(f"data argument must be str ({type(data)!r})")
        await self._call(self._core.send_str(data))

    async def send_bytes(self, data: bytes, compress: int | None = None) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be byte-ish ({type(data)!r})")
        await self._call(self._core.send_bytes(bytes(data)))

    async def send_json(self, data: Any, compress: int | None = None, *, dumps: Callable[[Any], str] = _json.dumps) -> None:
        await self.send_str(dumps(data), compress=compress)

    async def send_json_bytes(self, data: Any, compress: int | None = None, *, dumps: Callable[[Any], bytes]) -> None:
        await self.send_bytes(dumps(data), compress=compress)

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        # A receive() waiting in another task answers CLOSING, whatever arrived meanwhile
        # (the order of the calls decides, as in aiohttp).
        if self._waiting:
            self._interrupted = True
        try:
            closed_now, timed_out = await self._core.close(int(code), bytes(message))
        except asyncio.CancelledError:
            self._exception = None
            raise
        except _core.CoreError as e:
            self._exception = self._convert(e)
            return True
        if timed_out:
            # No close frame from the server in time, as aiohttp reports it.
            self._exception = asyncio.TimeoutError()
            self._abnormal = True
        return closed_now

    async def receive(self, timeout: float | None = None) -> Any:
        if self._waiting:
            raise RuntimeError("Concurrent call to receive() is not allowed")
        self._waiting = True
        self._interrupted = False
        try:
            kind, data, extra = await self._core.receive(timeout)
        finally:
            self._waiting = False
        if self._interrupted:
            return WSMessage(WSMsgType.CLOSING, None, None)
        kind = WSMsgType(kind)
        if kind is WSMsgType.CLOSING:
            return WSMessage(WSMsgType.CLOSING, None, None)
        if kind is WSMsgType.ERROR:
            err = self._convert(data) if data is not None else E.ClientError("WebSocket error")
            if isinstance(err, asyncio.TimeoutError) and not self.closed:
                raise asyncio.TimeoutError()
            self._exception = err
            return WSMessage(WSMsgType.ERROR, err, None)
        if kind is WSMsgType.CLOSED:
            return _CLOSED
        if kind is WSMsgType.TEXT and not self._decode_text:
            data = data.encode("utf-8")
        return WSMessage(kind, data, extra)

    async def receive_str(self, *, timeout: float | None = None) -> Any:
        msg = await self.receive(timeout)
        if msg.type is not WSMsgType.TEXT:
            raise E.WSMessageTypeError(f"Received message {msg.type}:{msg.data!r} is not WSMsgType.TEXT")
        return msg.data

    async def receive_bytes(self, *, timeout: float | None = None) -> bytes:
        msg = await self.receive(timeout)
        if msg.type is not WSMsgType.BINARY:
            raise E.WSMessageTypeError(f"Received message {msg.type}:{msg.data!r} is not WSMsgType.BINARY")
        return msg.data

    async def receive_json(self, *, loads: Callable[[Any], Any] = _json.loads, timeout: float | None = None) -> Any:
        return loads(await self.receive_str(timeout=timeout))

    def __aiter__(self) -> ClientWebSocketResponse:
        return self

    async def __anext__(self) -> Any:
        msg = await self.receive()
        if msg.type in _ENDS:
            raise StopAsyncIteration
        return msg

    async def __aenter__(self) -> ClientWebSocketResponse:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
