"""Fork scaling and the lock classes per fork, from result sets: the figures of docs/benchmarks.md ("Fork scaling
without the big kernel lock").

    build/bin/mmlab run workloads/matrices/fork_scaling.toml -j 1 -o results/fork_scaling
    build/bin/mmlab run workloads/matrices/kmap_race.toml -j 1 -o results/kmap_race
    /usr/bin/python3 -m analysis locks results/fork_scaling results/kmap_race
    /usr/bin/python3 -m analysis locks results/fs_a,results/fs_b     # two runs of one matrix, pooled

For each configuration (toggles that vary, vCPUs, workload arguments): the cells, fork_scale's 2-worker over
1-worker ratio (median, min-max, and a 95% bootstrap interval of the median), forks/s, and per fork the acquisitions,
contended acquisitions and wait cycles of each lock class that contended or is named in LOCKS, from the guest
counters of the workload run; and how much other work the host ran meanwhile (`host_others_cpus`, host CPUs).
Standard-library Python; prints Markdown.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import statistics

LOCKS = ("proctree_lock", "siglock", "pi_lock", "rq_lock", "pgd_lock", "tasklist_lock")


def load(paths: str) -> list[dict]:
    """The cells of one result set, or of several (comma-separated) pooled."""
    cells = []
    for path in paths.split(","):
        with open(os.path.join(path, "cells.jsonl")) as f:
            cells += [json.loads(line) for line in f if line.strip()]
    return cells


def boot_median_interval(values: list[float], rounds: int = 2000, seed: int = 1) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the median (seeded: the same figures every time)."""
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(rounds))
    return meds[int(0.025 * rounds)], meds[int(0.975 * rounds) - 1]


def config(c: dict, varying: list[str]) -> str:
    parts = [f"{k.split('.', 1)[1]}={c['toggles'][k]}" for k in varying]
    return " ".join(parts + [f"{c['vcpus']} vCPUs", " ".join(c["workload"].get("args", []))])


def forks_of(c: dict) -> int:
    return (c.get("guest_counters") or {}).get("kernel", {}).get("forks") or 0


def summarize(cells: list[dict]) -> None:
    ok = [c for c in cells if c["status"] == "ok" and c["kernel"] == "mmlab"]  # Linux counts no lock classes
    print(f"{len(ok)} of {len(cells)} cells ok and on our kernel")
    keys = sorted({k for c in ok for k in c["toggles"]})
    varying = [k for k in keys if len({c["toggles"][k] for c in ok}) > 1]
    groups: dict[str, list[dict]] = {}
    for c in ok:
        groups.setdefault(config(c, varying), []).append(c)
    for name, cs in sorted(groups.items()):
        others = [c.get("host_others_cpus") or 0.0 for c in cs]
        print(f"\n### {name} ({cs[0]['workload']['name']}, {len(cs)} cells)\n")
        print(
            f"host: other work {min(others):.2f}-{max(others):.2f} host CPUs (mean {statistics.mean(others):.2f}); "
            f"{sum(1 for c in cs if c.get('host_busy'))} of {len(cs)} cells flagged host_busy; "
            f"{sum(1 for c in cs if c.get('oversubscribed'))} oversubscribed"
        )
        m = [c["metrics"] for c in cs]
        if cs[0]["workload"]["name"] == "fork_scale":
            rates = [{p["workers"]: p["forks_per_s"] for p in x["points"]} for x in m]
            ratios = [r[2] / r[1] for r in rates if 1 in r and 2 in r]
            lo, hi = boot_median_interval(ratios)
            print(
                f"2 workers / 1 worker: median {statistics.median(ratios):.2f}, range {min(ratios):.2f}-"
                f"{max(ratios):.2f}, 95% interval of the median {lo:.2f}-{hi:.2f}"
            )
            for w in (1, 2):
                v = [r[w] for r in rates]
                print(f"forks/s with {w} worker(s): median {statistics.median(v):.0f}, range {min(v)}-{max(v)}")
        elif "forks_per_s" in m[0]:
            for key in ("forks_per_s", "rounds_per_s"):
                v = [x[key] for x in m]
                lo, hi = boot_median_interval(v)
                print(
                    f"{key}: median {statistics.median(v):.0f}, range {min(v)}-{max(v)}, 95% interval {lo:.0f}-{hi:.0f}"
                )
        print("\n| lock class | acquire / fork | contended / fork | wait cycles / fork |\n|---|---:|---:|---:|")
        mm0 = cs[0]["guest_counters"]["mm"]
        classes = sorted({k.rsplit(".", 1)[0] for k in mm0 if k.endswith(".acquire")})
        for cl in classes:
            per = {
                s: statistics.median(c["guest_counters"]["mm"].get(f"{cl}.{s}", 0) / max(forks_of(c), 1) for c in cs)
                for s in ("acquire", "contended", "wait_cycles")
            }
            if cl in LOCKS or per["contended"] > 0:
                print(f"| {cl} | {per['acquire']:.2f} | {per['contended']:.4f} | {per['wait_cycles']:.0f} |")
        total = {
            s: statistics.median(
                sum(v for k, v in c["guest_counters"]["mm"].items() if k.endswith(f".{s}")) / max(forks_of(c), 1)
                for c in cs
            )
            for s in ("contended", "wait_cycles")
        }
        print(f"| every class | | {total['contended']:.4f} | {total['wait_cycles']:.0f} |")
        if "kernel_lock.acquire" not in mm0:
            print("| kernel_lock | (no such class) | | |")


def locks_markdown(paths: list[str]) -> str:
    """The summary of each result set (comma-separated sets pooled) as Markdown."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        for path in paths:
            print(f"## {path}\n")
            summarize(load(path))
            print()
    return buf.getvalue()
