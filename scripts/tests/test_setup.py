"""Every program the build and the suites run comes from a package scripts/setup.sh installs.

A test that works only because someone installed its tool by hand (or through another make target) passes on a
developer's machine and fails on a fresh one: that is how a Chromium test broke `make test` for every newcomer
(issue 14). Here each tool the suites run is traced to the Debian package that owns it on this machine, and that
package must be one setup.sh lists or one they depend on. A new tool in a test goes into TOOLS; its package, if new,
into setup.sh (docs/testing.md lists them and why).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETUP = os.path.join(ROOT, "scripts", "setup.sh")

# tool -> what runs it
TOOLS = {
    "gcc": "the hosted and freestanding builds, the i386 guest programs (-m32 -static)",
    "g++": "the hosted and freestanding builds",
    "cmake": "configure",
    "ninja": "build",
    "clang++": "make tsa (-Wthread-safety), make fuzz-smoke (libFuzzer)",
    "nm": "scripts/check_freestanding.sh",
    "objdump": "scripts/check_freestanding.sh",
    "c++filt": "scripts/check_freestanding.sh",
    "file": "scripts/check_freestanding.sh, fetch_busybox.sh, fetch_linux_pae.sh",
    "cpio": "the parser tests read an archive GNU cpio wrote",
    "qemu-system-i386": "every boot test and loader test",
    "bochs": "the Bochs boot tests (loader/src/bochs.cc)",
    "bochs-bin": "the Bochs boot tests (/usr/bin/bochs runs it)",
    "grub-mkrescue": "the Bochs boot image (loader/src/bochs.cc)",
    "xorriso": "grub-mkrescue writes the ISO with it",
    "mformat": "grub-mkrescue (mtools)",
    "chromium": "analysis/tests/browser_test.py",
    "clang-format": "make lint",
    "black": "make lint",
    "slurmctld": "loader/slurm/test_slurm.sh",
    "slurmd": "loader/slurm/test_slurm.sh",
    "sbatch": "loader/slurm/submit.sh",
    "sinfo": "loader/slurm/test_slurm.sh",
    "munged": "loader/slurm/test_slurm.sh",
}
# Python modules the suites import, by a file of theirs.
MODULES = ["pytest", "numpy", "scipy", "matplotlib", "jinja2"]


def listed() -> list[str]:
    out = subprocess.run(["bash", SETUP, "--list"], capture_output=True, text=True, check=True).stdout
    return out.split()


@functools.lru_cache(maxsize=1)
def installable() -> frozenset[str]:
    """The listed packages and everything they depend on (Depends and Pre-Depends, recursively)."""
    out = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks"]
        + ["--no-replaces", "--no-enhances", *listed()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return frozenset(line.split(":")[0] for line in out.splitlines() if line and not line.startswith(" "))


def owner(path: str) -> str:
    """The installed package that owns `path` (its real file), without the architecture."""
    real = os.path.realpath(path)
    # Merged /usr: dpkg knows some files by their old name (/bin/cpio is /usr/bin/cpio).
    candidates = [real, path] + [p[len("/usr") :] for p in (real, path) if p.startswith("/usr/")]
    for candidate in candidates:
        p = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout.split(":")[0].split(",")[0].strip()
    raise AssertionError(f"{path} ({real}) belongs to no installed package")


def test_setup_lists_each_package_once():
    names = listed()
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert "chromium" in names and "qemu-system-x86" in names


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_every_tool_the_suites_run_comes_from_setup(tool):
    path = shutil.which(tool)
    assert path, f"{tool} ({TOOLS[tool]}) is not on PATH after scripts/setup.sh"
    package = owner(path)
    assert package in installable(), (
        f"{tool} ({TOOLS[tool]}) comes from Debian package {package}, which scripts/setup.sh neither installs nor "
        "pulls in: add it to PACKAGES there"
    )


@pytest.mark.parametrize("module", MODULES)
def test_every_python_module_the_suites_import_comes_from_setup(module):
    m = __import__(module)
    package = owner(m.__file__)
    assert package in installable(), f"Python module {module} comes from {package}, which setup.sh does not install"


def test_a_tool_from_an_unlisted_package_is_caught():
    """The check can fail: git (here, since the checkout needs it) is not something setup.sh installs."""
    path = shutil.which("git")
    assert path
    assert owner(path) == "git" and "git" not in installable()
