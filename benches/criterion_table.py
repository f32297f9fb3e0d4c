#!/usr/bin/env python3
"""Print the README's benchmark table from criterion's results.

Reads every `target/criterion/**/new/benchmark.json` (group, function and
parameter of one benchmark) and the `estimates.json` beside it (median point
estimate, ns), as written by `cargo bench --bench buffers`, and prints
markdown: one table of medians per group, then the ratios DESIGN.md judges
("How performance is judged"), each against a peer measured in the same run.

Usage: python3 benches/criterion_table.py [CRITERION_DIR]
"""

import json
import os
import sys
from collections import OrderedDict


def load(root):
    """{(group, function, parameter): median ns}, in discovery order."""
    results = OrderedDict()
    for dirpath, _dirs, files in sorted(os.walk(root)):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        key = (bench["group_id"], bench.get("function_id") or "", bench.get("value_str") or "")
        results[key] = est["median"]["point_estimate"]
    return results


def fmt_ns(ns):
    if ns is None:
        return "n/a"
    if ns >= 100:
        return f"{ns:,.0f}"
    return f"{ns:.2f}"


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}×"


def tables(results):
    groups = OrderedDict()
    for (group, function, param), ns in results.items():
        groups.setdefault(group, OrderedDict()).setdefault(function, OrderedDict())[param] = ns
    out = []
    for group, functions in groups.items():
        out.append(f"### {group} (median ns per operation)\n")
        params = []
        for by_param in functions.values():
            for p in by_param:
                if p not in params:
                    params.append(p)
        names = list(functions)
        out.append("| subject | " + " | ".join(names) + " |")
        out.append("| --- | " + " | ".join("---:" for _ in names) + " |")
        for p in params:
            cells = [fmt_ns(functions[f].get(p)) for f in names]
            out.append(f"| {p} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def ratios(results):
    def get(group, function, param):
        return results.get((group, function, param))

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    rows = []

    def row(what, value, target, ok):
        if value is None:
            verdict = "n/a"
        elif ok is None:
            verdict = "—"
        else:
            verdict = "met" if ok(value) else "NOT met"
        rows.append(f"| {what} | {fmt_ratio(value)} | {target} | {verdict} |")

    u = "uncontended"
    for ring in ("slot ring latest", "slot ring reader"):
        r = get(u, "read", ring)
        row(f"uncontended read, {ring} / bare seqlock", ratio(r, get(u, "read", "bare seqlock")), "≤ 1.3×", lambda v: v <= 1.3)
        for peer in ("rwlock", "mutex", "arcswap"):
            row(f"uncontended read, {peer} / {ring}", ratio(get(u, "read", peer), r), "≥ 4×", lambda v: v >= 4)
    rc = "read contention"
    for ring in ("slot ring latest", "slot ring reader"):
        r = get(rc, "writer every 1us", ring)
        row(f"writer every 1 µs, rwlock / {ring}", ratio(get(rc, "writer every 1us", "rwlock"), r), "≥ 5×", lambda v: v >= 5)
    for ring in ("slot ring latest", "slot ring reader"):
        peers = [get(rc, "writer flat out", p) for p in ("mutex", "rwlock", "arcswap")]
        peers = [p for p in peers if p is not None]
        best = min(peers) if peers else None
        row(f"writer flat out, {ring} / best lock", ratio(get(rc, "writer flat out", ring), best), "≤ 0.5×", lambda v: v <= 0.5)
    seq_write = get(u, "publish", "bare seqlock")
    for ring in ("slot ring", "slot ring checked"):
        row(f"uncontended publish, {ring} / bare seqlock write", ratio(get(u, "publish", ring), seq_write), "≤ 1.5×", lambda v: v <= 1.5)
    wc = "write contention"
    row(
        "publish with a reader flat out, slot ring / bare seqlock",
        ratio(get(wc, "publish, reader flat out", "slot ring"), get(wc, "publish, reader flat out", "bare seqlock")),
        "≤ 1.5×",
        lambda v: v <= 1.5,
    )
    ps = "publish subscribers"
    base = get(ps, "publish", "bare seqlock (no subscription support)")
    for n in (0, 1, 10):
        row(
            f"publish, slot ring with {n} subscriptions / bare seqlock write",
            ratio(get(ps, "publish", f"slot ring, {n} subscriptions"), base),
            "≤ 1.5× (0 subscriptions)" if n == 0 else "(reported)",
            (lambda v: v <= 1.5) if n == 0 else None,
        )
    out = ["### ratios (DESIGN.md targets, same run)\n", "| ratio | measured | target | verdict |", "| --- | ---: | --- | --- |"]
    out.extend(rows)
    return "\n".join(out)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join("target", "criterion")
    results = load(root)
    if not results:
        sys.exit(f"no criterion results under {root}; run `cargo bench --bench buffers` first")
    print(tables(results))
    print(ratios(results))


if __name__ == "__main__":
    main()
