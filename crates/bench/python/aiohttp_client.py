#!/usr/bin/env python3
"""Benchmark client: Python aiohttp on plain asyncio (no uvloop), one ClientSession.

With --impl aiohttp_rs the same code runs on the package aiohttp_rs (crates/python), which
has aiohttp's client API; with --loop uvloop it runs on uvloop.

Takes the same flags and prints the same JSON line as the Rust clients (see
crates/bench/src/lib.rs); the latency histogram uses the same buckets. Like
them it checks every response: status 200, and a body of the size the server
sends (13 bytes for /hello and /upload, --bytes for /big); anything else is a
failed request.

With --force-close, aiohttp's TCPConnector(force_close=True) closes each
connection after its response, and also sends `Connection: close` (aiohttp
does so whenever force_close is set), so the server closes its side too.
"""

import argparse
import asyncio
import json
import resource
import ssl
import sys
import time

import aiohttp

MAX_ERRORS_PER_WORKER = 100
HELLO_LEN = 13
SUB_BITS = 5
SUB = 1 << SUB_BITS
LINEAR = 2 * SUB


def bucket(ns):
    if ns < LINEAR:
        return ns
    exp = ns.bit_length() - 1
    sub = (ns >> (exp - SUB_BITS)) & (SUB - 1)
    return LINEAR + (exp - SUB_BITS - 1) * SUB + sub


def bucket_value(idx):
    if idx < LINEAR:
        return float(idx)
    rel = idx - LINEAR
    exp = rel // SUB + SUB_BITS + 1
    sub = rel % SUB
    width = 1 << (exp - SUB_BITS)
    return (SUB + sub) * width + width / 2


