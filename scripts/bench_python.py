#!/usr/bin/env python3
"""The Python scenario: aiohttp against aiohttp_rs, side by side in one run.

64 tasks share one ClientSession and GET /hello (13 bytes) from the benchmark server
(target/release/bench-server, pinned to core 0) for --duration seconds, after a warm-up;
the client process is pinned to core 1 (the whole client on one core, the tokio thread of
aiohttp_rs included). Each of aiohttp and aiohttp_rs runs under asyncio and under uvloop,
--reps times, interleaved. Prints the medians of req/s and of CPU per request (user + sys
of the client process over its requests) and their ratios to aiohttp on the same loop, as
a Markdown table. Timings are never pass/fail: the exit status is non-zero only if a client
failed a request or the harness broke.

Usage: scripts/bench_python.py --python .venv-py/bin/python [--reps 5] [--duration 5]
       [--smoke]   (one short repetition, for CI)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT = os.path.join(ROOT, "crates", "bench", "python", "aiohttp_client.py")
SERVER = os.path.join(ROOT, "target", "release", "bench-server")
CLIENTS = [
    ("aiohttp", "asyncio"),
    ("aiohttp_rs", "asyncio"),
    ("aiohttp", "uvloop"),
    ("aiohttp_rs", "uvloop"),
]


def pin(core: int) -> list[str]:
    if (os.cpu_count() or 1) >= 2 and subprocess.run(["which", "taskset"], capture_output=True).returncode == 0:
        return ["taskset", "-c", str(core)]
    return []


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--tasks", type=int, default=64)
    p.add_argument("--smoke", action="store_true")
    a = p.parse_args()
    if a.smoke:
        a.reps, a.duration = 1, 0.5
    server = subprocess.Popen(pin(0) + [SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())
        url = f"http://127.0.0.1:{ports['port']}"
        results: dict[tuple[str, str], list[dict]] = {c: [] for c in CLIENTS}
        failed = False
        started = time.time()
        for _ in range(a.reps):
            for impl, loop in CLIENTS:
                cmd = pin(1) + [a.python, CLIENT, "--url", url, "--mode", "get", "--tasks", str(a.tasks),
                                "--duration", str(a.duration), "--warmup", "0.5", "--impl", impl, "--loop", loop]
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.duration * 10 + 60)
                if out.returncode != 0 or not out.stdout.strip():
                    print(f"bench_python: {impl} on {loop} failed: {out.stderr.strip()[-500:]}", file=sys.stderr)
                    failed = True
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                results[(impl, loop)].append(r)
        load = os.getloadavg()[0]
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=10)
    print(f"Python scenario: {a.tasks} tasks, GET 13 bytes, client pinned to one core, "
          f"{a.reps} x {a.duration:g} s each, medians; {time.time() - started:.0f} s, load {load:.2f}")
    print()
    print("| client | loop | req/s | CPU µs/req | req/s vs aiohttp | CPU vs aiohttp |")
    print("|---|---|---:|---:|---:|---:|")
    med = {}
    for key, runs in results.items():
        if not runs:
            continue
        rps = statistics.median(r["requests"] / r["wall_s"] for r in runs)
        cpu = statistics.median((r["cpu_user_s"] + r["cpu_sys_s"]) / max(1, r["requests"]) * 1e6 for r in runs)
        med[key] = (rps, cpu)
    for impl, loop in CLIENTS:
        if (impl, loop) not in med:
            continue
        rps, cpu = med[(impl, loop)]
        base = med.get(("aiohttp", loop))
        ratio = f"{rps / base[0]:.2f}×" if base else "-"
        cratio = f"{cpu / base[1]:.2f}×" if base else "-"
        print(f"| {impl} | {loop} | {rps:,.0f} | {cpu:.1f} | {ratio} | {cratio} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
