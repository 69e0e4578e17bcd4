"""From cell records to observations: one number per cell and metric (docs/analysis.md, "Metrics").

A workload's own result gives its headline metric (latency, or a rate per worker count); the guest
counters give per-operation costs (CR3 reloads per exec, pgd_lock per fork, ...). Every observation
keeps what it must not be pooled across: kernel, accel and time unit.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Observation:
    kernel: str
    workload: str  # the workload's label: name and arguments
    metric: str
    unit: str
    lower_is_better: bool
    value: float
    toggles: tuple  # sorted (key, value) pairs; () for Linux
    vcpus: int
    accel: str
    time_unit: str
    cell: str  # the cell id
    deterministic: bool = False  # ran under -icount: repetitions must be bit-identical

    @property
    def toggle_dict(self) -> dict:
        return dict(self.toggles)


def workload_label(cell: dict) -> str:
    w = cell["workload"]
    return " ".join([w["name"], *w.get("args", [])])


def time_unit_label(time_unit: str) -> str:
    return "guest instructions" if time_unit == "guest_instructions" else "ns"


def rate_unit(time_unit: str, what: str) -> str:
    # Under -icount a "second" is 10^9 guest instructions.
    return f"{what}/s" if time_unit == "ns" else f"{what} per 10^9 guest instructions"


def _per(num: float | None, den: float | None) -> float | None:
    if num is None or not den:
        return None
    return num / den


def counter_metrics(cell: dict) -> list[tuple[str, str, float]]:
    """Per-operation costs from our kernel's counters: (metric, unit, value); nothing for Linux."""
    gc = cell.get("guest_counters") or {}
    mm, k = gc.get("mm"), gc.get("kernel")
    if not mm or not k:
        return []
    execs, forks, exits = k.get("execs"), k.get("forks"), k.get("exits")
    faults = (mm.get("fault_anon") or 0) + (mm.get("fault_file") or 0) + (mm.get("fault_cow_copy") or 0)
    tables = (mm.get("pte_table_alloc") or 0) + (mm.get("pmd_install") or 0) + (mm.get("pmd_prealloc") or 0)
    out = [
        ("PDPTE-forced CR3 reloads per exec", "reloads", _per(mm.get("cr3_reload_pdpte"), execs)),
        ("full TLB flushes per exec", "flushes", _per(mm.get("tlb_flush_all"), execs)),
        ("pgd_lock acquisitions per fork", "acquisitions", _per(mm.get("pgd_lock.acquire"), forks)),
        ("pgd_lock wait cycles per fork", "cycles", _per(mm.get("pgd_lock.wait_cycles"), forks)),
        ("page-table pages per fork or exec", "pages", _per(tables, (forks or 0) + (execs or 0))),
        ("page-table entries scanned per exit", "entries", _per(mm.get("pgtable_entries_scanned"), exits)),
        (
            "contended PTE-lock acquisitions per fault",
            "acquisitions",
            _per((mm.get("split_ptl.contended") or 0) + (mm.get("page_table_lock.contended") or 0), faults),
        ),
        ("kernel-PMD syncs per fork", "syncs", _per(mm.get("kernel_sync"), forks)),
        # Contention: zero on one vCPU, what the lock toggles change on several.
        ("contended pgd_lock acquisitions per fork", "acquisitions", _per(mm.get("pgd_lock.contended"), forks)),
        (
            "PTE-lock wait cycles per fault",
            "cycles",
            _per((mm.get("split_ptl.wait_cycles") or 0) + (mm.get("page_table_lock.wait_cycles") or 0), faults),
        ),
        (
            "contended kernel-lock acquisitions per system call",
            "acquisitions",
            _per(mm.get("kernel_lock.contended"), k.get("syscalls")),
        ),
    ]
    return [(name, unit, v) for name, unit, v in out if v is not None]


def workload_metrics(cell: dict) -> list[tuple[str, str, bool, float]]:
    """The workload's own results: (metric, unit, lower_is_better, value)."""
    m = cell.get("metrics") or {}
    name, tu = cell["workload"]["name"], cell["time_unit"]
    out = []
    if name in ("lat_proc", "exec_layout") and "median" in m:
        out.append(("latency (median)", time_unit_label(tu), True, float(m["median"])))
    elif name in ("fork_scale", "page_fault"):
        key, what = ("forks_per_s", "forks") if name == "fork_scale" else ("faults_per_s", "faults")
        for p in m.get("points", []):
            n = p["workers"]
            out.append(
                (f"{what[:-1]} rate, {n} worker{'' if n == 1 else 's'}", rate_unit(tu, what), False, float(p[key]))
            )
    elif name == "kmap_churn" and "rounds_per_s" in m:
        out.append(("kernel-mapping rounds rate", rate_unit(tu, "rounds"), False, float(m["rounds_per_s"])))
        out.append(("fork rate during the churn", rate_unit(tu, "forks"), False, float(m["forks_per_s"])))
    return out


def accel_of(c: dict) -> str:
    """What ran a cell: kvm or tcg under QEMU, or the emulator itself (bochs) otherwise. Cells of different accels
    are never pooled, so Bochs cells (correctness runs) never mix with QEMU's."""
    emulator = c.get("emulator", "qemu")
    return c["accel"] if emulator == "qemu" else emulator


def observations(cells: list[dict]) -> list[Observation]:
    """Every metric of every ok cell."""
    obs = []
    for c in cells:
        if c["status"] != "ok":
            continue
        common = dict(
            kernel=c["kernel"],
            workload=workload_label(c),
            toggles=tuple(sorted(c["toggles"].items())),
            vcpus=c["vcpus"],
            accel=accel_of(c),
            time_unit=c["time_unit"],
            cell=c["id"],
            deterministic=bool(c.get("deterministic", c["time_unit"] == "guest_instructions")),
        )
        for metric, unit, lower, value in workload_metrics(c):
            obs.append(Observation(metric=metric, unit=unit, lower_is_better=lower, value=value, **common))
        for metric, unit, value in counter_metrics(c):
            obs.append(Observation(metric=metric, unit=unit, lower_is_better=True, value=value, **common))
    return obs


def unavailable_counters(cells: list[dict]) -> dict[str, set[str]]:
    """Host counters that were unavailable, with every distinct reason."""
    out: dict[str, set[str]] = {}
    for c in cells:
        for name, entry in c.get("host_counters", {}).items():
            if isinstance(entry, dict) and "unavailable" in entry:
                out.setdefault(name, set()).add(entry["unavailable"])
    return out
