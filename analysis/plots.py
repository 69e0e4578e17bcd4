"""The report's figures (matplotlib, Agg): PNG for the HTML, SVG beside it.

Every figure carries a provenance footer (kernel build, accel, QEMU, host CPU, date), and a
result set's accels are never mixed in one panel.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import re
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import metrics as M  # noqa: E402
from . import stats as S  # noqa: E402
from .analyze import Analysis, Group, fmt_value, scale_for, slug  # noqa: E402

COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")


@dataclasses.dataclass
class Figure:
    title: str
    kind: str  # effects | scaling | counters | kernels
    png: str
    svg: str
    panels: int
    toggle: str = ""  # the toggle whose section shows it (first screen); "" for the details


def provenance(a: Analysis) -> str:
    m = a.rs.manifest
    build = ((m.get("kernel") or {}).get("mmlab") or {}).get("build_id", "?")[:12]
    accel = (m.get("accel") or {}).get("used", "?")
    det = " -icount" if (m.get("accel") or {}).get("deterministic") else ""
    return (
        f"mmlab kernel {build} | accel {accel}{det} | {m.get('qemu', '?')} | "
        f"{(m.get('host') or {}).get('cpu_model', '?')} x{(m.get('host') or {}).get('cpus', '?')} | "
        f"{m.get('started', '?')} | git {str((m.get('git') or {}).get('revision', '?'))[:10]}"
    )


def _wrap(title: str, fig) -> str:
    """The title broken into lines that fit the figure's width (about 9.5 characters an inch at 11 pt): never cut."""
    return "\n".join(textwrap.wrap(title, max(30, int(fig.get_figwidth() * 9.5))))


def _save(fig, out_dir: str, name: str, title: str, kind: str, panels: int, footer: str, toggle: str = "") -> Figure:
    fig.text(
        0.005,
        0.003,
        "\n".join(textwrap.wrap(footer, int(fig.get_figwidth() * 19))),
        fontsize=6,
        color="#555555",
        ha="left",
        va="bottom",
    )
    wrapped = _wrap(title, fig)
    fig.suptitle(wrapped, fontsize=11)
    # Room for the title's lines at the top and the footer at the bottom, in inches; bbox "tight" keeps anything
    # that still sticks out (a long tick label) inside the image.
    lines = wrapped.count("\n") + 1
    fig.set_figheight(fig.get_figheight() + 0.18 * lines + 0.2)  # the axes keep their height
    h = fig.get_figheight()
    top = 1 - (0.18 * lines + 0.02) / h
    png, svg = os.path.join(out_dir, name + ".png"), os.path.join(out_dir, name + ".svg")
    _PENDING.append((fig, (0, 0.25 / h, 1, top), png, svg))
    return Figure(title, kind, png, svg, panels, toggle)


# Figures built but not yet drawn: laying out and writing them is nine tenths of the report's time (35 s of 36 for the
# default set), so all_figures draws them at the end, in parallel.
_PENDING: list = []


def _render(i: int) -> None:
    fig, rect, png, svg = _PENDING[i]
    fig.tight_layout(rect=rect, pad=0.6)
    # bbox_inches="tight" draws the figure once more per file to measure it: measure once, for both files.
    bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.08)
    fig.savefig(png, dpi=110, bbox_inches=bbox)
    fig.savefig(svg, bbox_inches=bbox)


def _render_pending() -> None:
    """Draws every pending figure: in forked worker processes (one per host CPU) when there are several of both, the
    figures inherited as they are; a worker that fails fails the report."""
    n = len(_PENDING)
    workers = min(os.cpu_count() or 1, n)
    try:
        if workers > 1:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                pool.map(_render, range(n), chunksize=1)
        else:
            for i in range(n):
                _render(i)
    finally:
        for fig, *_ in _PENDING:
            plt.close(fig)
        _PENDING.clear()


def _bar(ax, x, values_list, color, div: float = 1.0):
    """Bars at the medians with their bootstrap intervals, values divided by `div`."""
    meds, lo, hi = [], [], []
    for v in values_list:
        s = S.summarize(v)
        meds.append(s.median / div)
        lo.append((s.median - s.ci[0]) / div)
        hi.append((s.ci[1] - s.median) / div)
    ax.bar(x, meds, yerr=[lo, hi], capsize=3, color=color, width=0.38)
    return meds


