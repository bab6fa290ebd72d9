#!/usr/bin/env python3
"""Summary of a `kiln bench --kernel_timeline` CSV (device start/end of every kernel, CUPTI): for
one case, the kernels that ran inside CUDA graphs (the decode steps) grouped by (name, grid,
block), with count, median duration, and the median *lead* — start minus the latest end of every
kernel started before it: negative when it overlapped its predecessor (PDL), positive for an idle
gap — plus per-step totals (device span of a step's graph vs the sum of its kernels' durations).
Usage: tools/kernel_timeline.py timeline.csv [--case BATCH,IN,OUT] [--all] [--top N]."""
import argparse
import collections
import csv
import re
import shutil
import statistics
import subprocess


def short_names(names):
    """Demangled base names (c++filt when present), without return types, templates and args."""
    names = sorted(set(names))
    out = {n: n for n in names}
    if shutil.which("c++filt"):
        r = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True)
        if r.returncode == 0 and len(r.stdout.splitlines()) == len(names):
            out = dict(zip(names, r.stdout.splitlines()))
    for n, d in out.items():
        d = d.split("(")[0]
        depth, base = 0, ""
        for ch in d:  # drop template arguments
            depth += ch == "<"
            if depth == 0:
                base += ch
            depth -= ch == ">"
        out[n] = re.sub(r"^.*[ :]", "", base.strip()) or d[:60]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--case", help="BATCH,IN,OUT (default: the first in the file)")
    ap.add_argument("--all", action="store_true", help="every kernel, not only graph nodes")
    ap.add_argument("--step_gap_us", type=float, default=20.0,
                    help="an idle gap at least this long starts a new step")
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    with open(a.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit("no kernels in " + a.csv)
    case = a.case or ",".join(rows[0][k] for k in ("batch", "input_len", "output_len"))
    ks = [r for r in rows if ",".join((r["batch"], r["input_len"], r["output_len"])) == case]
    if not a.all:
        ks = [r for r in ks if r["graph"] not in ("", "0")]
    if not ks:
        raise SystemExit(f"no {'kernels' if a.all else 'graph kernels'} for case {case}")
    for r in ks:
        r["start"], r["end"] = int(r["start_ns"]), int(r["end_ns"])
    ks.sort(key=lambda r: r["start"])
    names = short_names(r["name"] for r in ks)

    groups = collections.defaultdict(lambda: ([], []))
    steps, latest = [[]], None
    for r in ks:
        lead = None if latest is None else (r["start"] - latest) / 1e3
        if lead is not None and lead >= a.step_gap_us:
            steps.append([])
            lead = None  # the first kernel of a step: its lead is host time, not a dependency
        steps[-1].append(r)
        key = (names[r["name"]][:60], r["grid"], r["block"])
        groups[key][0].append((r["end"] - r["start"]) / 1e3)
        if lead is not None:
            groups[key][1].append(lead)
        latest = r["end"] if latest is None else max(latest, r["end"])

    spans = [(s[-1]["end"] - s[0]["start"]) / 1e3 for s in steps if s]
    busy = [sum(r["end"] - r["start"] for r in s) / 1e3 for s in steps if s]
    print(f"case {case}: {len(ks)} kernels in {len(steps)} steps; per step median "
          f"{statistics.median(spans):.1f} us device span, {statistics.median(busy):.1f} us of "
          f"kernel durations, {statistics.median([len(s) for s in steps]):.0f} kernels")
    print(f"{'count':>6} {'med us':>8} {'total us':>10} {'med lead':>9}  kernel grid block")
    for (name, grid, block), (durs, leads) in sorted(groups.items(),
                                                     key=lambda kv: -sum(kv[1][0]))[: a.top]:
        lead = f"{statistics.median(leads):9.2f}" if leads else f"{'':>9}"
        print(f"{len(durs):6d} {statistics.median(durs):8.2f} {sum(durs):10.1f} {lead}  "
              f"{name} {grid} {block}")


if __name__ == "__main__":
    main()
