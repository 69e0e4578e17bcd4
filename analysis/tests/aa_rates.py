"""False-call rates by design: the A/A generator of test_aa.py, many sets per design, no true effect.

    /usr/bin/python3 analysis/tests/aa_rates.py [SETS_PER_DESIGN] [k,r ...]

Prints, for "clean" noise (log-normal sigma 5%, drift 2%) and "harsh" noise (also 3% of cells 3x slower, drift 3%,
and the last swept toggle tripling the noise), how many reports call a main effect, an interaction, or either.
Not part of `make test` (200 sets x 24 designs take about 7 minutes here); docs/analysis.md has its output.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from analysis import load as L  # noqa: E402
from analysis.analyze import analyze  # noqa: E402
from analysis.tests.test_aa import synthetic_set  # noqa: E402

CONDITIONS = (
    ("clean", dict(outliers=0.0, drift=0.02)),
    ("harsh", dict(outliers=0.03, drift=0.03, noisy_toggle=True)),
)
DESIGNS = [(k, r) for k in (1, 2, 3, 4) for r in (2, 3, 5)]


def main(argv: list[str]) -> None:
    sets = int(argv[0]) if argv else 200
    designs = [tuple(int(x) for x in a.split(",")) for a in argv[1:]] or DESIGNS
    tmp = tempfile.mkdtemp()
    t0 = time.time()
    print("| noise | toggles | repetitions | main effect | interaction | either |")
    print("|---|---|---|---|---|---|")
    try:
        for name, kw in CONDITIONS:
            for k, reps in designs:
                main_calls = inter_calls = either = 0
                for seed in range(sets):
                    path = synthetic_set(os.path.join(tmp, "s"), 7000 + seed, k, reps, **kw)
                    a = analyze(L.load(path))
                    e = any(r.effect.significant for r in a.effects)
                    i = any(r.interaction.real for r in a.interactions)
                    main_calls, inter_calls, either = main_calls + e, inter_calls + i, either + (e or i)
                    shutil.rmtree(path)
                print(
                    f"| {name} | {k} | {reps} | {main_calls}/{sets} | {inter_calls}/{sets} | "
                    f"{either}/{sets} ({100 * either / sets:.1f}%) |",
                    flush=True,
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
