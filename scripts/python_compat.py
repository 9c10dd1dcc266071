#!/usr/bin/env python3
"""aiohttp's own client tests, run against aiohttp and against aiohttp_rs.

Fetches the sdist of the pinned aiohttp (the version installed in this venv) from PyPI
into .compat/, copies its tests/, and runs test_client_functional.py,
test_client_ws_functional.py and test_cookiejar.py twice with pytest: once as they are
(real aiohttp) and once with the plugin crates/python/compat/aiohttp_rs_compat.py, which
swaps aiohttp's ClientSession, request, connectors and cookie jars for aiohttp_rs's.

A test is "black-box" when its function neither touches a private attribute (``x._y``)
nor patches anything (``mock``, ``monkeypatch``, ``mocker``, ``patch``): only those can
hold another implementation to aiohttp's behaviour. Prints, per file: the items, the
items passing on aiohttp, the black-box items passing on aiohttp, and how many of those
pass on aiohttp_rs; then the black-box items that pass on aiohttp but not on aiohttp_rs
(compare with crates/python/compat/known_failures.txt, which gives a reason for each).

Usage: scripts/python_compat.py [--keep] [-k EXPR]   (run from the repo, venv python)
Exit status: 0 unless the harness broke; the counts are a measurement.
"""

from __future__ import annotations

import argparse
import ast
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from importlib.metadata import version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, ".compat")
FILES = ["test_client_functional.py", "test_client_ws_functional.py", "test_cookiejar.py"]
PYTEST_INI = """[pytest]
addopts = -p no:cacheprovider -m "not dev_mode and not autobahn and not internal"
timeout = 30
filterwarnings =
    ignore::DeprecationWarning
    ignore::ResourceWarning
xfail_strict = true
markers =
    autobahn: Autobahn testsuite.
    dev_mode: dev mode.
    internal: internal.
    skip_blockbuster: skip blockbuster.
"""
PATCHING = {"mock", "monkeypatch", "mocker", "patch", "patch_object"}


def fetch(ver: str) -> str:
    """The tests folder of aiohttp's sdist at `ver`, copied to .compat/run-<ver>."""
    run_dir = os.path.join(WORK, f"run-{ver}")
    if os.path.isdir(os.path.join(run_dir, "tests")):
        return run_dir
    os.makedirs(WORK, exist_ok=True)
    sdist = os.path.join(WORK, f"aiohttp-{ver}.tar.gz")
    if not os.path.exists(sdist):
        # pip downloads the sdist, then prepares its metadata, which may fail for want of
        # build tools; only the file is needed.
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", f"aiohttp=={ver}", "--no-binary", ":all:",
             "--no-deps", "--no-build-isolation", "-d", WORK],
            check=False,
        )
        if not os.path.exists(sdist):
            raise SystemExit(f"python_compat: could not download the sdist of aiohttp {ver}")
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(f"aiohttp-{ver}/tests/")]
        tar.extractall(WORK, members=members, filter="data")
    os.makedirs(run_dir, exist_ok=True)
    shutil.move(os.path.join(WORK, f"aiohttp-{ver}", "tests"), os.path.join(run_dir, "tests"))
    with open(os.path.join(run_dir, "pytest.ini"), "w") as f:
        f.write(PYTEST_INI)
    return run_dir


def black_box(path: str) -> dict[str, bool]:
    """Test function name -> whether it is black-box."""
    tree = ast.parse(open(path).read())
    out: dict[str, bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            clean = True
            for sub in ast.walk(node):
                if isinstance(sub, ast.Attribute):
                    if sub.attr.startswith("_") and not sub.attr.startswith("__"):
                        clean = False
                    if sub.attr in PATCHING:
                        clean = False
                elif isinstance(sub, ast.Name) and sub.id in PATCHING:
                    clean = False
                elif isinstance(sub, ast.arg) and sub.arg in PATCHING:
                    clean = False
            out[node.name] = clean
    return out


def run(run_dir: str, ours: bool, xml: str, extra: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    if ours:
        env["PYTHONPATH"] = os.path.join(ROOT, "crates", "python", "compat") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "pytest", "-q", "--junitxml", xml, *extra]
    if ours:
        cmd += ["-p", "aiohttp_rs_compat"]
    cmd += [os.path.join("tests", f) for f in FILES]
    subprocess.run(cmd, cwd=run_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600)
    results: dict[str, str] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        key = f"{case.get('classname')}::{case.get('name')}"
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                status = "failed"
            elif child.tag == "skipped":
                status = "skipped"
        results[key] = status
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-k", help="pytest -k expression")
    p.add_argument("--failures", help="write the failing black-box items here")
    a = p.parse_args()
    ver = version("aiohttp")
    run_dir = fetch(ver)
    extra = ["-k", a.k] if a.k else []
    real = run(run_dir, False, os.path.join(WORK, "real.xml"), extra)
    ours = run(run_dir, True, os.path.join(WORK, "ours.xml"), extra)
    print(f"aiohttp {ver} tests; aiohttp_rs {version('aiohttp_rs')}")
    print()
    print("| file | items | pass on aiohttp | black-box passing on aiohttp | of those, pass on aiohttp_rs | share |")
    print("|---|---:|---:|---:|---:|---:|")
    failing: list[str] = []
    totals = [0, 0, 0, 0]
    for f in FILES:
        mod = "tests." + f[:-3]
        bb = black_box(os.path.join(run_dir, "tests", f))
        keys = [k for k in real if k.startswith(mod + "::")]
        real_pass = [k for k in keys if real[k] == "passed"]
        bb_pass = [k for k in real_pass if bb.get(k.split("::")[1].split("[")[0], False)]
        ours_pass = [k for k in bb_pass if ours.get(k) == "passed"]
        failing += [k for k in bb_pass if ours.get(k) != "passed"]
        row = [len(keys), len(real_pass), len(bb_pass), len(ours_pass)]
        totals = [t + r for t, r in zip(totals, row)]
        share = f"{100 * row[3] / row[2]:.1f}%" if row[2] else "-"
        print(f"| {f} | {row[0]} | {row[1]} | {row[2]} | {row[3]} | {share} |")
    share = f"{100 * totals[3] / totals[2]:.1f}%" if totals[2] else "-"
    print(f"| all | {totals[0]} | {totals[1]} | {totals[2]} | {totals[3]} | {share} |")
    all_ours = sum(1 for k, v in ours.items() if v == "passed")
    print()
    print(f"All items passing on aiohttp_rs (black-box or not): {all_ours} of {len(ours)}")
    if a.failures:
        with open(a.failures, "w") as out:
            out.write("\n".join(sorted(failing)) + "\n")
    print()
    print(f"Black-box items passing on aiohttp but not on aiohttp_rs: {len(failing)}")
    for k in sorted(failing):
        print(f"  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
