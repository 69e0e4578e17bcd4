"""The loader end to end: build/bin/mmlab runs small matrices in QEMU (TCG here) and writes result sets.

ctest runs each case on its own (loader/tests/CMakeLists.txt, label `loader`).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

MMLAB = os.environ.get("MMLAB_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin", "mmlab"))
BUILD = os.environ.get("MMLAB_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))


def mmlab(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([MMLAB, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def write(tmp_path, text: str, name: str = "m.toml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def cells(out) -> list[dict]:
    with open(os.path.join(out, "cells.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def manifest(out) -> dict:
    with open(os.path.join(out, "manifest.json")) as f:
        return json.load(f)


FOUR = """
name = "four"
timeout_s = 120
[toggles]
"mm.pmd_prealloc" = ["on", "off"]
[[workload]]
name = "exec_layout"
args = ["-n", "3", "-w", "0"]
[[workload]]
name = "lat_proc"
args = ["-n", "3", "fork"]
"""


def check_host_counters(h: dict) -> None:
    """Every counter is a value or says why it is unavailable; a value is never a stand-in zero."""
    for name in (
        "dtlb_load_misses_guest",
        "dtlb_store_misses_guest",
        "itlb_load_misses_guest",
        "dtlb_load_walks_guest",
        "dtlb_store_walks_guest",
        "itlb_walks_guest",
        "task_clock_ns",
        "context_switches",
        "page_faults",
        "cycles_guest",
        "cycles_host",
        "instructions_guest",
        "instructions_host",
        "kvm_exits",
        "papi",
    ):
        entry = h[name]
        assert ("value" in entry) != ("unavailable" in entry), (name, entry)
        if "unavailable" in entry:
            assert entry["unavailable"].strip(), (name, entry)
    assert h["task_clock_ns"]["value"] > 0 and h["page_faults"]["value"] > 0, h
    if "under TCG" in h["kvm_exits"].get("unavailable", ""):
        # No guest mode under TCG: the CPU's TLB events would count QEMU, so they are not taken (the model is).
        for name in ("dtlb_load_misses_guest", "itlb_walks_guest"):
            assert "QEMU's own accesses" in h[name]["unavailable"], h[name]


def test_every_shipped_matrix_expands():
    """workloads/matrices/*.toml: each expands without error; smp.toml sweeps 1, 2 and 4 vCPUs over 8 toggle
    combinations, 3 workloads and 2 repetitions."""
    folder = os.path.join(os.path.dirname(__file__), "..", "..", "workloads", "matrices")
    counts = {}
    for name in sorted(os.listdir(folder)):
        r = mmlab("list", os.path.join(folder, name))
        assert r.returncode == 0, (name, r.stderr)
        counts[name] = r.stdout.splitlines()
    assert {"default.toml", "smp.toml", "reliability.toml"} <= set(counts), counts.keys()
    smp = counts["smp.toml"]
    assert len(smp) == 8 * 3 * 3 * 2, len(smp)
    assert {line.split(" vcpus=")[1].split()[0] for line in smp} == {"1", "2", "4"}
    # reliability.toml: 64 combinations x (the fuzzer, fault injection), each with the seed of its combination.
    rel = counts["reliability.toml"]
    assert len(rel) == 64 * 2, len(rel)
    fuzz_seeds = sorted(int(line.split(" arg=-s arg=")[1].split()[0]) for line in rel if "workload=sysfuzz" in line)
    fi_seeds = sorted(
        int(line.split("kernel_arg=mm.fail_alloc_seed=")[1].split()[0]) for line in rel if "fail_alloc" in line
    )
    assert fuzz_seeds == fi_seeds == list(range(1, 65))


def test_four_cells_end_to_end(tmp_path):
    out = tmp_path / "r"
    p = mmlab("run", write(tmp_path, FOUR), "-o", out, "-j", "2")
    assert p.returncode == 0, p.stderr
    assert "[4/4] 4 ok, 0 not ok" in p.stderr and "ETA" in p.stderr
    got = cells(out)
    assert len(got) == 4 and len({c["key"] for c in got}) == 4
    m = manifest(out)
    assert m["cells_in_matrix"] == 4 and m["cells_this_run"] == {"ok": 4, "not_ok": 0, "not_run": 0}
    assert m["interrupted"] is False and len(m["git"]["revision"]) == 40
    assert len(m["kernel"]["mmlab"]["build_id"]) == 40 and len(m["kernel"]["initrd"]["fnv1a64"]) == 16
    assert m["qemu"].startswith("QEMU emulator version") and m["host"]["cpus"] >= 1
    # The KVM probe: KVM only if a PAE guest really ran under it; otherwise TCG and why.
    assert m["accel"]["used"] in ("kvm", "tcg") and m["accel"]["why"]
    if m["accel"]["used"] == "tcg":
        assert "using TCG" in m["accel"]["why"] and "KVM" in m["accel"]["why"] or "kvm" in m["accel"]["why"]
    assert (out / "matrix.toml").read_text() == FOUR
    # The toggle table travels with the set (the analysis reads it there), as `mmlab toggles --json` prints it.
    table = json.loads(mmlab("toggles", "--json").stdout)
    assert m["toggle_table"] == table and [t["key"] for t in table][0] == "mm.pmd_prealloc"
    assert all(t["default"] == t["values"][0] and t["title"] and t["question"] for t in table), table
    for c in got:
        assert c["status"] == "ok", c.get("reason")
        assert c["kernel"] == "mmlab" and c["vcpus"] == 1 and c["rep"] == 0 and c["time_unit"] == "ns"
        assert c["toggles"]["mm.pmd_prealloc"] in ("on", "off") and len(c["toggles"]) == 6
        assert os.path.getsize(out / c["console"]) > 0
        assert c["metrics"]["workload"] == c["workload"]["name"]
        assert c["leak"]["leak_free"] is True and c["duration_s"] > 0
        check_host_counters(c["host_counters"])
        d = c["guest_counters"]["mm"]
        if c["workload"]["name"] == "exec_layout":  # the seed effect, through the loader (docs/workloads.md)
            assert d["cr3_reload_pdpte"] == (2 + 3 * 3 if c["toggles"]["mm.pmd_prealloc"] == "off" else 0), d


MANY = """
name = "many"
repetitions = 4
timeout_s = 120
[toggles]
"mm.pgd_init" = ["locked", "lockless"]
[[workload]]
name = "lat_proc"
args = ["-n", "60", "exec"]
"""


# Two cells: a seed per toggle combination, several programs in one boot from the test initrd, fault injection.
SEEDED = """
name = "seeded"
accel = "tcg"
deterministic = true
timeout_s = 240
[toggles]
"mm.ptlock" = ["split", "mm"]
[[workload]]
name = "fault_injection"
initrd = "tests"
programs = [["/tests/t_fork"], ["/bin/page_fault", "-s", "64", "-i", "2"]]
kernel_args = ["mm.fail_alloc=10", "mm.fail_alloc_seed={seed}"]
expect = "survive"
"""


def test_seeded_cells_run_several_programs_in_one_boot(tmp_path):
    out = tmp_path / "r"
    matrix = write(tmp_path, SEEDED)
    p = mmlab("run", matrix, "-o", out, "-j", "2")
    assert p.returncode == 0, p.stderr
    got = cells(out)
    assert len(got) == 2 and len({c["key"] for c in got}) == 2
    for c in got:
        # mm.ptlock is toggle 4: its second value is bit 4 of the combination, whose seed is the number + 1.
        seed = (16 if c["toggles"]["mm.ptlock"] == "mm" else 0) + 1
        assert c["kernel_args"] == ["mm.fail_alloc=10", f"mm.fail_alloc_seed={seed}"], c["kernel_args"]
        assert f"kernel_arg=mm.fail_alloc_seed={seed} " in c["key"]
        assert c["guest_boot"]["fail_alloc"]["seed"] == seed and c["guest_boot"]["fail_alloc"]["one_in"] == 10
        assert c["workload"]["args"] == ["/tests/t_fork", "::", "/bin/page_fault", "-s", "64", "-i", "2"]
        assert c["workload"]["initrd"] == "tests" and c["workload"]["expect"] == "survive"
        assert c["status"] == "ok" and c["survived"] is True and "survival" not in c, c.get("reason")
        assert [x["program"] for x in c["init_all"]] == ["/tests/t_fork", "/bin/page_fault"]
        assert c["shutdown_counters"]["mm"]["alloc_fail_injected"] > 0
        # The window spans both programs: at least /init's fork and wait for each (a fork may fail under injection).
        assert c["guest_counters"]["kernel"]["syscalls"] >= 4
    # The keys carry the seeds, so a resumed run finds both cells done.
    again = mmlab("run", matrix, "-o", out, "--resume")
    assert again.returncode == 0 and "0 cells" in again.stderr and len(cells(out)) == 2, again.stderr


def test_kill_and_resume_runs_every_cell_once(tmp_path):
    out = tmp_path / "r"
    m = write(tmp_path, MANY)
    proc = subprocess.Popen([MMLAB, "run", m, "-o", str(out), "-j", "1"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # stop it after two cells
        if os.path.exists(out / "cells.jsonl") and len(cells(out)) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    first = cells(out)
    assert 2 <= len(first) < 8, err
    assert manifest(out)["interrupted"] is True and manifest(out)["interrupted_by"] == "SIGTERM"
    assert not subprocess.run(["pgrep", "-f", str(out)], capture_output=True).stdout, "a VM outlived the loader"
    again = mmlab("run", m, "-o", out, "-j", "1")
    assert again.returncode == 2 and "--resume" in again.stderr  # never appends to a set by accident
    resumed = mmlab("run", m, "-o", out, "-j", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(first)} already done" in resumed.stderr
    keys = [c["key"] for c in cells(out)]
    assert len(keys) == 8 and len(set(keys)) == 8, keys
    assert manifest(out)["interrupted"] is False
    other = write(tmp_path, MANY.replace("60", "61"), "other.toml")
    changed = mmlab("run", other, "-o", out, "--resume")
    assert changed.returncode == 2 and "another matrix" in changed.stderr


def test_panic_and_hang_cells_are_recorded_and_the_run_goes_on(tmp_path):
    common = '[[workload]]\nname = "lat_proc"\nargs = ["-n", "3", "fork"]\n'
    # The hang cells need time to boot and print before the deadline, also on a
    # loaded host (3 s failed with the load average at 15).
    for debug, status, timeout in (("panic", "panic", 60), ("hang", "timeout", 8)):
        out = tmp_path / debug
        text = f'name = "{debug}"\ntimeout_s = {timeout}\nrepetitions = 2\nkernel_args = ["mmlab.debug={debug}"]\n'
        p = mmlab("run", write(tmp_path, text + common, f"{debug}.toml"), "-o", out, "-j", "2")
        assert p.returncode == 1, p.stderr
        got = cells(out)
        assert [c["status"] for c in got] == [status, status], got
        for c in got:
            assert c["reason"] and c["console_tail"], c
            if debug == "panic":
                assert c["panic"]["message"] == "mmlab.debug=panic: a panic on purpose"
                assert "PANIC" in c["console_tail"]
            else:
                assert c["reason"] == f"killed at the {timeout} s deadline" and c["qemu_exit"] == -1
                assert "never ending, on purpose" in c["console_tail"]
        assert manifest(out)["cells_this_run"] == {"ok": 0, "not_ok": 2, "not_run": 0}


def test_a_malformed_matrix_is_a_usage_error_with_file_and_line(tmp_path):
    bad = write(
        tmp_path, 'name = "x"\n[toggles]\n"mm.ptlock" = ["split", "sometimes"]\n[[workload]]\nname = "lat_proc"\n'
    )
    p = mmlab("run", bad, "-o", tmp_path / "r")
    assert p.returncode == 2
    assert f"{bad}:3: toggles: unknown value 'sometimes' for mm.ptlock (expected split or mm)" in p.stderr
    assert not (tmp_path / "r").exists(), "nothing may run for a bad matrix"
    p = mmlab("run", write(tmp_path, "[[workload]\n", "t.toml"), "-o", tmp_path / "r")
    assert p.returncode == 2 and "t.toml:1: malformed TOML" in p.stderr
    assert mmlab("run").returncode == 2
    assert mmlab("run", bad, "--shard", "3/2").returncode == 2


def test_an_unwritable_output_directory_fails_before_any_vm(tmp_path):
    good = write(tmp_path, FOUR)
    p = mmlab("run", good, "-o", "/proc/mmlab-nope")
    assert p.returncode == 2 and "/proc/mmlab-nope" in p.stderr and "[1/" not in p.stderr


class Tmpfs:
    """A small tmpfs at DIR for the length of a `with`: a disk that fills for real."""

    def __init__(self, path, mib: int):
        self.path, self.mib = str(path), mib

    def __enter__(self):
        os.makedirs(self.path, exist_ok=True)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.mib}m", "tmpfs", self.path], capture_output=True)
        assert p.returncode == 0, f"this test mounts a tmpfs and needs root: {p.stderr!r}"
        return self

    def __exit__(self, *exc):
        subprocess.run(["umount", "-l", self.path], check=True)


def test_a_full_disk_keeps_every_whole_cell_and_resume_finishes(tmp_path):
    m = write(tmp_path, MANY)
    with Tmpfs(tmp_path / "small", 8):  # too small to start: nothing runs
        p = mmlab("run", m, "-o", tmp_path / "small" / "r")
        assert p.returncode == 2 and "MiB free; a run needs at least 64 MiB" in p.stderr and "[1/" not in p.stderr
    disk = tmp_path / "disk"
    out = disk / "r"
    with Tmpfs(disk, 80):
        proc = subprocess.Popen([MMLAB, "run", m, "-o", str(out), "-j", "1"], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # fill the disk after two cells
            if os.path.exists(out / "cells.jsonl") and len(cells(out)) >= 2:
                break
            time.sleep(0.05)
        filler = disk / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M"], capture_output=True)
        _, err = proc.communicate(timeout=120)
        # Stopped before recording a cell whose output the full disk may have cut short,
        # or, if the disk filled between that check and the append, at the append.
        assert proc.returncode == 2, err
        assert "MiB free; c0" in err or "No space left on device" in err or "disk full" in err, err
        assert "rerun with --resume" in err, err
        text = (out / "cells.jsonl").read_text()
        assert text.endswith("\n"), "a half line was left behind"
        first = cells(out)  # every line parses
        assert 2 <= len(first) < 8, err
        assert not subprocess.run(["pgrep", "-f", str(out)], capture_output=True).stdout, "a VM outlived the loader"
        filler.unlink()
        resumed = mmlab("run", m, "-o", out, "-j", "2", "--resume")
        assert resumed.returncode == 0, resumed.stderr
        assert f"{len(first)} already done" in resumed.stderr and "skipped" not in resumed.stderr, resumed.stderr
        keys = [c["key"] for c in cells(out)]
        assert len(keys) == 8 and len(set(keys)) == 8, keys
        bad = [(c["id"], c["status"], c.get("reason")) for c in cells(out) if c["status"] != "ok"]
        assert not bad, bad


def test_a_users_binary_runs_in_the_guest(tmp_path):
    binary = os.path.join(BUILD, "workloads", "bin", "t_fork")
    out = tmp_path / "r"
    p = mmlab("run", write(tmp_path, f'name = "bin"\n[[workload]]\nbinary = "{binary}"\n'), "-o", out)
    assert p.returncode == 0, p.stderr
    (c,) = cells(out)
    assert c["status"] == "ok" and c["workload"] == {"name": "t_fork", "args": [], "binary": binary}, c
    assert c["init"]["program"] == "/bin/t_fork" and c["metrics"] is None  # it prints PASS lines, not a result
    assert c["guest_counters"]["kernel"]["forks"] >= 20
    assert "PASS" in (out / c["console"]).read_text()


def test_linux_anchor_cells_in_the_same_matrix(tmp_path):
    out = tmp_path / "r"
    text = 'name = "anchor"\nkernel = ["mmlab", "linux-pae"]\ndeterministic = true\ntimeout_s = 240\n'
    text += '[toggles]\n"mm.ptlock" = ["split", "mm"]\n[[workload]]\nname = "lat_proc"\nargs = ["-n", "3", "fork"]\n'
    p = mmlab("run", write(tmp_path, text), "-o", out, "-j", "2")
    assert p.returncode == 0, p.stderr
    got = cells(out)
    kernels = sorted(c["kernel"] for c in got)
    assert kernels == ["linux-pae", "mmlab", "mmlab"], kernels  # toggles do not multiply Linux cells
    m = manifest(out)
    assert m["accel"]["used"] == "tcg" and m["accel"]["deterministic"] is True
    assert m["kernel"]["linux-pae"]["version"].startswith("6.1")
    for c in got:
        assert c["status"] == "ok" and c["time_unit"] == "guest_instructions", c.get("reason")
        if c["kernel"] == "linux-pae":
            assert c["toggles"] == {} and "leak" not in c
            assert c["guest_counters"]["vmstat"]["pgfault"] > 0 and c["guest_counters"]["self_stat"]["cminflt"] > 0
        else:
            assert c["guest_counters"]["mm"]["pgd_alloc"] >= 6


def test_doctor_says_yes_or_no_with_reasons():
    p = mmlab("doctor")
    assert p.returncode == 0, p.stderr
    rows = {line[5:41].strip(): (line[:4].strip(), line[42:].strip()) for line in p.stdout.splitlines()}
    for what in (
        "qemu-system-i386",
        "KVM for a 32-bit PAE guest",
        "perf_event software events",
        "perf_event cycles, guest only",
        "kvm:kvm_exit tracepoint",
        "PAPI hardware counters",
        "perf_event dTLB misses, guest only",
        "guest page walks (libpfm4 events)",
        "TLB-model plugin under TCG",
    ):
        answer, reason = rows[what]
        assert answer in ("yes", "no") and len(reason) > 5, (what, answer, reason)
    # The lab's QEMU (Debian 12's 7.2) loads TCG plugins.
    assert rows["TLB-model plugin under TCG"][0] == "yes", rows["TLB-model plugin under TCG"]


def test_merge_takes_every_cell_once_and_refuses_what_does_not_belong(tmp_path):
    m = write(tmp_path, FOUR)
    shards = []
    for i in range(2):
        out = tmp_path / f"shard-{i}"
        p = mmlab("run", m, "-o", out, "--shard", f"{i}/2", "--quiet")
        assert p.returncode == 0, p.stderr
        shards.append(out)
    assert sorted(len(cells(s)) for s in shards) == [2, 2]
    p = mmlab("merge", tmp_path / "merged", *shards)
    assert p.returncode == 0, p.stderr
    merged = cells(tmp_path / "merged")
    assert len({c["key"] for c in merged}) == len(merged) == 4
    assert all((tmp_path / "merged" / c["console"]).exists() for c in merged)
    assert len(manifest(tmp_path / "merged")["merged_from"]) == 2
    p = mmlab("merge", tmp_path / "twice", shards[0], shards[0])
    assert p.returncode == 2 and "overlapping shards" in p.stderr and not (tmp_path / "twice").exists()
    # Another kernel build: refused unless forced.
    man = manifest(shards[1])
    man["kernel"]["mmlab"]["build_id"] = "0" * 40
    (shards[1] / "manifest.json").write_text(json.dumps(man))
    p = mmlab("merge", tmp_path / "other", *shards)
    assert p.returncode == 2 and "differ in kernel build id" in p.stderr
    p = mmlab("merge", tmp_path / "forced", *shards, "--force")
    assert p.returncode == 0 and manifest(tmp_path / "forced")["merge_forced"] is True


def boot_json(*args, timeout=120) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """`mmlab boot --accel tcg --json ARGS`: the process and its records (the vm record last)."""
    p = mmlab("boot", "--accel", "tcg", "--json", *args, timeout=timeout)
    return p, [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def test_boot_runs_one_guest_and_says_what_went_wrong(tmp_path):
    """mmlab boot, the one launcher the tests use: records and a vm record, extra files, every outcome as its own
    exit status, and clear usage errors."""
    hello = os.path.join(BUILD, "workloads", "bin", "hello")
    # A repeatable option right before "--" takes one word: the rest go to init.
    p, recs = boot_json("--kernel-arg", "mm.fail_alloc=100000", "--", "/hello", "extra")
    append = recs[-1]["command"][recs[-1]["command"].index("-append") + 1]
    assert p.returncode == 0 and append.endswith("mm.fail_alloc=100000 -- /hello extra"), (p.stderr, append)
    p, recs = boot_json("--add", f"/opt/again={hello}", "--toggle", "mm.ptlock=mm", "--init", "/opt/again")
    assert p.returncode == 0, p.stderr
    vm = recs[-1]
    assert vm["type"] == "vm" and vm["status"] == "success" and vm["qemu_exit"] == 33, vm
    assert "hello from a static i386 binary" in vm["console"]
    (boot,) = [r for r in recs if r["type"] == "boot"]
    assert boot["init"] == "/opt/again" and boot["toggles"]["mm.ptlock"] == "mm", boot
    # A guest that never ends is killed at the deadline (exit 3); one that panics reports failure (exit 1); one
    # without isa-debug-exit powers off (exit 0).
    p, recs = boot_json("--kernel-arg", "mmlab.debug=hang", "--init", "/hello", "--timeout", "5")
    assert p.returncode == 3 and recs[-1]["status"] == "timeout", (p.returncode, recs[-1]["status"])
    p, recs = boot_json("--kernel-arg", "mmlab.debug=panic", "--init", "/hello")
    assert p.returncode == 1 and recs[-1]["status"] == "failure" and any(r["type"] == "panic" for r in recs)
    p, recs = boot_json("--no-debug-exit", "--init", "/hello")
    assert p.returncode == 0 and recs[-1]["status"] == "poweroff", recs[-1]
    # Usage errors name the problem, before any VM starts.
    for args, says in (
        (["--toggle", "mm.bogus=1"], "unknown toggle 'mm.bogus'"),
        (["--toggle", "mm.ptlock=sometimes"], "unknown value 'sometimes' for mm.ptlock"),
        (["--add", "relative=x"], "expected GUEST_PATH=HOST_FILE"),
        (["--kernel", "linux-pae", "--init", "/hello"], "Linux always runs /init"),
        (["--test", "no_such_case"], "no such case"),
        (["--test", "hello", "--vcpus", "2"], "--test takes the boot from the list"),
        (["--vcpus", "3", "--sockets", "2"], "3 vCPUs do not divide into 2 sockets"),
        (["--", 'say "hi"'], "cannot carry a double quote"),
    ):
        p = mmlab("boot", "--accel", "tcg", *args)
        assert p.returncode == 2 and says in p.stderr, (args, p.returncode, p.stderr)


def test_bochs_boots_gives_a_verdict_and_is_killed_cleanly(tmp_path):
    """mmlab boot --emulator bochs (docs/testing.md, "Bochs"): the verdict is the kernel's exit record (pass, and a
    panic's fail), a guest that never ends is killed at the deadline with nothing left behind (no Bochs process, no
    scratch directory), and what Bochs cannot do is refused before anything starts."""
    env = dict(os.environ, TMPDIR=str(tmp_path))

    def bochs(*args, timeout=400):
        p = subprocess.run(
            [MMLAB, "boot", "--emulator", "bochs", "--json", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        return p, [json.loads(line) for line in p.stdout.splitlines() if line.strip()]

    p, recs = bochs("--toggle", "mm.pmd_prealloc=off", "--init", "/hello", "--", "two words")
    vm = recs[-1]
    assert p.returncode == 0 and vm["status"] == "success" and vm["emulator"] == "bochs", (p.stderr, vm)
    assert vm["accel"] == "bochs" and vm["qemu_exit"] == 33 and vm["command"][0] == "bochs", vm
    assert recs[-2]["type"] == "exit" and recs[-2]["verdict"] == "pass", recs[-2]
    (boot,) = [r for r in recs if r["type"] == "boot"]
    assert boot["toggles"]["mm.pmd_prealloc"] == "off" and boot["cmdline"].endswith('-- "two words"'), boot
    assert "hello from a static i386 binary" in vm["console"]
    p, recs = bochs("--kernel-arg", "mmlab.debug=panic", "--init", "/hello")
    assert p.returncode == 1 and recs[-1]["status"] == "failure" and recs[-2]["verdict"] == "fail", recs[-1]
    assert any(r["type"] == "panic" for r in recs)
    p, recs = bochs("--kernel-arg", "mmlab.debug=hang", "--init", "/hello", "--timeout", "20")
    assert p.returncode == 3 and recs[-1]["status"] == "timeout" and recs[-1]["emulator_exit"] == -1, recs[-1]
    assert not [r for r in recs if r["type"] == "exit"]
    assert os.listdir(tmp_path) == [], os.listdir(tmp_path)  # the ISO and the bochsrc went with the boot
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert not left.strip(), left
    # A matrix cell under Bochs: recorded with its emulator, kept apart from QEMU's by key and accel.
    out = tmp_path / "r"
    matrix = write(
        tmp_path, 'name = "bochs"\nemulator = "bochs"\n[[workload]]\nname = "lat_proc"\nargs = ["-n", "2", "exec"]\n'
    )
    p = mmlab("run", matrix, "-o", out)
    assert p.returncode == 0, p.stderr
    (c,) = cells(out)
    assert c["status"] == "ok" and c["emulator"] == "bochs" and c["accel"] == "bochs", c
    assert c["key"].startswith("emulator=bochs kernel=mmlab") and c["qemu_exit"] == 33, c
    assert c["qemu_command"][0] == "bochs" and not os.path.exists(out / "cells" / c["id"] / "mmlab.iso")
    m = manifest(out)
    assert m["emulator"] == "bochs" and m["accel"]["used"] == "bochs" and m["bochs"].startswith("Bochs x86 Emulator")
    for args, says in (
        (["--kernel", "linux-pae"], "boots the mmlab kernel only"),
        (["--deterministic"], "-icount"),
        (["--accel", "kvm"], "no KVM"),
        (["--tlb-model"], "TLB model"),
        (["--vcpus", "9"], "at most 8"),
        (["--", "it's"], "GRUB would rewrite"),
    ):
        p = mmlab("boot", "--emulator", "bochs", *args)
        assert p.returncode == 2 and says in p.stderr, (args, p.returncode, p.stderr)


def test_tlb_model_pairs_checkpoints_and_refuses_what_it_cannot_do(tmp_path):
    """mmlab boot --tlb-model (docs/tlb-model.md): the plugin's checkpoints paired with the counters records, as the
    table people read and as JSON, its geometry from --tlb-geometry; and clear errors, before any VM, for what cannot
    work: KVM, a bad geometry; and a plugin QEMU will not load says so."""
    p = mmlab("boot", "--tlb-model", "--deterministic", "--", "lat_proc", "-n", "20", "exec")
    assert p.returncode == 0, p.stderr
    assert "4 checkpoints for 4 counters records; host counts are modelled" in p.stdout, p.stdout
    rows = [
        line.split() for line in p.stdout.splitlines() if line.startswith(("init ", "before:", "after:", "shutdown"))
    ]
    assert [r[0] for r in rows] == ["init", "before:0:lat_proc", "after:0:lat_proc", "shutdown"], rows
    for r in rows:  # CR3 and INVLPG: host/guest, equal in every window
        for pair in (r[3], r[4]):
            host, guest = pair.split("/")
            assert host == guest, (r, pair)
    assert int(rows[2][3].split("/")[0]) > 20 and int(rows[2][4].split("/")[0]) > 20, rows[2]
    # The model starts at the first marker (start=marker): the first window has no model counts, the others do; from
    # QEMU's start (start=boot) every window has them, and the guest runs the same instructions either way.
    assert rows[0][5:] == ["-"] * 4 and all(int(v) > 0 for v in rows[2][5:]), rows
    p = mmlab(
        "boot", "--tlb-model", "--tlb-geometry", "start=boot", "--deterministic", "--", "lat_proc", "-n", "20", "exec"
    )
    assert p.returncode == 0, p.stderr
    boot_rows = [
        line.split() for line in p.stdout.splitlines() if line.startswith(("init ", "before:", "after:", "shutdown"))
    ]
    assert all(int(v) > 0 for v in boot_rows[0][5:]), boot_rows
    assert [r[:5] for r in boot_rows] == [r[:5] for r in rows], (boot_rows, rows)
    p, recs = boot_json("--tlb-model", "--tlb-geometry", "stlb=512:4,pde=0", "--deterministic", "--init", "/hello")
    assert p.returncode == 0, p.stderr
    (model,) = [r for r in recs if r["type"] == "tlb_model"]
    assert model["paired"] and model["checkpoints"] == 1 and model["modelled"], model
    assert model["header"]["model"]["stlb"] == {"entries": 512, "ways": 4, "sets": 128}, model["header"]
    assert model["header"]["model"]["pde_cache"]["entries"] == 0 and model["final"]["total"]["insns"] > 0, model
    (shutdown,) = [r for r in recs if r["type"] == "counters"]
    assert shutdown["host"]["checkpoint"] == 0 and shutdown["host"]["total"]["pde_cache_hits"] == 0, shutdown["host"]
    assert recs[-1]["tlb_model"] is True and any(a.startswith("-plugin") for a in recs[-1]["command"]), recs[-1]
    for args, says in (
        (["--accel", "kvm", "--tlb-model"], "the TLB model is a QEMU TCG plugin"),
        (["--tlb-model", "--tlb-geometry", "dtlb=96:4"], "--tlb-geometry: dtlb 96:4: 24 sets"),
        (["--tlb-model", "--tlb-geometry", "l2=1:1"], "unknown argument 'l2'"),
        (["--tlb-geometry", "pde=8"], "--tlb-geometry requires --tlb-model"),
    ):
        p = mmlab("boot", *args, "--init", "/hello")
        assert p.returncode == 2 and says in p.stderr, (args, p.returncode, p.stderr)
    # A shared object that is no QEMU plugin: QEMU refuses to start and says why.
    env = dict(os.environ, MMLAB_TLB_PLUGIN=os.path.join(BUILD, "lib", "formats", "no-such-plugin.so"))
    p = subprocess.run([MMLAB, "boot", "--tlb-model", "--init", "/hello"], capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "no-such-plugin.so is missing" in p.stderr, p.stderr
    libm = "/lib/x86_64-linux-gnu/libm.so.6"
    env["MMLAB_TLB_PLUGIN"] = libm
    p = subprocess.run(
        [MMLAB, "boot", "--tlb-model", "--json", "--init", "/hello"], capture_output=True, text=True, env=env
    )
    vm = json.loads(p.stdout.splitlines()[-1])
    assert p.returncode == 4 and vm["status"] == "crash" and "Could not load plugin" in vm["qemu_stderr"], vm


TLB_MATRIX = """name = "tlb"
deterministic = true
tlb_model = true
[tlb_geometry]
stlb = "512:4"
[toggles]
"mm.pmd_prealloc" = ["on", "off"]
[[workload]]
name = "lat_proc"
args = ["-n", "3", "exec"]
"""
GUEST_CR3 = ("cr3_switch", "cr3_reload_pdpte", "tlb_flush_all", "cr3_boot")


def test_tlb_model_in_a_matrix(tmp_path):
    """tlb_model = true in a matrix (docs/tlb-model.md, docs/records.md): every cell loads the plugin with the
    matrix's geometry, the manifest records its parameters, and each cell carries the window's host counts next to the
    guest counters, the host's CR3 writes and INVLPGs equal to the guest's counts; --no-tlb-model turns it off."""
    out = tmp_path / "t"
    p = mmlab("run", write(tmp_path, TLB_MATRIX), "-o", out, "-j", "2")
    assert p.returncode == 0, p.stderr
    assert "TLB model on:" in p.stderr, p.stderr
    m = manifest(out)["tlb_model"]
    assert m["requested"] and m["loaded"] and m["modelled"] and m["requested_by"].endswith("m.toml:3"), m
    assert m["geometry"] == ["stlb=512:4"] and m["parameters"]["model"]["stlb"] == {
        "entries": 512,
        "ways": 4,
        "sets": 128,
    }
    assert m["parameters"]["model"]["itlb"]["entries"] == 128 and "Skylake" in m["parameters"]["source"], m
    by = {}
    for c in cells(out):
        assert c["status"] == "ok", c.get("reason")
        t = c["tlb_model"]
        assert t["status"] == "ok" and t["modelled"] and t["paired"], t
        assert t["window"] == {"from": "before:0:lat_proc", "to": "after:0:lat_proc"}, t
        assert len(t["vcpus"]) == 1 and t["vcpus"][0] == t["counts"], t
        mm = c["guest_counters"]["mm"]
        assert t["counts"]["cr3_writes"] == sum(mm[k] for k in GUEST_CR3), (t["counts"], mm)
        assert t["counts"]["invlpg"] == mm["tlb_flush_page"] > 0, (t["counts"], mm)
        assert t["counts"]["stlb_misses"] > 0 and t["counts"]["walk_refs"] >= t["counts"]["stlb_misses"], t
        argv = c["qemu_command"]
        assert argv[argv.index("-plugin") + 1].endswith(",stlb=512:4"), argv
        assert os.path.getsize(out / "cells" / c["id"] / "tlb-model.jsonl") > 0
        by[c["toggles"]["mm.pmd_prealloc"]] = t["counts"]
    # pmd_prealloc=off: 2 PDPTE-forced reloads per exec (3 + 3 warm-up + /init's), each a host CR3 write.
    assert by["off"]["cr3_writes"] - by["on"]["cr3_writes"] == 2 * 7, by
    off = tmp_path / "off"
    text = TLB_MATRIX.replace('["on", "off"]', '["on"]').replace('"3", "exec"', '"1", "fork"')
    p = mmlab("run", write(tmp_path, text, "one.toml"), "-o", off, "--no-tlb-model")
    assert p.returncode == 0, p.stderr
    (c,) = cells(off)
    assert "tlb_model" not in c and "-plugin" not in c["qemu_command"], c
    assert manifest(off)["tlb_model"] == {"requested": False, "requested_by": "--no-tlb-model", "loaded": False}


def test_tlb_model_bad_input_in_a_matrix(tmp_path):
    """A bad geometry or the model under KVM: an error naming the file and line (or the option), before any VM. A
    plugin QEMU will not load: the run goes on without it, and the manifest and every cell say why."""
    cases = (
        (TLB_MATRIX.replace('"512:4"', '"96:4"'), ":5: tlb_geometry: stlb 96:4: 24 sets"),
        (TLB_MATRIX.replace('stlb = "512:4"', 'l2 = "1:1"'), ":5: tlb_geometry: unknown key 'l2'"),
        (TLB_MATRIX.replace('stlb = "512:4"', "pde = 300"), ":5: tlb_geometry: "),
        (
            TLB_MATRIX.replace('stlb = "512:4"', 'start = "init"'),
            ":5: tlb_geometry: start=init: expected marker or boot",
        ),
        (TLB_MATRIX.replace("deterministic = true", 'accel = "kvm"'), ":3: tlb_model = true needs TCG"),
        (TLB_MATRIX.replace("tlb_model = true", 'tlb_model = "yes"'), ":3: tlb_model: expected true or false"),
    )
    for i, (text, says) in enumerate(cases):
        bad = write(tmp_path, text, f"bad{i}.toml")
        p = mmlab("run", bad, "-o", tmp_path / f"r{i}")
        assert p.returncode == 2 and f"{bad}{says}" in p.stderr, (text, p.stderr)
        assert not (tmp_path / f"r{i}").exists(), "nothing may run for a bad matrix"
    plain = write(tmp_path, FOUR, "four.toml")
    p = mmlab("run", plain, "--accel", "kvm", "--tlb-model", "-o", tmp_path / "k")
    assert p.returncode == 2 and "the TLB model (--tlb-model) with accel kvm (--accel kvm)" in p.stderr, p.stderr
    assert not (tmp_path / "k").exists()
    assert mmlab("run", plain, "--tlb-model", "--no-tlb-model").returncode == 2
    # A shared object that is no QEMU plugin: the probe says why, the cells run without the model.
    one = write(tmp_path, TLB_MATRIX.replace('["on", "off"]', '["on"]').replace('"3", "exec"', '"1", "fork"'), "1.toml")
    env = dict(os.environ, MMLAB_TLB_PLUGIN="/lib/x86_64-linux-gnu/libm.so.6")
    out = tmp_path / "nolib"
    p = subprocess.run([MMLAB, "run", one, "-o", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0 and "TLB model requested but not loaded" in p.stderr, p.stderr
    m = manifest(out)["tlb_model"]
    assert m["requested"] and not m["loaded"] and "Could not load plugin" in m["why"], m
    (c,) = cells(out)
    assert c["status"] == "ok" and c["tlb_model"]["status"] == "unavailable", c["tlb_model"]
    assert c["tlb_model"]["reason"] == m["why"] and "counts" not in c["tlb_model"]


def test_boot_test_list_cases_run_through_mmlab(tmp_path):
    """`mmlab tests` expands the list; `mmlab boot --test` runs a case and fails it, with the reasons, when an
    expectation is not met."""
    listed = json.loads(mmlab("tests", "--json").stdout)
    names = {c["name"] for c in listed}
    assert {
        "hello",
        "combination.0",
        "combination.63",
        "smp.16",
        "fault_injection.1.3",
        "fault_injection.4",
    } <= names, len(names)
    assert len(listed) >= 128
    lst = write(
        tmp_path,
        '[good]\ninit = "/tests/t_fork"\npasses = 3\n[bad]\ninit = "/tests/t_fork"\npasses = 99\n'
        'console = ["no such text"]\n',
        "list.toml",
    )
    p = mmlab("boot", "--test", "good", "--tests", lst)
    assert p.returncode == 0 and "boot.good [1/1]: ok" in p.stderr, p.stderr
    p = mmlab("boot", "--test", "bad", "--tests", lst)
    assert p.returncode == 1 and "FAILED" in p.stderr, p.stderr
    assert "expected at least 99 PASS" in p.stderr and 'the console lacks "no such text"' in p.stderr, p.stderr


def test_deterministic_cells_run_once_and_a_sample_twice_to_check(tmp_path):
    """-icount cells are exact: each configuration of a 3-repetition matrix runs once, two of them twice, and the
    manifest says the pairs were identical."""
    text = FOUR.replace('name = "four"', 'name = "det"\ndeterministic = true\nrepetitions = 3')
    out = tmp_path / "d"
    p = mmlab("run", write(tmp_path, text), "-o", out, "-j", "2")
    assert p.returncode == 0, p.stderr
    assert "each configuration once, 2 of them twice to check" in p.stderr, p.stderr
    got = cells(out)
    assert sorted(c["rep"] for c in got) == [0, 0, 0, 0, 1, 1], [c["key"] for c in got]
    m = manifest(out)
    assert m["cells_in_matrix"] == 12 and m["repetitions"]["matrix"] == 3 and m["repetitions"]["run"] == 1
    assert m["determinism_check"] == {"compared": 2, "identical": 2, "differed": []}, m["determinism_check"]
    assert all(c["deterministic"] and "oversubscribed" not in c for c in got)
    p = mmlab("list", write(tmp_path, text, "det2.toml"))
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 6, p.stdout


def test_wall_clock_cells_never_share_host_cpus_unless_asked(tmp_path):
    """-j defaults to host CPUs / vCPUs; a -j that would oversubscribe is refused without --oversubscribe, and with it
    every cell says so; a cell with more vCPUs than the host has CPUs says so too. The manifest records the host's
    load before and after, and each cell the CPU time other work took while it ran."""
    host = os.cpu_count()
    vcpus = min(host, 16)
    one = f'name = "wide"\nvcpus = [{vcpus}]\ntimeout_s = 120\n[[workload]]\nname = "lat_proc"\nargs = ["-n", "3", "fork"]\n'
    p = mmlab("run", write(tmp_path, one), "-o", tmp_path / "refused", "-j", "2")
    assert p.returncode == 2 and "--oversubscribe" in p.stderr and f"this host has {host}" in p.stderr, p.stderr
    out = tmp_path / "over"
    p = mmlab("run", write(tmp_path, one), "-o", out, "-j", "2", "--oversubscribe")
    assert p.returncode == 0, p.stderr
    (c,) = cells(out)
    assert "--oversubscribe" in c["oversubscribed"], c.get("oversubscribed")
    m = manifest(out)
    assert m["oversubscribe"] is True and m["placement"]["jobs"] == 2 and m["placement"]["pinned"] is False
    assert len(m["host_load"]["before"]) == 3 and len(m["host_load"]["after"]) == 3
    assert c["host_others_cpus"] >= 0
    if host < 16:
        more = one.replace(f"vcpus = [{vcpus}]", f"vcpus = [{host + 1}]")
        out = tmp_path / "more"
        p = mmlab("run", write(tmp_path, more, "more.toml"), "-o", out)
        assert p.returncode == 0, p.stderr
        (c,) = cells(out)
        assert "lock-holder preemption" in c["oversubscribed"] and manifest(out)["placement"]["jobs"] == 1, c
    # Other work on every host CPU during the run: the cells say the host was busy.
    hogs = [subprocess.Popen(["/usr/bin/python3", "-c", "while True: pass"]) for _ in range(host)]
    try:
        out = tmp_path / "busy"
        p = mmlab("run", write(tmp_path, FOUR, "busy.toml"), "-o", out, "-j", "1")
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert p.returncode == 0, p.stderr
    flagged = [c for c in cells(out) if c.get("host_busy")]
    assert len(flagged) >= 3 and "other work used" in flagged[0]["host_busy"], [
        c["host_others_cpus"] for c in cells(out)
    ]
