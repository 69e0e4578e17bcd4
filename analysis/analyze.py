"""A result set analysed: per-configuration statistics, toggle effects and interactions, our kernel
against Linux PAE, and the findings in sentences. The report and the plots draw from this."""

from __future__ import annotations

import dataclasses
import itertools
import re

import numpy as np

from . import metrics as M
from . import stats as S
from .load import ResultSet
from .reliability import Reliability, reliability

# A change smaller than this (%, or percentage points for an interaction) is not stated as a
# finding even when significant (a deterministic 0.1% change is exact, so real); the tables
# list it.
MIN_FINDING_PCT = 1.0


@dataclasses.dataclass(frozen=True)
class Group:
    """What observations share so that they may be compared: never across kernels, accels or units."""

    kernel: str
    workload: str
    metric: str
    unit: str
    lower_is_better: bool
    vcpus: int
    accel: str
    time_unit: str
    source: str = M.WORKLOAD  # metrics.SOURCES: never pooled either

    @property
    def headline(self) -> bool:
        """The workload's own result (latency, rate), not a per-operation cost."""
        return self.source == M.WORKLOAD

    def label(self) -> str:
        vc = f", {self.vcpus} vCPUs" if self.vcpus != 1 else ""
        return f"{self.workload}: {self.metric}{vc}"


@dataclasses.dataclass
class ConfigRow:
    group: Group
    toggles: dict
    summary: S.Summary
    vs_default: S.Change | None  # None for the default combination itself, or when it is absent
    exact: bool = False  # deterministic and every repetition identical: the median is the value


@dataclasses.dataclass
class EffectRow:
    group: Group
    effect: S.Effect


@dataclasses.dataclass
class InteractionRow:
    group: Group
    interaction: S.Interaction


@dataclasses.dataclass
class NonDeterminism:
    """A deterministic configuration whose repetitions differ: a finding, not noise."""

    group: Group
    toggles: dict
    values: list[float]


@dataclasses.dataclass
class Untested:
    """A group whose effects (or interactions) were not tested: too few repetitions."""

    group: Group
    what: str  # "effects" | "interactions"


@dataclasses.dataclass
class KernelRow:
    workload: str
    metric: str
    unit: str
    mmlab: S.Summary
    linux: S.Summary
    change: S.Change  # Linux as the base: ratio = 1 + pct/100

    @property
    def ratio(self) -> float:
        return self.mmlab.median / self.linux.median

    @property
    def ratio_ci(self) -> tuple[float, float] | None:
        return None if self.change.ci is None else (1 + self.change.ci[0] / 100, 1 + self.change.ci[1] / 100)


@dataclasses.dataclass
class Analysis:
    rs: ResultSet
    observations: list[M.Observation]
    groups: dict[Group, list[M.Observation]]
    swept: list[str]
    configs: list[ConfigRow]
    effects: list[EffectRow]
    interactions: list[InteractionRow]
    kernels: list[KernelRow]
    findings: list[str]
    not_ok: list[dict]
    nondeterministic: list[NonDeterminism]
    untested: list[Untested]
    unavailable: dict[str, set[str]]
    mixed: list[str]  # what could not be pooled (several accels or time units)
    reliability: Reliability | None = None  # the kernel-survives verdicts, None when no cell has one


def group_of(o: M.Observation) -> Group:
    return Group(o.kernel, o.workload, o.metric, o.unit, o.lower_is_better, o.vcpus, o.accel, o.time_unit, o.source)


def swept_toggles(obs: list[M.Observation], table: dict[str, tuple[str, str]]) -> list[str]:
    """The toggles `obs` hold more than one value of, in the table's order."""
    seen: dict[str, set[str]] = {}
    for o in obs:
        for k, v in o.toggles:
            seen.setdefault(k, set()).add(v)
    return [k for k in table if len(seen.get(k, ())) > 1]


def scale_for(unit: str, magnitude: float) -> tuple[float, str]:
    """(divisor, unit label) that puts `magnitude` of `unit` in a readable range."""
    a = abs(magnitude)
    if unit == "ns":
        for div, name in ((1e9, "s"), (1e6, "ms"), (1e3, "us")):
            if a >= div:
                return div, name
        return 1.0, "ns"
    if unit == "guest instructions":
        for div, name in ((1e9, "G instr."), (1e6, "M instr."), (1e3, "k instr.")):
            if a >= div:
                return div, name
        return 1.0, "instr."
    return 1.0, unit


