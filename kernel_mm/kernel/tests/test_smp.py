"""Boot tests on several vCPUs (MTTCG: one host thread a vCPU, unless deterministic): bring-up, shootdowns, threads
faulting at once, fork/exit racing kernel-mapping churn (boot_tests.toml)."""

from __future__ import annotations

import pytest
from conftest import LOCK_ORDER, cases, check_case, cpus_that, last_counters

from analysis.records import Boot


@pytest.mark.parametrize("case", cases("smp"))
def test_case(case):
    check_case(globals(), case)


def bringup_and_kernel_tlb_shootdowns(case: dict, boots: list[Boot]) -> None:
    """Every CPU the MADT lists comes online (INIT-SIPI-SIPI), and a kernel unmap flushes every CPU: kmap_churn's
    vfree shootdowns are IPIs to the N-1 others, and each CPU runs the INVLPGs itself."""
    (b,) = boots
    vcpus = case["boots"][0]["vcpus"]
    boot = b.one("boot")
    smp = boot["smp"]
    assert boot["cpus"] == smp["online"] == smp["listed"] == vcpus, smp
    assert smp["tables"] == "acpi-madt" and "start_error" not in smp and "tables_error" not in smp, smp
    d = b.window(0, "kmap_churn")
    assert d["k.kernel_sync_missed"] == 0 and d["kernel_unmap"] >= 16, d
    if vcpus == 1:
        assert d["tlb_shootdown_ipi"] == 0, d
    else:
        # Each kernel unmap is an IPI to every one of the N-1 others (user-mm flushes add IPIs to the CPUs that run
        # that mm).
        assert d["tlb_shootdown_ipi"] >= (vcpus - 1) * d["k.kmap_churns"] > 0, d
    # Each page unmapped is INVLPG'd on every CPU, each counting on its own slot.
    assert d["tlb_flush_page"] >= vcpus * d["kernel_unmap"], d


def cpus_from_the_mp_table(case: dict, boots: list[Boot]) -> None:
    (b,) = boots
    smp = b.one("boot")["smp"]
    assert smp["tables"] == "mp-table" and smp["online"] == smp["listed"] == 4, smp


def deterministic_boots_are_identical(case: dict, boots: list[Boot]) -> None:
    a, c = (b.one("boot")["smp"] for b in boots)
    assert a == c and a["online"] == 4, (a, c)
    ca, cc = (last_counters(b) for b in boots)
    assert ca["mm"] == cc["mm"], "mm counters differ between two deterministic 4-vCPU boots"


def threads_fault_on_several_cpus(case: dict, boots: list[Boot]) -> None:
    """glibc threads on several vCPUs: every t_threads check passes (the threads that fault one mm's pages at once
    leave every write in place), nothing leaks, and at least two CPUs took the faults."""
    (b,) = boots
    last = last_counters(b)
    assert len(last["cpus"]) == case["boots"][0]["vcpus"] and cpus_that(last, "user_faults") >= 2, last["cpus"]


def every_cpu_takes_faults(case: dict, boots: list[Boot]) -> None:
    """page_fault's N threads on N vCPUs in one mm: every CPU took some of the faults, under the PTE lock of the
    ptlock mode."""
    (b,) = boots
    vcpus = case["boots"][0]["vcpus"]
    assert b.one("leak")["killed_at_shutdown"] == 0
    (res,) = b.results("page_fault")
    assert res["points"][0]["workers"] == vcpus and res["points"][0]["faults"] == vcpus * 8 * 256, res
    d = b.window(0, "page_fault")
    assert d["fault_anon"] >= vcpus * 8 * 256, d
    lock = "split_ptl" if case["boots"][0]["toggles"]["mm.ptlock"] == "split" else "page_table_lock"
    assert d[f"{lock}.acquire"] >= vcpus * 8 * 256, d
    assert cpus_that(last_counters(b), "user_faults") == vcpus, last_counters(b)["cpus"]


