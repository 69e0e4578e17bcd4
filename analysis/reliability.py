"""Did the kernel survive? The verdict of each cell (docs/records.md: `survived`, `survival`) added up, and the
totals of the reliability matrix's boots (workloads/matrices/reliability.toml, docs/reliability.md): the syscall
fuzzer's calls and what became of them, fault injection's failed allocations and what became of the programs.

A cell survived when the kernel did not panic, the cell did not time out, and the kernel's leak record is there and
says nothing leaked. A cell that did not is a finding at the top of the report, and `report` exits 1.
"""

from __future__ import annotations

import collections
import dataclasses

# The programs of a fault-injection cell end in these ways (/init's `status`, docs/records.md); counted in this order.
PROGRAM_STATUSES = ("ok", "failed", "signaled", "not_started")


@dataclasses.dataclass
class Reliability:
    cells: int  # cells with a verdict (our kernel's)
    survived: int
    not_survived: list[dict]  # {"id", "workload", "why"}
    sysfuzz: dict | None  # totals over the syscall fuzzer's cells, or None without any
    fault_injection: dict | None  # totals over the cells with mm.fail_alloc, or None without any
    fault_injection_by_workload: dict[str, dict] = dataclasses.field(default_factory=dict)  # when several

    @property
    def all_survived(self) -> bool:
        return not self.not_survived

    def finding(self) -> str | None:
        """The sentence at the top of the report when the kernel did not survive every cell, else None."""
        if self.all_survived:
            return None
        shown = "; ".join(f"{c['id']} ({c['workload']}): {c['why']}" for c in self.not_survived[:5])
        more = f"; and {len(self.not_survived) - 5} more" if len(self.not_survived) > 5 else ""
        return (
            f"THE KERNEL DID NOT SURVIVE {len(self.not_survived)} of {self.cells} cells (a panic, a hang or a leak): "
            f"{shown}{more}"
        )


def _fail_alloc(cell: dict) -> bool:
    return any(a.startswith("mm.fail_alloc=") for a in cell.get("kernel_args") or [])


def _num(d: dict | None, *path: str) -> int:
    for p in path:
        d = d.get(p) if isinstance(d, dict) else None
    return d if isinstance(d, int) and not isinstance(d, bool) else 0


def _programs(cell: dict) -> list[dict]:
    """/init's line for every program the cell ran."""
    lines = cell.get("init_all")
    if isinstance(lines, list):
        return [x for x in lines if isinstance(x, dict)]
    return [cell["init"]] if isinstance(cell.get("init"), dict) else []


def _sysfuzz(cells: list[dict]) -> dict:
    t = dict(cells=len(cells), syscalls=0, user_faults=0, signals_fatal=0, enosys=0, calls_counted=0, errors=0)
    for c in cells:
        for k in ("syscalls", "user_faults", "signals_fatal"):
            t[k] += _num(c.get("guest_counters"), "kernel", k)
        enosys = (c.get("shutdown_counters") or {}).get("enosys") or {}
        t["enosys"] += sum(v for v in enosys.values() if isinstance(v, int))
        m = c.get("metrics") or {}
        t["calls_counted"] += _num(m, "calls_counted")
        t["errors"] += sum(v for v in (m.get("errors") or {}).values() if isinstance(v, int))
    return t


def _fault_injection(cells: list[dict]) -> dict:
    statuses = collections.Counter()
    t = dict(cells=len(cells), injected=0, init_oom_retries=0, programs=0)
    for c in cells:
        t["injected"] += _num(c.get("shutdown_counters"), "mm", "alloc_fail_injected")
        t["init_oom_retries"] += _num(c.get("shutdown_counters"), "kernel", "init_oom_retries")
        for line in _programs(c):
            statuses[str(line.get("status", "?"))] += 1
    t["programs"] = sum(statuses.values())
    order = [s for s in PROGRAM_STATUSES if s in statuses] + sorted(set(statuses) - set(PROGRAM_STATUSES))
    t["statuses"] = {s: statuses[s] for s in order}
    return t


def reliability(cells: list[dict]) -> Reliability | None:
    """The verdicts of `cells`, or None when none carries one (Linux cells, sets written before the verdict)."""
    judged = [c for c in cells if isinstance(c.get("survived"), bool)]
    if not judged:
        return None
    not_survived = [
        dict(
            id=c["id"],
            workload=c["workload"]["name"],
            why=c.get("survival") or c.get("reason") or c["status"],
        )
        for c in judged
        if not c["survived"]
    ]
    fuzz = [c for c in judged if c["workload"]["name"] == "sysfuzz"]
    injected = [c for c in judged if _fail_alloc(c)]
    names = sorted({c["workload"]["name"] for c in injected})
    return Reliability(
        cells=len(judged),
        survived=len(judged) - len(not_survived),
        not_survived=not_survived,
        sysfuzz=_sysfuzz(fuzz) if fuzz else None,
        fault_injection=_fault_injection(injected) if injected else None,
        fault_injection_by_workload=(
            {n: _fault_injection([c for c in injected if c["workload"]["name"] == n]) for n in names}
            if len(names) > 1
            else {}
        ),
    )


def rows(r: Reliability) -> list[tuple[str, str]]:
    """(what, figure) for the report's table."""
    out = [("cells run (our kernel)", f"{r.cells:,}"), ("survived", f"{r.survived:,}")]
    out.append(("did not survive", f"{len(r.not_survived):,}"))
    if r.sysfuzz:
        s = r.sysfuzz
        out += [
            ("syscall fuzzer: cells", f"{s['cells']:,}"),
            ("syscall fuzzer: system calls that reached the kernel", f"{s['syscalls']:,}"),
            ("syscall fuzzer: of them -ENOSYS (the kernel's count by number, whole boot)", f"{s['enosys']:,}"),
            ("syscall fuzzer: user faults", f"{s['user_faults']:,}"),
            ("syscall fuzzer: processes killed by a fatal signal", f"{s['signals_fatal']:,}"),
            ("syscall fuzzer: calls in its own tallies (batches whose counts survived)", f"{s['calls_counted']:,}"),
            ("syscall fuzzer: error returns in those tallies", f"{s['errors']:,}"),
        ]
    if r.fault_injection:
        f = r.fault_injection
        out += [
            ("fault injection: cells", f"{f['cells']:,}"),
            ("fault injection: allocation failures injected", f"{f['injected']:,}"),
            ("fault injection: init's retried faults (init_oom_retries)", f"{f['init_oom_retries']:,}"),
            ("fault injection: program runs", f"{f['programs']:,}"),
        ]
        out += [(f"fault injection: programs {s}", f"{n:,}") for s, n in f["statuses"].items()]
    for name, f in r.fault_injection_by_workload.items():
        statuses = ", ".join(f"{n:,} {s}" for s, n in f["statuses"].items())
        out.append(
            (
                f"{name}: cells, failures injected, init retries, programs",
                f"{f['cells']:,}; {f['injected']:,}; {f['init_oom_retries']:,}; {statuses}",
            )
        )
    return out
