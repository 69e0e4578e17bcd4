"""Boot tests under Bochs, the stricter x86 (boot_tests.toml, docs/testing.md "Bochs"): the ABI tests, fork, exec,
busybox sh, lat_proc, t_tlb and fault injection, with the defaults and with every toggle flipped (mm.pmd_prealloc=off
among them). Bochs, like real CPUs, loads the PAE PDPTEs only at a CR3 write, so these boots fail where the kernel
forgets a PDPTE-forced reload (QEMU TCG does not notice). The list checks status, leaks and PASS lines; here, what it
cannot say: that Bochs ran the boot and gave its verdict through the exit record, and that the PDPTE reloads the
lazily installed PMDs force were really taken."""

from __future__ import annotations

import pytest
from conftest import cases, check_case, last_counters

from analysis.records import Boot

PROGRAMS = ["t_abi", "t_fork", "t_exec", "lat_proc", "lat_proc", "lat_proc", "t_tlb"]


@pytest.mark.parametrize("case", cases("bochs"))
def test_case(case):
    check_case(globals(), case)


def ran_under_bochs(spec: dict, b: Boot) -> None:
    assert spec["emulator"] == "bochs" and b.vm["emulator"] == "bochs" and b.vm["accel"] == "bochs", b.vm
    # The verdict is the kernel's last record: Bochs has no isa-debug-exit.
    assert b.records[-1]["type"] == "exit", b.records[-1]
    assert b.vm["qemu_exit"] == {"pass": 33, "fail": 35}[b.records[-1]["verdict"]], b.vm


def programs_pass_on_the_stricter_x86(case: dict, boots: list[Boot]) -> None:
    """Every program passes; with mm.pmd_prealloc=off PMDs were installed into live PGDs and forced PDPTE reloads
    (so the obligation Bochs checks was exercised); INVLPGs ran; on two vCPUs t_tlb's unmaps sent shootdowns."""
    (spec,), (b,) = case["boots"], boots
    ran_under_bochs(spec, b)
    assert b.records[-1]["verdict"] == "pass"
    runs = b.results("init")
    assert [r["program"].rsplit("/", 1)[-1] for r in runs] == PROGRAMS, runs
    assert all(r["status"] == "ok" for r in runs), runs
    mm = last_counters(b)["mm"]
    if spec["toggles"].get("mm.pmd_prealloc") == "off":
        assert mm["cr3_reload_pdpte"] > 0 and mm["pmd_install_live"] > 0, mm
    assert mm["tlb_flush_page"] > 0, mm
    if spec["vcpus"] > 1:
        assert mm["tlb_shootdown_ipi"] > 0, mm


def fault_injection_leaks_nothing_under_bochs(case: dict, boots: list[Boot]) -> None:
    """mm.fail_alloc under Bochs: failures were injected, every program was tried, nothing leaked (the list), no
    kernel mapping sync was missed, and the verdict matches init's status."""
    (spec,), (b,) = case["boots"], boots
    ran_under_bochs(spec, b)
    leak = b.one("leak")
    assert leak["kernel_sync_missed"] == 0, leak
    assert last_counters(b)["mm"]["alloc_fail_injected"] > 0, last_counters(b)["mm"]
    assert b.one("boot")["fail_alloc"] == {"every": 0, "one_in": 40, "seed": 7}
    assert len(b.results("init")) == 4, b.results("init")
    assert b.records[-1]["verdict"] == ("pass" if leak["init_status"] == 0 else "fail"), (leak, b.records[-1])
