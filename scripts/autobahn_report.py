#!/usr/bin/env python3
"""Checks an Autobahn|Testsuite fuzzingserver report (index.json).

Usage: autobahn_report.py INDEX_JSON [--expect N] [--agent NAME]

Prints the counts of each `behavior` (what a case counts as) and of each
`behaviorClose`, lists the FAILED, UNIMPLEMENTED and NON-STRICT cases, and any
case whose closing behavior is FAILED, with the description, expectation and
results from the case's own report for the failed ones.

Exit status: 0 if no case's behavior is FAILED or UNIMPLEMENTED and at least
N cases ran (N from --expect: the server's getCaseCount); 1 otherwise; 2 if
the report is missing or unreadable.
"""

import argparse
import json
import os
import sys
from collections import Counter

BEHAVIORS = ["OK", "NON-STRICT", "FAILED", "UNIMPLEMENTED", "INFORMATIONAL"]
LISTED = ["FAILED", "UNIMPLEMENTED", "NON-STRICT"]
BAD = {"FAILED", "UNIMPLEMENTED"}
DETAIL_CHARS = 400


def case_key(case_id):
    """Orders "9.1.10" after "9.1.2"."""
    return [int(p) if p.isdigit() else p for p in case_id.split(".")]


def counts_line(counter, order):
    keys = order + sorted(k for k in counter if k not in order)
    return ", ".join(f"{k} {counter.get(k, 0)}" for k in keys)


def clip(value):
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "..."


def details(outdir, entry):
    path = os.path.join(outdir, entry.get("reportfile", ""))
    try:
        with open(path, encoding="utf-8") as f:
            case = json.load(f)
    except (OSError, ValueError) as exc:
        return [f"      (no case report: {exc})"]
    return [
        f"      {field}: {clip(case.get(field, ''))}"
        for field in ("description", "expectation", "result", "resultClose")
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index", help="the report's index.json")
    ap.add_argument("--expect", type=int, help="cases the server offers (getCaseCount)")
    ap.add_argument("--agent", help="agent to check (default: every agent in the report)")
    args = ap.parse_args()

    try:
        with open(args.index, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"autobahn report: cannot read {args.index}: {exc}", file=sys.stderr)
        return 2
    outdir = os.path.dirname(os.path.abspath(args.index))
    agents = [args.agent] if args.agent else sorted(index)
    if not agents:
        print("autobahn report: no agent in the report", file=sys.stderr)
        return 2

    ok = True
    for agent in agents:
        cases = index.get(agent)
        if cases is None:
            print(f"autobahn report: agent {agent!r} not in the report", file=sys.stderr)
            return 2
        ids = sorted(cases, key=case_key)
        behavior = Counter(cases[c]["behavior"] for c in ids)
        closing = Counter(cases[c]["behaviorClose"] for c in ids)
        expect = f" of {args.expect}" if args.expect is not None else ""
        print(f"autobahn report for {agent}: {len(ids)}{expect} cases ran")
        print(f"  behavior:      {counts_line(behavior, BEHAVIORS)}")
        print(f"  behaviorClose: {counts_line(closing, ['OK', 'FAILED', 'INFORMATIONAL'])}")
        for kind in LISTED:
            listed = [c for c in ids if cases[c]["behavior"] == kind]
            if listed:
                print(f"  {kind} ({len(listed)}): {' '.join(listed)}")
        close_failed = [c for c in ids if cases[c]["behaviorClose"] == "FAILED"]
        if close_failed:
            print(f"  closing behavior FAILED ({len(close_failed)}): {' '.join(close_failed)}")
        for c in ids:
            entry = cases[c]
            if entry["behavior"] in BAD or entry["behaviorClose"] == "FAILED":
                print(f"  case {c}: {entry['behavior']} (close: {entry['behaviorClose']})")
                print("\n".join(details(outdir, entry)))
        if any(cases[c]["behavior"] in BAD for c in ids):
            ok = False
        if args.expect is not None and len(ids) < args.expect:
            print(f"  only {len(ids)} of the {args.expect} cases ran")
            ok = False
    print(f"autobahn report: {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
