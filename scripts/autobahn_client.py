#!/usr/bin/env python3
"""Autobahn|Testsuite client runner on the Python `websockets` library.

The reference runner for scripts/autobahn.sh (AUTOBAHN_CLIENT=python): the
same algorithm as crates/aiohttp/examples/autobahn_client.rs, useful to check
the harness itself and to compare with a well-known client.

Usage:
    autobahn_client.py [PORT]           run every case, then update the reports
    autobahn_client.py --count [PORT]   print the server's case count and exit

PORT defaults to $AUTOBAHN_PORT, then 9001. The agent name is
$AUTOBAHN_AGENT, default "python-websockets".
"""

import asyncio
import os
import sys

# websockets fails a message of more than 4096 fragments by default; cases
# 9.3.* and 9.4.* send up to 65536.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

try:
    from websockets.asyncio.client import connect
except ImportError:  # websockets < 14
    from websockets import connect
from websockets.exceptions import ConnectionClosed, WebSocketException


def server(port):
    return f"ws://127.0.0.1:{port}"


async def case_count(port):
    async with connect(f"{server(port)}/getCaseCount") as ws:
        return int(await ws.recv())


async def run_case(port, case, agent):
    uri = f"{server(port)}/runCase?case={case}&agent={agent}"
    try:
        # max_size=None: the fuzzing server sends messages of up to 16 MiB.
        async with connect(uri, max_size=None, compression="deflate") as ws:
            async for msg in ws:
                await ws.send(msg)
    except ConnectionClosed:
        pass
    except (WebSocketException, OSError) as exc:
        # The server fails some cases on purpose; the report says how.
        print(f"case {case}: {type(exc).__name__}: {exc}", file=sys.stderr)


async def update_reports(port, agent):
    async with connect(f"{server(port)}/updateReports?agent={agent}") as ws:
        await ws.close()


async def main(argv):
    count_only = "--count" in argv
    args = [a for a in argv if a != "--count"]
    port = int(args[0] if args else os.environ.get("AUTOBAHN_PORT", "9001"))
    agent = os.environ.get("AUTOBAHN_AGENT", "python-websockets")
    n = await case_count(port)
    if count_only:
        print(n)
        return
    print(f"autobahn_client.py: {n} cases, agent {agent}", file=sys.stderr)
    for case in range(1, n + 1):
        await run_case(port, case, agent)
        if case % 50 == 0 or case == n:
            print(f"autobahn_client.py: {case}/{n} cases run", file=sys.stderr)
    await update_reports(port, agent)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
