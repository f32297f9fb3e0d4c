#!/usr/bin/env python3
"""Print the README's Rust benchmark tables and target verdicts from
criterion's results.

Reads every ``target/criterion/**/new/benchmark.json`` (group, function and
subject of one row) and the ``estimates.json`` beside it (its median, ns),
as written by ``cargo bench --bench buffers``, and prints Markdown:

* the medians of every read and publish row, one column per regime;
* the target rows, each a ratio of two medians of the same run with its
  target and a ``met`` / ``not met`` verdict;
* further ratios reported without a target.

Every row of the bench hands the whole of what its user gets to
``black_box`` (rtstate: the full snapshot; peers: the full state), so the
ratios compare like with like.

Usage: python3 benches/criterion_table.py [--since FILE] [CRITERION_DIR]

``--since FILE`` ignores results older than FILE's modification time (the
Makefile touches one before the run), so that every figure comes from one
run; a row missing from that run prints as ``n/a``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

READ = "read"
PUBLISH = "publish"
SLOTS = "slots"

READ_REGIMES = ["uncontended", "writer every 1us", "writer flat out"]
READ_SUBJECTS = [
    "rtstate Reader::read",
    "rtstate SlotRing::latest",
    "rtstate SlotRing::peek",
    "rtstate StateBuffer::latest",
    "bare stamped ring",
    "bare seqlock",
    "triple_buffer",
    "AtomicCell",
    "Mutex",
    "RwLock",
    "ArcSwap",
]
PUBLISH_REGIMES = ["uncontended", "reader flat out"]
PUBLISH_SUBJECTS = [
    "rtstate SlotRing::publish",
    "rtstate SlotRing::publish, 1 subscription",
    "rtstate SlotRing::publish, 10 subscriptions",
    "rtstate SlotRing::publish, checked",
    "rtstate StateBuffer::publish",
    "bare stamped ring write",
    "bare stamped ring write + Instant::now()",
    "Instant::now()",
    "bare seqlock write",
    "triple_buffer write",
    "AtomicCell store",
    "Mutex write",
    "RwLock write",
    "ArcSwap store",
]

# What each read row hands to black_box.
CONSUMES = {
    "rtstate Reader::read": "`Option<Snapshot>`: state, version, timestamp, published_at, published_ns, source",
    "rtstate SlotRing::latest": "`Option<Snapshot>` (as above)",
    "rtstate SlotRing::peek": "`Option<Snapshot>` (as above)",
    "rtstate StateBuffer::latest": "the `Arc<Snapshot>`'s snapshot, copied out",
    "bare stamped ring": "`Option<[u64; N]>`, N words = the snapshot's size",
    "bare seqlock": "the state (13 `f64`)",
    "triple_buffer": "the state, copied from `Output::read()`",
    "AtomicCell": "the state (`AtomicCell<FastDroneState>::load`)",
    "Mutex": "the state, copied under the lock",
    "RwLock": "the state, copied under the read lock",
    "ArcSwap": "the state, copied from `load()`",
}

# Target rows for subjects a bench may add, judged once the subject is
# measured: a cross-process read against the in-process one, a publish with
# a recorder or a network bridge attached against a publish with one
# subscription. Their subject names are the contract with those benches.
FUTURE_TARGETS = [
    (
        "cross-process `Reader::read` / in-process `Reader::read`, uncontended",
        (READ, "uncontended", "rtstate shared Reader::read"),
        (READ, "uncontended", "rtstate Reader::read"),
        "≤ 1.3×",
        lambda v: v <= 1.3,
    ),
    (
        "publish with a recorder attached / publish with 1 subscription",
        (PUBLISH, "uncontended", "rtstate SlotRing::publish, recorder"),
        (PUBLISH, "uncontended", "rtstate SlotRing::publish, 1 subscription"),
        "≤ 1.1×",
        lambda v: v <= 1.1,
    ),
    (
        "publish with a network bridge attached / publish with 1 subscription",
        (PUBLISH, "uncontended", "rtstate SlotRing::publish, bridge"),
        (PUBLISH, "uncontended", "rtstate SlotRing::publish, 1 subscription"),
        "≤ 1.1×",
        lambda v: v <= 1.1,
    ),
]

BARE_READ = "bare stamped ring"
BARE_WRITE_CLOCK = "bare stamped ring write + Instant::now()"


def load(root: str, since: float | None) -> tuple[dict, list]:
    """({(group, function, subject): median ns}, [stale keys])."""
    results, stale = {}, []
    for dirpath, _dirs, files in sorted(os.walk(root)):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        est_path = os.path.join(dirpath, "estimates.json")
        if not os.path.exists(est_path):
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        key = (bench["group_id"], bench.get("function_id") or "", bench.get("value_str") or "")
        if since is not None and os.path.getmtime(est_path) < since:
            stale.append(key)
            continue
        with open(est_path) as f:
            est = json.load(f)
        results[key] = est["median"]["point_estimate"]
    return results, stale


def fmt_ns(ns: float | None) -> str:
    if ns is None:
        return "n/a"
    if ns >= 100:
        return f"{ns:,.0f}"
    if ns >= 10:
        return f"{ns:.1f}"
    return f"{ns:.2f}"


def fmt_ratio(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}×"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def medians_table(results: dict, group: str, regimes: list, subjects: list, extra: bool) -> list:
    out = ["| subject | " + " | ".join(r.replace("1us", "1 µs") for r in regimes) + " |"]
    out.append("| --- | " + " | ".join("---:" for _ in regimes) + " |")
    known = set(subjects)
    found = [s for s in subjects if any((group, r, s) in results for r in regimes)]
    if extra:
        for (g, _f, s) in results:
            if g == group and s not in known and s not in found:
                found.append(s)
    for s in found:
        cells = [fmt_ns(results.get((group, r, s))) for r in regimes]
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    return out


def targets(results: dict) -> tuple[list, list]:
    """(target rows, reported rows), Markdown lines."""

    def get(group, function, subject):
        return results.get((group, function, subject))

    rows = ["| what | ratio (medians, ns) | target | verdict |", "| --- | ---: | --- | --- |"]

    def row(what, a, b, target, ok):
        r = ratio(a, b)
        verdict = "n/a" if r is None else ("met" if ok(r) else "not met")
        rows.append(f"| {what} | {fmt_ratio(r)} ({fmt_ns(a)} / {fmt_ns(b)}) | {target} | {verdict} |")

    u, e1, fo = READ_REGIMES
    read = "rtstate Reader::read"
    rr = get(READ, u, read)
    row("`Reader::read` / bare stamped ring, uncontended", rr, get(READ, u, BARE_READ), "≤ 1.3×", lambda v: v <= 1.3)
    row("`Mutex` / `Reader::read`, uncontended", get(READ, u, "Mutex"), rr, "≥ 3× (faster)", lambda v: v >= 3)
    row("`RwLock` / `Reader::read`, uncontended", get(READ, u, "RwLock"), rr, "≥ 3× (faster)", lambda v: v >= 3)
    row("`Reader::read` / `triple_buffer`, uncontended", rr, get(READ, u, "triple_buffer"), "≤ 2.5×", lambda v: v <= 2.5)
    row(
        "`Mutex` / `Reader::read`, writer every 1 µs",
        get(READ, e1, "Mutex"),
        get(READ, e1, read),
        "≥ 3× (faster)",
        lambda v: v >= 3,
    )
    peers = {p: get(READ, fo, p) for p in ("Mutex", "RwLock", "ArcSwap", "AtomicCell")}
    present = {p: v for p, v in peers.items() if v is not None}
    best = min(present, key=present.get) if present else None
    row(
        f"`Reader::read` / best of `Mutex`, `RwLock`, `ArcSwap`, `AtomicCell` ({best or 'n/a'}), writer flat out",
        get(READ, fo, read),
        present.get(best) if best else None,
        "≤ 0.5×",
        lambda v: v <= 0.5,
    )
    bare = get(READ, u, BARE_READ)
    row("`SlotRing::latest` / bare stamped ring, uncontended", get(READ, u, "rtstate SlotRing::latest"), bare, "≤ 1.5×", lambda v: v <= 1.5)
    row("`SlotRing::peek` / bare stamped ring, uncontended", get(READ, u, "rtstate SlotRing::peek"), bare, "≤ 1.2×", lambda v: v <= 1.2)
    pu = PUBLISH_REGIMES[0]
    pub = get(PUBLISH, pu, "rtstate SlotRing::publish")
    row(
        "`SlotRing::publish` / (bare stamped ring write + one `Instant::now()`), uncontended",
        pub,
        get(PUBLISH, pu, BARE_WRITE_CLOCK),
        "≤ 1.5×",
        lambda v: v <= 1.5,
    )
    rows.append("| `SlotRing::publish` allocations | 0 (counted by `tests/alloc.rs`, `make stress`) | 0 | met when that test passes |")

    # Targets of rows that later benches add (printed once their rows exist):
    # (what, (group, function, subject), (group, function, subject), target, test).
    for what, a, b, target, ok in FUTURE_TARGETS:
        if get(*a) is not None:
            row(what, get(*a), get(*b), target, ok)

    rep = ["| what | ratio (medians, ns) |", "| --- | ---: |"]

    def report(what, a, b):
        rep.append(f"| {what} | {fmt_ratio(ratio(a, b))} ({fmt_ns(a)} / {fmt_ns(b)}) |")

    report("`Reader::read` / bare stamped ring, writer every 1 µs", get(READ, e1, read), get(READ, e1, BARE_READ))
    report("`Reader::read` / bare stamped ring, writer flat out", get(READ, fo, read), get(READ, fo, BARE_READ))
    report("`Reader::read` / `triple_buffer`, writer every 1 µs", get(READ, e1, read), get(READ, e1, "triple_buffer"))
    report("`Reader::read` / `AtomicCell`, uncontended", rr, get(READ, u, "AtomicCell"))
    report("`Reader::read` / bare seqlock (state only), uncontended", rr, get(READ, u, "bare seqlock"))
    report("`StateBuffer::latest` + copy / `ArcSwap` load + copy, uncontended", get(READ, u, "rtstate StateBuffer::latest"), get(READ, u, "ArcSwap"))
    report("publish, 1 subscription / no subscription", get(PUBLISH, pu, "rtstate SlotRing::publish, 1 subscription"), pub)
    report("publish, 10 subscriptions / no subscription", get(PUBLISH, pu, "rtstate SlotRing::publish, 10 subscriptions"), pub)
    report("publish / bare stamped ring write (no clock)", pub, get(PUBLISH, pu, "bare stamped ring write"))
    report("publish / `Mutex` write", pub, get(PUBLISH, pu, "Mutex write"))
    report("publish / `triple_buffer` write", pub, get(PUBLISH, pu, "triple_buffer write"))
    rf = PUBLISH_REGIMES[1]
    report(
        "publish / (bare ring write + `Instant::now()`), reader flat out",
        get(PUBLISH, rf, "rtstate SlotRing::publish"),
        get(PUBLISH, rf, BARE_WRITE_CLOCK),
    )
    report("publish, reader flat out / `Mutex` write, reader flat out", get(PUBLISH, rf, "rtstate SlotRing::publish"), get(PUBLISH, rf, "Mutex write"))
    return rows, rep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default=os.path.join("target", "criterion"))
    parser.add_argument("--since", help="ignore results older than this file")
    args = parser.parse_args()
    since = os.path.getmtime(args.since) if args.since and os.path.exists(args.since) else None
    results, stale = load(args.root, since)
    if not results:
        sys.exit(f"no criterion results under {args.root}; run `cargo bench --bench buffers` first")
    out = [
        "Uncontended rows: the measuring thread's CPU time (other processes on a shared",
        "machine do not inflate it); rows with a writer or reader on the other CPU: wall time.",
        "",
        "#### Reads: median ns per read (the whole snapshot or state to `black_box`)",
        "",
    ]
    out += medians_table(results, READ, READ_REGIMES, READ_SUBJECTS, extra=True)
    out += ["", "What each read row consumes:", ""]
    out += [f"- {s}: {c}" for s, c in CONSUMES.items()]
    out += ["", "#### Publishes: median ns per publish of a whole state", ""]
    out += medians_table(results, PUBLISH, PUBLISH_REGIMES, PUBLISH_SUBJECTS, extra=True)
    slots = sorted(
        ((s, ns) for (g, _f, s), ns in results.items() if g == SLOTS),
        key=lambda x: int(x[0].split("=")[-1]) if x[0].split("=")[-1].isdigit() else 0,
    )
    if slots:
        out += ["", "#### Slots: `Reader::read` under a flat-out writer, median ns", ""]
        out += ["| slots | ns |", "| --- | ---: |"] + [f"| {s} | {fmt_ns(ns)} |" for s, ns in slots]
    rows, rep = targets(results)
    out += ["", "#### Targets (ratios of medians from the same run)", ""] + rows
    out += ["", "#### Further ratios (reported, no target)", ""] + rep
    if stale:
        out += ["", f"({len(stale)} older results under {args.root} ignored: not from this run.)"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
