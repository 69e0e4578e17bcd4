#!/usr/bin/python3
"""The figures of docs/reliability.md, measured again.

    /usr/bin/python3 scripts/reliability_figures.py            # the boot tests' 64 + 64 boots, totals as JSON
    /usr/bin/python3 scripts/reliability_figures.py --sweep N  # also N fault-injection boots at rates 1/5..1/60

Needs `make build`; boots through `build/bin/mmlab boot --json`. Every boot must end without a panic and with an
all-zero leak record; the script says how many did not. (To become a matrix of its own, issue 15 part 4.)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from analysis.records import Boot, boots, read_records  # noqa: E402

MMLAB = os.path.join(ROOT, "build", "bin", "mmlab")
# The programs of the boot tests' fault-injection cases (kernel_mm/kernel/tests/boot_tests.toml).
FAULT_INJECTION_PROGRAMS = (
    "/tests/t_fork :: /tests/t_exec :: /tests/t_sh :: /tests/t_filemap :: /tests/t_threads :: "
    "/bin/page_fault -s 256 -i 4 :: /bin/kmap_churn -r 8 :: /bin/exec_layout -n 3"
)


def toggle_words(index: int) -> list[str]:
    """--toggle options for combination `index` as the kernel numbers them (bit i: toggle i's second value)."""
    table = json.loads(subprocess.run([MMLAB, "toggles", "--json"], capture_output=True, text=True, check=True).stdout)
    out = []
    for i, t in enumerate(table):
        out += ["--toggle", f"{t['key']}={t['values'][(index >> i) & 1]}"]
    return out


def boot(options: list[str], programs: str, timeout: int = 60) -> Boot:
    cmd = [MMLAB, "boot", "--accel", "tcg", "--json", "--timeout", str(timeout), *options, "--", *programs.split()]
    p = subprocess.run(cmd, capture_output=True, text=True)
    records, bad = read_records(p.stdout)
    if bad or not records:
        raise SystemExit(f"reliability_figures: mmlab boot gave no records: {p.stderr}")
    return boots(records)[0]


def bad(b: Boot) -> bool:
    leak = b.of_type("leak")
    return bool(b.of_type("panic")) or not leak or not leak[0]["leak_free"] or b.status == "timeout"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sweep", type=int, default=0, help="extra fault-injection boots, seeds 1..N")
    a = p.parse_args()
    fz = dict(boots=0, syscalls=0, user_faults=0, signals_fatal=0, enosys=0, errors=0, calls_counted=0, bad=0)
    fi = dict(boots=0, injected=0, init_retries=0, statuses={}, bad=0)
    for index in range(64):
        b = boot(toggle_words(index) + ["--initrd", "workloads"], f"sysfuzz -n 2000 -s {index + 1}", timeout=120)
        fz["boots"] += 1
        fz["bad"] += bad(b)
        res = b.results("sysfuzz")[0]
        d = b.window(0, "sysfuzz")
        for k in ("syscalls", "user_faults", "signals_fatal"):
            fz[k] += d["k." + k]
        fz["enosys"] += sum(b.of_type("counters")[-1]["enosys"].values())
        fz["errors"] += sum(res["errors"].values())
        fz["calls_counted"] += res["calls_counted"]
        injection = ["--kernel-arg", "mm.fail_alloc=40", "--kernel-arg", f"mm.fail_alloc_seed={index + 1}"]
        b = boot(toggle_words(index) + injection, FAULT_INJECTION_PROGRAMS)
        fi["boots"] += 1
        fi["bad"] += bad(b)
        last = b.of_type("counters")[-1]
        fi["injected"] += last["mm"]["alloc_fail_injected"]
        fi["init_retries"] += last["kernel"]["init_oom_retries"]
        for x in b.results("init"):
            fi["statuses"][x["status"]] = fi["statuses"].get(x["status"], 0) + 1
    sweep = dict(boots=0, bad=0)
    for seed in range(1, a.sweep + 1):
        one_in = (5, 10, 20, 60)[seed % 4]
        injection = ["--kernel-arg", f"mm.fail_alloc={one_in}", "--kernel-arg", f"mm.fail_alloc_seed={seed}"]
        b = boot(toggle_words(seed % 64) + injection, FAULT_INJECTION_PROGRAMS)
        sweep["boots"] += 1
        sweep["bad"] += bad(b)
    print(json.dumps({"sysfuzz": fz, "fault_injection": fi, "sweep": sweep}, indent=1))
    return 0 if fz["bad"] + fi["bad"] + sweep["bad"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
