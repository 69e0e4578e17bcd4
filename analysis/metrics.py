"""From cell records to observations: one number per cell and metric (docs/analysis.md, "Metrics").

A workload's own result gives its headline metric (latency, or a rate per worker count); the guest
counters give per-operation costs (CR3 reloads per exec, pgd_lock per fork, ...). Every observation
keeps what it must not be pooled across: kernel, accel and time unit.
"""

from __future__ import annotations

import dataclasses

# Where a metric comes from. The report labels every cost with its source and never pools two: a modelled TLB
# miss (the TCG plugin, docs/tlb-model.md) and a measured one (the host PMU under KVM) are different metrics.
WORKLOAD = "workload"  # the workload's own result: its latency or rate (time or guest instructions)
GUEST = "guest counter"  # our kernel's event counters, per operation
MODELLED = "modelled"  # priced by a model of the hardware (the TLB model)
MEASURED = "measured"  # counted by the host's PMU
SOURCES = (WORKLOAD, GUEST, MODELLED, MEASURED)


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
    source: str = WORKLOAD  # where the number comes from: see SOURCES

    @property
    def toggle_dict(self) -> dict:
        return dict(self.toggles)


# Where a host-side figure comes from (docs/analysis.md, "Modelled and measured"): the TCG plugin (docs/tlb-model.md;
# its CR3 and INVLPG counts are exact observations, its TLB counts a model's) or the CPU's PMU under KVM. Each metric
# carries its source in its name, so every table and plot says it, and groups never pool two sources.
def sourced(metric: str, source: str) -> str:
    return f"{metric} [{source}]" if source else metric


def unsourced(metric: str) -> str:
    """The metric's name without its source tag."""
    for src in (MODELLED, MEASURED):
        if metric.endswith(f" [{src}]"):
            return metric[: -len(src) - 3]
    return metric


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
    """Per-operation costs from our kernel's counters: (metric, unit, value); nothing for Linux.

    A function that adds metrics of another source (the TLB model's, the PMU's) returns
    (metric, unit, value, source) instead, source one of MODELLED or MEASURED: observations() takes
    both forms, and the report files a metric under its source."""
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
        # The process tree's lock (fork links, exit and wait4 unlink): what replaced the big kernel lock on the
        # process paths (docs/kernel.md, "The kernel's locks").
        (
            "contended proctree_lock acquisitions per fork",
            "acquisitions",
            _per(mm.get("proctree_lock.contended"), forks),
        ),
        ("proctree_lock wait cycles per fork", "cycles", _per(mm.get("proctree_lock.wait_cycles"), forks)),
    ]
    return [(name, unit, v) for name, unit, v in out if v is not None]


# The operation a workload's window is priced per.
def operation(cell: dict) -> str | None:
    w = cell["workload"]
    name, args = w["name"], w.get("args", [])
    if name == "lat_proc":
        return "fork" if "fork" in args else "exec" if ("exec" in args or "shell" in args) else None
    return {"exec_layout": "exec", "fork_scale": "fork", "kmap_churn": "fork", "page_fault": "fault"}.get(name)


def operations(cell: dict, op: str) -> float | None:
    """How many `op`s the cell's window (before:0:NAME to after:0:NAME) holds. Our kernel counts them (kernel.forks,
    kernel.execs, the mm faults). Linux counts faults (vmstat pgfault) but not forks or execs: for lat_proc fork and
    exec and for exec_layout they follow from the workload (n + warm-up iterations, each a fork (and an exec), plus
    /init's fork and exec of the program: test_analysis checks this against our kernel's counts); for the others Linux
    has none."""
    gc = cell.get("guest_counters") or {}
    mm, k = gc.get("mm"), gc.get("kernel")
    if mm and k:
        if op == "fault":
            return (mm.get("fault_anon") or 0) + (mm.get("fault_file") or 0) + (mm.get("fault_cow_copy") or 0)
        return k.get(f"{op}s")
    if op == "fault":
        return (gc.get("vmstat") or {}).get("pgfault")
    m, w = cell.get("metrics") or {}, cell["workload"]
    if w["name"] not in ("lat_proc", "exec_layout") or "n" not in m or "warmup" not in m:
        return None
    iterations = m["n"] + m["warmup"] + 1
    if op == "fork":
        return iterations
    return 1 if w["name"] == "lat_proc" and "fork" in w.get("args", []) else iterations


