"""Statistics: medians with bootstrap intervals, changes against a baseline, factorial effects.

Choices (docs/analysis.md):
- the median and a percentile-bootstrap 95% interval of it (2,000 resamples, seeded: a report
  is the same every time it is made);
- a change of one configuration against another: % change of the medians, its bootstrap
  interval, and the two-sided Mann-Whitney U p-value (exact at the lab's sample sizes, ties included);
- a toggle's main effect over the other toggles of a factorial matrix: the ratio of the mean
  per-stratum means (each stratum one combination of the other toggles, so the other toggles
  cancel), its stratified-bootstrap interval, and a stratified permutation p-value; a two-way
  interaction: the difference of one toggle's effect between the two values of another;
- many effects are tested at once (every toggle, pair and metric), so "significant" uses
  Benjamini-Hochberg q-values (false discovery rate 5%) over all main effects, and over all
  interactions, of a report; an interaction's p comes from its bootstrap distribution;
- noise: a coefficient of variation above 5% flags a group as noisy.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import numpy as np
from scipy import stats as sps

BOOTSTRAP = 2000
PERMUTATIONS = 4000
NOISE_CV = 0.05
ALPHA = 0.05


def _touches_zero(ci: tuple[float, float], *scale: float) -> bool:
    """True when the interval contains zero, counting as zero what is floating-point rounding
    (a billionth of the values' magnitude: identical deterministic runs give such intervals)."""
    tol = 1e-9 * max([1.0, *(abs(s) for s in scale if s is not None and not math.isnan(s))])
    return ci[0] <= tol and ci[1] >= -tol


def _rng(seed: int = 20261129) -> np.random.Generator:
    return np.random.default_rng(seed)


@dataclasses.dataclass
class Summary:
    n: int
    median: float
    minimum: float
    ci: tuple[float, float]
    cv: float

    @property
    def noisy(self) -> bool:
        return self.cv > NOISE_CV


@functools.lru_cache(maxsize=4096)
def _boot_medians(values: tuple[float, ...], stream: int = 0) -> np.ndarray:
    """BOOTSTRAP resampled medians of `values` (seeded: the same values give the same draws)."""
    v = np.asarray(values, float)
    idx = _rng(20261129 + stream).integers(0, v.size, size=(BOOTSTRAP, v.size))
    draws = np.sort(v[idx], axis=1)
    m = v.size // 2
    out = draws[:, m] if v.size % 2 else (draws[:, m - 1] + draws[:, m]) / 2
    out.flags.writeable = False
    return out


def _interval(draws: np.ndarray) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles (numpy's default linear interpolation), without numpy's overhead."""
    s = np.sort(draws)
    out = []
    for q in (0.025, 0.975):
        h = q * (s.size - 1)
        lo = int(math.floor(h))
        hi = min(lo + 1, s.size - 1)
        out.append(float(s[lo] + (h - lo) * (s[hi] - s[lo])))
    return out[0], out[1]


def _median(v: np.ndarray) -> float:
    s = sorted(v.tolist())
    m = len(s) // 2
    return float(s[m]) if len(s) % 2 else (s[m - 1] + s[m]) / 2


def summarize(values) -> Summary:
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("no values")
    med = _median(v)
    if v.size == 1:
        ci = (med, med)
    else:
        ci = _interval(_boot_medians(tuple(v.tolist())))
    mean = float(v.mean())
    cv = float(v.std(ddof=1) / mean) if v.size > 1 and mean else 0.0
    return Summary(int(v.size), med, float(v.min()), ci, cv)


@dataclasses.dataclass
class Change:
    """`new` against `base`: pct is the % change of the medians (None when the base is 0)."""

    base: float
    new: float
    pct: float | None
    ci: tuple[float, float] | None  # of pct
    p: float | None  # None with fewer than two values on a side

    @property
    def crosses_zero(self) -> bool:
        return self.ci is None or self.ci[0] <= 0 <= self.ci[1]

    @property
    def significant(self) -> bool:
        return self.p is not None and self.p < ALPHA and not self.crosses_zero


def change(base_values, new_values) -> Change:
    b, n = np.asarray(base_values, dtype=float), np.asarray(new_values, dtype=float)
    mb, mn = _median(b), _median(n)
    if mb == 0:
        return Change(mb, mn, None, None, None)
    pct = (mn / mb - 1) * 100
    # Independent draws for the two sides (streams 1 and 2), each the same whatever it is compared with.
    bb, nn = _boot_medians(tuple(b.tolist()), 1), _boot_medians(tuple(n.tolist()), 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(bb != 0, nn / np.where(bb == 0, 1, bb) - 1, np.nan) * 100
    ratios = ratios[~np.isnan(ratios)]
    p = mann_whitney_p(b, n) if b.size >= 2 and n.size >= 2 else None
    return Change(mb, mn, pct, _interval(ratios), p)


EXACT_MWU = 20000  # arrangements up to which the Mann-Whitney p is computed exactly


@functools.lru_cache(maxsize=64)
def _splits(n: int, k: int) -> np.ndarray:
    """Every choice of k of n positions, as a boolean matrix (one row per choice)."""
    rows = np.zeros((math.comb(n, k), n), bool)
    for i, idx in enumerate(itertools.combinations(range(n), k)):
        rows[i, list(idx)] = True
    rows.flags.writeable = False
    return rows


def mann_whitney_p(a, b) -> float:
    """Two-sided Mann-Whitney U p. Small samples (the lab's 2-5 repetitions a side): exact, from every split of the
    pooled values with their mid-ranks, so ties are handled exactly too (scipy falls back to the normal
    approximation when there are ties, which is wrong at these sizes). Its smallest value is 2 / C(n_a + n_b, n_a):
    0.33 with 2 a side, 0.1 with 3."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled = np.concatenate([a, b])
    if math.comb(pooled.size, a.size) > EXACT_MWU:
        return float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    ranks = sps.rankdata(pooled)
    sums = _splits(pooled.size, a.size) @ ranks  # rank sum of the first sample in every split
    centre = a.size * (pooled.size + 1) / 2
    observed = abs(ranks[: a.size].sum() - centre)
    return float(np.mean(np.abs(sums - centre) >= observed - 1e-9))


# ---- factorial effects ---------------------------------------------------------------------------


@dataclasses.dataclass
class Effect:
    """A toggle's main effect: `alt` against `default`, the other toggles held by stratification."""

    toggle: str
    default: str
    alt: str
    base_mean: float  # the mean over strata of the default's cell means
    alt_mean: float
    pct: float | None  # % change; None when base_mean is 0 (then see diff)
    diff: float
    ci: tuple[float, float]  # of pct, or of diff when pct is None
    p: float
    strata: int
    q: float | None = None  # Benjamini-Hochberg, set by adjust(); None: not adjusted (p stands)

    @property
    def crosses_zero(self) -> bool:
        return _touches_zero(self.ci, self.pct if self.pct is not None else self.diff)

    @property
    def significant(self) -> bool:
        return (self.p if self.q is None else self.q) < ALPHA and not self.crosses_zero


@dataclasses.dataclass
class Interaction:
    """How much toggle `a`'s effect differs between the two values of toggle `b` (percentage points,
    or absolute difference when a base is 0)."""

    a: str
    b: str
    effect_at: dict  # b's value -> a's % change (or difference) there
    diff: float
    ci: tuple[float, float]
    in_points: bool  # True: percentage points; False: absolute units
    p: float = 1.0  # two-sided, from the bootstrap distribution of the difference
    q: float | None = None

    @property
    def real(self) -> bool:
        return (self.p if self.q is None else self.q) < ALPHA and not _touches_zero(
            self.ci, self.diff, *self.effect_at.values()
        )


def _strata(rows: list[tuple[dict, float]], toggle: str, others: list[str]):
    """{stratum: {value: [values]}} for `toggle`, strata being the combinations of `others`."""
    out: dict[tuple, dict[str, list[float]]] = {}
    for t, v in rows:
        key = tuple(t[o] for o in others)
        out.setdefault(key, {}).setdefault(t[toggle], []).append(v)
    return out


def _balanced(strata: dict, default: str, alt: str) -> dict:
    return {k: s for k, s in strata.items() if default in s and alt in s}


def _means(strata: dict, default: str, alt: str) -> tuple[float, float]:
    b = np.mean([np.mean(s[default]) for s in strata.values()])
    a = np.mean([np.mean(s[alt]) for s in strata.values()])
    return float(b), float(a)


def _effect_value(b: float, a: float) -> tuple[float | None, float]:
    return ((a / b - 1) * 100 if b else None), a - b


def _boot_means(values, rng) -> np.ndarray:
    """BOOTSTRAP resampled means of `values`."""
    v = np.asarray(values, float)
    return v[rng.integers(0, v.size, size=(BOOTSTRAP, v.size))].mean(axis=1)


def _boot_strata(strata: dict, default: str, alt: str, rng) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap draws of the mean-over-strata means of each side (cells resampled within strata)."""
    b = np.mean([_boot_means(s[default], rng) for s in strata.values()], axis=0)
    a = np.mean([_boot_means(s[alt], rng) for s in strata.values()], axis=0)
    return b, a


def _draws(b: np.ndarray, a: np.ndarray, in_pct: bool) -> np.ndarray:
    if not in_pct:
        return a - b
    ok = b != 0
    return (a[ok] / b[ok] - 1) * 100


def _ci(draws: np.ndarray) -> tuple[float, float]:
    draws = draws[~np.isnan(draws)]
    if not draws.size:
        return (math.nan, math.nan)
    return (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5)))


def main_effect(rows: list[tuple[dict, float]], toggle: str, default: str, alt: str, swept: list[str]) -> Effect | None:
    """rows: (toggles of the cell, value). None if no stratum has both values."""
    others = [s for s in swept if s != toggle]
    strata = _balanced(_strata(rows, toggle, others), default, alt)
    if not strata:
        return None
    b, a = _means(strata, default, alt)
    pct, diff = _effect_value(b, a)
    bb, aa = _boot_strata(strata, default, alt, _rng())
    ci = _ci(_draws(bb, aa, pct is not None))
    p = _permutation_p(strata, default, alt)
    return Effect(toggle, default, alt, b, a, pct, diff, ci, p, len(strata))


def _permutation_p(strata: dict, default: str, alt: str) -> float:
    """Two-sided stratified permutation test of the mean within-stratum difference of means."""
    groups = [(np.asarray(s[default], float), np.asarray(s[alt], float)) for s in strata.values()]
    observed = abs(float(np.mean([g[1].mean() - g[0].mean() for g in groups])))
    tol = 1e-9 * max(1.0, observed)
    pooled = [np.concatenate(g) for g in groups]
    sizes = [len(g[0]) for g in groups]
    total = math.prod(math.comb(len(p), s) for p, s in zip(pooled, sizes))
    if total <= PERMUTATIONS:
        # Exact: every assignment of the labels within every stratum.
        per_stratum = []
        for p, s in zip(pooled, sizes):
            diffs = []
            for idx in itertools.combinations(range(len(p)), s):
                mask = np.zeros(len(p), bool)
                mask[list(idx)] = True
                diffs.append(p[~mask].mean() - p[mask].mean())
            per_stratum.append(diffs)
        stats_ = np.array([np.mean(c) for c in itertools.product(*per_stratum)])
        return float(np.mean(np.abs(stats_) >= observed - tol))
    rng = _rng()
    total_stat = np.zeros(PERMUTATIONS)
    for p, s in zip(pooled, sizes):
        order = np.argsort(rng.random((PERMUTATIONS, len(p))), axis=1)
        perm = p[order]
        total_stat += perm[:, s:].mean(axis=1) - perm[:, :s].mean(axis=1)
    total_stat /= len(pooled)
    hits = int(np.sum(np.abs(total_stat) >= observed - tol))
    return (hits + 1) / (PERMUTATIONS + 1)


def interaction(
    rows: list[tuple[dict, float]],
    a: str,
    a_values: tuple[str, str],
    b: str,
    b_values: tuple[str, str],
    swept: list[str],
) -> Interaction | None:
    """a's effect (a_values[1] against a_values[0]) at b=b_values[1] minus at b=b_values[0]."""
    others = [s for s in swept if s not in (a, b)]
    strata_at = {}
    for bv in b_values:
        sub = [(t, v) for t, v in rows if t[b] == bv]
        strata = _balanced(_strata(sub, a, others), *a_values)
        if not strata:
            return None
        strata_at[bv] = strata
    means = {bv: _means(st, *a_values) for bv, st in strata_at.items()}
    in_points = all(m[0] != 0 for m in means.values())
    val = {bv: (_effect_value(*m)[0] if in_points else _effect_value(*m)[1]) for bv, m in means.items()}
    diff = val[b_values[1]] - val[b_values[0]]
    rng = _rng()
    draws = {}
    for bv in b_values:
        bb, aa = _boot_strata(strata_at[bv], *a_values, rng)
        with np.errstate(divide="ignore", invalid="ignore"):
            draws[bv] = np.where(bb != 0, (aa / np.where(bb == 0, 1, bb) - 1) * 100, np.nan) if in_points else aa - bb
    d = draws[b_values[1]] - draws[b_values[0]]
    d = d[~np.isnan(d)]
    tol = 1e-9 * max([1.0, abs(diff), *(abs(v) for v in val.values())])
    if not d.size or np.all(np.abs(d) <= tol):
        p = 1.0  # no variation at all: nothing to tell apart from zero
    else:
        p = min(1.0, 2 * min(float(np.mean(d <= tol)), float(np.mean(d >= -tol))) + 1 / d.size)
    return Interaction(a, b, val, diff, _ci(d), in_points, p)


def adjust(items: list) -> None:
    """Benjamini-Hochberg q-values over `items` (each with .p), stored in .q."""
    if not items:
        return
    ps = np.array([i.p for i in items], float)
    order = np.argsort(ps)
    m = len(ps)
    q = np.empty(m)
    running = 1.0
    for rank in range(m - 1, -1, -1):
        running = min(running, ps[order[rank]] * m / (rank + 1))
        q[order[rank]] = running
    for item, value in zip(items, q):
        item.q = float(value)


def format_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    if p < 0.001:
        return "p<0.001"
    return f"p={p:.3f}"
