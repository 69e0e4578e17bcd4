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


def test_report_renders_in_headless_chromium(tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "no chromium on PATH: scripts/setup.sh (run by every make target) installs Debian's chromium"
    cells = factorial(reps=3) + [cell(100 + i, {}, 2_400_000, kernel="linux-pae") for i in range(3)]
    html, _, _ = write_report(load(write_set(tmp_path / "set", cells)), str(tmp_path / "out"))
    shot = tmp_path / "shot.png"
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
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,2400",
        f"--screenshot={shot}",
        f"file://{html}",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.exists(), p.stderr
    img = mpimg.imread(str(shot))
    assert img.shape[0] >= 2000 and img.shape[1] >= 1200, img.shape
    pixels = img[..., :3].reshape(-1, 3)
    # Not blank: text and plots make many colours, and much of the page is not white.
    assert len(np.unique((pixels * 255).astype(np.uint8), axis=0)) > 200
    assert np.mean(np.all(pixels > 0.98, axis=1)) < 0.97
