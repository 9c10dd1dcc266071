"""aiohttp's client API on a Rust HTTP client.

Switching from aiohttp is the import line::

    import aiohttp_rs as aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get("http://127.0.0.1:8080/") as resp:
            print(resp.status, await resp.text())

Exceptions are aiohttp's own classes when aiohttp is installed (``except
aiohttp.ClientError`` keeps working), else identical classes of this package.
"""

import atexit as _atexit

from . import _core
from ._client import (
    DEFAULT_TIMEOUT,
    BasicAuth,
    ClientRequest,
    ClientResponse,
    ClientSession,
    ClientTimeout,
    CookieJar,
    DummyCookieJar,
    Fingerprint,
    StreamReader,
    TCPConnector,
    UnixConnector,
    request,
)
from ._tracing import *  # noqa: F403
from ._tracing import __all__ as _tracing_names
from ._ws import ClientWebSocketResponse, ClientWSTimeout, WSCloseCode, WSMessage, WSMsgType
from ._core import USER_AGENT, VERSION as __version__
from ._exceptions import *  # noqa: F403
from ._exceptions import __all__ as _exception_names

__all__ = [
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "BasicAuth",
    "ClientRequest",
    "ClientResponse",
    "ClientSession",
    "ClientTimeout",
    "ClientWebSocketResponse",
    "ClientWSTimeout",
    "WSCloseCode",
    "WSMessage",
    "WSMsgType",
    "CookieJar",
    "DummyCookieJar",
    "Fingerprint",
    "StreamReader",
    "TCPConnector",
    "UnixConnector",
    "request",
    *_tracing_names,
    *_exception_names,
]

# The runtime's threads stop before the interpreter finalizes (see _core.shutdown).
_atexit.register(_core.shutdown)