def effects_figures(a: Analysis, out_dir: str, footer: str) -> list[Figure]:
    """Per workload's headline metric on our kernel: one panel per swept toggle, a bar per value."""
    figs = []
    if not a.swept:
        return figs
    for g, obs in a.groups.items():
        if g.kernel != "mmlab" or not g.headline:
            continue
        n = len(a.swept)
        div, unit = scale_for(g.unit, max(o.value for o in obs))
        fig, axes = plt.subplots(1, n, figsize=(2.4 * n + 1, 3.2), squeeze=False)
        for ax, t in zip(axes[0], a.swept):
            values = [[o.value for o in obs if o.toggle_dict.get(t) == v] for v in a.rs.toggles[t]]
            if not all(values):
                ax.set_visible(False)
                continue
            _bar(ax, [0, 1], values, [COLORS[0], COLORS[1]], div)
            ax.set_xticks([0, 1], a.rs.toggles[t], fontsize=8)
            ax.set_title(t, fontsize=9)
            ax.set_xlabel("toggle value", fontsize=7)
            ax.set_ylabel(unit, fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
        title = f"{g.workload}: {g.metric}" + (f" ({g.vcpus} vCPUs)" if g.vcpus != 1 else "")
        figs.append(_save(fig, out_dir, "effects-" + slug(title), title, "effects", n, footer))
    return figs


def scaling_figures(a: Analysis, out_dir: str, footer: str) -> list[Figure]:
    """Rates over worker counts (page_fault, fork_scale), a line per value of the toggle that matters."""
    figs = []
    series: dict[tuple, dict[int, list]] = {}
    for g, obs in a.groups.items():
        m = re.match(r"(.*) rate, (\d+) workers?$", g.metric)
        if not m:
            continue
        series.setdefault((g.kernel, g.workload, m.group(1), g.unit, g.vcpus), {})[int(m.group(2))] = obs
    for (kernel, workload, what, unit, vcpus), points in sorted(series.items()):
        if len(points) < 2:
            continue
        key = "mm.ptlock" if "page_fault" in workload else "mm.pgd_init"
        lines = a.rs.toggles[key] if kernel == "mmlab" and key in a.swept else (None,)
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        xs = sorted(points)
        for i, v in enumerate(lines):
            meds, lo, hi = [], [], []
            for x in xs:
                vals = [o.value for o in points[x] if v is None or o.toggle_dict.get(key) == v]
                s = S.summarize(vals)
                meds.append(s.median)
                lo.append(s.median - s.ci[0])
                hi.append(s.ci[1] - s.median)
            ax.errorbar(
                xs, meds, yerr=[lo, hi], marker="o", capsize=3, color=COLORS[i], label=f"{key}={v}" if v else kernel
            )
        ax.set_xlabel("workers (processes or threads)")
        ax.set_ylabel(unit, fontsize=8)
        ax.set_xticks(xs)
        ax.legend(fontsize=8)
        title = f"{kernel}: {workload}: {what} rate over workers" + (f" ({vcpus} vCPUs)" if vcpus != 1 else "")
        figs.append(_save(fig, out_dir, "scaling-" + slug(title), title, "scaling", 1, footer))
    return figs


COUNTER_FIGURES = {
    M.GUEST: ("counters", "Guest counters per operation, our kernel (mean over all cells)"),
    M.MODELLED: (
        "counters-modelled",
        "MODELLED (TCG plugin: host-observed CR3/INVLPG, TLB model) per operation, our kernel (mean over all cells)",
    ),
    M.MEASURED: ("counters-measured", "MEASURED (PMU, guest only, whole VM), our kernel (mean over all cells)"),
}


def counters_figure(a: Analysis, out_dir: str, footer: str, source: str = M.GUEST) -> list[Figure]:
    """Per-operation counters of one source on our kernel (the guest's own, or the host's modelled or measured ones:
    never two in one figure): for each counter, the mean over every cell (all workloads) with each value of each swept
    toggle. Counters that are zero everywhere get no panel (the title says which)."""
    by_metric: dict[str, list] = {}
    unit = {}
    for g, obs in a.groups.items():
        if g.kernel == "mmlab" and not g.headline and g.source == source:
            by_metric.setdefault(g.metric, []).extend(obs)
            unit[g.metric] = g.unit
    if not by_metric or not a.swept:
        return []
    zero = sorted(m for m, obs in by_metric.items() if all(o.value == 0 for o in obs))
    names = sorted(m for m in by_metric if m not in zero)
    if not names:
        return []
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        obs = by_metric[name]
        x = np.arange(len(a.swept))
        for j in (0, 1):
            vals = [[o.value for o in obs if o.toggle_dict.get(t) == a.rs.toggles[t][j]] or [0.0] for t in a.swept]
            means = [float(np.mean(v)) for v in vals]
            ax.bar(
                x + (j - 0.5) * 0.38, means, width=0.38, color=COLORS[j], label="default" if j == 0 else "other value"
            )
        ax.set_xticks(x, [t.replace("mm.", "") for t in a.swept], fontsize=7, rotation=20)
        ax.set_xlabel("swept toggle", fontsize=7)
        ax.set_title(name, fontsize=8)
        ax.set_ylabel(unit[name], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    axes[0][0].legend(fontsize=7)
    name, title = COUNTER_FIGURES[source]
    if zero:
        title += "; zero everywhere: " + ", ".join(zero)
    return [_save(fig, out_dir, name, title, "counters", len(names), footer)]


def kernels_figure(a: Analysis, out_dir: str, footer: str) -> list[Figure]:
    """Our kernel (default toggles) against Linux PAE, latency workloads, with the ratio."""
    rows = [r for r in a.kernels if "latency" in r.metric]
    if not rows:
        return []
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(rows) + 2), 3.8))
    x = np.arange(len(rows))
    div, unit = scale_for(rows[0].unit, max(max(r.mmlab.median, r.linux.median) for r in rows))
    for j, (name, get) in enumerate((("mmlab", lambda r: r.mmlab), ("Linux PAE", lambda r: r.linux))):
        s = [get(r) for r in rows]
        ax.bar(
            x + (j - 0.5) * 0.38,
            [v.median / div for v in s],
            width=0.38,
            yerr=[[(v.median - v.ci[0]) / div for v in s], [(v.ci[1] - v.median) / div for v in s]],
            capsize=3,
            color=COLORS[j],
            label=name,
        )
    for i, r in enumerate(rows):
        ax.text(
            i, max(r.mmlab.ci[1], r.linux.ci[1]) / div * 1.03, f"x{r.ratio:.2f}", ha="center", fontsize=8, weight="bold"
        )
    ax.set_xticks(x, ["\n".join(textwrap.wrap(r.workload, 18)) for r in rows], fontsize=7)
    ax.set_xlabel("workload (median latency; ratio mmlab / Linux PAE above each pair)", fontsize=7)
    ax.set_ylabel(f"latency ({unit})", fontsize=8)
    ax.set_ylim(top=ax.get_ylim()[1] * 1.1)
    ax.legend(fontsize=8)
    return [
        _save(
            fig, out_dir, "kernels", "Our kernel against Linux PAE: latency (ratio mmlab/Linux)", "kernels", 1, footer
        )
    ]


