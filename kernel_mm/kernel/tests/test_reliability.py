"""Boot tests, reliability: fault injection and the system-call fuzzer in every toggle combination, on one vCPU and
on two, and the fault-injection options (boot_tests.toml). The list checks each boot has no panic and no leak."""

from __future__ import annotations

import pytest
from conftest import cases, check_case, last_counters

from analysis.records import Boot


@pytest.mark.parametrize("case", cases("reliability"))
def test_case(case):
    check_case(globals(), case)


def fault_injection_leaks_nothing(case: dict, boots: list[Boot]) -> None:
    """mm.fail_alloc: fork, exec, mmap, faults and pgd_alloc fail on purpose; programs get -ENOMEM or are killed, the
    kernel never panics and the leak record stays at zero (16 combinations a case); threads are killed on another
    CPU, exits and faults run in parallel on two vCPUs."""
    outcomes = {}
    for spec, b in zip(case["boots"], boots):
        leak = b.one("leak")
        assert leak["kernel_sync_missed"] == 0, (spec["label"], leak)
        assert last_counters(b)["mm"]["alloc_fail_injected"] > 0, (spec["label"], last_counters(b)["mm"])
        seed = spec["combination"] + 1
        assert b.one("boot")["fail_alloc"] == {"every": 0, "one_in": 40, "seed": seed}
        runs = b.results("init")
        assert len(runs) == 8, runs  # every program was tried, whatever became of it
        for r in runs:
            outcomes[r["status"]] = outcomes.get(r["status"], 0) + 1
    # Injection reached the programs in several ways: some ran, some failed or were killed, some could not start.
    assert len(outcomes) >= 2, outcomes


def syscall_fuzzer_in_every_toggle_combination(case: dict, boots: list[Boot]) -> None:
    """sysfuzz: 2,000 random calls a combination, seeded by it; never a panic or a leak; the counters show the calls,
    the faults and the errors exercised."""
    totals = {"syscalls": 0, "user_faults": 0, "signals_fatal": 0, "enosys": 0, "errors": 0}
    for spec, b in zip(case["boots"], boots):
        assert b.one("leak")["killed_at_shutdown"] == 0, b.one("leak")
        (res,) = b.results("sysfuzz")
        assert res["seed"] == spec["combination"] + 1 and res["batches"] == 20 and res["batches_counted"] >= 1, res
        assert res["calls_counted"] <= 2000 and res["batches_exited"] + res["batches_killed"] == 20, res
        d = b.window(0, "sysfuzz")
        totals["syscalls"] += d["k.syscalls"]
        totals["user_faults"] += d["k.user_faults"]
        totals["signals_fatal"] += d["k.signals_fatal"]
        totals["enosys"] += sum(last_counters(b)["enosys"].values())
        totals["errors"] += sum(res["errors"].values())
    assert totals["syscalls"] > 16 * 1000 and totals["signals_fatal"] > 0 and totals["errors"] > 1000, totals
    assert totals["enosys"] > 0 and totals["user_faults"] > 0, totals


def fail_alloc_every_nth(case: dict, boots: list[Boot]) -> None:
    (b,) = boots
    assert b.one("boot")["fail_alloc"] == {"every": 25, "one_in": 0, "seed": 0}
    assert last_counters(b)["kernel"]["init_oom_retries"] >= 0
    assert last_counters(b)["mm"]["alloc_fail_injected"] > 0
