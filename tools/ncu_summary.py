#!/usr/bin/env python3
"""Per-kernel summary of an `ncu --csv --metrics gpu__time_duration.sum` log (scripts/gpu_host.sh
stage ncu): kernels grouped by (name, grid, block) over the launches after --skip, with count,
median and total µs, largest total first. Usage: tools/ncu_summary.py ncu.csv [--skip N]."""
import argparse
import collections
import csv
import statistics

UNITS = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}


def rows(path):
    header = None
    with open(path, newline="") as f:
        for r in csv.reader(f):
            if r and r[0] == "ID":
                header = r
            elif header and len(r) == len(header):
                yield dict(zip(header, r))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--skip", type=int, default=0, help="launches to leave out (prefill, warm-up)")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    groups = collections.defaultdict(list)
    data = [d for d in rows(a.csv) if d.get("Metric Name") == "gpu__time_duration.sum"]
    for d in data[a.skip:]:
        name = d["Kernel Name"].split("(")[0].replace("void ", "")
        us = float(d["Metric Value"].replace(",", "")) * UNITS[d["Metric Unit"]]
        groups[(name[:70], d["Grid Size"], d["Block Size"])].append(us)
    total = sum(sum(v) for v in groups.values())
    print(f"{len(data) - a.skip} launches, {total:.1f} us in all")
    print(f"{'count':>6} {'median us':>10} {'total us':>10}  kernel grid block")
    for (name, grid, block), v in sorted(groups.items(), key=lambda kv: -sum(kv[1]))[: a.top]:
        print(f"{len(v):6d} {statistics.median(v):10.2f} {sum(v):10.1f}  {name} {grid} {block}")


if __name__ == "__main__":
    main()
