"""report.html (self-contained: the plots are embedded) and summary.md for one result set."""

from __future__ import annotations

import base64
import collections
import csv
import os

import jinja2

from . import stats as S
from .analyze import Analysis, analyze, effect_evidence, fmt_ci, fmt_pct, fmt_value
from .design import SOURCE_LABEL, case_label, design_rows, one_effect
from .load import ResultSet
from .plots import all_figures, provenance
from .price import price_rows
from .reliability import rows as reliability_rows

# The first screen, then the details (every section below "details" is inside it).
FIRST_SCREEN = ("design", "kernels", "questions")
SECTIONS = FIRST_SCREEN + (
    "price",
    "reliability",
    "details",
    "provenance",
    "toggles",
    "findings",
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
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(here), autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals["effect_items"] = _effect_items
    return env


def _not_default(toggles: dict, defaults: dict) -> str:
    diff = [f"{k.replace('mm.', '')}={v}" for k, v in sorted(toggles.items()) if defaults.get(k) != v]
    return ", ".join(diff) if diff else "(defaults)" if toggles else "(Linux: no toggles)"


def _design_context(a: Analysis, rows, figures, out_dir: str) -> dict:
    """The first screen: the design-question table, the toggles with no effect at all, one section per toggle."""
    several = len({g.vcpus for g in a.groups if g.kernel == "mmlab"}) > 1
    table, sections = [], []
    for r in rows:
        where = (
            f"all {r.all_workloads} workloads" + (" at every vCPU count" if several else "")
            if r.everywhere
            else ", ".join(r.workloads)
            if r.workloads
            else "none"
        )
        table.append(
            dict(
                toggle=r.toggle,
                title=r.title,
                question=r.question,
                choice=f"{r.default} → {r.alt}",
                saves=[(src, items) for src, items in r.saves.items()],
                costs=[(src, items) for src, items in r.costs.items()],
                where=where,
                where_list=[where] if r.everywhere or not r.workloads else r.workloads,
                verdict=r.verdict,
                cls=r.verdict_class,
                nothing=r.nothing,
            )
        )
        effect_rows = []
        worse = {id(x) for x in r.worse}
        for e_row in r.worse + r.better:
            e, g = e_row.effect, e_row.group
            size, how = one_effect(e)
            effect_rows.append(
                dict(
                    case=case_label(g, several),
                    base=fmt_value(e.base_mean, g.unit),
                    alt=fmt_value(e.alt_mean, g.unit),
                    change=size,
                    how=how,
                    cls="bad" if id(e_row) in worse else "good",
                )
            )
        figs = []
        for f in figures:
            if f.toggle == r.toggle:
                figs.append(_embed(f, out_dir))
        sections.append(
            dict(
                id="q-" + r.toggle.replace(".", "-").replace("_", "-"),
                toggle=r.toggle,
                title=r.title,
                question=r.question,
                default=r.default,
                alt=r.alt,
                effect_rows=effect_rows,
                no_effect=r.no_effect,
                no_effect_label=r.no_effect_label,
                untested=r.untested,
                per_op=[
                    dict(
                        kind="saves" if c.saves else "costs",
                        source=SOURCE_LABEL.get(c.source, c.source),
                        text=c.text(),
                        cls="good" if c.saves else "bad",
                    )
                    for c in r.cost_items
                ],
                interactions=r.interactions,
                figures=figs,
            )
        )
    return dict(
        design=table,
        design_nothing=[f"{r.toggle} ({r.title})" for r in rows if r.nothing],
        questions=sections,
    )


def _embed(f, out_dir: str) -> dict:
    with open(f.png, "rb") as fh:
        data = base64.b64encode(fh.read()).decode()
    return dict(title=f.title, data=data, svg=os.path.relpath(f.svg, out_dir), kind=f.kind)


def price_context(a: Analysis) -> dict:
    """The price section (analysis/price.py): mm.pmd_prealloc's other value, what it saves and costs per exec."""
    rows = price_rows(a)
    model = (a.rs.manifest.get("tlb_model") or {}) if isinstance(a.rs.manifest, dict) else {}
    why = ""
    if not rows:
        why = (
            "mm.pmd_prealloc is not swept in this set"
            if "mm.pmd_prealloc" not in a.swept
            else f"the TLB model did not run: {model['why']}"
            if model.get("requested") and not model.get("loaded")
            else "no exec workload ran with the TLB model (tlb_model = true, docs/tlb-model.md)"
        )
    return dict(
        rows=[
            dict(
                workload=r.workload,
                toggle=f"{r.toggle}={r.alt} (against {r.base})",
                metric=r.metric,
                base=fmt_value(r.base_value, r.unit) if "per extra" not in r.metric else "",
                alt=fmt_value(r.alt_value, r.unit) if "per extra" not in r.metric else "",
                diff=f"{r.diff:+,.3g}" if abs(r.diff) < 1000 else f"{r.diff:+,.0f}",
                pct=fmt_pct(r.pct) if "per extra" not in r.metric else "",
                verdict=r.verdict,
                source=r.source,
                evidence=r.evidence,
            )
            for r in rows
        ],
        why=why,
    )


def context(a: Analysis, figures, out_dir: str, rows=None) -> dict:
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
            exact=r.change.exact,
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
    figs = [_embed(f, out_dir) for f in figures if not f.toggle and f.kind != "kernels"]
    rows = design_rows(a) if rows is None else rows
    kernel_figs = [_embed(f, out_dir) for f in figures if f.kind == "kernels"]
    return dict(
        **_design_context(a, rows, figures, out_dir),
        kernel_figures=kernel_figs,
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
        # A kernel that did not survive a cell is the first thing the reader sees (the Reliability section has the
        # cells and the reasons).
        mixed=(
            [f'THE KERNEL DID NOT SURVIVE {len(a.reliability.not_survived)} cell(s): see "Reliability" below']
            if a.reliability is not None and not a.reliability.all_survived
            else []
        )
        + list(a.mixed),
        findings=a.findings,
        price=price_context(a),
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
        reliability=(
            None
            if a.reliability is None
            else dict(
                rows=reliability_rows(a.reliability),
                not_survived=a.reliability.not_survived,
                all_survived=a.reliability.all_survived,
            )
        ),
        skipped=a.rs.skipped,
        skip_reasons=a.rs.skip_reasons,
        unavailable=[(k, "; ".join(sorted(v))) for k, v in sorted(a.unavailable.items())],
    )


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _untagged(text: str, source: str) -> str:
    """`text` without the metric's source tag, where its line already names the source."""
    return text.replace(f" [{source}]", "")


def _effect_items(groups: list[tuple[str, list[str]]]) -> list[tuple[str, str]]:
    """A design row's saves or costs, (source, item) in order (the largest effects first), each item untagged."""
    return [(src, _untagged(x, src)) for src, xs in groups for x in xs]


def _cell(groups: list[tuple[str, list[str]]], most: int) -> str:
    """A design row's saves or costs in the mail: the first `most` items, each source named once before its run of
    items, and how many more the toggle's own section lists."""
    items = _effect_items(groups)
    runs: list[tuple[str, list[str]]] = []
    for src, x in items[:most]:
        if not runs or runs[-1][0] != src:
            runs.append((src, []))
        runs[-1][1].append(x)
    more = len(items) - min(len(items), most)
    return (
        "; ".join(f"{src}: " + "; ".join(xs) for src, xs in runs) + (f"; and {more} more (its section)" if more else "")
    ) or "nothing"


# The first screen names each toggle's largest effects only (summary.md is a mail: issue 17, at most 25 KB for the
# default matrix; report.html folds the rest of them under "N more"); the toggle's section lists them all.
DESIGN_ITEMS_IN_MAIL = 4


def summary_md(ctx: dict) -> str:
    """The mail: the design questions first, our kernel against Linux, a short section per toggle; the full tables
    are in report.html's details and the CSV files beside this one."""
    parts = [f"# mmlab report: {ctx['name']}", "", f"_{ctx['footer']}_", ""]
    parts += [f"**Warning:** {m}" for m in ctx["mixed"]] + ([""] if ctx["mixed"] else [])
    counts = ctx["counts"]
    not_ok = "".join(f", {n} {s}" for s, n in counts["not_ok"])
    parts += [
        f"{counts['total']} cells ({counts['ok']} ok{not_ok}); kernels: {', '.join(ctx['kernels'])}; "
        f"time unit: {ctx['time_unit']}.",
        "",
    ]
    parts += ["## The design questions", ""]
    if ctx["design"]:
        parts += [
            "Each swept toggle on our kernel, from its default to its other value: what that saves and what it costs "
            "per operation (counted: the kernel's counters; modelled or measured: priced hardware effects, never "
            "pooled), where, and the verdict on the workloads' own metrics (latency, rates) with its 95% interval, "
            "or exact.",
            "",
            _md_table(
                ["design question", "default → other", "saves", "costs", "on", "verdict"],
                [
                    [
                        f"**{r['title']}** (`{r['toggle']}`)",
                        r["choice"],
                        _cell(r["saves"], DESIGN_ITEMS_IN_MAIL),
                        _cell(r["costs"], DESIGN_ITEMS_IN_MAIL),
                        r["where"],
                        r["verdict"],
                    ]
                    for r in ctx["design"]
                ],
            ),
            "",
        ]
        if ctx["design_nothing"]:
            parts += ["No effect on anything measured: " + "; ".join(ctx["design_nothing"]) + ".", ""]
    else:
        parts += ["No toggle is swept in this set.", ""]
    if ctx["kernel_rows"]:
        parts += ["## Our kernel against Linux PAE", ""]
        exact = all(r["exact"] for r in ctx["kernel_rows"])
        if exact:
            parts += [
                "Every row is exact: deterministic cells, each ratio of two exact values (no interval, no p).",
                "",
            ]
        parts += [
            _md_table(
                ["workload", "metric", "mmlab", "Linux PAE", "ratio"] + ([] if exact else ["95% interval", "p"]),
                [
                    [r["workload"], r["metric"], r["mmlab"], r["linux"], r["ratio"]]
                    + ([] if exact else [r["ci"], r["p"]])
                    for r in ctx["kernel_rows"]
                ],
            ),
            "",
        ]
    for q in ctx["questions"]:
        parts += [f"## {q['title']}: {q['default']} → {q['alt']} (`{q['toggle']}`)", ""]
        if q["question"]:
            parts += [f"_{q['question']}_", ""]
        if q["effect_rows"]:
            parts += [
                _md_table(
                    ["workload metric", q["default"], q["alt"], "change (95% interval)", "how known"],
                    [[r["case"], r["base"], r["alt"], r["change"], r["how"]] for r in q["effect_rows"]],
                ),
                "",
            ]
        if q["no_effect"]:
            parts += [f"{q['no_effect_label']}: " + "; ".join(q["no_effect"]) + ".", ""]
        if q["untested"]:
            parts += ["Not tested (too few repetitions, or not deterministic): " + ", ".join(q["untested"]) + ".", ""]
        for it in q["per_op"]:
            parts.append(f"- {it['kind']} ({it['source']}): {_untagged(it['text'], it['source'])}")
        parts += [""] if q["per_op"] else []
        if q["interactions"]:
            shown = q["interactions"][:5]
            more = len(q["interactions"]) - len(shown)
            parts += ["Interactions (the effect depends on another toggle):"]
            parts += [f"- {x}" for x in shown] + ([f"- and {more} more (report.html, details)"] if more else []) + [""]
    parts += ["## The price of mm.pmd_prealloc", ""]
    if ctx["price"]["rows"]:
        toggles = sorted({r["toggle"] for r in ctx["price"]["rows"]})
        one = len(toggles) == 1
        if one:
            parts += [f"`{toggles[0]}`, per exec:", ""]
        keys = (
            ("workload",) + (() if one else ("toggle",)) + ("metric", "base", "alt", "diff", "pct", "verdict", "source")
        )
        names = {"base": "default", "alt": "other", "diff": "difference", "pct": "change", "verdict": "saves/costs"}
        rows = [[r[k] if k != "metric" else _untagged(r[k], r["source"]) for k in keys] for r in ctx["price"]["rows"]]
        parts += [_md_table([names.get(k, k) for k in keys], rows), ""]
    else:
        parts += [f"Not priced: {ctx['price']['why']}.", ""]
    rel = ctx["reliability"]
    if rel:
        parts += ["## Reliability: did the kernel survive?", ""]
        parts += [_md_table(["", "cells / count"], [list(r) for r in rel["rows"]]), ""]
        if rel["all_survived"]:
            parts += ["Every cell survived: no panic, no timeout, and a leak record that says nothing leaked.", ""]
        else:
            parts += ["**The kernel did not survive these cells:**", ""]
            parts += [f"- {c['id']} ({c['workload']}): {c['why']}" for c in rel["not_survived"]] + [""]
    parts += ["## Details", ""]
    parts += [
        f"Every finding ({len(ctx['findings'])}), main effect ({len(ctx['effect_rows'])}), interaction "
        f"({len(ctx['interaction_rows'])}) and configuration: report.html (\"Details\"), and "
        + ", ".join(CSV_FILES)
        + " beside this file.",
        "",
    ]
    for what in ("effects", "interactions"):
        if ctx[f"untested_{what}"]:
            parts += [f"Too few repetitions to test {what} in {len(ctx[f'untested_{what}'])} metric(s).", ""]
    for f in ctx["findings"]:
        if f.startswith("not deterministic"):
            parts += [f"- {f}"]
    for c in ctx["not_ok"]:
        parts.append(f"- cell {c['id']} {c['status']} ({c['kernel']}, {c['workload']}): {c['reason']}")
    parts += ["", f"Skipped records: {ctx['skipped']}."] + [f"- {r}" for r in ctx["skip_reasons"]]
    if ctx["unavailable"]:
        parts += ["", "Unavailable counters:"] + [f"- {k}: {v}" for k, v in ctx["unavailable"]]
    parts.append("")
    return "\n".join(parts)


CSV_FILES = ("effects.csv", "interactions.csv", "configs.csv")


def write_csvs(a: Analysis, out_dir: str) -> list[str]:
    """The full tables, one row per main effect, interaction and configuration, for a spreadsheet."""
    paths = [os.path.join(out_dir, n) for n in CSV_FILES]
    group_cols = ["kernel", "workload", "metric", "unit", "source", "vcpus", "accel", "time_unit"]

    def gcols(g):
        return [g.kernel, g.workload, g.metric, g.unit, g.source, g.vcpus, g.accel, g.time_unit]

    with open(paths[0], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            group_cols
            + [
                "toggle",
                "default",
                "other",
                "default_level",
                "other_level",
                "pct",
                "diff",
                "ci_low",
                "ci_high",
                "p",
                "q",
                "mode",
                "significant",
            ]
        )
        for r in a.effects:
            e = r.effect
            ci = e.ci or (None, None)
            w.writerow(
                gcols(r.group)
                + [
                    e.toggle,
                    e.default,
                    e.alt,
                    e.base_mean,
                    e.alt_mean,
                    e.pct,
                    e.diff,
                    ci[0],
                    ci[1],
                    e.p,
                    e.q,
                    e.mode,
                    e.significant,
                ]
            )
    with open(paths[1], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            group_cols + ["a", "b", "effect_at", "diff", "in_points", "ci_low", "ci_high", "p", "q", "mode", "real"]
        )
        for r in a.interactions:
            i = r.interaction
            ci = i.ci or (None, None)
            at = "; ".join(f"{k}={v:.6g}" for k, v in i.effect_at.items())
            w.writerow(gcols(r.group) + [i.a, i.b, at, i.diff, i.in_points, ci[0], ci[1], i.p, i.q, i.mode, i.real])
    with open(paths[2], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            group_cols
            + ["toggles", "n", "median", "min", "ci_low", "ci_high", "cv", "exact", "vs_default_pct", "vs_default_p"]
        )
        for r in a.configs:
            t = ";".join(f"{k}={v}" for k, v in sorted(r.toggles.items()))
            vs = r.vs_default
            w.writerow(
                gcols(r.group)
                + [
                    t,
                    r.summary.n,
                    r.summary.median,
                    r.summary.minimum,
                    r.summary.ci[0],
                    r.summary.ci[1],
                    r.summary.cv,
                    r.exact,
                    vs.pct if vs else None,
                    vs.p if vs else None,
                ]
            )
    return paths


def write_report(rs: ResultSet, out_dir: str | None = None) -> tuple[str, str, list]:
    """Writes OUT/report.html, OUT/summary.md and OUT/figures/*; returns their paths and the figures."""
    out_dir = out_dir or os.path.join(rs.path, "report")
    os.makedirs(out_dir, exist_ok=True)
    a = analyze(rs)
    rows = design_rows(a)
    figures = all_figures(a, os.path.join(out_dir, "figures"), rows)
    ctx = context(a, figures, out_dir, rows)
    write_csvs(a, out_dir)
    html = _env().get_template("report.html.j2").render(design_items=DESIGN_ITEMS_IN_MAIL, **ctx)
    html_path, md_path = os.path.join(out_dir, "report.html"), os.path.join(out_dir, "summary.md")
    with open(html_path, "w") as f:
        f.write(html)
    with open(md_path, "w") as f:
        f.write(summary_md(ctx))
    return html_path, md_path, figures
