"""Statistics: medians with bootstrap intervals, changes against a baseline, factorial effects.

Choices (docs/analysis.md, "Statistics"):
- per configuration, the median and a percentile-bootstrap 95% interval of it (2,000 resamples,
  seeded: a report is the same every time it is made);
- a change of one configuration against another: % change of the medians, its bootstrap
  interval, and the two-sided Mann-Whitney U p-value (exact at the lab's sample sizes, ties
  included); the change itself is exact when both sides are deterministic and repeat exactly;
- a toggle's main effect and a two-way interaction are contrasts of a factorial model of the
  configurations' means on log values (ratios; raw values where a value is 0 or less; Yuen's
  20% trimmed means from 5 repetitions), the other swept toggles held by stratification;
  tested with the unequal-variance (Welch) t for contrasts: each configuration's own
  variance, Satterthwaite's degrees of freedom. It needs two repetitions of every
  configuration it uses; with fewer an effect is "too few repetitions", never a call. The A/A
  suite (analysis/tests/test_aa.py) measures its false calls under skew, outliers, drift and
  toggles that change the noise, at 2-5 repetitions;
- deterministic groups (-icount: every repetition bit-identical) are exact: an effect is the
  exact difference, without interval or p; repetitions of a deterministic configuration that
  differ are reported as non-determinism, and no effect of that metric is called;
- many effects are tested at once (every toggle, pair and metric), so "significant" uses
  Benjamini-Hochberg q-values (false discovery rate 5%) over every main effect and interaction
  tested in a report, one family;
- noise: a coefficient of variation above 5% flags a group as noisy.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import numpy as np
from scipy import special
from scipy import stats as sps

BOOTSTRAP = 2000
NOISE_CV = 0.05
ALPHA = 0.05


def _touches_zero(ci: tuple[float, float], *scale: float) -> bool:
    """True when the interval contains zero, counting as zero what is floating-point rounding
    (a billionth of the values' magnitude: identical deterministic runs give such intervals)."""
    tol = 1e-9 * max([1.0, *(abs(s) for s in scale if s is not None and not math.isnan(s))])
    return ci[0] <= tol and ci[1] >= -tol


def varies(v: np.ndarray) -> bool:
    """True when the values (repetitions) differ by more than floating-point rounding."""
    return v.size > 1 and float(v.max() - v.min()) > 1e-9 * max(1.0, float(np.abs(v).max()))


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
    p: float | None  # None with fewer than two values on a side, or when exact
    exact: bool = False  # deterministic on both sides, every repetition identical: pct is the change

    @property
    def crosses_zero(self) -> bool:
        if self.exact:
            return self.pct is None or _touches_zero((self.pct, self.pct))
        return self.ci is None or self.ci[0] <= 0 <= self.ci[1]

    @property
    def significant(self) -> bool:
        if self.exact:
            return not self.crosses_zero
        return self.p is not None and self.p < ALPHA and not self.crosses_zero


def change(base_values, new_values, deterministic: bool = False) -> Change:
    """`deterministic`: both sides ran under -icount. Their repetitions identical, the change is exact;
    when they differ, it is tested like any other (and the report names the non-determinism)."""
    b, n = np.asarray(base_values, dtype=float), np.asarray(new_values, dtype=float)
    mb, mn = _median(b), _median(n)
    if mb == 0:
        return Change(mb, mn, None, None, None, deterministic and not varies(b) and not varies(n))
    pct = (mn / mb - 1) * 100
    if deterministic and not varies(b) and not varies(n):
        return Change(mb, mn, pct, (pct, pct), None, True)
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
#
# A group's cells are configurations (the values of the swept toggles) with their repetitions. On the
# model scale (log values, so an effect is a ratio; raw values when a value is 0 or less) each
# configuration i has n_i values, mean m_i and variance s2_i. An effect is a contrast sum(c_i m_i):
# a main effect of T is the mean over strata (the combinations of the other swept toggles) of
# "T's other value minus its default", an interaction of a and b the mean over strata of "a's
# effect at b's other value minus a's effect at b's default". Its variance is sum(c_i^2 s2_i / n_i),
# each configuration with its own variance (Welch): a toggle that makes the noise larger (lock
# contention, oversubscribed cells) cannot make another toggle's null effect look significant, as a
# pooled variance would. The reference is Student's t with Satterthwaite's degrees of freedom.

EXACT = "exact"  # deterministic, or no variation between repetitions: the difference is the effect
TESTED = "t"  # Welch t on the contrast
TOO_FEW = "too few repetitions"  # a configuration it needs has fewer than 2 values
NONDETERMINISTIC = "not deterministic"  # deterministic cells whose repetitions differ


@dataclasses.dataclass
class Model:
    """One group's observations by configuration, on the model scale."""

    swept: list[str]
    values: dict[tuple, np.ndarray]  # configuration (swept toggles' values, in `swept` order) -> raw values
    log: bool  # the model is on log values (every value > 0)
    deterministic: bool  # every cell ran under -icount
    exact: bool  # deterministic, or no configuration's repetitions vary: differences are exact
    varying: list[tuple]  # configurations whose repetitions differ
    mode_for_tests: str  # EXACT | TESTED | NONDETERMINISTIC
    # Per configuration, on the model scale: the (trimmed) mean, its squared standard error, its degrees of freedom.
    mean: dict[tuple, float] = dataclasses.field(default_factory=dict)
    se2: dict[tuple, float] = dataclasses.field(default_factory=dict)
    dof: dict[tuple, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for k, v in self.values.items():
            self.mean[k], self.se2[k], self.dof[k] = trimmed(np.log(v) if self.log else v)


TRIM = 0.2  # Yuen's 20%: nothing trimmed below 5 repetitions, one value at each end from 5 to 9


def trimmed(y: np.ndarray) -> tuple[float, float, int]:
    """Yuen's trimmed mean of `y`, the square of its standard error (from the winsorized variance) and its degrees
    of freedom. With fewer than 5 values nothing is trimmed: the mean, s^2/n and n-1 (Welch)."""
    n = y.size
    g = int(math.floor(TRIM * n))
    h = n - 2 * g
    if n < 2:
        return float(y.mean()), 0.0, 0
    s = np.sort(y)
    mean = float(s[g : n - g].mean())
    w = np.clip(s, s[g], s[n - g - 1])  # winsorized
    se2 = float(w.var(ddof=1)) * (n - 1) / (h * (h - 1))
    return mean, se2, h - 1


def fit(rows: list[tuple[dict, float]], swept: list[str], deterministic: bool = False) -> Model:
    """rows: (toggles of the cell, value). `deterministic`: every cell of the group ran under -icount."""
    values: dict[tuple, list[float]] = {}
    for t, v in rows:
        values.setdefault(tuple(t[s] for s in swept), []).append(float(v))
    arrays = {k: np.asarray(v, float) for k, v in values.items()}
    log = all(bool(np.all(a > 0)) for a in arrays.values())
    varying = sorted(k for k, a in arrays.items() if varies(a))
    if deterministic:
        mode = NONDETERMINISTIC if varying else EXACT
    else:
        # Counters such as reloads per exec repeat exactly on wall-clock runs too: with two or more
        # repetitions of every configuration and none varying, the differences are exact.
        mode = EXACT if not varying and all(a.size >= 2 for a in arrays.values()) else TESTED
    return Model(list(swept), arrays, log, deterministic, mode == EXACT, varying, mode)


@dataclasses.dataclass
class Contrast:
    estimate: float  # on the model scale
    se: float | None
    df: float | None
    p: float | None
    ci: tuple[float, float] | None  # on the model scale
    mode: str
    strata: int


def _contrast(model: Model, terms: list[tuple[tuple, float]], strata: int) -> Contrast:
    """sum(c * mean) over (configuration, c) terms, with its Welch t test (or exact)."""
    est = float(sum(c * model.mean[k] for k, c in terms))
    if model.mode_for_tests == EXACT:
        return Contrast(est, 0.0, None, None, (est, est), EXACT, strata)
    if model.mode_for_tests == NONDETERMINISTIC:
        return Contrast(est, None, None, None, None, NONDETERMINISTIC, strata)
    dof = np.array([model.dof[k] for k, _ in terms], float)
    if np.any(dof < 1):
        return Contrast(est, None, None, None, None, TOO_FEW, strata)
    w = np.array([c * c * model.se2[k] for k, c in terms])
    var = float(w.sum())
    if var <= 0:  # every configuration it uses repeats exactly (others vary): exact here
        return Contrast(est, 0.0, None, None, (est, est), EXACT, strata)
    df = var * var / float(np.sum(w * w / dof))
    se = math.sqrt(var)
    p = float(2 * special.stdtr(df, -abs(est) / se))  # Student's t, non-integer df
    half = float(special.stdtrit(df, 1 - ALPHA / 2)) * se
    return Contrast(est, se, df, p, (est - half, est + half), TESTED, strata)


@dataclasses.dataclass
class Effect:
    """A toggle's main effect: `alt` against `default`, the other toggles held by stratification."""

    toggle: str
    default: str
    alt: str
    base_mean: float  # the default's level over strata (geometric on the log scale, arithmetic otherwise)
    alt_mean: float
    pct: float | None  # % change; None when base_mean is 0 (then see diff)
    diff: float
    ci: tuple[float, float] | None  # of pct, or of diff when pct is None; None when not tested
    p: float | None  # None when exact, not deterministic, or too few repetitions
    strata: int
    mode: str = TESTED  # EXACT | TESTED | TOO_FEW | NONDETERMINISTIC
    df: float | None = None
    exact_why: str = ""  # "deterministic" or "identical repetitions"
    q: float | None = None  # Benjamini-Hochberg, set by adjust(); None: not adjusted (p stands)

    @property
    def crosses_zero(self) -> bool:
        return self.ci is None or _touches_zero(self.ci, self.pct if self.pct is not None else self.diff)

    @property
    def significant(self) -> bool:
        if self.mode == EXACT:
            return not _touches_zero((self.diff, self.diff), self.base_mean, self.alt_mean)
        if self.mode != TESTED or self.p is None:
            return False
        return (self.p if self.q is None else self.q) < ALPHA and not self.crosses_zero


@dataclasses.dataclass
class Interaction:
    """How much toggle `a`'s effect differs between the two values of toggle `b`: in percentage points
    (log scale: the effects are ratios) or in units (raw scale)."""

    a: str
    b: str
    effect_at: dict  # b's value -> a's % change (or difference) there
    diff: float  # effect_at[b's other value] - effect_at[b's default]
    ci: tuple[float, float] | None  # in_points: of ratio_pct; otherwise of diff; None when not tested
    in_points: bool  # True: percentage points; False: absolute units
    p: float | None = None
    ratio_pct: float | None = None  # in_points: a's ratio at b's other value over its ratio at b's default, -1, in %
    mode: str = TESTED
    df: float | None = None
    strata: int = 0
    q: float | None = None

    @property
    def real(self) -> bool:
        if self.mode == EXACT:
            return not _touches_zero((self.diff, self.diff), *self.effect_at.values())
        if self.mode != TESTED or self.p is None or self.ci is None:
            return False
        return (self.p if self.q is None else self.q) < ALPHA and not _touches_zero(
            self.ci, self.ratio_pct if self.in_points else self.diff
        )


def _exact_why(model: Model) -> str:
    return "deterministic" if model.deterministic else "identical repetitions"


def _usable(model: Model, config: tuple) -> bool:
    return config in model.values


def main_effect(
    rows: list[tuple[dict, float]],
    toggle: str,
    default: str,
    alt: str,
    swept: list[str],
    deterministic: bool = False,
    model: Model | None = None,
) -> Effect | None:
    """rows: (toggles of the cell, value). None if no stratum has both values."""
    model = model or fit(rows, swept, deterministic)
    i = model.swept.index(toggle)
    pairs = []
    for k in model.values:
        if k[i] != default:
            continue
        other = k[:i] + (alt,) + k[i + 1 :]
        if other in model.values:
            pairs.append((k, other))
    if not pairs:
        return None
    # Strata where a configuration has too few repetitions are left out while others have enough.
    full = [(d, a) for d, a in pairs if model.values[d].size >= 2 and model.values[a].size >= 2]
    if full and model.mode_for_tests == TESTED:
        pairs = full
    s = len(pairs)
    terms = [(d, -1.0 / s) for d, _ in pairs] + [(a, 1.0 / s) for _, a in pairs]
    c = _contrast(model, terms, s)
    if model.log:
        b = math.exp(sum(model.mean[d] for d, _ in pairs) / s)
        a = b * math.exp(c.estimate)
        pct = (math.exp(c.estimate) - 1) * 100
        ci = None if c.ci is None else tuple((math.exp(x) - 1) * 100 for x in c.ci)
    else:
        b = sum(model.mean[d] for d, _ in pairs) / s
        a = b + c.estimate
        pct = c.estimate / b * 100 if b else None
        ci = c.ci if c.ci is None or pct is None else tuple(x / b * 100 for x in c.ci)
    return Effect(
        toggle, default, alt, b, a, pct, a - b, ci, c.p, s, c.mode, c.df, _exact_why(model) if c.mode == EXACT else ""
    )


def interaction(
    rows: list[tuple[dict, float]],
    a: str,
    a_values: tuple[str, str],
    b: str,
    b_values: tuple[str, str],
    swept: list[str],
    deterministic: bool = False,
    model: Model | None = None,
) -> Interaction | None:
    """a's effect (a_values[1] against a_values[0]) at b=b_values[1] minus at b=b_values[0]."""
    model = model or fit(rows, swept, deterministic)
    ia, ib = model.swept.index(a), model.swept.index(b)

    def at(k: tuple, va: str, vb: str) -> tuple:
        k = list(k)
        k[ia], k[ib] = va, vb
        return tuple(k)

    quads = []
    for k in model.values:
        if k[ia] != a_values[0] or k[ib] != b_values[0]:
            continue
        quad = [at(k, va, vb) for vb in b_values for va in a_values]  # a0b0 a1b0 a0b1 a1b1
        if all(_usable(model, q) for q in quad):
            quads.append(quad)
    if not quads:
        return None
    full = [q for q in quads if all(model.values[x].size >= 2 for x in q)]
    if full and model.mode_for_tests == TESTED:
        quads = full
    s = len(quads)
    terms = []
    for q in quads:
        terms += [(q[0], 1.0 / s), (q[1], -1.0 / s), (q[2], -1.0 / s), (q[3], 1.0 / s)]
    c = _contrast(model, terms, s)
    # a's effect at each value of b, as the main effect reports it.
    effect_at = {}
    for j, vb in enumerate(b_values):
        d = sum(model.mean[q[2 * j + 1]] - model.mean[q[2 * j]] for q in quads) / s
        if model.log:
            effect_at[vb] = (math.exp(d) - 1) * 100
        else:
            effect_at[vb] = d
    diff = effect_at[b_values[1]] - effect_at[b_values[0]]
    if model.log:
        ratio = (math.exp(c.estimate) - 1) * 100
        ci = None if c.ci is None else tuple((math.exp(x) - 1) * 100 for x in c.ci)
    else:
        ratio, ci = None, c.ci
    return Interaction(a, b, effect_at, diff, ci, model.log, c.p, ratio, c.mode, c.df, s)


def adjust(items: list) -> None:
    """Benjamini-Hochberg q-values over the `items` that have a p (exact and untested ones have none), stored in .q."""
    items = [i for i in items if i.p is not None]
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
