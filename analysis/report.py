"""report.html (self-contained: the plots are embedded) and summary.md for one result set."""

from __future__ import annotations

import base64
import collections
import os

import jinja2

from . import stats as S
from .analyze import Analysis, analyze, effect_evidence, fmt_ci, fmt_pct, fmt_value
from .load import ResultSet
from .plots import all_figures, provenance

SECTIONS = (
    "provenance",
    "toggles",
    "findings",
    "kernels",
    "effects",
    "interactions",
    "plots",
    "configs",
    "cells",
    "skipped",
    "unavailable",
)


def _env() -> jinja2.Environment:
    here = os.path.join(os.path.dirname(__file__), "templates")
    return jinja2.Environment(loader=jinja2.FileSystemLoader(here), autoescape=True, undefined=jinja2.StrictUndefined)


def _not_default(toggles: dict, defaults: dict) -> str:
    diff = [f"{k.replace('mm.', '')}={v}" for k, v in sorted(toggles.items()) if defaults.get(k) != v]
    return ", ".join(diff) if diff else "(defaults)" if toggles else "(Linux: no toggles)"


def context(a: Analysis, figures, out_dir: str) -> dict:
    m = a.rs.manifest
    accel = m.get("accel") or {}
    prov = [
        ("result set", os.path.abspath(a.rs.path)),
        ("matrix", f"{m.get('name', '?')} ({m.get('matrix_file', '?')})"),
        (
            "git",
            f"{(m.get('git') or {}).get('revision', '?')}{' (dirty)' if (m.get('git') or {}).get('dirty') else ''}",
        ),
        ("mmlab kernel build id", ((m.get("kernel") or {}).get("mmlab") or {}).get("build_id", "?")),
        ("Linux PAE", ((m.get("kernel") or {}).get("linux-pae") or {}).get("version", "not in this set")),
        ("QEMU", m.get("qemu", "?")),
        ("accel", f"{accel.get('used', '?')} (asked: {accel.get('requested', '?')}): {accel.get('why', '?')}"),
        (
            "deterministic",
            "yes: times are guest instructions (-icount shift=0)" if accel.get("deterministic") else "no",
        ),
        (
            "host",
            f"{(m.get('host') or {}).get('cpu_model', '?')}, {(m.get('host') or {}).get('cpus', '?')} CPUs, "
            f"{(m.get('host') or {}).get('kernel', '?')}",
        ),
        (
            "run",
            f"{m.get('started', '?')} to {m.get('finished', '?')}{', interrupted' if m.get('interrupted') else ''}",
        ),
        ("command", m.get("command_line", "?")),
        ("seed", m.get("seed", "?")),
    ]
    seen = collections.defaultdict(set)
    for c in a.rs.cells:
        for k, v in c["toggles"].items():
            seen[k].add(v)
    toggles = [
        {"key": k, "vals": [v for v in values if v in seen[k]], "swept": k in a.swept}
        for k, values in a.rs.toggles.items()
        if seen[k]
    ]
    statuses = collections.Counter(c["status"] for c in a.rs.cells)
    time_units = {c["time_unit"] for c in a.rs.cells}
    effect_rows = []
    for r in a.effects:
        e, g = r.effect, r.group
        verdict, cls = {
            S.EXACT: ("no effect (exact)", "muted"),
            S.TOO_FEW: ("too few repetitions", "muted"),
            S.NONDETERMINISTIC: ("not deterministic", "bad"),
        }.get(e.mode, ("no clear effect", "muted"))
        if e.significant:
            better = ((e.pct if e.pct is not None else e.diff) < 0) == g.lower_is_better
            verdict, cls = ("better", "good") if better else ("worse", "bad")
        effect_rows.append(
            dict(
                group=g.label(),
                toggle=f"{e.toggle}={e.alt}",
                base=fmt_value(e.base_mean, g.unit),
                alt=fmt_value(e.alt_mean, g.unit),
                change=fmt_pct(e.pct) if e.pct is not None else f"{e.diff:+.3g}",
                ci="" if e.mode == S.EXACT else fmt_ci(e.ci, e.pct is not None),
                p=effect_evidence(e),
                verdict=verdict,
                cls=cls,
            )
        )
    interaction_rows = []
    for r in a.interactions:
        i = r.interaction
        q = {S.EXACT: "exact", S.TOO_FEW: "too few repetitions", S.NONDETERMINISTIC: "not deterministic"}.get(
            i.mode, f"{i.q:.3g}" if i.q is not None else ""
        )
        ci = ""
        if i.mode == S.TESTED and i.ci is not None:
            ci = f"{fmt_pct(i.ratio_pct)} {fmt_ci(i.ci)}" if i.in_points else fmt_ci(i.ci, False)
        interaction_rows.append(
            dict(
                group=r.group.label(),
                a=i.a,
                b=i.b,
                at="; ".join(f"{v}: {fmt_pct(x) if i.in_points else f'{x:+.3g}'}" for v, x in i.effect_at.items()),
                diff=f"{i.diff:+.1f}{' pts' if i.in_points else ''}",
                ci=ci,
                q=q,
                real=i.real,
            )
        )
    kernel_rows = [
        dict(
            workload=r.workload,
            metric=r.metric,
            mmlab=fmt_value(r.mmlab.median, r.unit),
            linux=fmt_value(r.linux.median, r.unit),
            ratio=f"{r.ratio:.2f}",
            ci="" if r.change.exact else f"[{r.ratio_ci[0]:.2f}, {r.ratio_ci[1]:.2f}]" if r.ratio_ci else "",
            p="exact (deterministic)" if r.change.exact else S.format_p(r.change.p),
        )
        for r in a.kernels
    ]
    sections = collections.OrderedDict()
    for r in a.configs:
        g = r.group
        sections.setdefault(f"{g.kernel}: {g.label()} ({g.unit})", []).append(
            dict(
                toggles=_not_default(r.toggles, a.rs.defaults),
                n=r.summary.n,
                median=fmt_value(r.summary.median),
                min=fmt_value(r.summary.minimum),
                ci="exact" if r.exact else f"[{fmt_value(r.summary.ci[0])}, {fmt_value(r.summary.ci[1])}]",
                cv=f"{100 * r.summary.cv:.1f}%",
                noisy=r.summary.noisy,
                change=fmt_pct(r.vs_default.pct) if r.vs_default else "",
                change_ci=fmt_ci(r.vs_default.ci) if r.vs_default and not r.vs_default.exact else "",
                p=("exact" if r.vs_default.exact else S.format_p(r.vs_default.p)) if r.vs_default else "",
            )
        )
    figs = []
    for f in figures:
        with open(f.png, "rb") as fh:
            figs.append(
                dict(title=f.title, data=base64.b64encode(fh.read()).decode(), svg=os.path.relpath(f.svg, out_dir))
            )
    return dict(
        name=a.rs.name,
        footer=provenance(a),
        provenance=prov,
        toggles=toggles,
        swept=a.swept,
        counts=dict(
            total=len(a.rs.cells), ok=statuses.get("ok", 0), not_ok=[(s, n) for s, n in statuses.items() if s != "ok"]
        ),
        kernels=sorted({c["kernel"] for c in a.rs.cells}),
        time_unit=", ".join(
            "guest instructions" if t == "guest_instructions" else "nanoseconds" for t in sorted(time_units)
        ),
        mixed=a.mixed,
        findings=a.findings,
        kernel_rows=kernel_rows,
        effect_rows=effect_rows,
        interaction_rows=interaction_rows,
        untested_effects=[u.group.label() for u in a.untested if u.what == "effects"],
        untested_interactions=[u.group.label() for u in a.untested if u.what == "interactions"],
        nondeterministic=sorted({f"{n.group.kernel}: {n.group.label()}" for n in a.nondeterministic}),
        figures=figs,
        config_sections=[dict(title=t, rows=rows) for t, rows in sections.items()],
        not_ok=[
            dict(
                id=c["id"],
                status=c["status"],
                kernel=c["kernel"],
                workload=" ".join([c["workload"]["name"], *c["workload"].get("args", [])]),
                reason=c.get("reason", ""),
            )
            for c in a.not_ok
        ],
        skipped=a.rs.skipped,
        skip_reasons=a.rs.skip_reasons,
        unavailable=[(k, "; ".join(sorted(v))) for k, v in sorted(a.unavailable.items())],
    )


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def summary_md(ctx: dict) -> str:
    parts = [f"# mmlab report: {ctx['name']}", "", f"_{ctx['footer']}_", ""]
    parts += [f"**Warning:** {m}" for m in ctx["mixed"]] + ([""] if ctx["mixed"] else [])
    parts += ["## Findings", ""] + ([f"- {f}" for f in ctx["findings"]] or ["- no clear toggle effect"]) + [""]
    if ctx["kernel_rows"]:
        parts += ["## Our kernel against Linux PAE", ""]
        parts += [
            _md_table(
                ["workload", "metric", "mmlab", "Linux PAE", "ratio", "95% interval", "p"],
                [
                    [r["workload"], r["metric"], r["mmlab"], r["linux"], r["ratio"], r["ci"], r["p"]]
                    for r in ctx["kernel_rows"]
                ],
            ),
            "",
        ]
    if ctx["effect_rows"]:
        parts += ["## Toggle main effects", ""]
        parts += [
            _md_table(
                ["workload: metric", "toggle", "default", "other", "change", "95% interval", "p", "verdict"],
                [
                    [r[k] for k in ("group", "toggle", "base", "alt", "change", "ci", "p", "verdict")]
                    for r in ctx["effect_rows"]
                ],
            ),
            "",
        ]
    for what in ("effects", "interactions"):
        if ctx[f"untested_{what}"]:
            parts += [
                f"Too few repetitions to test {what} (the test needs 2 of every configuration): "
                + "; ".join(ctx[f"untested_{what}"])
                + ".",
                "",
            ]
    real = [r for r in ctx["interaction_rows"] if r["real"]]
    if real:
        parts += ["## Real two-way interactions", ""]
        parts += [
            _md_table(
                [
                    "workload: metric",
                    "effect of",
                    "depends on",
                    "effect at each value",
                    "difference",
                    "ratio of the effects, 95% interval",
                    "q",
                ],
                [[r[k] for k in ("group", "a", "b", "at", "diff", "ci", "q")] for r in real],
            ),
            "",
        ]
    parts += ["## Every configuration", ""]
    for s in ctx["config_sections"]:
        parts += [f"### {s['title']}", ""]
        parts += [
            _md_table(
                ["toggles", "n", "median", "min", "95% interval", "CV", "vs default", "95% interval", "p"],
                [
                    [r[k] for k in ("toggles", "n", "median", "min", "ci", "cv", "change", "change_ci", "p")]
                    for r in s["rows"]
                ],
            ),
            "",
        ]
    parts += [f"## Cells", "", f"{ctx['counts']['total']} cells, {ctx['counts']['ok']} ok."]
    for c in ctx["not_ok"]:
        parts.append(f"- {c['id']} {c['status']} ({c['kernel']}, {c['workload']}): {c['reason']}")
    parts += ["", f"Skipped records: {ctx['skipped']}."] + [f"- {r}" for r in ctx["skip_reasons"]]
    parts += ["", "## Unavailable counters", ""] + [f"- {k}: {v}" for k, v in ctx["unavailable"]] + [""]
    return "\n".join(parts)


def write_report(rs: ResultSet, out_dir: str | None = None) -> tuple[str, str, list]:
    """Writes OUT/report.html, OUT/summary.md and OUT/figures/*; returns their paths and the figures."""
    out_dir = out_dir or os.path.join(rs.path, "report")
    os.makedirs(out_dir, exist_ok=True)
    a = analyze(rs)
    figures = all_figures(a, os.path.join(out_dir, "figures"))
    ctx = context(a, figures, out_dir)
    html = _env().get_template("report.html.j2").render(**ctx)
    html_path, md_path = os.path.join(out_dir, "report.html"), os.path.join(out_dir, "summary.md")
    with open(html_path, "w") as f:
        f.write(html)
    with open(md_path, "w") as f:
        f.write(summary_md(ctx))
    return html_path, md_path, figures