def fmt_value(v: float, unit: str = "") -> str:
    if unit in ("ns", "guest instructions"):
        div, name = scale_for(unit, v)
        x = v / div
        return f"{x:.3g} {name}" if abs(x) < 1000 else f"{x:.0f} {name}"
    a = abs(v)
    if a >= 1e9:
        s = f"{v / 1e9:.2f} G"
    elif a >= 1e6:
        s = f"{v / 1e6:.2f} M"
    elif a >= 1e4:
        s = f"{v / 1e3:.1f} k"
    elif a >= 100 or v == int(v):
        s = f"{v:.0f} "
    else:
        s = f"{v:.3g} "
    return (s + unit).strip()


def fmt_pct(p: float | None) -> str:
    """A % change; past +300% as a factor, which reads better (x184 rather than +18,300%)."""
    if p is None:
        return "n/a"
    return f"x{1 + p / 100:.3g}" if p > 300 else f"{p:+.1f}%"


def fmt_ci(ci, pct: bool = True) -> str:
    if ci is None:
        return ""
    if pct:
        return f"[{fmt_pct(ci[0])}, {fmt_pct(ci[1])}]"
    return f"[{ci[0]:+.3g}, {ci[1]:+.3g}]"


def exact_label(why: str) -> str:
    return f"exact ({why})" if why else "exact"


def effect_evidence(e: S.Effect) -> str:
    """How the effect is known: exact, or its p and q, or why it was not tested."""
    if e.mode == S.EXACT:
        return exact_label(e.exact_why)
    if e.mode == S.TOO_FEW:
        return "too few repetitions to test"
    if e.mode == S.NONDETERMINISTIC:
        return "not tested: the repetitions of a deterministic configuration differ"
    return S.format_p(e.p) + (f" (q={e.q:.3g})" if e.q is not None else "")


def effect_sentence(g: Group, e: S.Effect) -> str:
    what = f"{e.toggle}={e.alt} (against {e.default})"
    ci = "" if e.mode == S.EXACT else " " + fmt_ci(e.ci, e.pct is not None) if e.ci else ""
    if e.pct is None:
        size = f"changes {g.metric} from 0 to {fmt_value(e.alt_mean, g.unit)}{ci}"
    else:
        better = (e.pct < 0) == g.lower_is_better
        size = (
            f"{g.metric} {fmt_pct(e.pct)}{ci} "
            f"({fmt_value(e.base_mean, g.unit)} to {fmt_value(e.alt_mean, g.unit)}, {'better' if better else 'worse'})"
        )
    tail = ""
    if not e.significant and e.mode == S.TESTED:
        tail = ": not a clear effect" + (" (the interval crosses zero)" if e.crosses_zero else "")
    return f"{what}: {g.workload}: {size}, {effect_evidence(e)}{tail}"


def interaction_sentence(g: Group, i: S.Interaction) -> str:
    at = ", ".join(f"{i.b}={bv}: {fmt_pct(v) if i.in_points else fmt_value(v)}" for bv, v in i.effect_at.items())
    if i.mode == S.EXACT:
        how = "exact"
    elif i.in_points:
        how = f"the ratio of the effects {fmt_pct(i.ratio_pct)} {fmt_ci(i.ci)}, {S.format_p(i.p)}, q={i.q:.3g}"
    else:
        how = f"{fmt_ci(i.ci, False)}, {S.format_p(i.p)}, q={i.q:.3g}"
    return (
        f"interaction: {i.a}'s effect on {g.workload} {g.metric} depends on {i.b} ({at}; "
        f"difference {i.diff:+.1f}{' points' if i.in_points else ''}; {how})"
    )


def _span(values: list[float], unit: str = "") -> str:
    lo, hi = min(values), max(values)
    return fmt_value(lo, unit) if fmt_value(lo) == fmt_value(hi) else f"{fmt_value(lo)} to {fmt_value(hi, unit)}"


