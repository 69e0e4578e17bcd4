"""mmboot.py's Linux side and anchor.py's table, on fixed console text and results."""

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent))
import anchor  # noqa: E402
import mmboot  # noqa: E402

CONSOLE = """init: on Linux, 4 arguments\r
MMLAB-COUNTERS {"label":"before:0:lat_proc","vmstat":{"pgfault":100,"nr_free_pages":5000}}\r
hello from a program that is not a record
MMLAB-RESULT {"workload":"lat_proc","mode":"fork","n":2,"median":700000,"samples":[1,2]}\r
[    3.1] a kernel message MMLAB-RESULT {"not":"at the start"}
MMLAB-COUNTERS {"label":"after:0:lat_proc","vmstat":{"pgfault":190,"nr_free_pages":4990}}
MMLAB-COUNTERS {"label": broken
MMLAB-RESULT {"workload":"init","index":0,"status":"ok"}
"""


def test_records_from_console_makes_result_and_counters_records():
    records, bad = mmboot.records_from_console(CONSOLE)
    assert [r["type"] for r in records] == ["counters", "result", "counters", "result"]
    assert all(r["v"] == mmboot.SCHEMA for r in records)
    assert records[0]["label"] == "before:0:lat_proc" and records[0]["vmstat"]["pgfault"] == 100
    assert records[2]["vmstat"]["pgfault"] - records[0]["vmstat"]["pgfault"] == 90
    # The result line is kept verbatim (without the carriage return), as the mmlab kernel forwards it.
    assert json.loads(records[1]["line"])["median"] == 700000
    assert json.loads(records[3]["line"]) == {"workload": "init", "index": 0, "status": "ok"}
    assert len(bad) == 1 and "broken" in bad[0]


def test_linux_append_puts_init_arguments_after_the_separator():
    line = mmboot.linux_append(["lat_proc", "-n", "3", "fork", "::", "/hello"])
    assert line.startswith("console=ttyS0 rdinit=/init ")
    assert line.endswith(" -- lat_proc -n 3 fork :: /hello")


def test_anchor_init_args_separate_programs():
    assert anchor.init_args(["fork", "exec"], 7) == ["lat_proc", "-n", "7", "fork", "::", "lat_proc", "-n", "7", "exec"]


def test_anchor_table_gives_medians_and_ratio_per_row():
    def res(median):
        return {"median": median}

    results = {
        "tcg": {"mmlab": {"fork": res(200_000)}, "linux": {"fork": res(800_000)}},
        "icount": {"mmlab": {"fork": res(80_000)}, "linux": {"fork": res(200_000)}},
    }
    rows = anchor.table(results, ["fork"]).splitlines()
    assert len(rows) == 4
    assert rows[2] == "| TCG, wall time | fork + exit + wait | 200.0 us | 800.0 us | 0.25 |"
    assert rows[3] == "| TCG -icount shift=0 | fork + exit + wait | 80.0 k instr. | 200.0 k instr. | 0.40 |"
