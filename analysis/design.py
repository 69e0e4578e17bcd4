"""The report's first screen: one row per swept toggle, in the terms of the design question it asks.

For each toggle (its title and question from the set's toggle table), switching from its default to its other value:
what that saves and what it costs (the per-operation metrics: our kernel's counters, and the modelled or measured
hardware effects when the set has them, each labelled with its source and never pooled), on which workloads, and the
verdict on the workloads' own metrics (latency, rates) with its interval, or exact. Effects that are not there
collapse into one "no effect on: ..." line. docs/analysis.md, "What the report says".
"""

from __future__ import annotations

import dataclasses

from . import metrics as M
from . import stats as S
from .analyze import MIN_FINDING_PCT, Analysis, EffectRow, Group, fmt_ci, fmt_pct, fmt_value

# Effects smaller than this are real when exact, but no saving or cost worth a line on the first screen.
SOURCE_LABEL = {M.GUEST: "counted", M.MODELLED: "modelled", M.MEASURED: "measured"}


def case_label(g: Group, several_vcpus: bool) -> str:
    """A workload metric in a few words: `lat_proc -n 30 exec latency`, `fork_scale ... fork rate, 2 workers`."""
    metric = g.metric.replace(" (median)", "")
    vc = f", {g.vcpus} vCPU{'s' if g.vcpus != 1 else ''}" if several_vcpus else ""
    return f"{g.workload} {metric}{vc}"


def evidence(rows: list[EffectRow]) -> str:
    """How a set of significant effects is known: exact, or the worst q."""
    exact = [r for r in rows if r.effect.mode == S.EXACT]
    tested = [r.effect.q if r.effect.q is not None else r.effect.p for r in rows if r.effect.mode == S.TESTED]
    out = []
    if exact:
        out.append("exact" + (f" in {len(exact)}" if tested else ""))
    if tested:
        worst = max(tested)
        out.append(f"q{'<0.001' if worst < 0.001 else f'<={worst:.3f}'}" + (f" in {len(tested)}" if exact else ""))
    return ", ".join(out)


def one_effect(e: S.Effect) -> tuple[str, str]:
    """One effect and how it is known: (`+8.7% [+7.4%, +10.0%]`, `q<0.001`), or (`+36.2%`, `exact`)."""
    size = fmt_pct(e.pct) if e.pct is not None else f"{e.diff:+.3g}"
    if e.mode == S.EXACT:
        return size, "exact"
    if e.mode != S.TESTED or e.p is None:
        return size, e.mode
    q = e.q if e.q is not None else e.p
    return f"{size} {fmt_ci(e.ci, e.pct is not None)}", f"q{'<0.001' if q < 0.001 else f'={q:.3f}'}"


@dataclasses.dataclass
class CostItem:
    """One per-operation metric's significant change, in one direction, over the workloads that show it."""

    metric: str
    unit: str
    source: str
    rows: list[EffectRow]
    cases: int  # workload cases that have this metric at all
    noun: str = "workloads"  # "workload x vCPU cases" when the set has several vCPU counts

    @property
    def saves(self) -> bool:
        e = self.rows[0].effect
        return ((e.pct if e.pct is not None else e.diff) < 0) == self.rows[0].group.lower_is_better

    def text(self) -> str:
        pcts = [r.effect.pct for r in self.rows]
        if all(p is not None for p in pcts):
            lo, hi = min(pcts), max(pcts)
            change = fmt_pct(lo) if fmt_pct(lo) == fmt_pct(hi) else f"{fmt_pct(lo)} to {fmt_pct(hi)}"
        else:  # from 0 somewhere: in units
            diffs = [r.effect.diff for r in self.rows]
            lo, hi = min(diffs), max(diffs)
            change = f"{lo:+.3g}" if f"{lo:+.3g}" == f"{hi:+.3g}" else f"{lo:+.3g} to {hi:+.3g}"
            change += f" {self.unit}"
        if len(self.rows) == 1:
            e = self.rows[0].effect
            levels = f"{fmt_value(e.base_mean, self.unit)} to {fmt_value(e.alt_mean, self.unit)}"
            return f"{self.metric} {change} ({levels}; 1 of {self.cases} {self.noun}, {evidence(self.rows)})"
        return f"{self.metric} {change} ({len(self.rows)} of {self.cases} {self.noun}, {evidence(self.rows)})"