def many_vcpus_spread_and_stay_in_sync(case: dict, boots: list[Boot]) -> None:
    """8 and 16 vCPUs (on however many host cores): page_fault's N threads, woken onto idle CPUs, spread over them;
    fork/exit racing kernel-mapping churn on all of them keeps every PGD in sync. (At least half the CPUs, not all:
    with 16 vCPUs on 2 host cores a thread can finish its faults before the last one is created, and its CPU then
    takes another.)"""
    (b,) = boots
    vcpus = case["boots"][0]["vcpus"]
    leak = b.one("leak")
    assert leak["kernel_sync_missed"] == 0 and leak["killed_at_shutdown"] == 0, leak
    after = b.snapshots()["after:0:page_fault"]
    assert len(after["cpus"]) == vcpus and cpus_that(after, "user_faults") >= vcpus // 2, after["cpus"]
    d = b.window(1, "kmap_churn")
    assert d["k.kernel_sync_missed"] == 0 and d["k.forks"] > 0, d


def fork_exit_race_kernel_mapping_churn(case: dict, boots: list[Boot]) -> None:
    """4 vCPUs: three processes fork and exit in a loop while a fourth maps and unmaps kernel pages (new kernel PTE
    tables under mm.kernel_pmd=unshared). After every churn call the kernel checks every live PGD for every kernel PMD
    entry: none is ever missing, in either pgd_init mode, and nothing leaks."""
    (b,) = boots
    assert b.one("leak")["kernel_sync_missed"] == 0
    (res,) = b.results("kmap_churn")
    d = b.window(0, "kmap_churn")
    assert d["k.kmap_churns"] == 48 + 1 and d["k.kernel_sync_missed"] == 0, d  # + the probe call
    assert res["forks"] > 0 and d["kernel_pte_table"] > 0, (res, d)
    assert d["pgd_alloc"] == d["pgd_free"] >= res["forks"], d
    assert cpus_that(last_counters(b), "switches") >= 3, last_counters(b)["cpus"]
    if case["boots"][0]["toggles"]["mm.pgd_init"] == "locked":
        assert d["pgd_lock.acquire"] >= 2 * d["pgd_alloc"], d  # list add and remove, plus the syncs
    else:
        assert d["pgd_lock.acquire"] == 0 and d["pgd_init_late"] == d["pgd_alloc"], d


def tlb_shootdown_reader_must_fault(case: dict, boots: list[Boot]) -> None:
    """A thread keeps reading a page while another unmaps (or mprotects) it and reuses the frame: the reader faults,
    it never reads the freed frame (t_tlb's PASS lines); after a COW break it sees the new frame at once. With several
    vCPUs the reader runs on another CPU, so the unmap's flush is a shootdown IPI to it."""
    (b,) = boots
    if case["boots"][0]["vcpus"] > 1:
        assert last_counters(b)["mm"]["tlb_shootdown_ipi"] > 0, last_counters(b)["mm"]


def fork_exit_wait_stress(case: dict, boots: list[Boot]) -> None:
    """Four workers fork, exit and wait at once on four vCPUs under the lock-order checker: every child was reaped with
    the status its way of ending gives (t_forkstress checks each, PASS lines), every orphan came back to PID 1, nothing
    leaked or was left to kill, and the kernel's counts agree with the program's: each process and thread created once,
    each ended once. The locks the paths took are the process-tree ones (in LOCK_ORDER's order, conftest checks), and no
    big lock."""
    (b,) = boots
    (res,) = b.results("t_forkstress")
    assert res["workers_reaped"] == res["workers"] == 4 and res["bad_children"] == 0, res
    assert res["orphans_reaped"] == res["orphans"] > 0 and res["bad_orphans"] == 0, res
    leak = b.one("leak")
    assert leak["leak_free"] and leak["killed_at_shutdown"] == 0 and leak["pgds"] == 0, leak
    last = last_counters(b)
    k, mm = last["kernel"], last["mm"]
    forks = res["workers"] + res["children"] + res["orphans"]
    assert k["forks"] == forks and k["threads"] == res["threads"], (k, res)
    assert k["exits"] == forks + res["threads"] + 1, (k, res)  # and PID 1's own
    assert cpus_that(last, "switches") >= 3, last["cpus"]
    assert "kernel_lock.acquire" not in mm, "the big kernel lock is back"
    for name in ("proctree_lock", "siglock", "pi_lock", "rq_lock"):
        assert mm[f"{name}.acquire"] >= forks, (name, mm[f"{name}.acquire"], forks)
    order = b.one("lockdep")["order"]
    assert "siglock" in order["proctree_lock"] and "rq_lock" in order["pi_lock"], order
    assert set(order) <= set(LOCK_ORDER), order
