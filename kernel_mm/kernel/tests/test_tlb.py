"""The host's view of the guest's flushes (docs/tlb-model.md): the TLB-model plugin counts every MOV to CR3 and INVLPG
the vCPUs execute, and in every window between two counters records those counts equal the guest's own counters
(boot_tests.toml). And the window marker's bytes are found only where they belong."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import ROOT, cases, check_case, guest_file

from analysis.records import Boot


@pytest.mark.parametrize("case", cases("tlb"))
def test_case(case):
    check_case(globals(), case)


# The guest counters whose sum is every CR3 load the mmlab kernel does, and its count of INVLPGs.
GUEST_CR3_LOADS = ("cr3_switch", "cr3_reload_pdpte", "tlb_flush_all", "cr3_boot")
GUEST_INVLPG = "tlb_flush_page"


def windows(b: Boot) -> list[tuple[str, dict, dict]]:
    """Per counters record: its label, the host's counts and the guest's since the previous record (the first window
    runs from QEMU's start: firmware, boot, AP bring-up)."""
    out, prev_host, prev_mm = [], {}, {}
    for rec in b.of_type("counters"):
        host, mm = rec["host"]["total"], rec["mm"]
        dh = {k: v - prev_host.get(k, 0) for k, v in host.items()}
        dg = {k: v - prev_mm.get(k, 0) for k, v in mm.items()}
        out.append((rec["label"], dh, dg))
        prev_host, prev_mm = host, mm
    return out


def host_and_guest_count_the_same_flushes(case: dict, boots: list[Boot]) -> None:
    """Every window of every boot: host CR3 writes = the guest's CR3 loads of every kind, host INVLPGs = the guest's
    single-page flushes. A difference means a flush the guest does not count."""
    for spec, b in zip(case["boots"], boots):
        where = f"{case['name']} {spec['label']}"
        model = b.one("tlb_model")
        snaps = b.of_type("counters")
        assert model["paired"] and model["checkpoints"] == len(snaps) >= 10, (where, model)
        cr3 = invlpg = 0
        for label, host, guest in windows(b):
            guest_cr3 = sum(guest[k] for k in GUEST_CR3_LOADS)
            assert host["cr3_writes"] == guest_cr3, (
                where,
                label,
                host["cr3_writes"],
                {k: guest[k] for k in GUEST_CR3_LOADS},
            )
            assert host["invlpg"] == guest[GUEST_INVLPG], (where, label, host["invlpg"], guest[GUEST_INVLPG])
            cr3 += guest_cr3
            invlpg += guest[GUEST_INVLPG]
        # Not vacuous: the mix execs (CR3 switches), unmaps (INVLPG) and, on 2 vCPUs, shoots down on the other CPU.
        assert cr3 > 100 and invlpg > 100, (where, cr3, invlpg)
        if spec["vcpus"] > 1:
            last = snaps[-1]
            assert last["mm"]["tlb_shootdown_ipi"] > 0, where
            assert all(v["cr3_writes"] > 2 and v["invlpg"] > 0 for v in last["host"]["vcpus"]), (where, last["host"])


# --- the marker's bytes, only where intended -------------------------------------------------------------------------


def marker_bytes() -> bytes:
    """MMLAB_MARKER_BYTES from its one definition."""
    text = open(os.path.join(ROOT, "workloads", "include", "mmlab_marker.h")).read()
    (values,) = re.findall(r"#define MMLAB_MARKER_BYTES (.*)", text)
    return bytes(int(v, 16) for v in values.split(","))


def cpio_files(path: str) -> dict[str, bytes]:
    """The regular files of a newc archive (or of several, concatenated), by name."""
    data, files, pos = open(path, "rb").read(), {}, 0
    while pos + 110 <= len(data):
        if data[pos : pos + 6] != b"070701":
            pos = (pos + 4) & ~3 if data[pos] == 0 else len(data)  # padding between archives
            continue
        field = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = field[1], field[6], field[11]
        name = data[pos + 110 : pos + 110 + namesize - 1].decode()
        start = (pos + 110 + namesize + 3) & ~3
        if name == "TRAILER!!!":
            pos = start
            continue
        if mode & 0o170000 == 0o100000:
            files[name] = data[start : start + size]
        pos = (start + size + 3) & ~3
    return files


def test_marker_bytes_only_where_intended():
    """The kernel holds the marker once, in window_marker; /init once; nothing else that runs in either guest holds it
    (busybox, every workload, every t_* test, the data files, Debian's Linux image). The Linux image is scanned as it
    is stored (a bzImage: a setup stub and a compressed kernel, which cannot be decompressed here), so a marker inside
    the compressed kernel would go unseen; Linux's own code would have to contain this exact 7-byte NOP to trip it."""
    marker = marker_bytes()
    assert len(marker) == 7 and marker[:3] == b"\x0f\x1f\x80", marker
    kernel = guest_file("kernel", "mmlab-kernel.elf")
    assert open(kernel, "rb").read().count(marker) == 1
    disasm = subprocess.run(
        ["objdump", "-d", "--disassemble=_ZN4kern13window_markerEv", kernel], capture_output=True, text=True, check=True
    ).stdout
    assert " ".join(f"{b:02x}" for b in marker) in disasm, disasm[-600:]
    scanned = 0
    for initrd in ("initrd.cpio", "test-initrd.cpio"):
        files = cpio_files(guest_file("workloads", initrd))
        assert {"init", "bin/busybox", "bin/lat_proc"} <= files.keys(), sorted(files)
        for name, data in files.items():
            assert data.count(marker) == (1 if name == "init" else 0), (initrd, name, data.count(marker))
            scanned += 1
    assert scanned > 30
    linux = guest_file("third_party", "linux-pae", "vmlinuz")
    assert os.path.getsize(linux) > 1 << 20 and open(linux, "rb").read().count(marker) == 0
