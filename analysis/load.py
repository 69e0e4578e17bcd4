"""Reading a result set (docs/records.md, "Cell records"): the manifest and every valid cell.

Malformed lines are skipped, never silently: the count and the first reasons go into the report.
"""

from __future__ import annotations

import dataclasses
import json
import os

CELL_SCHEMA = 1
STATUSES = ("ok", "failed", "timeout", "panic")
# What every cell record must hold, with its type.
REQUIRED = {
    "schema": int,
    "id": str,
    "key": str,
    "kernel": str,
    "toggles": dict,
    "workload": dict,
    "vcpus": int,
    "rep": int,
    "accel": str,
    "time_unit": str,
    "status": str,
    "guest_counters": (dict, type(None)),
    "host_counters": dict,
}


class ResultSetError(Exception):
    """The directory is not a result set at all (no manifest, no cells file)."""


@dataclasses.dataclass
class ResultSet:
    path: str
    manifest: dict
    cells: list[dict]
    skipped: int  # lines that were not valid cell records
    skip_reasons: list[str]  # the first few, for the report

    @property
    def name(self) -> str:
        return self.manifest.get("name") or os.path.basename(os.path.normpath(self.path))

    @property
    def toggle_table(self) -> list[dict]:
        """The toggle table the set was run with (kernel_mm/mm/include/mm/toggles.h, via its manifest):
        [{"key", "values", "default", "title", "question"}, ...] in the kernel's order."""
        return self.manifest["toggle_table"]

    @property
    def toggles(self) -> dict[str, tuple[str, str]]:
        """Each toggle's values, default first, in the table's order."""
        return {t["key"]: tuple(t["values"]) for t in self.toggle_table}

    @property
    def defaults(self) -> dict[str, str]:
        return {t["key"]: t["default"] for t in self.toggle_table}


def check_cell(cell: object) -> str | None:
    """Why `cell` is not a valid schema-1 cell record, or None."""
    if not isinstance(cell, dict):
        return "not a JSON object"
    for key, kind in REQUIRED.items():
        if key not in cell:
            return f"missing '{key}'"
        if not isinstance(cell[key], kind) or isinstance(cell[key], bool) and kind is int:
            return f"'{key}' has the wrong type ({type(cell[key]).__name__})"
    if cell["schema"] != CELL_SCHEMA:
        return f"schema {cell['schema']}, this analysis reads {CELL_SCHEMA}"
    if cell["status"] not in STATUSES:
        return f"unknown status '{cell['status']}'"
    if "name" not in cell["workload"]:
        return "workload without a name"
    if cell["status"] == "ok" and not isinstance(cell.get("metrics"), (dict, type(None))):
        return "'metrics' is not an object"
    return None


def load(path: str, max_reasons: int = 5) -> ResultSet:
    manifest_path = os.path.join(path, "manifest.json")
    cells_path = os.path.join(path, "cells.jsonl")
    if not os.path.exists(cells_path):
        raise ResultSetError(f"{path} is not a result set: no cells.jsonl")
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise ResultSetError(f"{path} is not a result set: no manifest.json") from None
    except json.JSONDecodeError as e:
        raise ResultSetError(f"{manifest_path} is not valid JSON: {e}") from None
    table = manifest.get("toggle_table") if isinstance(manifest, dict) else None
    if not isinstance(table, list) or not all(
        isinstance(t, dict) and isinstance(t.get("key"), str) and isinstance(t.get("values"), list) for t in table
    ):
        raise ResultSetError(
            f"{manifest_path} has no toggle table (sets written before 2026-12 lack it): run the matrix again, or add "
            'the table `build/bin/mmlab toggles --json` prints as its "toggle_table"'
        )
    cells, skipped, reasons = [], 0, []
    with open(cells_path, errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                cell = json.loads(line)
                why = check_cell(cell)
            except json.JSONDecodeError as e:
                why = f"not JSON ({e.msg} at column {e.colno})"
            if why:
                skipped += 1
                if len(reasons) < max_reasons:
                    reasons.append(f"line {number}: {why}")
                continue
            cells.append(cell)
    return ResultSet(path, manifest, cells, skipped, reasons)
