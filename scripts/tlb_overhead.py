"""What the TLB-model plugin costs (docs/tlb-model.md): the same deterministic boot with and without it, in one run.

    /usr/bin/python3 scripts/tlb_overhead.py [--reps 3] [--matrix] [-- PROGRAM ARGS]   (default: lat_proc -n 300 exec)

Runs `mmlab boot --deterministic` with and without `--tlb-model`, alternating, REPS times each, and prints every wall
time, the medians and their ratio. With --matrix, the same program as a one-cell deterministic matrix through
`mmlab run --tlb-model` / `--no-tlb-model` (the matrix path: its probe boot, the pairing, the cell record), timed by
the cell's own `duration_s` (QEMU's start to its end; the run's probe boot and the records are outside it) and by the
whole `mmlab run`. A benchmark, not a test: the ratio depends on the host. The guest's own work is identical in both
(-icount: the same instructions), so the ratio is the plugin's cost.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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


def cell(mmlab: str, program: list[str], model: bool, tmp: str, rep: int) -> tuple[float, float, float]:
    """Wall seconds of one cell (its duration_s), of the whole `mmlab run` of a one-cell matrix, and QEMU's CPU
    seconds (the cell's task_clock_ns host counter: what load on the host does not change)."""
    matrix = os.path.join(tmp, "overhead.toml")
    with open(matrix, "w") as f:
        f.write(f'name = "overhead"\ndeterministic = true\n[[workload]]\nname = {json.dumps(program[0])}\n')
        f.write(f"args = {json.dumps(program[1:])}\n")
    out = os.path.join(tmp, f"r{rep}-{int(model)}")
    cmd = [mmlab, "run", matrix, "-o", out, "-j", "1", "--quiet", "--tlb-model" if model else "--no-tlb-model"]
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if p.returncode != 0:
        sys.exit(f"tlb_overhead: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    with open(os.path.join(out, "cells.jsonl")) as f:
        (c,) = [json.loads(line) for line in f if line.strip()]
    if model != (c.get("tlb_model", {}).get("status") == "ok"):
        sys.exit(f"tlb_overhead: the cell's tlb_model is not what was asked: {c.get('tlb_model')}")
    return c["duration_s"], seconds, c["host_counters"]["task_clock_ns"]["value"] / 1e9


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mmlab", default=os.path.join(ROOT, "build", "bin", "mmlab"))
    ap.add_argument("--matrix", action="store_true", help="a one-cell matrix through mmlab run, not mmlab boot")
    ap.add_argument("program", nargs="*", default=["lat_proc", "-n", "300", "exec"])
    args = ap.parse_args(argv)
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.matrix:
        return matrix_main(args)
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


def matrix_main(args) -> int:
    cells: dict[bool, list[float]] = {False: [], True: []}
    runs: dict[bool, list[float]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="tlb-overhead-") as tmp:
        for rep in range(args.reps):
            for model in (False, True):
                c, r, q = cell(args.mmlab, args.program, model, tmp, rep)
                cells[model].append(c)
                runs[model].append(r)
                cpus[model].append(q)
                print(
                    f"rep {rep + 1}: {'with' if model else 'without'} the model: cell {c:.2f} s, mmlab run {r:.2f} s, "
                    f"QEMU CPU {q:.2f} s",
                    flush=True,
                )
    for name, t in (("cell (duration_s)", cells), ("mmlab run", runs), ("QEMU CPU time (task_clock)", cpus)):
        plain, modelled = statistics.median(t[False]), statistics.median(t[True])
        print(
            f"{' '.join(args.program)}: median {name} {plain:.2f} s without, {modelled:.2f} s with the TLB model: "
            f"{modelled / plain:.2f}x"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
