#!/usr/bin/python3
"""The SMP figures of docs/benchmarks.md ("The kernel on several vCPUs"), measured again.

    /usr/bin/python3 scripts/smp_figures.py [--repeat N] [--json]

Needs `make build`. Boots the mmlab kernel under QEMU TCG (MTTCG: one host thread per vCPU) and prints two
markdown tables:

- fork+exit (fork_scale, one worker per vCPU) with mm.pgd_init=locked and lockless at 1, 2 and 4 vCPUs:
  pgd_lock acquisitions, contended acquisitions and wait cycles per fork+exit, and forks per second;
- page faults (page_fault -m threads, one thread per vCPU, one mm) with mm.ptlock=split and mm at 1, 2 and
  4 vCPUs: PTE-lock acquisitions, contended acquisitions and wait cycles per fault, mmap_lock contention,
  and faults per second.

Each cell is the median of --repeat boots (default 3); the guest counters are the deltas across the
workload run (/init's before/after snapshots). Every boot must end with a clean leak record.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "kernel_mm", "kernel", "tests"))

import mmboot  # noqa: E402
from test_boot import WORKLOAD_INITRD, run_deltas  # noqa: E402

VCPUS = (1, 2, 4)
FORK_ITERATIONS = 128
FAULT_ITERATIONS = 8


def boot_run(toggles: str, program: str, vcpus: int) -> tuple[dict, dict]:
    """One boot: the workload's result and the counter deltas across it."""
    b = mmboot.boot(f"{toggles} init=/init -- {program}", initrd=WORKLOAD_INITRD, smp=vcpus, timeout=300)
    leak = b.of_type("leak")
    if b.status != "success" or not leak or not leak[0]["leak_free"]:
        raise SystemExit(f"smp_figures: a boot failed: {b.describe()}")
    name = program.split()[0]
    (res,) = [x for x in (json.loads(r["line"]) for r in b.of_type("result")) if x["workload"] == name]
    return res, run_deltas(b, 0, name)


def fork_cell(pgd_init: str, vcpus: int, repeat: int) -> dict:
    rows = []
    for _ in range(repeat):
        res, d = boot_run(f"mm.pgd_init={pgd_init}", f"fork_scale -w {vcpus} -i {FORK_ITERATIONS}", vcpus)
        forks = d["k.forks"]
        rows.append(
            {
                "forks_per_s": res["points"][0]["forks_per_s"],
                "acquire": d["pgd_lock.acquire"] / forks,
                "contended": d["pgd_lock.contended"] / forks,
                "wait_cycles": d["pgd_lock.wait_cycles"] / forks,
                "bkl_contended": d["kernel_lock.contended"] / forks,
                "bkl_wait_cycles": d["kernel_lock.wait_cycles"] / forks,
            }
        )
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def fault_cell(ptlock: str, vcpus: int, repeat: int) -> dict:
    lock = "split_ptl" if ptlock == "split" else "page_table_lock"
    rows = []
    for _ in range(repeat):
        res, d = boot_run(f"mm.ptlock={ptlock}", f"page_fault -m threads -w {vcpus} -i {FAULT_ITERATIONS}", vcpus)
        faults = d["fault_anon"]
        rows.append(
            {
                "faults_per_s": res["points"][0]["faults_per_s"],
                "acquire": d[f"{lock}.acquire"] / faults,
                "contended": d[f"{lock}.contended"] / faults,
                "wait_cycles": d[f"{lock}.wait_cycles"] / faults,
                "mmap_contended": d["mmap_lock.contended"] / faults,
            }
        )
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print the cells as JSON instead of tables")
    a = p.parse_args()
    forks = {(m, n): fork_cell(m, n, a.repeat) for m in ("locked", "lockless") for n in VCPUS}
    faults = {(m, n): fault_cell(m, n, a.repeat) for m in ("split", "mm") for n in VCPUS}
    if a.json:
        print(
            json.dumps(
                {
                    "fork": {f"{m}/{n}": v for (m, n), v in forks.items()},
                    "fault": {f"{m}/{n}": v for (m, n), v in faults.items()},
                },
                indent=1,
            )
        )
        return 0
    print(f"fork+exit: fork_scale -w N -i {FORK_ITERATIONS} on N vCPUs; per fork+exit (median of {a.repeat})\n")
    print(
        "| pgd_init | vCPUs | forks/s | pgd_lock acquire | contended | wait cycles "
        "| kernel_lock contended | kernel_lock wait cycles |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (m, n), c in forks.items():
        print(
            f"| {m} | {n} | {c['forks_per_s']:.0f} | {c['acquire']:.2f} | {c['contended']:.3f} | "
            f"{c['wait_cycles']:.0f} | {c['bkl_contended']:.2f} | {c['bkl_wait_cycles']:.0f} |"
        )
    print(f"\npage faults: page_fault -m threads -w N -i {FAULT_ITERATIONS} (1 MiB each) on N vCPUs; per fault\n")
    print("| ptlock | vCPUs | faults/s | PTE lock acquire | contended | wait cycles | mmap_lock contended |")
    print("|---|---|---|---|---|---|---|")
    for (m, n), c in faults.items():
        print(
            f"| {m} | {n} | {c['faults_per_s']:.0f} | {c['acquire']:.2f} | {c['contended']:.3f} | "
            f"{c['wait_cycles']:.0f} | {c['mmap_contended']:.4f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