@dataclasses.dataclass
class DesignRow:
    toggle: str
    title: str
    question: str
    default: str
    alt: str
    saves: dict[str, list[str]]  # source label -> items
    costs: dict[str, list[str]]
    workloads: list[str]  # where anything changes
    all_workloads: int
    everywhere: bool  # every workload (at every vCPU count) shows a change
    verdict: str
    verdict_class: str  # better | worse | mixed | none | untested
    better: list[EffectRow]  # the workload metrics it improves (>= 1%), largest first
    worse: list[EffectRow]
    no_effect: list[str]  # case labels with no clear effect (or under 1%)
    no_effect_label: str  # "No effect of 1% or more on" (all exact) or "No clear effect on"
    untested: list[str]
    cost_items: list[CostItem]
    interactions: list[str]

    @property
    def nothing(self) -> bool:
        """No saving, no cost, no effect on any workload metric."""
        return not (self.saves or self.costs or self.better or self.worse)


NO_EFFECT = "No clear effect on"
NO_EFFECT_EXACT = f"No effect of {MIN_FINDING_PCT:.0f}% or more on"  # every one exact: zero, or a real change under 1%


def _matters(e: S.Effect) -> bool:
    return e.significant and (e.pct is None or abs(e.pct) >= MIN_FINDING_PCT)


def design_rows(a: Analysis) -> list[DesignRow]:
    table = {t["key"]: t for t in a.rs.toggle_table}
    ours = [g for g in a.groups if g.kernel == "mmlab"]
    several = len({g.vcpus for g in ours}) > 1
    workloads = sorted({(g.workload, g.vcpus) for g in ours})
    out = []
    for t in a.swept:
        info = table[t]
        default, alt = a.rs.toggles[t]
        rows = [r for r in a.effects if r.effect.toggle == t and r.group.kernel == "mmlab"]
        head = [r for r in rows if r.group.headline]
        better = [r for r in head if _matters(r.effect) and _is_better(r)]
        worse = [r for r in head if _matters(r.effect) and not _is_better(r)]
        untested = [r for r in head if r.effect.mode in (S.TOO_FEW, S.NONDETERMINISTIC)]
        no_effect = [r for r in head if r not in better and r not in worse and r not in untested]
        for lst in (better, worse):
            lst.sort(key=lambda r: -abs(r.effect.pct if r.effect.pct is not None else r.effect.diff))
        # Per-operation metrics: one item per (metric, source, direction) over the workloads.
        items: dict[tuple, list[EffectRow]] = {}
        for r in rows:
            if r.group.headline or not _matters(r.effect):
                continue
            items.setdefault((r.group.source, r.group.metric, r.group.unit, _is_better(r)), []).append(r)
        cost_items = []
        for (source, metric, unit, _), rs_ in items.items():
            cases = len({(g.workload, g.vcpus) for g in ours if g.metric == metric and g.source == source})
            cost_items.append(
                CostItem(metric, unit, source, rs_, cases, "workload x vCPU cases" if several else "workloads")
            )
        cost_items.sort(key=lambda c: (M.SOURCES.index(c.source), -len(c.rows), c.metric))
        saves: dict[str, list[str]] = {}
        costs: dict[str, list[str]] = {}
        for c in cost_items:
            (saves if c.saves else costs).setdefault(SOURCE_LABEL.get(c.source, c.source), []).append(c.text())
        where = sorted(
            {(r.group.workload, r.group.vcpus) for r in rows if _matters(r.effect)},
            key=workloads.index,
        )
        verdict, cls = _verdict(alt, better, worse, no_effect, untested, several)
        verdict, cls = _unpriced(verdict, cls, better, cost_items)
        inter = []
        for ir in a.interactions:
            i = ir.interaction
            if t in (i.a, i.b) and i.real and ir.group.headline and i.in_points and abs(i.diff) >= MIN_FINDING_PCT:
                at = ", ".join(f"{v}: {fmt_pct(x)}" for v, x in i.effect_at.items())
                inter.append(f"{i.a}'s effect on {case_label(ir.group, several)} depends on {i.b} ({at})")
        out.append(
            DesignRow(
                t,
                info.get("title") or t,
                info.get("question") or "",
                default,
                alt,
                saves,
                costs,
                _where(where, several),
                len(workloads) if not several else len({w for w, _ in workloads}),
                len(where) == len(workloads),
                verdict,
                cls,
                better,
                worse,
                _collapse(no_effect, head, several),
                NO_EFFECT_EXACT if no_effect and all(r.effect.mode == S.EXACT for r in no_effect) else NO_EFFECT,
                [case_label(r.group, several) for r in untested],
                cost_items,
                inter,
            )
        )
    return out


