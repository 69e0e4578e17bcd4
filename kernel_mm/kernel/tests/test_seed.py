"""Boot tests, the seed effects: exact counts under -icount (boot_tests.toml), both values of each toggle."""

from __future__ import annotations

import pytest
from conftest import cases, check_case, last_counters

from analysis.records import Boot


@pytest.mark.parametrize("case", cases("seed"))
def test_case(case):
    check_case(globals(), case)


def toggle(case: dict, key: str, boot: int = 0) -> str:
    return case["boots"][boot]["toggles"][key]


def exec_deltas(b: Boot) -> dict:
    """t_counters' own snapshots around one fork + exec of /hello."""
    snaps = b.snapshots()
    before, after = snaps["exec-before"], snaps["exec-after"]
    return {k: after["mm"][k] - before["mm"][k] for k in after["mm"]}


def pmd_prealloc_and_pdpte_reloads_on_exec(case: dict, boots: list[Boot]) -> None:
    (b,) = boots
    d = exec_deltas(b)
    if toggle(case, "mm.pmd_prealloc") == "on":
        assert d["cr3_reload_pdpte"] == 0, d
        assert d["pmd_prealloc"] >= 6, d  # 3 per pgd_alloc: the fork's and the exec's
    else:
        assert 1 <= d["cr3_reload_pdpte"] <= 3, d
        assert d["pmd_prealloc"] == 0, d


def flatten(record: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in record.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def counters_identical_across_boots(case: dict, boots: list[Boot]) -> None:
    first, second = ([flatten(r) for r in b.records if r["type"] in ("counters", "leak")] for b in boots)
    assert len(first) == len(second) == 4
    for a, b in zip(first, second):
        assert a == b, {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}


def pdpte_reloads_per_exec_follow_the_pgd_entries(case: dict, boots: list[Boot]) -> None:
    """pmd_prealloc=off: each user PGD entry first populated while the new mm is live forces a CR3 reload.

    Every run also counts the exec of the program itself by /init's child (text and stack: 2)."""
    (b,) = boots
    layout, hello = b.window(0, "exec_layout"), b.window(1, "lat_proc")
    assert layout["k.execs"] == hello["k.execs"] == 11
    if toggle(case, "mm.pmd_prealloc") == "off":
        assert layout["cr3_reload_pdpte"] == 2 + 3 * 10, layout  # text + mmap at 0x50000000 + stack
        assert hello["cr3_reload_pdpte"] == 2 + 2 * 10, hello  # /hello: text + stack
        assert layout["pmd_install_live"] == layout["cr3_reload_pdpte"]
    else:
        assert layout["cr3_reload_pdpte"] == hello["cr3_reload_pdpte"] == 0, (layout, hello)
        assert layout["pmd_install_live"] == 0 and layout["pmd_prealloc"] == 3 * (11 + 11), layout  # fork + exec


def fork_and_exit_take_pgd_lock_only_when_locked(case: dict, boots: list[Boot]) -> None:
    (b,) = boots
    d = b.window(2, "fork_scale")
    assert d["k.forks"] == 1 + 3 + 1 + 10 and d["k.execs"] == 1, d  # /init's fork, warm-up, worker, iterations
    pgds = d["pgd_alloc"]
    assert pgds == d["pgd_free"] == d["k.forks"] + d["k.execs"], d
    if toggle(case, "mm.pgd_init") == "locked":
        assert d["pgd_lock.acquire"] == 2 * pgds, d  # pgd_ctor adds to pgd_list, pgd_dtor removes
    else:
        assert d["pgd_lock.acquire"] == 0 and d["pgd_init_late"] == pgds, d


def sparse_exit_scans_far_fewer_entries_with_vma_guided_free_pgtables(case: dict, boots: list[Boot]) -> None:
    per_exec = {}
    for i, b in enumerate(boots):
        d = b.window(0, "exec_layout")
        per_exec[toggle(case, "mm.free_pgtables", i)] = d["pgtable_entries_scanned"] / d["k.execs"]
    # exec_layout's children use 3 GiB-apart regions: full visits 3 PGD entries and 3 x 512 PMD entries per teardown.
    assert per_exec["full"] > 50 * per_exec["vma"], per_exec


def kmap_churn_syncs_every_pgd(case: dict, boots: list[Boot]) -> None:
    """Forks racing kernel-mapping creation: every new kernel PTE table reaches every PGD (kernel_sync_missed == 0)."""
    (b,) = boots
    (line,) = b.results("kmap_churn")
    assert line["kernel_pte_tables"] == 32 and line["forks"] > 0, line
    d = b.window(0, "kmap_churn")
    assert d["k.kmap_churns"] == 33 and d["k.kernel_sync_missed"] == 0, d  # one probe call, then 32 rounds
    assert b.one("leak")["kernel_sync_missed"] == 0
    if toggle(case, "mm.kernel_pmd") == "unshared":
        # Each new table is copied into the PGDs alive then: at least kmap_churn's and its two forkers'.
        assert d["kernel_sync"] >= 3 * 32, d
        assert (d["pgd_lock.acquire"] > 0) == (toggle(case, "mm.pgd_init") == "locked"), d
    else:
        assert d["kernel_sync"] == 0, d  # one kernel PMD for all: nothing to propagate
    assert last_counters(b)["label"] == "shutdown"
