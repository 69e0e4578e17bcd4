"""What the boot tests share: the case list from mmlab, and running a case through mmlab.

The boots are described in boot_tests.toml (docs/testing.md, "The boot-test list"); `mmlab tests --json` expands it and
`mmlab boot --test NAME --json` runs a case and checks what the list says must hold (status, no leak, PASS lines,
console text, panic message). A case with `check = "SUBJECT:FUNCTION"` then gets FUNCTION(case, boots) from
test_SUBJECT.py, for what a list cannot say. Each test_SUBJECT.py has one test, `test_case`, parametrized over its
cases; ctest runs each case on its own (`mmlab tests --ctest`).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, ROOT)

from analysis.records import Boot, boots, read_records  # noqa: E402

MMLAB = os.environ.get("MMLAB_BIN", os.path.join(ROOT, "build", "bin", "mmlab"))
LIST = os.environ.get("MMLAB_BOOT_TESTS", os.path.join(os.path.dirname(__file__), "boot_tests.toml"))
BUILD = os.path.dirname(os.path.dirname(os.path.realpath(MMLAB)))


@functools.lru_cache(maxsize=1)
def listed() -> list[dict]:
    p = subprocess.run([MMLAB, "tests", "--list", LIST, "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@functools.lru_cache(maxsize=1)
def toggle_table() -> list[dict]:
    """The toggle table (kernel_mm/mm/include/mm/toggles.h), as `mmlab toggles --json` prints it."""
    p = subprocess.run([MMLAB, "toggles", "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def toggle_defaults() -> dict[str, str]:
    return {t["key"]: t["default"] for t in toggle_table()}


def cases(subject: str) -> list:
    """The cases whose check lives in test_SUBJECT.py, as pytest parameters named after the case."""
    return [pytest.param(c, id=c["name"]) for c in listed() if c["check"].split(":")[0] == subject]


# The lock order docs/kernel.md writes down ("The kernel's locks"), outermost first: a lock may be taken while holding
# only locks before it. Every boot with the lock-order checker on is held against it (its `lockdep` record lists every
# order the checker saw), so the documented order and the kernel's cannot drift apart.
LOCK_ORDER = [
    "proctree_lock",
    "siglock",
    "alloc_lock",
    "file_lock",
    "f_pos_lock",
    "futex_bucket_lock",
    "timer_lock",
    "pi_lock",
    "rq_lock",
    "record_lock",
    # the mm core's
    "mmap_lock",
    "tasklist_lock",
    "pgd_lock",
    "kernel_pt_lock",
    "vmap_lock",
    "page_table_lock",
    "split_ptl",
    "page_cache_lock",
    "kmem_cache_lock",
    "page_alloc_lock",
    "pcp_lock",
    # a leaf: nothing is taken while it is held
    "console_lock",
]


def check_lock_order(b: Boot, asked: bool) -> None:
    """With mmlab.lockdep=on the boot says the checker ran, and (if it got to shutdown) every order it recorded goes
    forward in LOCK_ORDER."""
    if not b.of_type("boot"):
        return
    assert b.one("boot").get("lockdep") is asked, "the boot record does not show the lock-order checker as asked"
    if not asked or not b.of_type("leak"):
        return
    rank = {name: i for i, name in enumerate(LOCK_ORDER)}
    order = b.one("lockdep")["order"]
    backwards = [f"{a} -> {c}" for a, cs in order.items() for c in cs if rank[a] >= rank[c]]
    assert not backwards, f"orders against docs/kernel.md's: {backwards}"


def run(case: dict) -> list[Boot]:
    """Runs a case through mmlab; every boot must have met the list's expectations."""
    budget = sum(b["timeout"] + 5 for b in case["boots"]) + 30
    p = subprocess.run(
        [MMLAB, "boot", "--test", case["name"], "--tests", LIST, "--json"],
        capture_output=True,
        text=True,
        timeout=budget,
    )
    records, bad = read_records(p.stdout)
    assert not bad, bad[:3]
    result = boots(records)
    assert len(result) == len(case["boots"]), p.stderr
    for b in result:
        assert not b.unmet, f"{b.unmet}\n{b.describe()}"
    assert p.returncode == 0, p.stderr
    for b, spec in zip(result, case["boots"]):
        if spec["kernel"] == "mmlab":
            check_lock_order(b, "mmlab.lockdep=on" in spec["kernel_args"])
    return result


def check_case(module_globals: dict, case: dict) -> None:
    """Runs `case` and then its check, FUNCTION of SUBJECT:FUNCTION, from the calling module."""
    fn = module_globals[case["check"].split(":")[1]]
    fn(case, run(case))


def passes(b: Boot) -> int:
    return sum(1 for line in b.console.splitlines() if line.startswith("PASS"))


def last_counters(b: Boot) -> dict:
    return b.of_type("counters")[-1]


def cpus_that(counters: dict, key: str) -> int:
    """How many CPUs of a counters record have a non-zero per-CPU `key`."""
    return sum(1 for c in counters["cpus"].values() if c[key] > 0)


def guest_file(*parts: str) -> str:
    """A file of the build, by its path below build/ (the programs in the initrds)."""
    return os.path.join(BUILD, *parts)