def counter_sentence(toggle: str, alt: str, metric: str, unit: str, rows: list[EffectRow], groups: dict) -> str:
    """One counter's significant effect over every workload that shows it."""
    e0 = rows[0].effect
    # A workload run at several vCPU counts is one comparison per count.
    with_metric = {(g.workload, g.vcpus) for g in groups if g.kernel == "mmlab" and g.metric == metric}
    shown = {(r.group.workload, r.group.vcpus) for r in rows}
    several = len({v for _, v in with_metric}) > 1
    noun = "workload x vCPU cases" if several else "workloads"
    where = (
        f"in all {len(shown)} {noun}"
        if len(shown) == len(with_metric)
        else f"in {len(shown)} of {len(with_metric)} {noun}"
    )
    pcts = [r.effect.pct for r in rows if r.effect.pct is not None]
    if len(pcts) == len(rows):
        change = (
            fmt_pct(pcts[0])
            if len({round(p, 1) for p in pcts}) == 1
            else f"{fmt_pct(min(pcts))} to {fmt_pct(max(pcts))}"
        )
    else:  # some workload starts from 0: say it in units
        diffs = [r.effect.diff for r in rows]
        change = (
            f"{min(diffs):+.3g}"
            if len({round(d, 3) for d in diffs}) == 1
            else f"{min(diffs):+.3g} to {max(diffs):+.3g}"
        )
    base = _span([r.effect.base_mean for r in rows], unit)
    new = _span([r.effect.alt_mean for r in rows], unit)
    tested = [r.effect.q if r.effect.q is not None else r.effect.p for r in rows if r.effect.mode == S.TESTED]
    exact = {r.effect.exact_why for r in rows if r.effect.mode == S.EXACT}
    how = []
    if exact:
        how.append(exact_label(" or ".join(sorted(exact))) + ("" if not tested else f" in {len(rows) - len(tested)}"))
    if tested:
        worst_q = max(tested)
        how.append(f"q {'<0.001' if worst_q < 0.001 else f'<={worst_q:.3f}'} in {'each' if not exact else len(tested)}")
    return (
        f"{toggle}={alt} (against {e0.default}): {metric} {change} {where} "
        f"({base} with {e0.default}, {new} with {alt}), {', '.join(how)}"
    )


