#!/usr/bin/python3
"""Boot the mmlab kernel (or the Linux PAE anchor) once in QEMU and collect what it says.

A small library for the boot tests and a command line for people:

    /usr/bin/python3 scripts/mmboot.py --initrd build/workloads/test-initrd.cpio -- init=/hello
    /usr/bin/python3 scripts/mmboot.py --linux -- lat_proc -n 20 fork     # /init's arguments

The console (COM1) and the record channel (COM2, JSON lines, docs/records.md)
go to files in a temporary directory; the exit status of QEMU says how the
guest left through isa-debug-exit (33: success, 35: failure).

Linux (docs/linux-anchor.md) boots in the same QEMU machine with the same
initrd; /init (workloads/src/init.c) runs the programs and leaves through
isa-debug-exit with the same codes. Linux has no record channel: its records
are made here from the console lines the same binaries print
(`MMLAB-RESULT ...` -> `result`, `MMLAB-COUNTERS ...` -> `counters`).
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
DEFAULT_LINUX = os.environ.get("MMLAB_LINUX", os.path.join(REPO, "build", "third_party", "linux-pae", "vmlinuz"))
# The Linux command line around /init's arguments: console on COM1, /init
# from the initrd, no boot chatter on the console, reboot (= QEMU exit with
# -no-reboot) instead of hanging if something panics.
LINUX_APPEND = "console=ttyS0 rdinit=/init quiet panic=-1"


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
    smp: int | str = 1,
    machine: str = "pc",
) -> list[str]:
    """`smp`: a vCPU count or a QEMU -smp string ("4,sockets=4,cores=1"); more than one vCPU runs them on
    parallel host threads (MTTCG) unless `icount`, which QEMU runs on one thread (and then repeatably)."""
    vcpus = int(str(smp).split(",")[0])
    cmd = [
        "qemu-system-i386",
        "-machine",
        machine,
        "-accel",
        "tcg,thread=multi" if vcpus > 1 and not icount else "tcg",
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


def linux_append(init_args: list[str]) -> str:
    """The Linux command line that runs /init with `init_args` (programs separated by '::')."""
    return f"{LINUX_APPEND} -- " + " ".join(init_args)


def records_from_console(console: str) -> tuple[list[dict], list[str]]:
    """Linux: the records the mmlab kernel would have sent, made from the console lines the programs print."""
    records, bad = [], []
    for line in console.splitlines():
        line = line.rstrip("\r")
        if line.startswith("MMLAB-RESULT "):
            records.append({"v": SCHEMA, "type": "result", "line": line[len("MMLAB-RESULT ") :]})
        elif line.startswith("MMLAB-COUNTERS "):
            try:
                rec = json.loads(line[len("MMLAB-COUNTERS ") :])
            except json.JSONDecodeError as e:
                bad.append(f"{e}: {line[:200]}")
                continue
            records.append({"v": SCHEMA, "type": "counters", **rec})
    return records, bad


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
    linux: bool = False,
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
    records, bad = records_from_console(console) if linux else parse_records(raw)
    if qemu_err.strip():
        console += "\n--- qemu stderr ---\n" + qemu_err
    return Boot(status, code, console, records, bad, seconds, cmd)


def boot_linux(init_args: list[str], kernel: str = DEFAULT_LINUX, **kwargs) -> Boot:
    """Boots the Linux PAE anchor with /init running `init_args`."""
    return boot(linux_append(init_args), kernel=kernel, linux=True, **kwargs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kernel", help=f"kernel image (default {DEFAULT_KERNEL}, with --linux {DEFAULT_LINUX})")
    p.add_argument("--linux", action="store_true", help="boot the Linux PAE anchor; the words after -- go to /init")
    p.add_argument("--initrd", default=DEFAULT_INITRD)
    p.add_argument("--memory", type=int, default=256, help="guest RAM in MiB")
    p.add_argument("--icount", action="store_true", help="deterministic: -icount shift=0")
    p.add_argument("--smp", default="1", help="vCPUs, or a QEMU -smp value such as 4,sockets=4")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--records", action="store_true", help="print the records too")
    p.add_argument("cmdline", nargs=argparse.REMAINDER, help="the kernel command line (after --)")
    a = p.parse_args()
    words = a.cmdline[1:] if a.cmdline[:1] == ["--"] else a.cmdline
    smp = int(a.smp) if a.smp.isdigit() else a.smp
    if a.linux:
        b = boot_linux(
            words,
            a.kernel or DEFAULT_LINUX,
            initrd=a.initrd,
            timeout=a.timeout,
            memory_mb=a.memory,
            icount=a.icount,
            smp=smp,
        )
    else:
        b = boot(
            " ".join(words),
            a.kernel or DEFAULT_KERNEL,
            a.initrd,
            a.timeout,
            memory_mb=a.memory,
            icount=a.icount,
            smp=smp,
        )
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
