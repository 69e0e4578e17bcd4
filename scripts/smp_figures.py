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
RACE_ROUNDS = 48
RACE_VCPUS = 4


def boot_run(toggles: str, program: str, vcpus: int) -> tuple[dict, dict]:
    """One boot: the workload's result and the counter deltas across it."""
    b = mmboot.boot(f"{toggles} init=/init -- {program}", initrd=WORKLOAD_INITRD, smp=vcpus, timeout=300)
    leak = b.of_type("leak")
    if b.status != "success" or not leak or not leak[0]["leak_free"]:
        raise SystemExit(f"smp_figures: a boot failed: {b.describe()}")
    name = program.split()[0]
    (res,) = [x for x in (json.loads(r["line"]) for r in b.of_type("result")) if x["workload"] == name]
    return res, run_deltas(b, 0, name)


def median_cell(toggles: str, program: str, vcpus: int, repeat: int, measure) -> dict:
    """`repeat` boots of one configuration; each boot's figures from measure(result, deltas), then their medians."""
    rows = [measure(*boot_run(toggles, program, vcpus)) for _ in range(repeat)]
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def fork_cell(pgd_init: str, kernel_pmd: str, vcpus: int, repeat: int) -> dict:
    def measure(res: dict, d: dict) -> dict:
        forks = d["k.forks"]
        return {
            "forks_per_s": res["points"][0]["forks_per_s"],
            "acquire": d["pgd_lock.acquire"] / forks,
            "contended": d["pgd_lock.contended"] / forks,
            "wait_cycles": d["pgd_lock.wait_cycles"] / forks,
            "bkl_contended": d["kernel_lock.contended"] / forks,
            "bkl_wait_cycles": d["kernel_lock.wait_cycles"] / forks,
        }

    toggles = f"mm.pgd_init={pgd_init} mm.kernel_pmd={kernel_pmd}"
    return median_cell(toggles, f"fork_scale -w {vcpus} -i {FORK_ITERATIONS}", vcpus, repeat, measure)


def race_cell(pgd_init: str, repeat: int) -> dict:
    """fork+exit on three vCPUs racing kernel-mapping churn on the fourth (mm.kernel_pmd=unshared)."""

    def measure(res: dict, d: dict) -> dict:
        forks = d["k.forks"]
        return {
            "forks_per_s": res["forks_per_s"],
            "rounds_per_s": res["rounds_per_s"],
            "syncs": d["kernel_sync"] / d["k.kmap_churns"],
            "pgd_acquire": d["pgd_lock.acquire"] / forks,
            "pgd_contended": d["pgd_lock.contended"] / forks,
            "pgd_wait_cycles": d["pgd_lock.wait_cycles"] / forks,
            "tasklist_contended": d["tasklist_lock.contended"] / forks,
            "tasklist_wait_cycles": d["tasklist_lock.wait_cycles"] / forks,
        }

    toggles = f"mm.pgd_init={pgd_init} mm.kernel_pmd=unshared"
    return median_cell(toggles, f"kmap_churn -r {RACE_ROUNDS} -p 512 -f 3", RACE_VCPUS, repeat, measure)


def fault_cell(ptlock: str, vcpus: int, repeat: int) -> dict:
    lock = "split_ptl" if ptlock == "split" else "page_table_lock"

    def measure(res: dict, d: dict) -> dict:
        faults = d["fault_anon"]
        return {
            "faults_per_s": res["points"][0]["faults_per_s"],
            "acquire": d[f"{lock}.acquire"] / faults,
            "contended": d[f"{lock}.contended"] / faults,
            "wait_cycles": d[f"{lock}.wait_cycles"] / faults,
            "mmap_contended": d["mmap_lock.contended"] / faults,
        }

    program = f"page_fault -m threads -w {vcpus} -i {FAULT_ITERATIONS}"
    return median_cell(f"mm.ptlock={ptlock}", program, vcpus, repeat, measure)


def table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print the cells as JSON instead of tables")
    a = p.parse_args()
    forks = {
        (m, k, n): fork_cell(m, k, n, a.repeat)
        for k in ("shared", "unshared")
        for m in ("locked", "lockless")
        for n in VCPUS
    }
    races = {m: race_cell(m, a.repeat) for m in ("locked", "lockless")}
    faults = {(m, n): fault_cell(m, n, a.repeat) for m in ("split", "mm") for n in VCPUS}
    if a.json:
        out = {
            "fork": {"/".join(map(str, key)): v for key, v in forks.items()},
            "race": races,
            "fault": {"/".join(map(str, key)): v for key, v in faults.items()},
        }
        print(json.dumps(out, indent=1))
        return 0
    print(f"fork+exit: fork_scale -w N -i {FORK_ITERATIONS} on N vCPUs; per fork+exit (median of {a.repeat})\n")
    table(
        ["pgd_init", "kernel_pmd", "vCPUs", "forks/s", "pgd_lock acquire", "contended", "wait cycles"]
        + ["kernel_lock contended", "kernel_lock wait cycles"],
        [
            [m, k, str(n), f"{c['forks_per_s']:.0f}", f"{c['acquire']:.2f}", f"{c['contended']:.3f}"]
            + [f"{c['wait_cycles']:.0f}", f"{c['bkl_contended']:.2f}", f"{c['bkl_wait_cycles']:.0f}"]
            for (m, k, n), c in forks.items()
        ],
    )
    print(
        f"\nfork+exit racing kernel-mapping churn: kmap_churn -r {RACE_ROUNDS} -p 512 -f 3 on {RACE_VCPUS} vCPUs, "
        "mm.kernel_pmd=unshared; per fork+exit\n"
    )
    table(
        ["pgd_init", "forks/s", "churn calls/s", "PGDs synced per call", "pgd_lock acquire", "contended"]
        + ["wait cycles", "tasklist_lock contended", "wait cycles"],
        [
            [m, f"{c['forks_per_s']:.0f}", f"{c['rounds_per_s']:.0f}", f"{c['syncs']:.1f}", f"{c['pgd_acquire']:.2f}"]
            + [f"{c['pgd_contended']:.3f}", f"{c['pgd_wait_cycles']:.0f}", f"{c['tasklist_contended']:.3f}"]
            + [f"{c['tasklist_wait_cycles']:.0f}"]
            for m, c in races.items()
        ],
    )
    print(f"\npage faults: page_fault -m threads -w N -i {FAULT_ITERATIONS} (1 MiB each) on N vCPUs; per fault\n")
    table(
        ["ptlock", "vCPUs", "faults/s", "PTE lock acquire", "contended", "wait cycles", "mmap_lock contended"],
        [
            [m, str(n), f"{c['faults_per_s']:.0f}", f"{c['acquire']:.2f}", f"{c['contended']:.3f}"]
            + [f"{c['wait_cycles']:.0f}", f"{c['mmap_contended']:.4f}"]
            for (m, n), c in faults.items()
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