class Recorder:
    def __init__(self):
        self.counts = {}
        self.requests = 0
        self.errors = 0
        self.bytes = 0
        self.first_error = None

    def ok(self, started_ns, nbytes):
        i = bucket(time.perf_counter_ns() - started_ns)
        self.counts[i] = self.counts.get(i, 0) + 1
        self.requests += 1
        self.bytes += nbytes

    def err(self, e):
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"{type(e).__name__}: {e}"
        return self.errors < MAX_ERRORS_PER_WORKER

    def merge(self, other):
        for i, c in other.counts.items():
            self.counts[i] = self.counts.get(i, 0) + c
        self.requests += other.requests
        self.errors += other.errors
        self.bytes += other.bytes
        if self.first_error is None:
            self.first_error = other.first_error

    def percentile_us(self, p):
        total = sum(self.counts.values())
        if total == 0:
            return None
        rank = max(1, -(-p * total // 100))
        seen = 0
        for i in sorted(self.counts):
            seen += self.counts[i]
            if seen >= rank:
                return bucket_value(i) / 1000.0
        return None


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--scenario", default="adhoc")
    p.add_argument("--mode", choices=["get", "download", "upload"], default="get")
    p.add_argument("--tasks", type=int, default=1)
    p.add_argument("--conns", type=int, default=0)
    p.add_argument("--force-close", action="store_true")
    p.add_argument("--warmup", type=float, default=0.2)
    p.add_argument("--duration", type=float, default=1.0)
    p.add_argument("--bytes", type=int, default=0)
    p.add_argument("--ca", help="PEM certificate to trust over https://")
    p.add_argument("--http2", action="store_true", help="not supported by aiohttp")
    p.add_argument("--impl", choices=["aiohttp", "aiohttp_rs"], default="aiohttp")
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    a = p.parse_args(argv)
    a.url = a.url.rstrip("/")
    a.tasks = max(1, a.tasks)
    return a


def target(a):
    if a.mode == "get":
        return f"{a.url}/hello"
    if a.mode == "download":
        return f"{a.url}/big?bytes={a.bytes}"
    return f"{a.url}/upload"


def check_body(a, got):
    """The body size check of bench::check_body; returns the body bytes moved."""
    if a.mode == "download":
        want, moved = a.bytes, got
    elif a.mode == "upload":
        want, moved = HELLO_LEN, a.bytes
    else:
        want, moved = HELLO_LEN, got
    if got != want:
        raise RuntimeError(f"body of {got} bytes, expected {want}")
    return moved


async def one(session, a, url, upload):
    """One request read to its end; returns the body bytes moved."""
    if a.mode == "upload":
        ctx = session.post(url, data=upload)
    else:
        ctx = session.get(url)
    async with ctx as resp:
        if resp.status != 200:
            raise RuntimeError(f"status {resp.status}")
        if a.mode == "download":
            n = 0
            async for chunk in resp.content.iter_any():
                n += len(chunk)
            return check_body(a, n)
        body = await resp.read()
        return check_body(a, len(body))


async def worker(session, a, url, upload, deadline):
    rec = Recorder()
    while time.monotonic() < deadline:
        t = time.perf_counter_ns()
        try:
            n = await one(session, a, url, upload)
        except Exception as e:  # every failure counts as an error, none stops the run
            if not rec.err(e):
                break
        else:
            rec.ok(t, n)
    return rec


async def phase(session, a, url, upload, seconds):
    deadline = time.monotonic() + seconds
    recs = await asyncio.gather(
        *(worker(session, a, url, upload, deadline) for _ in range(a.tasks))
    )
    total = Recorder()
    for r in recs:
        total.merge(r)
    return total


async def run(a):
    url = target(a)
    upload = b"x" * a.bytes if a.mode == "upload" else b""
    limit = a.conns if a.conns > 0 else a.tasks
    if a.http2:
        raise SystemExit("aiohttp-py: aiohttp has no HTTP/2")
    ssl_ctx = True
    if a.ca:
        # The server's certificate as the only root; ALPN http/1.1 like the other clients.
        ssl_ctx = ssl.create_default_context(cafile=a.ca)
        ssl_ctx.set_alpn_protocols(["http/1.1"])
    connector = aiohttp.TCPConnector(
        limit=limit, force_close=a.force_close, ssl=ssl_ctx
    )
    async with aiohttp.ClientSession(connector=connector) as session:
        warm = Recorder()
        if a.mode != "download" and a.warmup > 0:
            warm = await phase(session, a, url, upload, a.warmup)
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        if a.mode == "download":
            rec = Recorder()
            t = time.perf_counter_ns()
            try:
                rec.ok(t, await one(session, a, url, upload))
            except Exception as e:
                rec.err(e)
        else:
            rec = await phase(session, a, url, upload, a.duration)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    rec.errors += warm.errors
    if rec.first_error is None:
        rec.first_error = warm.first_error
    return {
        "client": "aiohttp-py",
        "scenario": a.scenario,
        "requests": rec.requests,
        "errors": rec.errors,
        "first_error": rec.first_error,
        "bytes": rec.bytes,
        "wall_s": wall,
        "cpu_user_s": after.ru_utime - before.ru_utime,
        "cpu_sys_s": after.ru_stime - before.ru_stime,
        "max_rss_kib": after.ru_maxrss,
        "p50_us": rec.percentile_us(50),
        "p99_us": rec.percentile_us(99),
    }


def main():
    global aiohttp
    a = parse_args(sys.argv[1:])
    if a.impl == "aiohttp_rs":
        import aiohttp_rs as aiohttp
    if a.loop == "uvloop":
        import uvloop

        report = uvloop.run(run(a))
    else:
        report = asyncio.run(run(a))
    report["client"] = ("aiohttp-py" if a.impl == "aiohttp" else "aiohttp_rs-py") + (
        "-uvloop" if a.loop == "uvloop" else ""
    )
    print(json.dumps(report), flush=True)
    if report["errors"]:
        print(
            f"aiohttp-py: {report['errors']} request(s) failed, first: {report['first_error']}",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
