"""Two result sets side by side (two kernels builds, two hosts, two dates): per common configuration,
both medians, the % change from A to B with its interval, the Mann-Whitney U p, and a verdict, like a
kernel regression report; exact, without interval or p, when both sides are deterministic and repeat exactly. Configurations measured under different accels or time units are listed
as not comparable, never pooled."""

from __future__ import annotations

import html as html_lib
import os

from . import stats as S
from .analyze import fmt_ci, fmt_pct, fmt_value
from .load import ResultSet
from .metrics import observations


def _key(o) -> tuple:
    return (o.kernel, o.workload, o.metric, o.vcpus, o.toggles)


def rows(a: ResultSet, b: ResultSet) -> tuple[list[dict], list[str]]:
    ga, gb = {}, {}
    meta = {}
    for rs, g in ((a, ga), (b, gb)):
        for o in observations(rs.cells):
            g.setdefault(_key(o), []).append(o.value)
            meta.setdefault(_key(o), {}).setdefault(id(rs), (o.accel, o.time_unit, o.unit, o.lower_is_better, []))
            meta[_key(o)][id(rs)][4].append(o.deterministic)
    out, incomparable = [], []
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
        verdict = "no clear change"
        if c.significant and c.pct is not None:
            verdict = "improvement" if (c.pct < 0) == ma[3] else "regression"
        out.append(
            dict(
                config=label,
                toggles=tog,
                a=fmt_value(c.base, ma[2]),
                b=fmt_value(c.new, ma[2]),
                change=fmt_pct(c.pct),
                ci="" if c.exact else fmt_ci(c.ci),
                p="exact (deterministic)" if c.exact else S.format_p(c.p),
                verdict=verdict,
                n=f"{len(ga[k])}/{len(gb[k])}",
            )
        )
    return out, incomparable


def write_compare(a: ResultSet, b: ResultSet, out_dir: str | None = None) -> tuple[str, str]:
    out_dir = out_dir or os.path.join(b.path, "compare")
    os.makedirs(out_dir, exist_ok=True)
    table, incomparable = rows(a, b)
    cols = ("config", "toggles", "n", "a", "b", "change", "ci", "p", "verdict")
    heads = ("configuration", "toggles", "n (A/B)", "A", "B", "change", "95% interval", "p", "verdict")
    md = [f"# mmlab comparison", "", f"A: {a.path} ({a.name}); B: {b.path} ({b.name})", ""]
    md += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    md += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in table]
    md += ["", "## Not comparable", ""] + [f"- {x}" for x in incomparable or ["none"]]
    esc = html_lib.escape
    body = "".join(
        "<tr>"
        + "".join(f"<td class='{esc(r['verdict'].replace(' ', '-'))}'>{esc(str(r[c]))}</td>" for c in cols)
        + "</tr>"
        for r in table
    )
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'><title>mmlab comparison</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em} table{border-collapse:collapse;font-size:.85em}"
        "td,th{border:1px solid #ddd;padding:3px 6px} .regression{color:#a3262b} .improvement{color:#176b2c}"
        "</style></head><body>"
        f"<h1>mmlab comparison</h1><p>A: {esc(a.path)} ({esc(a.name)})<br>B: {esc(b.path)} ({esc(b.name)})</p>"
        "<table><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>" + body + "</table>"
        "<h2>Not comparable</h2><ul>" + "".join(f"<li>{esc(x)}</li>" for x in incomparable or ["none"]) + "</ul>"
        "</body></html>"
    )
    html_path, md_path = os.path.join(out_dir, "compare.html"), os.path.join(out_dir, "compare.md")
    with open(html_path, "w") as f:
        f.write(doc)
    with open(md_path, "w") as f:
        f.write("\n".join(md) + "\n")
    return html_path, md_path
