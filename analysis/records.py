"""Records (docs/records.md) on the Python side: the one reader of them, for the analysis and the tests.

The guest's records are schema-1 JSON lines (`{"v": 1, "type": ...}`); the loader turns Linux's console lines into the
same records and adds its own `vm` record after each boot's (`mmlab boot --json`). `read_records` parses such a
stream; `boots` splits it into one `Boot` per `vm` record.
"""

from __future__ import annotations

import dataclasses
import json

SCHEMA = 1


def read_records(text: str) -> tuple[list[dict], list[str]]:
    """The schema-1 records of a JSON-lines text, and a message for each line that is not one."""
    records, bad = [], []
    # JSON lines end at "\n" only: str.splitlines() would also split inside a string holding U+0085 or U+2028, which
    # a guest's string (a fuzzer's counters label, a console line) may carry unescaped.
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            bad.append(f"{e}: {line[:200]}")
            continue
        if not isinstance(rec, dict) or rec.get("v") != SCHEMA or not isinstance(rec.get("type"), str):
            bad.append(f"not a schema-{SCHEMA} record: {line[:200]}")
            continue
        records.append(rec)
    return records, bad


@dataclasses.dataclass
class Boot:
    """One boot as `mmlab boot --json` reports it: the guest's records and the loader's `vm` record."""

    vm: dict
    records: list[dict]

    @property
    def status(self) -> str:  # success | failure | timeout | poweroff | crash
        return self.vm["status"]

    @property
    def console(self) -> str:
        return self.vm["console"]

    @property
    def unmet(self) -> list[str]:
        """The list's expectations this boot did not meet (boot tests only)."""
        return self.vm.get("unmet", [])

    def of_type(self, kind: str) -> list[dict]:
        return [r for r in self.records if r.get("type") == kind]

    def one(self, kind: str) -> dict:
        found = self.of_type(kind)
        if len(found) != 1:
            raise AssertionError(f"expected one {kind!r} record, got {len(found)}\n{self.describe()}")
        return found[0]

    def results(self, workload: str | None = None) -> list[dict]:
        """The MMLAB-RESULT lines the programs printed, parsed; only `workload`'s when given."""
        lines = [json.loads(r["line"]) for r in self.of_type("result")]
        return [x for x in lines if workload is None or x.get("workload") == workload]

    def snapshots(self) -> dict[str, dict]:
        """The counter snapshots by label ("init", "before:0:lat_proc", ..., "shutdown")."""
        return {r["label"]: r for r in self.of_type("counters")}

    def window(self, index: int, program: str) -> dict:
        """Counter deltas across /init's run `index` of `program`: the mm counters, and the kernel's as k.NAME."""
        snaps = self.snapshots()
        before, after = snaps[f"before:{index}:{program}"], snaps[f"after:{index}:{program}"]
        d = {k: after["mm"][k] - before["mm"][k] for k in after["mm"]}
        d.update({f"k.{k}": after["kernel"][k] - before["kernel"][k] for k in after["kernel"]})
        return d

    def describe(self) -> str:
        tail = "\n".join(self.console.splitlines()[-40:])
        label = f" [{self.vm['label']}]" if self.vm.get("label") else ""
        return (
            f"status={self.status} exit={self.vm['qemu_exit']} ({self.vm['seconds']:.1f}s){label}\n"
            f"command: {' '.join(self.vm['command'])}\n--- console (tail) ---\n{tail}"
        )


def boots(records: list[dict]) -> list[Boot]:
    """Splits a stream of records into boots: each ends with the loader's `vm` record."""
    out, pending = [], []
    for r in records:
        if r["type"] == "vm":
            out.append(Boot(vm=r, records=pending))
            pending = []
        else:
            pending.append(r)
    if pending:
        raise ValueError(f"{len(pending)} record(s) after the last vm record: the stream was cut short")
    return out
