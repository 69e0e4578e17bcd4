#!/usr/bin/python3
"""Our kernel against Debian's Linux PAE kernel: lmbench lat_proc, same binaries, same QEMU.

    /usr/bin/python3 scripts/anchor.py [--samples N] [--modes fork,exec,shell] [--out DIR]

For each clock (TCG wall time, and `-icount shift=0` where one nanosecond is
one guest instruction) and each kernel, one boot runs /init with
`lat_proc -n N fork :: lat_proc -n N exec :: lat_proc -n N shell` on
build/workloads/initrd.cpio (the same initrd for both kernels), one vCPU,
`-cpu max -m 256`. Prints a Markdown table of medians with the ratio
mmlab / Linux per row and writes DIR/anchor.json (every sample) and
DIR/anchor.md. `make anchor` runs it. docs/linux-anchor.md explains the
set-up and quotes a run.

The loader (`mmlab run` with `kernel = "linux-pae"` cells) will supersede
this script; until then it is the anchor comparison.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

import mmboot

INITRD = os.path.join(mmboot.REPO, "build", "workloads", "initrd.cpio")
WHAT = {
    "fork": "fork + exit + wait",
    "exec": "fork + execve(/hello) + wait",
    "shell": "fork + execve(/bin/sh -c /hello) + wait",
}


def init_args(modes: list[str], samples: int) -> list[str]:
    args: list[str] = []
    for m in modes:
        args += (["::"] if args else []) + ["lat_proc", "-n", str(samples), m]
    return args


def lat_proc_results(b: mmboot.Boot) -> dict[str, dict]:
    """mode -> the lat_proc result object, from the boot's result records."""
    out = {}
    for r in b.of_type("result"):
        line = json.loads(r["line"])
        if line.get("workload") == "lat_proc":
            out[line["mode"]] = line
        elif line.get("workload") == "init" and line["status"] != "ok":
            raise SystemExit(f"anchor: {' '.join(line['argv'])} {line['status']}\n{b.describe()}")
    return out


def run_one(kernel: str, icount: bool, modes: list[str], samples: int) -> dict[str, dict]:
    args = init_args(modes, samples)
    if kernel == "linux":
        b = mmboot.boot_linux(args, initrd=INITRD, icount=icount, timeout=600)
    else:
        b = mmboot.boot("init=/init -- " + " ".join(args), initrd=INITRD, icount=icount, timeout=600)
    if b.status != "success":
        raise SystemExit(f"anchor: {kernel} boot failed\n{b.describe()}")
    got = lat_proc_results(b)
    missing = [m for m in modes if m not in got]
    if missing:
        raise SystemExit(f"anchor: {kernel} gave no lat_proc result for {missing}\n{b.describe()}")
    return got


def qemu_version() -> str:
    out = subprocess.run(["qemu-system-i386", "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def table(results: dict, modes: list[str]) -> str:
    rows = [
        "| clock | what (lat_proc) | mmlab median | Linux PAE median | mmlab / Linux |",
        "|---|---|---|---|---|",
    ]
    for clock, unit, scale in (("tcg", "us", 1e3), ("icount", "k instr.", 1e3)):
        for m in modes:
            ours = results[clock]["mmlab"][m]["median"]
            linux = results[clock]["linux"][m]["median"]
            label = "TCG, wall time" if clock == "tcg" else "TCG -icount shift=0"
            rows.append(
                f"| {label} | {WHAT[m]} | {ours / scale:,.1f} {unit} | {linux / scale:,.1f} {unit} | {ours / linux:.2f} |"
            )
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=50, help="lat_proc -n (samples per mode, after 3 warm-up)")
    p.add_argument("--modes", default="fork,exec,shell")
    p.add_argument("--out", default=os.path.join(mmboot.REPO, "results", "anchor"))
    a = p.parse_args()
    modes = a.modes.split(",")
    bad = [m for m in modes if m not in WHAT]
    if bad:
        p.error(f"unknown mode(s) {bad}; choose from {sorted(WHAT)}")
    for path in (mmboot.DEFAULT_KERNEL, mmboot.DEFAULT_LINUX, INITRD):
        if not os.path.exists(path):
            p.error(f"{path} is missing: run `make build` first")
    results: dict = {}
    for clock in ("tcg", "icount"):
        for kernel in ("mmlab", "linux"):
            print(f"anchor: {kernel}, {clock} ...", file=sys.stderr, flush=True)
            results.setdefault(clock, {})[kernel] = run_one(kernel, clock == "icount", modes, a.samples)
    with open(os.path.join(os.path.dirname(mmboot.DEFAULT_LINUX), "version")) as f:
        linux_version = f.read().strip()
    context = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "host_cpus": os.cpu_count(),
        "qemu": qemu_version(),
        "linux": linux_version,
        "linux_append": mmboot.LINUX_APPEND,
        "machine": "-machine pc -accel tcg -cpu max -m 256 -smp 1",
        "samples": a.samples,
    }
    md = table(results, modes)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "anchor.json"), "w") as f:
        json.dump({"context": context, "results": results}, f, indent=1)
    with open(os.path.join(a.out, "anchor.md"), "w") as f:
        f.write(f"{md}\n\n{json.dumps(context)}\n")
    print(md)
    print(f"\n{json.dumps(context)}\nanchor: wrote {a.out}/anchor.json and anchor.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
