"""report.html in a real browser: headless Chromium renders it, and the screenshot is not blank.

Part of `make test` (through `make pytest`); `make test-browser` runs it alone. scripts/setup.sh installs Debian's
chromium for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import matplotlib.image as mpimg  # noqa: E402

from analysis.load import load  # noqa: E402
from analysis.report import write_report  # noqa: E402
from analysis.tests.test_analysis import cell, factorial, write_set  # noqa: E402


def _chromium(tmp_path, html: str, size: str, *extra: str) -> subprocess.CompletedProcess:
    chromium = shutil.which("chromium")
    assert chromium, "no chromium on PATH: scripts/setup.sh (run by every make target) installs Debian's chromium"
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={size}",
        *extra,
        f"file://{html}",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _shot(tmp_path, html: str, size: str, name: str) -> np.ndarray:
    shot = tmp_path / name
    p = _chromium(tmp_path, html, size, f"--screenshot={shot}")
    assert shot.exists(), p.stderr
    return mpimg.imread(str(shot))[..., :3]


def test_report_renders_in_headless_chromium(tmp_path):
    cells = factorial(reps=3) + [cell(100 + i, {}, 2_400_000, kernel="linux-pae") for i in range(3)]
    html, _, _ = write_report(load(write_set(tmp_path / "set", cells)), str(tmp_path / "out"))
    img = _shot(tmp_path, html, "1280,2400", "shot.png")
    assert img.shape[0] >= 2000 and img.shape[1] >= 1200, img.shape
    pixels = img.reshape(-1, 3)
    # Not blank: text and plots make many colours, and much of the page is not white.
    assert len(np.unique((pixels * 255).astype(np.uint8), axis=0)) > 200
    assert np.mean(np.all(pixels > 0.98, axis=1)) < 0.97


def test_the_first_screen_is_the_design_question_table(tmp_path):
    """The first screen as the browser lays it out: the design-question table is there with one row per swept toggle
    (the DOM Chromium built), and the screen it fills is text, not blank (the screenshot of a 1280x900 window)."""
    cells = factorial(reps=3) + [cell(100 + i, {}, 2_400_000, kernel="linux-pae") for i in range(3)]
    rs = load(write_set(tmp_path / "set", cells))
    html, _, _ = write_report(rs, str(tmp_path / "out"))
    p = _chromium(tmp_path, html, "1280,900", "--dump-dom")
    dom = p.stdout
    assert '<table id="design">' in dom, p.stderr[-2000:]
    table = dom.split('<table id="design">')[1].split("</table>")[0]
    assert table.count('<tr class="design-row"') == 2  # pmd_prealloc and pgd_init are swept
    assert "PMD preallocation" in table and "pgd_list + pgd_lock vs lockless late PGD init" in table
    # Nothing before the table but the title, one line of metadata and the table's own heading and note.
    assert dom.index('<section id="design">') < dom.index('<section id="kernels">')
    img = _shot(tmp_path, html, "1280,900", "first.png")
    dark = np.all(img < 0.6, axis=2)  # text, borders
    rows_with_ink = np.mean(dark.any(axis=1))
    assert rows_with_ink > 0.35, rows_with_ink  # the screen is filled with text lines, not one heading on white
    # The table's shaded verdict cell is on the first screen (pmd_prealloc=off is 20% slower: red, "worse").
    red = np.all(np.abs(img - np.array([0xFB, 0xEA, 0xEA]) / 255) < 0.02, axis=2)
    assert red.sum() > 500, red.sum()
