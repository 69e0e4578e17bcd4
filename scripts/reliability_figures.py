#!/usr/bin/python3
"""The figures of docs/reliability.md, measured again.

    /usr/bin/python3 scripts/reliability_figures.py            # the boot tests' 64 + 64 boots, totals as JSON
    /usr/bin/python3 scripts/reliability_figures.py --sweep N  # also N fault-injection boots at rates 1/5..1/60

Needs `make build`. Every boot must end without a panic and with an all-zero leak record; the script says
how many did not.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "kernel_mm", "kernel", "tests"))

import mmboot  # noqa: E402
from test_boot import FAULT_INJECTION_PROGRAMS, WORKLOAD_INITRD, combination, run_deltas  # noqa: E402


def words(index: int) -> str:
    return " ".join(f"{k}={v}" for k, v in combination(index % 64).items())


def bad(b: mmboot.Boot) -> bool:
    leak = b.of_type("leak")
    return bool(b.of_type("panic")) or not leak or not leak[0]["leak_free"] or b.status == "timeout"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sweep", type=int, default=0, help="extra fault-injection boots, seeds 1..N")
    a = p.parse_args()
    fz = dict(boots=0, syscalls=0, user_faults=0, signals_fatal=0, enosys=0, errors=0, calls_counted=0, bad=0)
    fi = dict(boots=0, injected=0, init_retries=0, statuses={}, bad=0)
    for index in range(64):
        b = mmboot.boot(
            f"{words(index)} init=/init -- sysfuzz -n 2000 -s {index + 1}", initrd=WORKLOAD_INITRD, timeout=120
        )
        fz["boots"] += 1
        fz["bad"] += bad(b)
        res = [x for x in (json.loads(r["line"]) for r in b.of_type("result")) if x["workload"] == "sysfuzz"][0]
        d = run_deltas(b, 0, "sysfuzz")
        for k in ("syscalls", "user_faults", "signals_fatal"):
            fz[k] += d["k." + k]
        fz["enosys"] += sum(b.of_type("counters")[-1]["enosys"].values())
        fz["errors"] += sum(res["errors"].values())
        fz["calls_counted"] += res["calls_counted"]
        b = mmboot.boot(
            f"{words(index)} mm.fail_alloc=40 mm.fail_alloc_seed={index + 1} init=/init -- {FAULT_INJECTION_PROGRAMS}"
        )
        fi["boots"] += 1
        fi["bad"] += bad(b)
        last = b.of_type("counters")[-1]
        fi["injected"] += last["mm"]["alloc_fail_injected"]
        fi["init_retries"] += last["kernel"]["init_oom_retries"]
        for x in (json.loads(r["line"]) for r in b.of_type("result")):
            if x["workload"] == "init":
                fi["statuses"][x["status"]] = fi["statuses"].get(x["status"], 0) + 1
    sweep = dict(boots=0, bad=0)
    for seed in range(1, a.sweep + 1):
        one_in = (5, 10, 20, 60)[seed % 4]
        b = mmboot.boot(
            f"{words(seed)} mm.fail_alloc={one_in} mm.fail_alloc_seed={seed} init=/init -- {FAULT_INJECTION_PROGRAMS}",
            timeout=60,
        )
        sweep["boots"] += 1
        sweep["bad"] += bad(b)
    print(json.dumps({"sysfuzz": fz, "fault_injection": fi, "sweep": sweep}, indent=1))
    return 0 if fz["bad"] + fi["bad"] + sweep["bad"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
