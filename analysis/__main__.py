"""/usr/bin/python3 -m analysis report DIR [-o OUT] | compare DIR_A DIR_B [-o OUT] | locks DIR[,DIR...]...
(docs/analysis.md)

`report` exits 1 when the kernel did not survive a cell (analysis/reliability.py), 2 for a directory that is not a
result set."""

from __future__ import annotations

import argparse
import sys

from .compare import write_compare
from .load import ResultSetError, load
from .locks import locks_markdown
from .reliability import reliability
from .report import write_report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m analysis", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="report.html and summary.md for a result set")
    r.add_argument("dir")
    r.add_argument("-o", "--out", help="output directory (default DIR/report)")
    c = sub.add_parser("compare", help="two result sets side by side, like a kernel regression report")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("-o", "--out", help="output directory (default B/compare)")
    k = sub.add_parser("locks", help="fork scaling and each lock class per fork, per configuration (Markdown)")
    k.add_argument("dirs", nargs="+", help="result sets; comma-separated ones are pooled")
    a = p.parse_args(argv)
    try:
        if a.cmd == "report":
            rs = load(a.dir)
            html, md, figures = write_report(rs, a.out)
            note = f", {rs.skipped} malformed line(s) skipped" if rs.skipped else ""
            print(f"analysis: {len(rs.cells)} cells{note}, {len(figures)} figures; report: {html}; summary: {md}")
            survival = reliability(rs.cells)
            if survival and not survival.all_survived:
                print(f"analysis: {survival.finding()}", file=sys.stderr)
                return 1
        elif a.cmd == "locks":
            print(locks_markdown(a.dirs), end="")
        else:
            html, md = write_compare(load(a.a), load(a.b), a.out)
            print(f"analysis: comparison: {html}; summary: {md}")
    except ResultSetError as e:
        print(f"analysis: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
