"""Two result sets side by side (two kernel builds, two hosts, two dates), read like a kernel regression report
(LKP's ncompare, mmtests' compare-kernels): the significant changes first, regressions then improvements, largest
first, each with its % change and 95% interval; then the noise floor and what stayed under it; then the rest.

Per configuration present in both sets (kernel, workload, metric, vCPUs, toggles): both medians, the % change from A
to B with its bootstrap interval, the exact Mann-Whitney U p and its Benjamini-Hochberg q over the comparison; exact,
without interval or p, when both sides are deterministic and repeat exactly. A change is significant when exact and
non-zero, or q < 0.05 with an interval that excludes zero; it is listed as a regression or improvement when it is
at least the noise floor (1% or more), and apart when smaller. Configurations measured under
different accels or time units are listed as not comparable, never pooled."""

from __future__ import annotations

import html as html_lib
import os

import numpy as np

from . import stats as S
from .analyze import MIN_FINDING_PCT, fmt_ci, fmt_pct, fmt_value
from .load import ResultSet
from .metrics import observations

REGRESSION, IMPROVEMENT, BELOW_FLOOR, NO_CHANGE = (
    "regression",
    "improvement",
    "below the noise floor",
    "no clear change",
)
ORDER = (REGRESSION, IMPROVEMENT, BELOW_FLOOR, NO_CHANGE)


def _key(o) -> tuple:
    return (o.kernel, o.workload, o.metric, o.vcpus, o.toggles)


def _cv(values: list[float]) -> float:
    v = np.asarray(values, float)
    return float(v.std(ddof=1) / abs(v.mean())) if v.size > 1 and v.mean() else 0.0


def noise_floor(table: list[dict]) -> tuple[float, float]:
    """(floor in %, the median run-to-run CV in %): twice the median CV of the configurations' repetitions (the
    larger of A's and B's) over the rows that have repetitions, and never under MIN_FINDING_PCT (1%); a change
    smaller than that is real only to the test, not to a reader."""
    cvs = [r["noise"] for r in table if r["noise"] is not None]
    median = float(np.median(cvs)) if cvs else 0.0
    return max(MIN_FINDING_PCT, 2 * median), median


def rows(a: ResultSet, b: ResultSet) -> tuple[list[dict], list[str]]:
    """Every common configuration as a row, sorted as the report shows them; and the ones that are not comparable."""
    ga, gb = {}, {}
    meta = {}
    for rs, g in ((a, ga), (b, gb)):
        for o in observations(rs.cells):
            g.setdefault(_key(o), []).append(o.value)
            meta.setdefault(_key(o), {}).setdefault(id(rs), (o.accel, o.time_unit, o.unit, o.lower_is_better, []))
            meta[_key(o)][id(rs)][4].append(o.deterministic)
    out, incomparable, changes = [], [], []
    for k in sorted(set(ga) & set(gb)):
        ma, mb = meta[k][id(a)], meta[k][id(b)]
        kernel, workload, metric, vcpus, toggles = k
        label = f"{kernel}: {workload}: {metric}" + (f" ({vcpus} vCPUs)" if vcpus != 1 else "")
        tog = ", ".join(f"{t.replace('mm.', '')}={v}" for t, v in toggles if a.defaults.get(t) != v) or (
            "(defaults)" if toggles else ""
        )
        if ma[:2] != mb[:2]:
            incomparable.append(f"{label} [{tog}]: A ran under {ma[0]} ({ma[1]}), B under {mb[0]} ({mb[1]})")
            continue
        # Both deterministic: identical repetitions make the change exact (a real change however small).
        c = S.change(ga[k], gb[k], all(ma[4]) and all(mb[4]))
        noise = None if c.exact or min(len(ga[k]), len(gb[k])) < 2 else 100 * max(_cv(ga[k]), _cv(gb[k]))
        changes.append(c)
        out.append(
            dict(
                config=label,
                toggles=tog,
                a=fmt_value(c.base, ma[2]),
                b=fmt_value(c.new, ma[2]),
                pct=c.pct,
                change=fmt_pct(c.pct) if c.pct is not None else f"{c.new - c.base:+.3g} {ma[2]}",
                ci="" if c.exact else fmt_ci(c.ci),
                p="exact (deterministic)" if c.exact else S.format_p(c.p),
                q=None,
                noise=noise,
                lower_is_better=ma[3],
                n=f"{len(ga[k])}/{len(gb[k])}",
                _change=c,
            )
        )
    # One Benjamini-Hochberg family over the comparison's tested rows.
    tested = [r for r in out if r["_change"].p is not None]
    qs = _bh([r["_change"].p for r in tested])
    for r, q in zip(tested, qs):
        r["q"] = q
        r["p"] += f" (q={q:.3g})"
    floor, _ = noise_floor(out)
    for r in out:
        c = r.pop("_change")
        significant = c.significant if c.exact else (r["q"] is not None and r["q"] < S.ALPHA and not c.crosses_zero)
        if c.exact and c.pct is None:  # from 0: exact and different
            significant = c.new != c.base
        if not significant:
            r["verdict"] = NO_CHANGE
        elif c.pct is not None and abs(c.pct) < floor:
            r["verdict"] = BELOW_FLOOR
        else:
            up = c.pct if c.pct is not None else c.new - c.base
            r["verdict"] = IMPROVEMENT if (up < 0) == r["lower_is_better"] else REGRESSION
    out.sort(key=lambda r: (ORDER.index(r["verdict"]), -abs(r["pct"]) if r["pct"] is not None else -float("inf")))
    return out, incomparable