# The TLB model's counts (docs/records.md, a cell's "tlb_model"): (metric, unit, what to add up).
MODEL_COUNTS = (
    ("CR3 writes", "writes", ("cr3_writes",)),
    ("INVLPGs", "invalidations", ("invlpg",)),
    ("instructions", "guest instructions", ("insns",)),
    ("iTLB misses", "misses", ("itlb_misses",)),
    ("dTLB misses", "misses", ("dtlb_load_misses", "dtlb_store_misses")),
    ("STLB misses", "misses", ("stlb_misses",)),
    ("page-walk references", "references", ("walk_refs",)),
)
# The PMU's guest-only events under KVM (docs/records.md, host_counters): counted over the whole VM, not a window.
PMU_COUNTS = (
    ("guest dTLB load misses, whole VM", "misses", "dtlb_load_misses_guest"),
    ("guest dTLB store misses, whole VM", "misses", "dtlb_store_misses_guest"),
    ("guest iTLB misses, whole VM", "misses", "itlb_load_misses_guest"),
    ("guest dTLB load walks, whole VM", "walks", "dtlb_load_walks_guest"),
    ("guest dTLB store walks, whole VM", "walks", "dtlb_store_walks_guest"),
    ("guest iTLB walks, whole VM", "walks", "itlb_walks_guest"),
)


def host_metrics(cell: dict) -> list[tuple[str, str, float, str]]:
    """The host's view, per operation where it has a window: (metric, unit, value, source), the metric named with its
    source. The TLB model's counts per fork, exec or fault (both kernels); the PMU's guest TLB events as counted."""
    out = []
    t = cell.get("tlb_model") or {}
    op = operation(cell)
    n = operations(cell, op) if op else None
    if t.get("status") == "ok" and n:
        counts = t["counts"]
        for name, unit, keys in MODEL_COUNTS:
            if all(key in counts for key in keys):
                out.append(
                    (sourced(f"{name} per {op}", MODELLED), unit, sum(counts[key] for key in keys) / n, MODELLED)
                )
    for name, unit, key in PMU_COUNTS:
        entry = (cell.get("host_counters") or {}).get(key)
        if isinstance(entry, dict) and "value" in entry:
            out.append((sourced(name, MEASURED), unit, float(entry["value"]), MEASURED))
    return out


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


# The per-operation cost functions, each (cell) -> [(metric, unit, value)] or [(metric, unit, value, source)].
COST_FUNCTIONS = [counter_metrics, host_metrics]


def extra_metrics(cell: dict) -> list[tuple[str, str, float, str]]:
    """Every cost metric of a cell with its source (GUEST when a function gives none)."""
    out = []
    for f in COST_FUNCTIONS:
        for m in f(cell):
            name, unit, value = m[:3]
            source = m[3] if len(m) > 3 else GUEST
            if source not in SOURCES or source == WORKLOAD:
                raise ValueError(f"metric {name!r}: unknown source {source!r} (one of {SOURCES[1:]})")
            out.append((name, unit, value, source))
    return out


def seeded(cell: dict) -> bool:
    """The cell's seed follows its toggle combination (docs/matrix.md, "Placeholders"): a toggle and the seed change
    together, so no toggle effect can be told from such cells."""
    return cell.get("seed") is not None


def accel_of(c: dict) -> str:
    """What ran a cell: kvm or tcg under QEMU, or the emulator itself (bochs) otherwise. Cells of different accels
    are never pooled, so Bochs cells (correctness runs) never mix with QEMU's."""
    emulator = c.get("emulator", "qemu")
    return c["accel"] if emulator == "qemu" else emulator


def observations(cells: list[dict]) -> list[Observation]:
    """Every metric of every ok cell that is not seeded by its toggle combination."""
    obs = []
    for c in cells:
        if c["status"] != "ok" or seeded(c):
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
        for metric, unit, value, source in extra_metrics(c):
            obs.append(
                Observation(metric=metric, unit=unit, lower_is_better=True, value=value, source=source, **common)
            )
    return obs


def unavailable_counters(cells: list[dict]) -> dict[str, set[str]]:
    """Host counters that were unavailable, with every distinct reason."""
    out: dict[str, set[str]] = {}
    for c in cells:
        for name, entry in c.get("host_counters", {}).items():
            if isinstance(entry, dict) and "unavailable" in entry:
                out.setdefault(name, set()).add(entry["unavailable"])
    return out