def _effect_chart(a: Analysis, row, out_dir: str, footer: str) -> Figure | None:
    """The toggle's change of every workload metric: a horizontal bar each, green better, red worse, grey no clear
    effect, the interval as a whisker when tested, the change printed at the bar's end."""
    from .design import case_label, one_effect

    rows = [r for r in a.effects if r.effect.toggle == row.toggle and r.group.kernel == "mmlab" and r.group.headline]
    rows = [r for r in rows if r.effect.pct is not None]
    if not rows:
        return None
    several = len({r.group.vcpus for r in rows}) > 1
    rows.sort(key=lambda r: (r.group.workload, r.group.metric, r.group.vcpus))
    better = {id(r) for r in row.better}
    worse = {id(r) for r in row.worse}
    fig, ax = plt.subplots(figsize=(7.0, 0.3 * len(rows) + 1.5))
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows):
        e = r.effect
        color = "#55A868" if id(r) in better else "#C44E52" if id(r) in worse else "#AAAAAA"
        err = None
        if e.mode == S.TESTED and e.ci is not None:
            err = [[e.pct - e.ci[0]], [e.ci[1] - e.pct]]
        ax.barh(yi, e.pct, color=color, xerr=err, capsize=3, height=0.6)
        size, how = one_effect(e)
        right = e.pct if err is None else e.ci[1]
        left = e.pct if err is None else e.ci[0]
        x, ha = (right, "left") if e.pct >= 0 else (left, "right")
        ax.text(x, yi, f" {size.split(' [')[0]} ", va="center", ha=ha, fontsize=8)
    ax.axvline(0, color="#333333", lw=0.8)
    ax.set_yticks(y, [case_label(r.group, several) for r in rows], fontsize=8)
    # At least +-2% wide, so that a change under the 1% that makes a finding looks as small as it is.
    lo, hi = ax.get_xlim()
    lo, hi = min(lo, -2.0), max(hi, 2.0)
    pad = 0.15 * (hi - lo)
    ax.set_xlim(lo - pad, hi + pad)
    unit_note = "time in guest instructions" if rows[0].group.time_unit == "guest_instructions" else "wall-clock time"
    ax.set_xlabel(f"change of the metric with {row.alt} against {row.default} (%)\n({unit_note})", fontsize=8)
    ax.set_ylabel("workload metric", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    title = f"{row.title}: {row.alt} against {row.default} (green better, red worse, grey no clear effect)"
    return _save(fig, out_dir, "toggle-" + slug(row.toggle), title, "toggle-effect", 1, footer, row.toggle)


def _scaling_chart(a: Analysis, row, out_dir: str, footer: str) -> Figure | None:
    """A rate over worker counts with each value of the toggle (the other toggles at their defaults), the
    workload where the toggle moves it most; intervals of the median as error bars."""
    t = row.toggle
    moved = {r.group for r in row.better + row.worse}
    series: dict[tuple, dict[int, list]] = {}
    for g, obs in a.groups.items():
        m = re.match(r"(.*) rate, (\d+) workers?$", g.metric)
        if g.kernel == "mmlab" and m:
            series.setdefault((g.workload, m.group(1), g.unit, g.vcpus), {})[int(m.group(2))] = (g, obs)
    best, size = None, -1.0
    for key, points in series.items():
        if len(points) < 2:
            continue
        for g, _ in points.values():
            if g not in moved:  # only where the toggle has an effect: a flat pair of lines tells nothing
                continue
            e = [r.effect for r in a.effects if r.group == g and r.effect.toggle == t]
            if e and e[0].pct is not None and abs(e[0].pct) > size:
                best, size = key, abs(e[0].pct)
    if best is None:
        return None
    workload, what, unit, vcpus = best
    points = series[best]
    defaults = a.rs.defaults
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    xs = sorted(points)
    for i, v in enumerate(a.rs.toggles[t]):
        meds, lo, hi = [], [], []
        for x in xs:
            obs = points[x][1]
            at_default = [
                o.value
                for o in obs
                if o.toggle_dict.get(t) == v and all(o.toggle_dict[k] == defaults[k] for k in a.swept if k != t)
            ]
            vals = at_default or [o.value for o in obs if o.toggle_dict.get(t) == v]
            s = S.summarize(vals)
            meds.append(s.median)
            lo.append(s.median - s.ci[0])
            hi.append(s.ci[1] - s.median)
        ax.errorbar(xs, meds, yerr=[lo, hi], marker="o", capsize=4, color=COLORS[i], label=f"{t}={v}")
    ax.set_xlabel("workers (processes or threads)", fontsize=8)
    ax.set_ylabel(unit, fontsize=8)
    ax.set_xticks(xs)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.12)  # room above the highest line
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, title="median, 95% interval", title_fontsize=7, loc="lower right")
    title = f"{row.title}: {workload}: {what} rate over workers" + (f" ({vcpus} vCPUs)" if vcpus != 1 else "")
    return _save(fig, out_dir, "toggle-scaling-" + slug(t), title, "toggle-scaling", 1, footer, t)


def toggle_figures(a: Analysis, rows, out_dir: str, footer: str) -> list[Figure]:
    """One or two figures per toggle of the first screen: its effect on every workload metric, and a scaling curve
    where a rate over workers is measured."""
    out = []
    for row in rows:
        for f in (_effect_chart(a, row, out_dir, footer), _scaling_chart(a, row, out_dir, footer)):
            if f is not None:
                out.append(f)
    return out


def all_figures(a: Analysis, out_dir: str, design_rows=()) -> list[Figure]:
    os.makedirs(out_dir, exist_ok=True)
    footer = provenance(a)
    _PENDING.clear()
    with plt.rc_context({"figure.max_open_warning": 0}):  # they stay open until drawn
        figs = (
            toggle_figures(a, design_rows, out_dir, footer)
            + kernels_figure(a, out_dir, footer)
            + effects_figures(a, out_dir, footer)
            + scaling_figures(a, out_dir, footer)
            + counters_figure(a, out_dir, footer)
            + counters_figure(a, out_dir, footer, M.MODELLED)
            + counters_figure(a, out_dir, footer, M.MEASURED)
        )
        _render_pending()
    return figs


__all__ = ["Figure", "all_figures", "provenance", "Group", "fmt_value"]
