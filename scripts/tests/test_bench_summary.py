"""bench_summary.py on checked-in Google Benchmark JSON fixtures."""

import json
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
import bench_summary  # noqa: E402

FIXTURES = HERE / "fixtures"


def load(name):
    return json.loads((FIXTURES / name).read_text())


def table(md, family):
    """The rows of one family's table as lists of cells (header first)."""
    lines = md.splitlines()
    start = lines.index(f"## {family}")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        if line.startswith("|---"):
            continue
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_key_counters_in_order_and_numbers_formatted():
    md = bench_summary.summarize(load("mm_bench_synthetic.json"))
    rows = table(md, "BM_ExecLike")
    assert rows[0] == [
        "config",
        "time",
        "cr3_reload_pdpte_per_exec",
        "pmd_install_live_per_exec",
        "pgd_pmd_bytes_per_process",
        "pgtable_bytes_per_process",
    ]
    on = dict(zip(rows[0], rows[1]))
    off = dict(zip(rows[0], rows[2]))
    assert on["config"] == "pmd_prealloc=on/kernel_pmd=shared"
    assert on["time"] == "4460 ns"
    assert on["cr3_reload_pdpte_per_exec"] == "0"
    assert off["cr3_reload_pdpte_per_exec"] == "3"
    assert on["pgtable_bytes_per_process"] == "24,608"
    # Counters that are not key counters stay in the JSON only.
    assert "some_other_counter" not in md


def test_repetitions_report_the_median_only():
    rows = table(bench_summary.summarize(load("mm_bench_synthetic.json")), "BM_Fork")
    assert len(rows) == 2  # header + the median row; the mean and the single iteration row are not shown
    row = dict(zip(rows[0], rows[1]))
    assert row["config"] == "pages:16/vmas:1"
    assert row["time"] == "1.896 us"
    assert row["child_exit_us"] == "1.349"


def test_errors_are_shown_not_turned_into_numbers():
    rows = table(bench_summary.summarize(load("mm_bench_synthetic.json")), "BM_Exit")
    assert rows[1][0] == "sparse/free_pgtables=full/pmd_prealloc=on"
    assert rows[1][1] == "error: out of simulated memory"


def test_unavailable_counters_are_reported_with_their_reason():
    md = bench_summary.summarize(load("mm_bench_synthetic.json"))
    assert "- papi: unavailable: PAPI_library_init: no hardware counters (fixture reason)" in md
    assert "- perf_event_hw: unavailable: perf_event_open(PERF_COUNT_HW_INSTRUCTIONS): ENOENT" in md
    assert "papi_" not in md.split("## Context")[0]  # no zero-filled hardware columns


def test_a_real_run_summarizes_with_the_expected_directions():
    md = bench_summary.summarize(load("mm_bench_real_excerpt.json"))
    rows = table(md, "BM_ExecLike")
    col = rows[0].index("cr3_reload_pdpte_per_exec")
    by_config = {r[0]: r for r in rows[1:]}
    assert by_config["pmd_prealloc=on/kernel_pmd=shared"][col] == "0"
    assert by_config["pmd_prealloc=off/kernel_pmd=shared"][col] == "3"
    exit_rows = table(md, "BM_Exit")
    scanned = exit_rows[0].index("pgtable_entries_scanned_per_exit")
    by_config = {r[0]: r for r in exit_rows[1:]}
    assert by_config["sparse/free_pgtables=full/pmd_prealloc=on"][scanned] == "1539"
    assert float(by_config["sparse/free_pgtables=vma/pmd_prealloc=on"][scanned]) < 100


def test_command_line(tmp_path):
    out = tmp_path / "summary.md"
    script = HERE.parent / "bench_summary.py"
    r = subprocess.run([sys.executable, str(script), str(FIXTURES / "mm_bench_synthetic.json"), str(out)])
    assert r.returncode == 0
    assert out.read_text().startswith("# mm_bench summary")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "Usage" in r.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
