"""Boot tests, the workloads and the Linux PAE anchor: the same binaries on both kernels (boot_tests.toml)."""

from __future__ import annotations

import pytest
from conftest import cases, check_case

from analysis.records import Boot


@pytest.mark.parametrize("case", cases("workloads"))
def test_case(case):
    check_case(globals(), case)


def linux_pae_runs_the_same_binaries(case: dict, boots: list[Boot]) -> None:
    """Debian's Linux PAE boots in the same QEMU with the same initrd and runs lat_proc, t_filemap and t_threads."""
    (b,) = boots
    runs = b.results("init")
    lat = {x["mode"]: x for x in b.results("lat_proc")}
    assert [r["status"] for r in runs] == ["ok"] * 5, runs
    assert sorted(lat) == ["exec", "fork", "shell"], lat
    for x in lat.values():
        assert x["n"] == 3 and len(x["samples"]) == 3 and 0 < x["min"] <= x["median"], x
    warm_up_before_the_first_window(b, "lat_proc")
    snaps = b.snapshots()
    before, after = snaps["before:0:lat_proc"]["vmstat"], snaps["after:0:lat_proc"]["vmstat"]
    assert after["pgfault"] - before["pgfault"] > 6, (before["pgfault"], after["pgfault"])  # 6 forks at least
    stat_before, stat_after = snaps["before:0:lat_proc"]["self_stat"], snaps["after:0:lat_proc"]["self_stat"]
    # init's cminflt grows by the faults of lat_proc and the children it waited for.
    grew = stat_after["cminflt"] - stat_before["cminflt"]
    assert 6 < grew <= after["pgfault"] - before["pgfault"], (stat_before, stat_after)


def results_well_formed(case: dict, boots: list[Boot]) -> None:
    """Every workload ran and its result line has the documented shape (docs/workloads.md)."""
    (b,) = boots
    assert [r["status"] for r in b.results("init")] == ["ok"] * 5, b.results("init")
    res = {(x["workload"], x.get("mode")): x for x in b.results() if x["workload"] != "init"}
    expected = [
        ("exec_layout", None),
        ("fork_scale", None),
        ("lat_proc", "fork"),
        ("page_fault", "processes"),
        ("page_fault", "threads"),
    ]
    assert sorted(res, key=str) == sorted(expected, key=str), sorted(res, key=str)
    for mode in ("processes", "threads"):
        pf = res[("page_fault", mode)]
        assert (pf["region_kb"], pf["pages"], pf["iterations"], pf["unit"]) == (256, 64, 2, "faults/s"), pf
        assert [p["workers"] for p in pf["points"]] == [1, 2]
        for p in pf["points"]:
            assert p["faults"] == p["workers"] * 2 * 64 and p["ns"] > 0, p
            assert p["faults_per_s"] == pytest.approx(p["faults"] * 1e9 / p["ns"], rel=1e-3, abs=1), p
    fs = res[("fork_scale", None)]
    assert fs["unit"] == "forks/s" and [(p["workers"], p["forks"]) for p in fs["points"]] == [(1, 8), (2, 16)], fs
    assert all(p["ns"] > 0 and p["forks_per_s"] > 0 for p in fs["points"]), fs
    el = res[("exec_layout", None)]
    assert el["pgd_entries"] == 3 and el["n"] == 3 and len(el["samples"]) == 3 and 0 < el["min"] <= el["median"], el
    warm_up_before_the_first_window(b, "page_fault")


def warm_up_before_the_first_window(b: Boot, first_program: str) -> None:
    """Both kernels' first snapshot is /init's "init" (the TLB model starts there); between it and the first
    program's, /init's warm-up (docs/tlb-model.md): one fork and one exec (of itself), counted by our kernel, seen on
    Linux in init's cminflt (the faults of the children it waited for)."""
    labels = [r["label"] for r in b.of_type("counters")]
    assert labels[:2] == ["init", f"before:0:{first_program}"], labels
    snaps = b.snapshots()
    start, first = snaps["init"], snaps[f"before:0:{first_program}"]
    if "kernel" in first:
        k0, k1 = start["kernel"], first["kernel"]
        assert (k1["forks"] - k0["forks"], k1["execs"] - k0["execs"]) == (1, 1), (k0, k1)
    else:
        assert first["self_stat"]["cminflt"] > start["self_stat"]["cminflt"], (start["self_stat"], first["self_stat"])


def kmap_churn_says_unsupported_on_linux(case: dict, boots: list[Boot]) -> None:
    (b,) = boots
    (line,) = b.results("kmap_churn")
    assert "ENOSYS" in line["unsupported"] and "forks" not in line, line