def _bh(ps: list[float]) -> list[float]:
    m = len(ps)
    if not m:
        return []
    order = np.argsort(ps)
    q = np.empty(m)
    running = 1.0
    for rank in range(m - 1, -1, -1):
        running = min(running, ps[order[rank]] * m / (rank + 1))
        q[order[rank]] = running
    return [float(x) for x in q]


COLS = ("config", "toggles", "n", "a", "b", "change", "ci", "p")
HEADS = ("configuration", "toggles", "n (A/B)", "A", "B", "change", "95% interval", "p")


def _md_rows(table: list[dict]) -> list[str]:
    out = ["| " + " | ".join(HEADS) + " |", "|" + "---|" * len(HEADS)]
    out += ["| " + " | ".join(str(r[c]) for c in COLS) + " |" for r in table]
    return out


def write_compare(a: ResultSet, b: ResultSet, out_dir: str | None = None) -> tuple[str, str]:
    out_dir = out_dir or os.path.join(b.path, "compare")
    os.makedirs(out_dir, exist_ok=True)
    table, incomparable = rows(a, b)
    floor, median_cv = noise_floor(table)
    by = {v: [r for r in table if r["verdict"] == v] for v in ORDER}
    counts = ", ".join(
        f"{len(by[v])} {v}{'s' if v in (REGRESSION, IMPROVEMENT) and len(by[v]) != 1 else ''}" for v in ORDER
    )
    floor_text = (
        f"Noise floor: {floor:.1f}% (twice the median run-to-run coefficient of variation, {median_cv:.2f}%, and at "
        f"least {MIN_FINDING_PCT:.0f}%): a significant change smaller than that is listed apart, not as a regression "
        "or improvement. Exact changes (deterministic on both sides, every repetition identical) have no noise: "
        "under the floor they are real but small, and are listed there too."
    )
    md = ["# mmlab comparison", "", f"A: {a.path} ({a.name}); B: {b.path} ({b.name})", ""]
    md += [
        f"{len(table)} configurations in both sets: {counts}; {len(incomparable)} not comparable.",
        "",
        floor_text,
        "",
    ]
    sections = (
        (REGRESSION, "Regressions (B worse than A), largest first"),
        (IMPROVEMENT, "Improvements (B better than A), largest first"),
        (BELOW_FLOOR, "Significant or exact, but below the noise floor"),
        (NO_CHANGE, "No clear change"),
    )
    for v, title in sections:
        md += [f"## {title}", ""]
        md += (_md_rows(by[v]) if by[v] else ["none"]) + [""]
    md += ["## Not comparable", ""] + [f"- {x}" for x in incomparable or ["none"]]
    esc = html_lib.escape

    def html_table(rs: list[dict], cls: str) -> str:
        if not rs:
            return "<p>none</p>"
        body = "".join("<tr>" + "".join(f"<td class='{cls}'>{esc(str(r[c]))}</td>" for c in COLS) + "</tr>" for r in rs)
        return "<table><tr>" + "".join(f"<th>{h}</th>" for h in HEADS) + "</tr>" + body + "</table>"

    parts = []
    for v, title in sections:
        inner = f"<h2 id='{v.replace(' ', '-')}'>{esc(title)} ({len(by[v])})</h2>" + html_table(
            by[v], v.replace(" ", "-")
        )
        if v in (BELOW_FLOOR, NO_CHANGE) and by[v]:
            inner = (
                f"<h2 id='{v.replace(' ', '-')}'>{esc(title)} ({len(by[v])})</h2><details><summary>show</summary>"
                + html_table(by[v], v.replace(" ", "-"))
                + "</details>"
            )
        parts.append(inner)
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'><title>mmlab comparison</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em} table{border-collapse:collapse;font-size:.85em}"
        "td,th{border:1px solid #ddd;padding:3px 6px} .regression{color:#a3262b} .improvement{color:#176b2c}"
        ".below-the-noise-floor,.no-clear-change{color:#555}"
        "</style></head><body>"
        f"<h1>mmlab comparison</h1><p>A: {esc(a.path)} ({esc(a.name)})<br>B: {esc(b.path)} ({esc(b.name)})</p>"
        f"<p>{len(table)} configurations in both sets: {esc(counts)}; {len(incomparable)} not comparable.</p>"
        f"<p>{esc(floor_text)}</p>"
        + "".join(parts)
        + "<h2>Not comparable</h2><ul>"
        + "".join(f"<li>{esc(x)}</li>" for x in incomparable or ["none"])
        + "</ul></body></html>"
    )
    html_path, md_path = os.path.join(out_dir, "compare.html"), os.path.join(out_dir, "compare.md")
    with open(html_path, "w") as f:
        f.write(doc)
    with open(md_path, "w") as f:
        f.write("\n".join(md) + "\n")
    return html_path, md_path
