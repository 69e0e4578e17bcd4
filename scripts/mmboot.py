#!/usr/bin/python3
"""Boot the mmlab kernel (or any multiboot kernel) once in QEMU and collect what it says.

A small library for the boot tests and a command line for people:

    /usr/bin/python3 scripts/mmboot.py --initrd build/workloads/test-initrd.cpio -- init=/hello

The console (COM1) and the record channel (COM2, JSON lines, docs/records.md)
go to files in a temporary directory; the exit status of QEMU says how the
guest left through isa-debug-exit (33: success, 35: failure).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

EXIT_SUCCESS = 33  # (0x10 << 1) | 1
EXIT_FAILURE = 35  # (0x11 << 1) | 1
SCHEMA = 1

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# ctest passes the build's own paths; by hand, build/ is the default.
DEFAULT_KERNEL = os.environ.get("MMLAB_KERNEL", os.path.join(REPO, "build", "kernel", "mmlab-kernel.elf"))
DEFAULT_INITRD = os.environ.get("MMLAB_INITRD", os.path.join(REPO, "build", "workloads", "test-initrd.cpio"))


@dataclasses.dataclass
class Boot:
    """The outcome of one boot."""

    status: str  # success | failure | timeout | crash
    exit_code: int | None
    console: str
    records: list[dict]
    bad_records: list[str]
    seconds: float
    command: list[str]

    def of_type(self, kind: str) -> list[dict]:
        return [r for r in self.records if r.get("type") == kind]

    def one(self, kind: str) -> dict:
        found = self.of_type(kind)
        if len(found) != 1:
            raise AssertionError(f"expected one {kind!r} record, got {len(found)}\n{self.describe()}")
        return found[0]

    def describe(self) -> str:
        tail = "\n".join(self.console.splitlines()[-40:])
        return f"status={self.status} exit={self.exit_code} ({self.seconds:.1f}s)\ncommand: {' '.join(self.command)}\n--- console (tail) ---\n{tail}"


def qemu_command(
    kernel: str,
    initrd: str | None,
    append: str,
    console_path: str,
    records_path: str,
    memory_mb: int = 256,
    icount: bool = False,
    cpu: str = "max",
    smp: int = 1,
) -> list[str]:
    cmd = [
        "qemu-system-i386",
        "-machine",
        "pc",
        "-accel",
        "tcg",
        "-cpu",
        cpu,
        "-smp",
        str(smp),
        "-m",
        str(memory_mb),
        "-display",
        "none",
        "-nodefaults",
        "-no-reboot",
        "-serial",
        f"file:{console_path}",
        "-serial",
        f"file:{records_path}",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-kernel",
        kernel,
        "-append",
        append,
    ]
    if initrd:
        cmd += ["-initrd", initrd]
    if icount:
        # sleep=off: when the guest idles, virtual time jumps to the next timer
        # deadline instead of following the host's clock.
        cmd += ["-icount", "shift=0,sleep=off"]
    return cmd


def parse_records(text: str) -> tuple[list[dict], list[str]]:
    records, bad = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            bad.append(f"{e}: {line[:200]}")
            continue
        if not isinstance(rec, dict) or rec.get("v") != SCHEMA or "type" not in rec:
            bad.append(f"not a schema-{SCHEMA} record: {line[:200]}")
            continue
        records.append(rec)
    return records, bad


def boot(
    append: str,
    kernel: str = DEFAULT_KERNEL,
    initrd: str | None = DEFAULT_INITRD,
    timeout: float = 60.0,
    **qemu_args,
) -> Boot:
    with tempfile.TemporaryDirectory(prefix="mmboot-") as d:
        console_path = os.path.join(d, "console.log")
        records_path = os.path.join(d, "records.jsonl")
        cmd = qemu_command(kernel, initrd, append, console_path, records_path, **qemu_args)
        start = time.monotonic()
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
            code = proc.returncode
            status = {EXIT_SUCCESS: "success", EXIT_FAILURE: "failure"}.get(code, "crash")
            qemu_err = proc.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired:
            code, status, qemu_err = None, "timeout", ""
        seconds = time.monotonic() - start
        console = open(console_path, errors="replace").read() if os.path.exists(console_path) else ""
        raw = open(records_path, errors="replace").read() if os.path.exists(records_path) else ""
    if qemu_err.strip():
        console += "\n--- qemu stderr ---\n" + qemu_err
    records, bad = parse_records(raw)
    return Boot(status, code, console, records, bad, seconds, cmd)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kernel", default=DEFAULT_KERNEL)
    p.add_argument("--initrd", default=DEFAULT_INITRD)
    p.add_argument("--memory", type=int, default=256, help="guest RAM in MiB")
    p.add_argument("--icount", action="store_true", help="deterministic: -icount shift=0")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--records", action="store_true", help="print the records too")
    p.add_argument("cmdline", nargs=argparse.REMAINDER, help="the kernel command line (after --)")
    a = p.parse_args()
    words = a.cmdline[1:] if a.cmdline[:1] == ["--"] else a.cmdline
    b = boot(" ".join(words), a.kernel, a.initrd, a.timeout, memory_mb=a.memory, icount=a.icount)
    sys.stdout.write(b.console)
    if a.records:
        for r in b.records:
            print(json.dumps(r))
    for line in b.bad_records:
        print(f"mmboot: malformed record: {line}", file=sys.stderr)
    print(f"mmboot: {b.status} (exit {b.exit_code}) in {b.seconds:.2f}s", file=sys.stderr)
    return 0 if b.status == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
