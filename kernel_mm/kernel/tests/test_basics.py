"""Boot tests, basics: one program a boot (boot_tests.toml), and what the list alone cannot check."""

from __future__ import annotations

import os

import pytest
from conftest import cases, check_case, guest_file, last_counters, toggle_defaults

from analysis.records import Boot


@pytest.mark.parametrize("case", cases("basics"))
def test_case(case):
    check_case(globals(), case)


def hello_boots_and_reports(case: dict, boots: list[Boot]) -> None:
    (b,) = boots
    boot = b.one("boot")
    assert boot["kernel"] == "mmlab"
    assert boot["toggles"] == toggle_defaults()
    assert boot["init"] == "/hello"
    assert boot["cpu"]["nx"] is True
    assert boot["memory"]["lowmem_mb"] >= 200 and boot["memory"]["frames_free"] > 40000
    counters = b.of_type("counters")
    assert counters and counters[-1]["label"] == "shutdown"
    mm = counters[-1]["mm"]
    assert mm["pgd_alloc"] == mm["pgd_free"] >= 1
    assert mm["fault_anon"] > 0
    assert counters[-1]["kernel"]["execs"] == 1


def unknown_call_counted_by_number(case: dict, boots: list[Boot]) -> None:
    (b,) = boots
    enosys = last_counters(b)["enosys"]
    assert enosys.get("500") == 1, enosys  # t_efault's unknown call, counted by its number


def threads_in_one_mm(case: dict, boots: list[Boot]) -> None:
    """glibc pthreads in one mm (clone, futex, exit vs exit_group, TLS) in this ptlock mode, no leak."""
    (b,) = boots
    last = last_counters(b)
    # 4 workers, 1 signaller, 4 touchers, then 2 + 2 + 1 + 1 in four child processes, then 3 + 3 busy threads in
    # two more, whose spawners add as many as they manage before the end
    assert last["kernel"]["threads"] >= 4 + 1 + 4 + 6 + 6, last["kernel"]
    assert "29" not in last["enosys"] and "240" not in last["enosys"], last["enosys"]  # pause, futex
    split = case["boots"][0]["toggles"]["mm.ptlock"] == "split"
    lock = "split_ptl.acquire" if split else "page_table_lock.acquire"
    assert last["mm"][lock] > 256, last["mm"]  # the 256 pages the threads fault take the PTE lock of that mode


def file_mappings(case: dict, boots: list[Boot]) -> None:
    (b,) = boots
    mm = last_counters(b)["mm"]
    assert mm["fault_file"] > 0 and mm["fault_file_cow"] + mm["fault_cow_copy"] > 0, mm
    assert mm["fault_sigbus"] == 1, mm


def file_pages(path: str) -> int:
    return (os.path.getsize(path) + 4095) // 4096


def exec_runs_text_from_the_page_cache(case: dict, boots: list[Boot]) -> None:
    """Every exec of a program maps the same cached frames: file pages are read in once per boot, not per exec."""
    (b,) = boots
    binaries = ["hello"] if case["boots"][0]["args"][-1] == "exec" else ["hello", "busybox"]
    last = last_counters(b)
    mm, execs = last["mm"], last["kernel"]["execs"]
    assert execs == 1 + 23 * len(binaries), last["kernel"]  # lat_proc itself, then 3 warm-up + 20 samples
    paths = {
        "hello": guest_file("workloads", "bin", "hello"),
        "busybox": guest_file("third_party", "busybox", "busybox"),
    }
    bound = file_pages(guest_file("workloads", "bin", "lat_proc")) + sum(file_pages(paths[n]) for n in binaries)
    assert 0 < mm["page_cache_fill"] <= bound, (mm["page_cache_fill"], bound)
    # Each exec faults its text in from the cache: many more mappings than fills.
    assert mm["fault_file"] > 10 * mm["page_cache_fill"], mm
    # Held until shutdown: the fills plus each cache's two index frames.
    files = 1 + len(binaries)
    assert mm["page_cache_fill"] < last["frames"]["page_cache"] <= mm["page_cache_fill"] + 2 * files, last["frames"]


def memory_from_64_mib_to_2_gib(case: dict, boots: list[Boot]) -> None:
    (b,) = boots
    mem = b.one("boot")["memory"]
    if case["boots"][0]["memory"] == 64:
        assert mem["lowmem_mb"] == mem["ram_mb"] and mem["ignored_mb"] == 0, mem
    else:
        # Lowmem ends at the vmalloc area (768 MiB); the rest is announced, not used.
        assert mem["lowmem_mb"] == 768, mem
        assert mem["ignored_mb"] == mem["ram_mb"] - 768 > 1000, mem
        assert "ignored: no highmem" in b.console


def init_runs_programs_with_snapshots(case: dict, boots: list[Boot]) -> None:
    """/init runs each program between two counter snapshots; a failing one is recorded and the next one runs."""
    (b,) = boots
    runs = b.results("init")
    lat = {x["mode"]: x for x in b.results("lat_proc")}
    assert [(r["index"], r["status"]) for r in runs] == [(0, "ok"), (1, "ok"), (2, "ok"), (3, "failed"), (4, "ok")]
    assert runs[3]["exit_code"] == 127 and runs[4]["program"] == "/hello", runs
    assert sorted(lat) == ["exec", "fork", "shell"] and all(x["n"] == 3 for x in lat.values()), lat
    labels = [r["label"] for r in b.of_type("counters")]
    assert labels[:3] == ["init", "before:0:lat_proc", "after:0:lat_proc"], labels
    assert "after:4:hello" in labels and labels[-1] == "shutdown", labels
    assert b.window(1, "lat_proc")["k.execs"] == 1 + 6
