#!/usr/bin/env python3
"""Benchmark client for scenario 8 (WebSockets): Python aiohttp, on plain
asyncio or, with --loop uvloop, on uvloop.

The WebSocket counterpart of aiohttp_client.py, and of the Rust clients'
harness in crates/bench/src/ws.rs: the same flags (--mode ws-echo or ws-bulk,
--bytes for the message size, --inflight for ws-bulk), the same ring of
messages, the same checks and the same JSON line.

- ws-echo: one WebSocket (session.ws_connect(url, compress=0,
  max_msg_size=0)), send_bytes then receive, back to back; round trips per
  second and their latency.
- ws-bulk: a writer task keeps --inflight messages outstanding (an
  asyncio.Semaphore), the reader checks the echoes and frees a slot for each;
  bytes echoed per second, one way.

Every echo must be a binary message equal to the message it answers (the nth
echo to the nth message sent); anything else fails the run.
"""

import argparse
import asyncio
import json
import resource
import sys
import time

import aiohttp

from aiohttp_client import Recorder

RING = 64
ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The first letters of message 0, as crates/bench/src/ws.rs's test has them.
FIRST_LETTERS = b"DVqfkn1Zh0AvJ7EV"
CLOSE_WAIT = 5.0
M64 = (1 << 64) - 1


def payloads(size):
    """The ring of bench::ws::payloads: message k is `size` letters of one
    xorshift64* sequence, from its kth letter on."""
    x = 0x9E3779B97F4A7C15
    letters = bytearray()
    for _ in range(size + RING):
        x ^= x >> 12
        x = (x ^ (x << 25)) & M64
        x ^= x >> 27
        letters.append(ALPHABET[((x * 0x2545F4914F6CDD1D) & M64) >> 58])
    if size >= 16 and bytes(letters[:16]) != FIRST_LETTERS:
        raise SystemExit("aiohttp-py: the message ring differs from the Rust clients'")
    return [bytes(letters[k : k + size]) for k in range(RING)]


class EchoError(Exception):
    pass


def check(msg, want):
    if msg.type != aiohttp.WSMsgType.BINARY:
        extra = f": {msg.data!r}" if msg.type == aiohttp.WSMsgType.ERROR else ""
        raise EchoError(f"{msg.type.name} message instead of a binary echo{extra}")
    got = msg.data
    if len(got) != len(want):
        raise EchoError(f"echo of {len(got)} bytes, expected {len(want)}")
    if got != want:
        at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), 0)
        raise EchoError(f"echo of {len(got)} bytes differs from the message sent at byte {at}")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--scenario", default="adhoc")
    p.add_argument("--mode", choices=["ws-echo", "ws-bulk"], default="ws-echo")
    p.add_argument("--tasks", type=int, default=1, help="ignored: one connection")
    p.add_argument("--conns", type=int, default=0, help="ignored: one connection")
    p.add_argument("--warmup", type=float, default=0.2)
    p.add_argument("--duration", type=float, default=1.0)
    p.add_argument("--bytes", type=int, default=64)
    p.add_argument("--inflight", type=int, default=16)
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    a = p.parse_args(argv)
    a.url = a.url.rstrip("/") + "/echo"
    a.inflight = max(1, a.inflight)
    return a


async def echo_phase(ws, ring, seq, seconds, rec):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        want = ring[seq % RING]
        seq += 1
        t = time.perf_counter_ns()
        await ws.send_bytes(want)
        check(await ws.receive(), want)
        rec.ok(t, len(want))
    return seq


async def run_echo(ws, a, ring):
    warm = Recorder()
    seq = 0
    if a.warmup > 0:
        seq = await echo_phase(ws, ring, seq, a.warmup, warm)
    rec = Recorder()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    await echo_phase(ws, ring, seq, a.duration, rec)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    return rec, wall, before, after


async def run_bulk(ws, a, ring):
    slots = asyncio.Semaphore(a.inflight)
    stop = False
    sent = 0

    async def writer():
        nonlocal sent
        while True:
            await slots.acquire()
            if stop:
                return
            await ws.send_bytes(ring[sent % RING])
            sent += 1

    writer_task = asyncio.ensure_future(writer())
    started = time.perf_counter()
    warm_end, end = started + a.warmup, started + a.warmup + a.duration
    rseq = nbytes = 0
    start = None
    if a.warmup <= 0:
        start = (started, resource.getrusage(resource.RUSAGE_SELF), 0, 0)
    try:
        while True:
            if writer_task.done():
                writer_task.result()  # a send failed: raise it
                raise EchoError("the writer stopped")
            want = ring[rseq % RING]
            try:
                check(await ws.receive(), want)
            except EchoError as e:
                raise EchoError(f"message {rseq}: {e}") from None
            rseq += 1
            nbytes += len(want)
            now = time.perf_counter()
            if start is None and now >= warm_end:
                start = (now, resource.getrusage(resource.RUSAGE_SELF), rseq, nbytes)
            if start is not None and now >= end:
                after = resource.getrusage(resource.RUSAGE_SELF)
                t0, before, m0, b0 = start
                measured = (rseq - m0, nbytes - b0, now - t0, before, after)
                break
            slots.release()
        stop = True
        slots.release()
        await writer_task
        while rseq < sent:
            want = ring[rseq % RING]
            check(await ws.receive(), want)
            rseq += 1
    finally:
        if not writer_task.done():
            writer_task.cancel()
    return measured


async def run(a, client):
    ring = payloads(a.bytes)
    rec = Recorder()
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(a.url, compress=0, max_msg_size=0)
        limit = a.warmup + a.duration + 30.0
        if a.mode == "ws-echo":
            rec, wall, before, after = await asyncio.wait_for(run_echo(ws, a, ring), limit)
            p50, p99 = rec.percentile_us(50), rec.percentile_us(99)
        else:
            n, nbytes, wall, before, after = await asyncio.wait_for(run_bulk(ws, a, ring), limit)
            rec.requests, rec.bytes = n, nbytes
            p50 = p99 = None
        await asyncio.wait_for(ws.close(), CLOSE_WAIT)
        if ws.exception() is not None:
            rec.err(RuntimeError(f"closing: {ws.exception()}"))
    return {
        "client": client,
        "scenario": a.scenario,
        "requests": rec.requests,
        "errors": rec.errors,
        "first_error": rec.first_error,
        "bytes": rec.bytes,
        "wall_s": wall,
        "cpu_user_s": after.ru_utime - before.ru_utime,
        "cpu_sys_s": after.ru_stime - before.ru_stime,
        "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "p50_us": p50,
        "p99_us": p99,
    }


def main():
    a = parse_args(sys.argv[1:])
    client = "aiohttp-py"
    runner = asyncio.run
    if a.loop == "uvloop":
        import uvloop

        client = "aiohttp-py-uvloop"
        runner = uvloop.run
    try:
        report = runner(run(a, client))
    except Exception as e:  # a failed echo, send or connection fails the run loudly
        print(f"{client}: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(report), flush=True)
    if report["errors"]:
        print(f"{client}: {report['errors']} failure(s), first: {report['first_error']}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
