"""The price of a counted effect (issue 16, docs/analysis.md "The price of a flush"): what a toggle saves and what it
costs, per operation, each figure with its source.

For mm.pmd_prealloc, off against on, per exec: the extra PDPTE-forced CR3 reloads the guest counts, the extra CR3
writes the host sees, and the TLB misses and page-walk references the model charges them, next to the instructions
they save. Both sides are the configurations with every other toggle at its default (the medians over repetitions;
exact under -icount). `price_rows` returns structured rows; the report renders them as one short section, and other
views (the report's first screen) can take the rows as they are.
"""

from __future__ import annotations

import dataclasses

from . import metrics as M
from .analyze import Analysis, ConfigRow

GUEST, WORKLOAD = "guest counters", "workload (-icount)"

# What is priced per exec, in this order: (metric as the analysis names it, its source for the row).
PRICED = (
    ("PDPTE-forced CR3 reloads per exec", GUEST),
    (M.sourced("CR3 writes per exec", M.MODELLED), M.MODELLED),
    (M.sourced("INVLPGs per exec", M.MODELLED), M.MODELLED),
    ("latency (median)", WORKLOAD),
    (M.sourced("instructions per exec", M.MODELLED), M.MODELLED),
    (M.sourced("iTLB misses per exec", M.MODELLED), M.MODELLED),
    (M.sourced("dTLB misses per exec", M.MODELLED), M.MODELLED),
    (M.sourced("STLB misses per exec", M.MODELLED), M.MODELLED),
    (M.sourced("page-walk references per exec", M.MODELLED), M.MODELLED),
)
# The model's answer to "what does one extra flush cost": its extra misses and references over the extra CR3 writes.
PER_FLUSH = ("STLB misses per exec", "page-walk references per exec")


@dataclasses.dataclass(frozen=True)
class PriceRow:
    toggle: str  # "mm.pmd_prealloc"
    base: str  # the default value ("on")
    alt: str  # the other value ("off")
    workload: str
    metric: str  # with its source tag for host figures
    unit: str
    base_value: float
    alt_value: float
    verdict: str  # "saves" (alt is lower), "costs" (alt is higher) or "same"
    source: str  # GUEST, WORKLOAD, metrics.MODELLED or metrics.MEASURED
    exact: bool  # deterministic and repeated identically: the difference is exact
    evidence: str  # "exact", or the Mann-Whitney p of the two configurations

    @property
    def diff(self) -> float:
        return self.alt_value - self.base_value

    @property
    def pct(self) -> float | None:
        return 100.0 * self.diff / self.base_value if self.base_value else None


def _at_defaults(a: Analysis, toggle: str, value: str) -> dict[tuple, ConfigRow]:
    """Our kernel's configuration rows with `toggle` at `value` and every other toggle at its default, by (workload,
    metric, vCPUs)."""
    want = dict(a.rs.defaults, **{toggle: value})
    out = {}
    for r in a.configs:
        g = r.group
        if g.kernel == "mmlab" and all(want.get(k) == v for k, v in r.toggles.items()):
            out[(g.workload, g.metric, g.vcpus)] = r
    return out


def price_rows(a: Analysis, toggle: str = "mm.pmd_prealloc") -> list[PriceRow]:
    """What `toggle`'s other value saves and costs per exec, for each exec workload whose cells ran with the TLB model
    and with the toggle at both values (others at their defaults). Empty when the set cannot say."""
    if toggle not in a.rs.toggles or toggle not in a.swept:
        return []
    base_value, alt_value = a.rs.toggles[toggle]
    base, alt = _at_defaults(a, toggle, base_value), _at_defaults(a, toggle, alt_value)
    rows = []
    for workload, vcpus in sorted({(w, v) for w, m, v in base if m == PRICED[1][0]}):
        by_metric = {}
        for metric, source in PRICED:
            b, o = base.get((workload, metric, vcpus)), alt.get((workload, metric, vcpus))
            if b is None or o is None or (metric == "latency (median)" and b.group.unit != "guest instructions"):
                continue
            exact = b.exact and o.exact
            evidence = "exact" if exact else f"p={o.vs_default.p:.3g}" if o.vs_default and o.vs_default.p else ""
            bv, av = b.summary.median, o.summary.median
            verdict = "saves" if av < bv else "costs" if av > bv else "same"
            by_metric[metric] = PriceRow(
                toggle, base_value, alt_value, workload, metric, b.group.unit, bv, av, verdict, source, exact, evidence
            )
        cr3 = by_metric.get(PRICED[1][0])
        for what in PER_FLUSH:
            r = by_metric.get(M.sourced(what, M.MODELLED))
            if cr3 and r and cr3.diff:
                # The extra misses (references) per extra CR3 write: a ratio of two differences, so the "values" are
                # the differences themselves (base: the CR3 writes' difference, alt: this metric's).
                unit = r.unit.rstrip("s") if r.unit.endswith("s") else r.unit
                by_metric[f"{what} per extra CR3 write"] = PriceRow(
                    toggle,
                    base_value,
                    alt_value,
                    workload,
                    M.sourced(f"{what.split(' per ')[0]} per extra CR3 write", M.MODELLED),
                    f"{unit}s per write",
                    0.0,
                    r.diff / cr3.diff,
                    "costs" if r.diff / cr3.diff > 0 else "saves" if r.diff < 0 else "same",
                    M.MODELLED,
                    cr3.exact and r.exact,
                    "exact" if cr3.exact and r.exact else "ratio of two medians' differences",
                )
        rows.extend(by_metric.values())
    return rows
