"""What the TLB-model plugin costs (docs/tlb-model.md): the same deterministic boot with and without it, in one run.

    /usr/bin/python3 scripts/tlb_overhead.py [--reps 3] [-- PROGRAM ARGS]   (default: lat_proc -n 300 exec)

Runs `mmlab boot --deterministic` with and without `--tlb-model`, alternating, REPS times each, and prints every wall
time, the medians and their ratio. A benchmark, not a test: the ratio depends on the host. The guest's own work is
identical in both (-icount: the same instructions), so the ratio is the plugin's cost.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def boot(mmlab: str, program: list[str], model: bool) -> tuple[float, float]:
    """Wall and CPU seconds (mmlab and QEMU, user + system) of one boot."""
    cmd = [mmlab, "boot", "--deterministic", "--initrd", "workloads", "--json"]
    if model:
        cmd.append("--tlb-model")
    start, cpu = time.monotonic(), cpu_seconds()
    p = subprocess.run(cmd + ["--"] + program, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if p.returncode != 0:
        sys.exit(f"tlb_overhead: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return seconds, cpu_seconds() - cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mmlab", default=os.path.join(ROOT, "build", "bin", "mmlab"))
    ap.add_argument("program", nargs="*", default=["lat_proc", "-n", "300", "exec"])
    args = ap.parse_args(argv)
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for rep in range(args.reps):
        for model in (False, True):
            w, c = boot(args.mmlab, args.program, model)
            wall[model].append(w)
            cpu[model].append(c)
            print(
                f"rep {rep + 1}: {'with' if model else 'without'} the model: {w:.2f} s wall, {c:.2f} s CPU", flush=True
            )
    for name, t in (("wall", wall), ("CPU", cpu)):
        plain, modelled = statistics.median(t[False]), statistics.median(t[True])
        print(
            f"{' '.join(args.program)}: median {name} time {plain:.2f} s without, {modelled:.2f} s with the TLB "
            f"model: {modelled / plain:.2f}x"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
