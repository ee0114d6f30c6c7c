#!/usr/bin/env python3
"""Summarises the output of scripts/compare-etcd-benchmark.sh.

For each workload and shape: both tools' median throughput, the ratio of the
medians (ours / etcd's), the median of the per-pair ratios with a bootstrap
95% interval (a pair's two runs share the machine's load of the moment, so
their ratio is the steadier figure), how often ours was at least as fast, and
the median CPU per request (user + system of the whole process, start-up and
cleanup included) and peak RSS of each tool.

The interval answers "could the true median ratio be 1?": on a shared
two-core machine single runs scatter by 10% and more, so a median below 1
says little unless its interval stays below 1 too.
"""
import random
import re
import statistics
import sys

LINE = re.compile(r"(\w+) (\d+x\d+) (\d+) (etcd|ours) rps=([\d.]+) time=([\d.]+),([\d.]+),([\d.]+),(\d+) load=([\d.]+)")


def main(path):
    runs = {}
    for line in open(path):
        m = LINE.match(line)
        if not m:
            continue
        workload, shape, total, tool, rps, _wall, user, sys_, rss, load = m.groups()
        key = (workload, shape, int(total))
        r = runs.setdefault(key, {"etcd": [], "ours": [], "load": []})
        cpu_us = (float(user) + float(sys_)) / int(total) * 1e6
        r[tool].append((float(rps), cpu_us, int(rss) / 1024))
        r["load"].append(float(load))
    rng = random.Random(1)
    print("| workload | conns × clients | requests × pairs | etcd median req/s | ours | ratio of medians "
          "| median pair ratio [95%] | ours ≥ etcd | CPU µs/req etcd / ours | peak RSS MB etcd / ours | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (workload, shape, total), r in runs.items():
        n = min(len(r["etcd"]), len(r["ours"]))
        if n == 0:
            continue
        etcd, ours = r["etcd"][:n], r["ours"][:n]
        med = lambda xs, i: statistics.median(x[i] for x in xs)
        pairs = [o[0] / e[0] for e, o in zip(etcd, ours)]
        boot = sorted(statistics.median(rng.choices(pairs, k=n)) for _ in range(5000))
        lo, hi = boot[int(0.025 * len(boot))], boot[int(0.975 * len(boot)) - 1]
        wins = sum(1 for p in pairs if p >= 1)
        c, k = shape.split("x")
        print(f"| {workload} | {c} × {k} | {total:,} × {n} | {med(etcd, 0):,.0f} | {med(ours, 0):,.0f} "
              f"| {med(ours, 0) / med(etcd, 0):.3f} | {statistics.median(pairs):.3f} [{lo:.3f}–{hi:.3f}] "
              f"| {wins}/{n} | {med(etcd, 1):.1f} / {med(ours, 1):.1f} | {med(etcd, 2):.0f} / {med(ours, 2):.0f} "
              f"| {min(r['load']):.1f}–{max(r['load']):.1f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: compare-summary.py RUNS.LOG")
    main(sys.argv[1])