def analyze(rs: ResultSet) -> Analysis:
    obs = M.observations(rs.cells)
    groups: dict[Group, list[M.Observation]] = {}
    for o in obs:
        groups.setdefault(group_of(o), []).append(o)
    mixed = []
    accels = {(M.accel_of(c), c["time_unit"]) for c in rs.cells}
    if len(accels) > 1:
        mixed.append(
            "cells ran under "
            + ", ".join(f"{a} ({'instructions' if t == 'guest_instructions' else 'ns'})" for a, t in sorted(accels))
            + ": each is analysed on its own, never pooled"
        )
    over = [c for c in rs.cells if c.get("oversubscribed")]
    if over:
        mixed.append(
            f"{len(over)} of {len(rs.cells)} cells ran oversubscribed ({over[0]['oversubscribed']}): their wall-clock "
            "figures measure the host's sharing as much as the kernel"
        )
    busy = [c for c in rs.cells if c.get("host_busy") and c["time_unit"] == "ns"]
    if busy:
        mixed.append(f"{len(busy)} wall-clock cells ran while other work loaded the host ({busy[0]['host_busy']})")
    seeded = [c for c in rs.cells if M.seeded(c)]
    if seeded:
        mixed.append(
            f"{len(seeded)} of {len(rs.cells)} cells are seeded by their toggle combination ({{seed}}: "
            f"{seeded[0]['workload']['name']} ...): a toggle and the seed change together, so they give no toggle "
            "effect and are left out of the statistics; the reliability section counts them"
        )
    table, defaults = rs.toggles, rs.defaults
    swept = swept_toggles([o for o in obs if o.kernel == "mmlab"], table)

    configs, effects, interactions, nondeterministic, untested = [], [], [], [], []
    deterministic = {g: all(o.deterministic for o in group_obs) for g, group_obs in groups.items()}
    for g, group_obs in sorted(
        groups.items(), key=lambda kv: (kv[0].kernel, kv[0].workload, kv[0].metric, kv[0].vcpus)
    ):
        det = deterministic[g]
        by_config: dict[tuple, list[float]] = {}
        for o in group_obs:
            by_config.setdefault(o.toggles, []).append(o.value)
        default_key = tuple(sorted((k, defaults[k]) for k, _ in next(iter(by_config)))) if g.kernel == "mmlab" else ()
        base = by_config.get(default_key)
        for key, values in sorted(by_config.items()):
            vs = S.change(base, values, det) if base is not None and key != default_key else None
            varies = S.varies(np.asarray(values, float))
            if det and varies:
                nondeterministic.append(NonDeterminism(g, dict(key), list(values)))
            configs.append(ConfigRow(g, dict(key), S.summarize(values), vs, det and not varies))
        if g.kernel != "mmlab" or not swept:
            continue
        rows = [(o.toggle_dict, o.value) for o in group_obs]
        model = S.fit(rows, swept, det)
        for t in swept:
            e = S.main_effect(rows, t, *table[t], swept, model=model)
            if e is not None:
                effects.append(EffectRow(g, e))
        # An interaction is symmetric: a's effect at each value of b, each unordered pair once.
        for a, b in itertools.combinations(swept, 2):
            i = S.interaction(rows, a, table[a], b, table[b], swept, model=model)
            if i is not None:
                interactions.append(InteractionRow(g, i))
        for what, items in (("effects", effects), ("interactions", interactions)):
            mine = [x for x in items if x.group == g]
            modes = [(x.effect if what == "effects" else x.interaction).mode for x in mine]
            if modes and all(m == S.TOO_FEW for m in modes):
                untested.append(Untested(g, what))
    # One family: every main effect and interaction tested in this report (exact ones have no p).
    S.adjust([r.effect for r in effects] + [r.interaction for r in interactions])

    kernels = []
    for g, group_obs in groups.items():
        if g.kernel != "linux-pae":
            continue
        twin = dataclasses.replace(g, kernel="mmlab")
        mine = [o for o in groups.get(twin, []) if o.toggle_dict == {k: defaults[k] for k in o.toggle_dict}]
        if mine:
            ours, linux = [o.value for o in mine], [o.value for o in group_obs]
            det = deterministic[g] and all(o.deterministic for o in mine)
            kernels.append(
                KernelRow(
                    g.workload, g.metric, g.unit, S.summarize(ours), S.summarize(linux), S.change(linux, ours, det)
                )
            )
    kernels.sort(key=lambda r: (r.workload, r.metric))

    findings = []
    significant = [r for r in effects if r.effect.significant]
    # Headline metrics one sentence each, biggest first; a counter's effect once for all workloads.
    for r in sorted((r for r in significant if r.group.headline), key=lambda r: -abs(r.effect.pct or 0)):
        if r.effect.pct is None or abs(r.effect.pct) >= MIN_FINDING_PCT:
            findings.append(effect_sentence(r.group, r.effect))
    by_counter: dict[tuple, list[EffectRow]] = {}
    for r in significant:
        # Counters are exact: tiny significant changes are real but not findings (the tables keep them).
        if not r.group.headline and (r.effect.pct is None or abs(r.effect.pct) >= MIN_FINDING_PCT):
            by_counter.setdefault((r.effect.toggle, r.effect.alt, r.group.metric, r.group.unit), []).append(r)
    for (toggle, alt, metric, unit), rs_ in sorted(by_counter.items()):
        findings.append(counter_sentence(toggle, alt, metric, unit, rs_, groups))
    for r in interactions:
        i = r.interaction
        # Real (exact, or q < 0.05 with an interval that excludes zero) and big enough to matter, on a
        # headline metric; the counters' interactions stay in the table.
        if i.real and r.group.headline and i.in_points and abs(i.diff) >= MIN_FINDING_PCT:
            findings.append(interaction_sentence(r.group, i))
    # Non-determinism is a finding of its own, one per kernel: a deterministic run that did not repeat.
    for kernel in sorted({n.group.kernel for n in nondeterministic}):
        mine = [n for n in nondeterministic if n.group.kernel == kernel]
        worst = max(mine, key=lambda n: _relative_spread(n.values))
        metrics = {n.group for n in mine}
        total = {c.group for c in configs if c.group.kernel == kernel and deterministic[c.group]}
        who, then = (
            ("our kernel", "no effect on those metrics is called")
            if kernel == "mmlab"
            else (kernel.replace("linux-pae", "Linux PAE"), "the comparisons with it there are tested, not exact")
        )
        findings.append(
            f"not deterministic: {who}: the repetitions of {len(mine)} deterministic configuration(s) differ, in "
            f"{len(metrics)} of {len(total)} metrics, by up to {100 * _relative_spread(worst.values):.2g}% "
            f"({worst.group.label()}, {_config_label(worst.toggles, defaults)}: "
            f"{', '.join(f'{v:,.7g}' for v in worst.values)} {worst.group.unit}); {then}"
        )
    for r in kernels:
        ci = r.ratio_ci
        how = (
            ", exact (deterministic)"
            if r.change.exact
            else (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "") + f", {S.format_p(r.change.p)}"
        )
        findings.append(
            f"{r.workload} {r.metric}: our kernel {fmt_value(r.mmlab.median, r.unit)} against Linux PAE "
            f"{fmt_value(r.linux.median, r.unit)}: ratio {r.ratio:.2f}{how}"
        )
    not_ok = [c for c in rs.cells if c["status"] != "ok"]
    survival = reliability(rs.cells)
    if survival and survival.finding():
        findings.insert(0, survival.finding())  # before everything: the kernel did not survive
    return Analysis(
        rs,
        obs,
        groups,
        swept,
        configs,
        effects,
        interactions,
        kernels,
        findings,
        not_ok,
        nondeterministic,
        untested,
        M.unavailable_counters(rs.cells),
        mixed,
        survival,
    )


def _relative_spread(values: list[float]) -> float:
    mid = abs(float(np.median(values)))
    return (max(values) - min(values)) / mid if mid else float("inf")


def _config_label(toggles: dict, defaults: dict) -> str:
    diff = [f"{k}={v}" for k, v in sorted(toggles.items()) if defaults.get(k) != v]
    return ", ".join(diff) if diff else "the default toggles" if toggles else "Linux"


def slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:60]
