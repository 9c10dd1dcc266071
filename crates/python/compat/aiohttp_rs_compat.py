"""A pytest plugin that runs aiohttp's client tests on aiohttp_rs.

Loaded with ``-p aiohttp_rs_compat`` (this folder on PYTHONPATH), it replaces, before any
test module is imported, aiohttp's ``ClientSession``, ``request``, ``TCPConnector``,
``UnixConnector`` and ``CookieJar`` (in ``aiohttp`` and in the modules that define or
import them, ``aiohttp.test_utils`` among them, so that the ``aiohttp_client`` fixture's
``TestClient`` opens an aiohttp_rs session) with aiohttp_rs's. Everything else - the web
server, ``ClientTimeout``, ``BasicAuth``, the exception classes - stays aiohttp's own.
"""

from __future__ import annotations

import importlib

SWAPS = {
    "ClientSession": ("aiohttp", "aiohttp.client", "aiohttp.test_utils"),
    "request": ("aiohttp", "aiohttp.client"),
    "TCPConnector": ("aiohttp", "aiohttp.connector", "aiohttp.client"),
    "UnixConnector": ("aiohttp", "aiohttp.connector"),
    "CookieJar": ("aiohttp", "aiohttp.cookiejar", "aiohttp.client"),
    "DummyCookieJar": ("aiohttp", "aiohttp.cookiejar", "aiohttp.client"),
}


def pytest_configure(config: object) -> None:
    import aiohttp_rs

    for name, modules in SWAPS.items():
        ours = getattr(aiohttp_rs, name)
        for module in modules:
            mod = importlib.import_module(module)
            if hasattr(mod, name):
                setattr(mod, name, ours)


def pytest_report_header(config: object) -> str:
    import aiohttp_rs

    return f"aiohttp_rs {aiohttp_rs.__version__} in place of aiohttp's client"