def _collapse(rows: list[EffectRow], head: list[EffectRow], several: bool) -> list[str]:
    """The workload metrics in `rows`, a workload whose every metric is there as one entry (`fork_scale -w 1,2 -i
    32 (all 6 metrics)`), the others one by one."""
    total: dict[str, int] = {}
    for r in head:
        total[r.group.workload] = total.get(r.group.workload, 0) + 1
    mine: dict[str, list[EffectRow]] = {}
    for r in rows:
        mine.setdefault(r.group.workload, []).append(r)
    out = []
    for w, rs_ in mine.items():
        if len(rs_) == total[w] and len(rs_) > 1:
            out.append(f"{w} ({'both' if len(rs_) == 2 else f'all {len(rs_)}'} metrics)")
        else:
            out += [case_label(r.group, several) for r in rs_]
    return out


def _where(cases: list[tuple[str, int]], several: bool) -> list[str]:
    """Workloads, each with its vCPU counts when the set has several: `fork_scale -w 1,2 (1, 2, 4 vCPUs)`."""
    by: dict[str, list[int]] = {}
    for w, v in cases:
        by.setdefault(w, []).append(v)
    return [w + (f" ({', '.join(map(str, vs))} vCPUs)" if several else "") for w, vs in by.items()]


def _is_better(r: EffectRow) -> bool:
    e = r.effect
    return ((e.pct if e.pct is not None else e.diff) < 0) == r.group.lower_is_better


def _verdict(alt, better, worse, no_effect, untested, several) -> tuple[str, str]:
    total = len(better) + len(worse) + len(no_effect) + len(untested)
    if not total:
        return "no workload metric measured", "none"
    parts = []
    for word, rows in (("worse", worse), ("better", better)):
        if rows:
            size, how = one_effect(rows[0].effect)
            parts.append(
                f"{word} on {len(rows)} of {total} workload metrics, up to {size} "
                f"({case_label(rows[0].group, several)}; {how})"
            )
    if no_effect:
        exact = all(r.effect.mode == S.EXACT for r in no_effect)
        what = f"no effect of {MIN_FINDING_PCT:.0f}% or more" if exact else "no clear effect"
        parts.append(f"{what} on {len(no_effect)}" if parts else f"{what} on any of {total}")
    if untested:
        parts.append(f"{len(untested)} untested (too few repetitions or not deterministic)")
    cls = "mixed" if better and worse else "worse" if worse else "better" if better else "none"
    if cls == "none" and untested and not no_effect:
        cls = "untested"
    return f"{alt}: " + "; ".join(parts), cls


def _unpriced(verdict: str, cls: str, better: list[EffectRow], cost_items: list) -> tuple[str, str]:
    """Under -icount a workload's time counts guest instructions: the TLB refills and page walks the model prices
    cost it nothing. A toggle whose workload metrics look better only in such time, while it costs modelled
    hardware effects, gets no "better" on time: the verdict says what the time leaves out (docs/analysis.md)."""
    priced = [c for c in cost_items if not c.saves and c.source == M.MODELLED]
    priced.sort(key=lambda c: not ("miss" in c.metric or "walk" in c.metric))  # the refills first, then the rest
    blind = [r for r in better if r.group.time_unit == "guest_instructions"]
    if not priced or not blind:
        return verdict, cls
    names = ", ".join(M.unsourced(c.metric) for c in priced[:3])
    more = f" and {len(priced) - 3} more" if len(priced) > 3 else ""
    return (
        f"{verdict}. But it costs modelled hardware effects ({names}{more}) that time in guest instructions does not "
        "include: no verdict on time without a PMU",
        "mixed",
    )


def design_context(a: Analysis) -> dict:
    """What the template and summary.md need: the rows, and the toggles with no effect at all in one line."""
    rows = design_rows(a)
    return dict(
        design=rows,
        design_nothing=[f"{r.toggle} ({r.title})" for r in rows if r.nothing],
    )
