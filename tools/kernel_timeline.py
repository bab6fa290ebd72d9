#!/usr/bin/env python3
"""Summary of a `kiln bench --kernel_timeline` CSV (device start/end of every kernel, CUPTI): for
one case, the kernels that ran inside CUDA graphs (the decode steps) grouped by (name, grid,
block), with count, median duration, the median *lead* — start minus the latest end of every
kernel started before it: negative when it overlapped its predecessor (PDL), positive for an idle
gap — and the median *increment* — end minus that latest end: what the kernel adds to the step's
span, the figure to compare with its roofline when PDL overlaps durations — with its per-step
sum; plus per-step totals (device span of a step's graph vs the sum of its kernels' durations).
--by_predecessor splits each group by the kernel that started before it (e.g. the two GEMVs of
the same shape after attention and after fc1).
Usage: tools/kernel_timeline.py timeline.csv [--case BATCH,IN,OUT] [--all] [--top N]
[--by_predecessor]."""
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
    ap.add_argument("--by_predecessor", action="store_true",
                    help="group by (kernel, grid, block, the kernel started before it)")
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

    groups = collections.defaultdict(lambda: ([], [], []))  # durations, leads, increments
    steps, latest, prev = [[]], None, "(step start)"
    for r in ks:
        lead = None if latest is None else (r["start"] - latest) / 1e3
        if lead is not None and lead >= a.step_gap_us:
            steps.append([])
            lead = None  # the first kernel of a step: its lead is host time, not a dependency
        if lead is None:
            prev = "(step start)"
        steps[-1].append(r)
        me = (names[r["name"]][:60], r["grid"], r["block"])
        key = me + ((f"<- {prev}",) if a.by_predecessor else ())
        groups[key][0].append((r["end"] - r["start"]) / 1e3)
        if lead is not None:
            groups[key][1].append(lead)
            groups[key][2].append((r["end"] - latest) / 1e3)
        latest = r["end"] if latest is None else max(latest, r["end"])
        prev = f"{me[0]}/{me[1]}"

    spans = [(s[-1]["end"] - s[0]["start"]) / 1e3 for s in steps if s]
    busy = [sum(r["end"] - r["start"] for r in s) / 1e3 for s in steps if s]
    print(f"case {case}: {len(ks)} kernels in {len(steps)} steps; per step median "
          f"{statistics.median(spans):.1f} us device span, {statistics.median(busy):.1f} us of "
          f"kernel durations, {statistics.median([len(s) for s in steps]):.0f} kernels")
    print(f"{'count':>6} {'med us':>8} {'total us':>10} {'med lead':>9} {'med inc':>8} "
          f"{'inc/step':>9}  kernel grid block{' predecessor' if a.by_predecessor else ''}")
    for key, (durs, leads, incs) in sorted(groups.items(), key=lambda kv: -sum(kv[1][0]))[: a.top]:
        lead = f"{statistics.median(leads):9.2f}" if leads else f"{'':>9}"
        inc = f"{statistics.median(incs):8.2f} {sum(incs) / len(steps):9.1f}" if incs else \
            f"{'':>8} {'':>9}"
        print(f"{len(durs):6d} {statistics.median(durs):8.2f} {sum(durs):10.1f} {lead} {inc}  "
              + " ".join(key))


if __name__ == "__main__":
    main()
