"""Boot tests: the kernel in QEMU (TCG), running static i386 glibc programs.

Each test boots build/kernel/mmlab-kernel.elf with build/workloads/test-initrd.cpio
(make build), reads the console and the records, and asserts on both.
ctest runs each test on its own (kernel_mm/kernel/tests/CMakeLists.txt).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "scripts"))
import mmboot  # noqa: E402

BUSYBOX = os.path.join(os.path.dirname(os.path.dirname(mmboot.DEFAULT_INITRD)), "third_party", "busybox", "busybox")

TOGGLES = [
    ("mm.pmd_prealloc", ("on", "off")),
    ("mm.pgd_init", ("locked", "lockless")),
    ("mm.kernel_pmd", ("shared", "unshared")),
    ("mm.free_pgtables", ("vma", "full")),
    ("mm.ptlock", ("split", "mm")),
    ("mm.ptlock_alloc", ("inline", "dynamic")),
]


def combination(index: int) -> dict[str, str]:
    """Toggle combination `index` (bit i picks the second value of toggle i), as the kernel numbers them."""
    return {key: values[(index >> i) & 1] for i, (key, values) in enumerate(TOGGLES)}


def cmdline(toggles: dict[str, str], init: str) -> str:
    return " ".join(f"{k}={v}" for k, v in toggles.items()) + f" init={init}"


def assert_clean(b: mmboot.Boot) -> dict:
    """Init exited 0, nothing leaked, every record well formed; returns the leak record."""
    assert b.status == "success", b.describe()
    assert not b.bad_records, b.bad_records
    assert not b.of_type("panic"), b.describe()
    leak = b.one("leak")
    assert leak["ok"] and leak["leak_free"], leak
    assert leak["init_status"] == 0
    assert all(v == 0 for v in leak["frames"].values()), leak["frames"]
    assert leak["pgds"] == 0 and leak["ptls"] == 0 and leak["ptls_dynamic"] == 0, leak
    assert all(v == 0 for v in leak["objects"].values()), leak["objects"]
    assert leak["pgd_list"] == 0 and leak["task_list"] == 0, leak
    return leak


def assert_passed(b: mmboot.Boot, expected_passes: int) -> None:
    fails = [line for line in b.console.splitlines() if line.startswith("FAIL")]
    assert not fails, b.describe()
    passes = [line for line in b.console.splitlines() if line.startswith("PASS")]
    assert len(passes) >= expected_passes, b.describe()


def test_hello_boots_and_reports():
    b = mmboot.boot("init=/hello")
    assert_clean(b)
    assert "hello from a static i386 binary" in b.console
    boot = b.one("boot")
    assert boot["kernel"] == "mmlab"
    assert boot["toggles"] == combination(0)
    assert boot["init"] == "/hello"
    assert boot["cpu"]["nx"] is True
    assert boot["memory"]["lowmem_mb"] >= 200 and boot["memory"]["frames_free"] > 40000
    counters = b.of_type("counters")
    assert counters and counters[-1]["label"] == "shutdown"
    mm = counters[-1]["mm"]
    assert mm["pgd_alloc"] == mm["pgd_free"] >= 1
    assert mm["fault_anon"] > 0
    assert counters[-1]["kernel"]["execs"] == 1


def test_fork_exit_wait():
    b = mmboot.boot("init=/tests/t_fork")
    assert_clean(b)
    assert_passed(b, 3)
    assert b.of_type("counters")[-1]["kernel"]["forks"] >= 20


def test_fork_execve_wait():
    b = mmboot.boot("init=/tests/t_exec")
    assert_clean(b)
    assert_passed(b, 3)
    assert "hello from a static i386 binary" in b.console


def test_busybox_sh_c():
    b = mmboot.boot("init=/tests/t_sh")
    assert_clean(b)
    assert_passed(b, 2)
    assert "hello from a static i386 binary" in b.console


def test_null_write_kills_only_the_process():
    b = mmboot.boot("init=/tests/t_segv")
    assert_clean(b)
    assert_passed(b, 3)
    assert "killed by signal 11" in b.console
    assert b.of_type("counters")[-1]["kernel"]["signals_fatal"] >= 3


def test_bad_pointers_get_efault():
    b = mmboot.boot("init=/tests/t_efault")
    assert_clean(b)
    assert_passed(b, 8)
    enosys = b.of_type("counters")[-1]["enosys"]
    assert enosys.get("500") == 1, enosys  # the unknown call is counted by number


def test_abi_subset():
    b = mmboot.boot("init=/tests/t_abi")
    assert_clean(b)
    assert_passed(b, 10)


@pytest.mark.parametrize("ptlock", ["split", "mm"])
@pytest.mark.parametrize("ptlock_alloc", ["inline", "dynamic"])
def test_threads(ptlock, ptlock_alloc):
    """glibc pthreads in one mm (clone, futex, exit vs exit_group, TLS), both page-table lock modes, no leak."""
    b = mmboot.boot(f"mm.ptlock={ptlock} mm.ptlock_alloc={ptlock_alloc} init=/tests/t_threads")
    assert_clean(b)
    assert_passed(b, 15)
    last = b.of_type("counters")[-1]
    # 4 workers, 1 signaller, 4 touchers, then 2 + 2 + 1 + 1 in four child processes, then 3 + 3 busy threads in
    # two more, whose spawners add as many as they manage before the end
    assert last["kernel"]["threads"] >= 4 + 1 + 4 + 6 + 6, last["kernel"]
    assert "29" not in last["enosys"] and "240" not in last["enosys"], last["enosys"]  # pause, futex
    mm = last["mm"]
    lock = "split_ptl.acquire" if ptlock == "split" else "page_table_lock.acquire"
    assert mm[lock] > 256, mm  # the 256 pages the threads fault take the PTE lock of that mode


def test_isolation():
    """Kernel memory unreachable from ring 3, text read-only, stack and heap NX, processes apart."""
    b = mmboot.boot("init=/tests/t_isolation")
    assert_clean(b)
    assert_passed(b, 10)
    assert b.of_type("counters")[-1]["kernel"]["signals_fatal"] >= 9


def test_fork_bomb_is_bounded_and_the_kernel_recovers():
    b = mmboot.boot("init=/tests/t_forkbomb")
    assert_clean(b)
    assert_passed(b, 3)
    assert b.of_type("counters")[-1]["kernel"]["forks"] >= 127


def test_file_mappings():
    b = mmboot.boot("init=/tests/t_filemap")
    assert_clean(b)
    assert_passed(b, 16)
    mm = b.of_type("counters")[-1]["mm"]
    assert mm["fault_file"] > 0 and mm["fault_file_cow"] + mm["fault_cow_copy"] > 0, mm
    assert mm["fault_sigbus"] == 1, mm


def file_pages(path: str) -> int:
    return (os.path.getsize(path) + 4095) // 4096


@pytest.mark.parametrize("mode,binaries", [("exec", ["hello"]), ("shell", ["hello", "busybox"])])
def test_exec_runs_text_from_the_page_cache(mode, binaries):
    """Every exec of a program maps the same cached frames: file pages are read in once per boot, not per exec."""
    b = mmboot.boot(f"init=/bin/lat_proc -- -n 20 {mode}", icount=True)
    assert_clean(b)
    last = b.of_type("counters")[-1]
    mm, execs = last["mm"], last["kernel"]["execs"]
    assert execs == 1 + 23 * len(binaries), last["kernel"]  # lat_proc itself, then 3 warm-up + 20 samples
    bin_dir = os.path.join(os.path.dirname(mmboot.DEFAULT_INITRD), "bin")
    paths = {"hello": os.path.join(bin_dir, "hello"), "busybox": BUSYBOX}
    bound = file_pages(os.path.join(bin_dir, "lat_proc")) + sum(file_pages(paths[n]) for n in binaries)
    assert 0 < mm["page_cache_fill"] <= bound, (mm["page_cache_fill"], bound)
    # Each exec faults its text in from the cache: many more mappings than fills.
    assert mm["fault_file"] > 10 * mm["page_cache_fill"], mm
    # Held until shutdown: the fills plus each cache's two index frames.
    files = 1 + len(binaries)
    assert mm["page_cache_fill"] < last["frames"]["page_cache"] <= mm["page_cache_fill"] + 2 * files, last["frames"]


@pytest.mark.parametrize(
    "word,named",
    [("mm.bogus=1", "mm.bogus"), ("mm.ptlock=sometimes", "sometimes"), ("mm.pmd_prealloc", "mm.pmd_prealloc")],
)
def test_bad_toggle_stops_the_boot(word, named):
    b = mmboot.boot(f"{word} init=/hello")
    assert b.status == "failure", b.describe()
    panic = b.one("panic")
    assert named in panic["message"], panic
    assert named in b.console
    assert "hello from" not in b.console


def test_plain_qemu_command_runs_a_program():
    """The README's command: QEMU's default CPU (qemu32, no NX), no isa-debug-exit, console on stdio."""
    cmd = ["qemu-system-i386", "-kernel", mmboot.DEFAULT_KERNEL, "-initrd", mmboot.DEFAULT_INITRD]
    cmd += ["-append", "init=/tests/t_sh", "-display", "none", "-serial", "stdio", "-no-reboot"]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out
    assert "this CPU has no NX" in out
    assert "hello from a static i386 binary" in out
    assert "no leaks; success" in out and "FAIL" not in out


@pytest.mark.parametrize("memory_mb", [64, 2048])
def test_memory_from_64_mib_to_2_gib(memory_mb):
    b = mmboot.boot("init=/tests/t_sh", memory_mb=memory_mb)
    assert_clean(b)
    mem = b.one("boot")["memory"]
    if memory_mb == 64:
        assert mem["lowmem_mb"] == mem["ram_mb"] and mem["ignored_mb"] == 0, mem
    else:
        # Lowmem ends at the vmalloc area (768 MiB); the rest is announced, not used.
        assert mem["lowmem_mb"] == 768, mem
        assert mem["ignored_mb"] == mem["ram_mb"] - 768 > 1000, mem
        assert "ignored: no highmem" in b.console


def test_missing_init_is_a_clear_failure():
    b = mmboot.boot("init=/does/not/exist")
    assert b.status == "failure", b.describe()
    assert "/does/not/exist" in b.one("panic")["message"]


@pytest.mark.parametrize("index", range(64))
def test_combination_runs_fork_exec_sh_without_leaks(index):
    toggles = combination(index)
    b = mmboot.boot(cmdline(toggles, "/bin/sh") + ' -c "/tests/t_fork && /tests/t_exec && /tests/t_sh"')
    assert_clean(b)
    assert b.one("boot")["toggles"] == toggles
    assert_passed(b, 8)


def init_results(b: mmboot.Boot) -> tuple[list[dict], dict[str, dict]]:
    """/init's per-program lines, and lat_proc's results by mode."""
    lines = [json.loads(r["line"]) for r in b.of_type("result")]
    return [x for x in lines if x["workload"] == "init"], {x["mode"]: x for x in lines if x["workload"] == "lat_proc"}


LAT_PROC_ALL = [
    "lat_proc",
    "-n",
    "3",
    "fork",
    "::",
    "lat_proc",
    "-n",
    "3",
    "exec",
    "::",
    "lat_proc",
    "-n",
    "3",
    "shell",
]


def test_init_runs_programs_with_snapshots_and_records_a_failure():
    """mmlab: /init runs each program between two counter snapshots; a failing one is recorded and the next runs."""
    b = mmboot.boot("init=/init -- " + " ".join(LAT_PROC_ALL + ["::", "/tests/t_segv_missing", "::", "/hello"]))
    assert b.status == "failure", b.describe()  # one program failed, so /init exits 1
    leak = b.one("leak")
    assert leak["leak_free"] and leak["init_status"] == 1 << 8, leak
    runs, lat = init_results(b)
    assert [(r["index"], r["status"]) for r in runs] == [
        (0, "ok"),
        (1, "ok"),
        (2, "ok"),
        (3, "failed"),
        (4, "ok"),
    ], runs
    assert runs[3]["exit_code"] == 127 and runs[4]["program"] == "/hello", runs
    assert sorted(lat) == ["exec", "fork", "shell"] and all(x["n"] == 3 for x in lat.values()), lat
    labels = [r["label"] for r in b.of_type("counters")]
    assert labels[:3] == ["init", "before:0:lat_proc", "after:0:lat_proc"], labels
    assert "after:4:hello" in labels and labels[-1] == "shutdown", labels
    snaps = {r["label"]: r for r in b.of_type("counters")}
    assert snaps["after:1:lat_proc"]["kernel"]["execs"] - snaps["before:1:lat_proc"]["kernel"]["execs"] == 1 + 6


def test_linux_pae_runs_the_same_binaries():
    """The anchor: Debian's Linux PAE boots in the same QEMU with the same initrd and runs lat_proc and t_filemap."""
    assert os.path.exists(mmboot.DEFAULT_LINUX), "make build fetches the Linux PAE kernel"
    b = mmboot.boot_linux(LAT_PROC_ALL + ["::", "/tests/t_filemap", "::", "/tests/t_threads"], timeout=240)
    assert b.status == "success", b.describe()
    assert not b.bad_records, b.bad_records
    runs, lat = init_results(b)
    assert [r["status"] for r in runs] == ["ok"] * 5, runs
    assert sorted(lat) == ["exec", "fork", "shell"], lat
    for mode, x in lat.items():
        assert x["n"] == 3 and len(x["samples"]) == 3 and 0 < x["min"] <= x["median"], x
    assert "init: on Linux" in b.console
    assert_passed(b, 16 + 15)
    snaps = {r["label"]: r for r in b.of_type("counters")}
    before, after = snaps["before:0:lat_proc"]["vmstat"], snaps["after:0:lat_proc"]["vmstat"]
    assert after["pgfault"] - before["pgfault"] > 6, (before["pgfault"], after["pgfault"])  # 6 forks at least
    stat_before, stat_after = snaps["before:0:lat_proc"]["self_stat"], snaps["after:0:lat_proc"]["self_stat"]
    # init's cminflt grows by the faults of lat_proc and the children it waited for.
    assert 6 < stat_after["cminflt"] - stat_before["cminflt"] <= after["pgfault"] - before["pgfault"], (
        stat_before,
        stat_after,
    )


WORKLOAD_INITRD = os.path.join(os.path.dirname(mmboot.DEFAULT_INITRD), "initrd.cpio")
# 28 words: Linux passes at most 32 arguments to init (and so does our kernel, docs/kernel.md).
SMALL_WORKLOADS = (
    "page_fault -s 256 -i 2 :: page_fault -m threads -s 256 -i 2 :: fork_scale -i 8 :: "
    "exec_layout -n 3 -w 1 :: lat_proc -n 3 fork"
).split()


def check_workload_results(b: mmboot.Boot) -> dict[str, dict]:
    """Every workload of SMALL_WORKLOADS ran and its result line has the documented shape (docs/workloads.md)."""
    lines = [json.loads(r["line"]) for r in b.of_type("result")]
    runs = [x for x in lines if x["workload"] == "init"]
    assert [r["status"] for r in runs] == ["ok"] * 5, runs
    res = {(x["workload"], x.get("mode")): x for x in lines if x["workload"] != "init"}
    assert sorted(res, key=str) == sorted(
        [
            ("exec_layout", None),
            ("fork_scale", None),
            ("lat_proc", "fork"),
            ("page_fault", "processes"),
            ("page_fault", "threads"),
        ],
        key=str,
    ), sorted(res, key=str)
    for mode in ("processes", "threads"):
        pf = res[("page_fault", mode)]
        assert (pf["region_kb"], pf["pages"], pf["iterations"], pf["unit"]) == (256, 64, 2, "faults/s"), pf
        assert [p["workers"] for p in pf["points"]] == [1, 2]
        for p in pf["points"]:
            assert p["faults"] == p["workers"] * 2 * 64 and p["ns"] > 0, p
            assert p["faults_per_s"] == pytest.approx(p["faults"] * 1e9 / p["ns"], rel=1e-3, abs=1), p
    res = {k[0]: v for k, v in res.items() if k[0] != "page_fault"}
    fs = res["fork_scale"]
    assert fs["unit"] == "forks/s" and [(p["workers"], p["forks"]) for p in fs["points"]] == [(1, 8), (2, 16)], fs
    assert all(p["ns"] > 0 and p["forks_per_s"] > 0 for p in fs["points"]), fs
    el = res["exec_layout"]
    assert el["pgd_entries"] == 3 and el["n"] == 3 and len(el["samples"]) == 3 and 0 < el["min"] <= el["median"], el
    return res


def test_workloads_run_on_mmlab_with_well_formed_results():
    b = mmboot.boot("init=/init -- " + " ".join(SMALL_WORKLOADS), initrd=WORKLOAD_INITRD)
    assert_clean(b)
    check_workload_results(b)


def test_workloads_run_on_linux_pae_with_the_same_results():
    b = mmboot.boot_linux(SMALL_WORKLOADS, initrd=WORKLOAD_INITRD, timeout=240)
    assert b.status == "success", b.describe()
    check_workload_results(b)


def run_deltas(b: mmboot.Boot, index: int, name: str) -> dict:
    """Counter deltas across /init's run `index` of `name` (mm counters, and the kernel's as k.*)."""
    snaps = {r["label"]: r for r in b.of_type("counters")}
    before, after = snaps[f"before:{index}:{name}"], snaps[f"after:{index}:{name}"]
    d = {k: after["mm"][k] - before["mm"][k] for k in after["mm"]}
    d.update({f"k.{k}": after["kernel"][k] - before["kernel"][k] for k in after["kernel"]})
    return d


SEED_RUN = "exec_layout -n 10 -w 0 :: lat_proc -n 10 -w 0 exec :: fork_scale -w 1 -i 10"


def seed_boot(toggles: str) -> mmboot.Boot:
    b = mmboot.boot(f"{toggles} init=/init -- {SEED_RUN}", initrd=WORKLOAD_INITRD, icount=True)
    assert_clean(b)
    return b


@pytest.mark.parametrize("prealloc", ["on", "off"])
def test_pdpte_reloads_per_exec_follow_the_pgd_entries_a_program_uses(prealloc):
    """pmd_prealloc=off: each user PGD entry first populated while the new mm is live forces a CR3 reload.

    Every run also counts the exec of the program itself by /init's child (text and stack: 2)."""
    b = seed_boot(f"mm.pmd_prealloc={prealloc}")
    layout, hello = run_deltas(b, 0, "exec_layout"), run_deltas(b, 1, "lat_proc")
    assert layout["k.execs"] == hello["k.execs"] == 11
    if prealloc == "off":
        assert layout["cr3_reload_pdpte"] == 2 + 3 * 10, layout  # text + mmap at 0x50000000 + stack
        assert hello["cr3_reload_pdpte"] == 2 + 2 * 10, hello  # /hello: text + stack
        assert layout["pmd_install_live"] == layout["cr3_reload_pdpte"]
    else:
        assert layout["cr3_reload_pdpte"] == hello["cr3_reload_pdpte"] == 0, (layout, hello)
        assert layout["pmd_install_live"] == 0 and layout["pmd_prealloc"] == 3 * (11 + 11), layout  # fork + exec


@pytest.mark.parametrize("kernel_pmd", ["shared", "unshared"])
@pytest.mark.parametrize("pgd_init", ["locked", "lockless"])
def test_fork_and_exit_take_pgd_lock_only_when_locked(kernel_pmd, pgd_init):
    b = seed_boot(f"mm.kernel_pmd={kernel_pmd} mm.pgd_init={pgd_init}")
    d = run_deltas(b, 2, "fork_scale")
    assert d["k.forks"] == 1 + 3 + 1 + 10 and d["k.execs"] == 1, d  # /init's fork, warm-up, worker, iterations
    pgds = d["pgd_alloc"]
    assert pgds == d["pgd_free"] == d["k.forks"] + d["k.execs"], d
    if pgd_init == "locked":
        assert d["pgd_lock.acquire"] == 2 * pgds, d  # pgd_ctor adds to pgd_list, pgd_dtor removes
    else:
        assert d["pgd_lock.acquire"] == 0 and d["pgd_init_late"] == pgds, d


def test_sparse_exit_scans_far_fewer_entries_with_vma_guided_free_pgtables():
    per_exec = {}
    for mode in ("vma", "full"):
        d = run_deltas(seed_boot(f"mm.free_pgtables={mode}"), 0, "exec_layout")
        per_exec[mode] = d["pgtable_entries_scanned"] / d["k.execs"]
    # exec_layout's children use 3 GiB-apart regions: full visits 3 PGD entries and 3 x 512 PMD entries per teardown.
    assert per_exec["full"] > 50 * per_exec["vma"], per_exec


@pytest.mark.parametrize("kernel_pmd", ["shared", "unshared"])
@pytest.mark.parametrize("pgd_init", ["locked", "lockless"])
def test_kmap_churn_syncs_every_pgd(kernel_pmd, pgd_init):
    """Forks racing kernel-mapping creation: every new kernel PTE table reaches every PGD (kernel_sync_missed == 0)."""
    b = mmboot.boot(
        f"mm.kernel_pmd={kernel_pmd} mm.pgd_init={pgd_init} init=/init -- kmap_churn -r 32 -f 2",
        initrd=WORKLOAD_INITRD,
        icount=True,
    )
    assert_clean(b)  # the leak record counts kernel_sync_missed
    line = next(json.loads(r["line"]) for r in b.of_type("result") if '"kmap_churn"' in r["line"])
    assert line["kernel_pte_tables"] == 32 and line["forks"] > 0, line
    d = run_deltas(b, 0, "kmap_churn")
    assert d["k.kmap_churns"] == 33 and d["k.kernel_sync_missed"] == 0, d  # one probe call, then 32 rounds
    if kernel_pmd == "unshared":
        # Each new table is copied into the PGDs alive then: at least kmap_churn's and its two forkers'.
        assert d["kernel_sync"] >= 3 * 32, d
        assert (d["pgd_lock.acquire"] > 0) == (pgd_init == "locked"), d
    else:
        assert d["kernel_sync"] == 0, d  # one kernel PMD for all: nothing to propagate


def test_kmap_churn_says_unsupported_on_linux():
    b = mmboot.boot_linux(["kmap_churn"], initrd=WORKLOAD_INITRD, timeout=240)
    assert b.status == "success", b.describe()
    line = next(json.loads(r["line"]) for r in b.of_type("result") if '"kmap_churn"' in r["line"])
    assert "ENOSYS" in line["unsupported"] and "forks" not in line, line


FAULT_INJECTION_PROGRAMS = (
    "/tests/t_fork :: /tests/t_exec :: /tests/t_sh :: /tests/t_filemap :: /tests/t_threads :: "
    "/bin/page_fault -s 256 -i 4 :: /bin/kmap_churn -r 8 :: /bin/exec_layout -n 3"
)


@pytest.mark.parametrize("vcpus", [1, 2])
@pytest.mark.parametrize("quarter", range(4))
def test_fault_injection_in_every_toggle_combination_leaks_nothing(quarter, vcpus):
    """mm.fail_alloc: fork, exec, mmap, faults and pgd_alloc fail on purpose; programs get -ENOMEM or are killed,
    the kernel never panics and the leak record stays at zero, in all 64 combinations (16 per ctest entry), on one
    vCPU and on two (threads killed on another CPU, exits and faults in parallel)."""
    outcomes = {}
    for index in range(16 * quarter, 16 * quarter + 16):
        toggles = combination(index)
        words = " ".join(f"{k}={v}" for k, v in toggles.items())
        b = mmboot.boot(
            f"{words} mm.fail_alloc=40 mm.fail_alloc_seed={index + 1} init=/init -- {FAULT_INJECTION_PROGRAMS}",
            smp=vcpus,
        )
        assert not b.of_type("panic"), (toggles, b.describe())
        assert not b.bad_records, b.bad_records
        leak = b.one("leak")
        assert leak["leak_free"], (toggles, leak)
        assert all(v == 0 for v in leak["frames"].values()) and leak["pgds"] == 0 and leak["ptls"] == 0, leak
        assert all(v == 0 for v in leak["objects"].values()) and leak["kernel_sync_missed"] == 0, leak
        assert leak["init_status"] in (0, 1 << 8), leak  # /init survives: 1 when a program failed
        last = b.of_type("counters")[-1]
        assert last["mm"]["alloc_fail_injected"] > 0, last["mm"]
        assert b.one("boot")["fail_alloc"] == {"every": 0, "one_in": 40, "seed": index + 1}
        runs = [json.loads(r["line"]) for r in b.of_type("result") if '"workload":"init"' in r["line"]]
        assert len(runs) == 8, runs  # every program was tried, whatever became of it
        for r in runs:
            outcomes[r["status"]] = outcomes.get(r["status"], 0) + 1
    # Injection reached the programs in several ways: some ran, some failed or were killed, some could not start.
    assert len(outcomes) >= 2, outcomes


@pytest.mark.parametrize("vcpus", [1, 2])
@pytest.mark.parametrize("quarter", range(4))
def test_syscall_fuzzer_in_every_toggle_combination(quarter, vcpus):
    """sysfuzz: 2,000 random calls per combination, seeded by it; never a panic or a leak; the counters show the
    calls, the faults and the errors exercised. On one vCPU and on two."""
    totals = {"syscalls": 0, "user_faults": 0, "signals_fatal": 0, "enosys": 0, "errors": 0}
    for index in range(16 * quarter, 16 * quarter + 16):
        toggles = combination(index)
        words = " ".join(f"{k}={v}" for k, v in toggles.items())
        b = mmboot.boot(
            f"{words} init=/init -- sysfuzz -n 2000 -s {index + 1}", initrd=WORKLOAD_INITRD, timeout=120, smp=vcpus
        )
        assert b.status == "success", (toggles, b.describe())
        leak = assert_clean(b)
        assert leak["killed_at_shutdown"] == 0, leak
        (res,) = [x for x in (json.loads(r["line"]) for r in b.of_type("result")) if x["workload"] == "sysfuzz"]
        assert res["seed"] == index + 1 and res["batches"] == 20 and res["batches_counted"] >= 1, res
        assert res["calls_counted"] <= 2000 and res["batches_exited"] + res["batches_killed"] == 20, res
        d = run_deltas(b, 0, "sysfuzz")
        totals["syscalls"] += d["k.syscalls"]
        totals["user_faults"] += d["k.user_faults"]
        totals["signals_fatal"] += d["k.signals_fatal"]
        totals["enosys"] += sum(b.of_type("counters")[-1]["enosys"].values())
        totals["errors"] += sum(res["errors"].values())
    assert totals["syscalls"] > 16 * 1000 and totals["signals_fatal"] > 0 and totals["errors"] > 1000, totals
    assert totals["enosys"] > 0 and totals["user_faults"] > 0, totals


def test_fail_alloc_every_nth_and_bad_values():
    b = mmboot.boot("mm.fail_alloc=25 init=/init -- /tests/t_fork :: /bin/page_fault -s 256 -i 2")
    assert not b.of_type("panic") and b.one("leak")["leak_free"], b.describe()
    assert b.one("boot")["fail_alloc"] == {"every": 25, "one_in": 0, "seed": 0}
    assert b.of_type("counters")[-1]["kernel"]["init_oom_retries"] >= 0
    for bad in ("mm.fail_alloc=0", "mm.fail_alloc=x", "mm.fail_alloc_seed=-1"):
        b = mmboot.boot(f"{bad} init=/hello")
        assert b.status == "failure" and "mm.fail_alloc" in b.one("panic")["message"], (bad, b.describe())


def exec_deltas(b: mmboot.Boot) -> dict:
    snaps = {r["label"]: r for r in b.of_type("counters")}
    before, after = snaps["exec-before"], snaps["exec-after"]
    return {k: after["mm"][k] - before["mm"][k] for k in after["mm"]}


@pytest.mark.parametrize("prealloc", ["on", "off"])
def test_pmd_prealloc_and_pdpte_reloads_on_exec(prealloc):
    b = mmboot.boot(f"mm.pmd_prealloc={prealloc} init=/tests/t_counters", icount=True)
    assert_clean(b)
    d = exec_deltas(b)
    # One fork + one exec of /hello between the snapshots.
    if prealloc == "on":
        assert d["cr3_reload_pdpte"] == 0, d
        assert d["pmd_prealloc"] >= 6, d  # 3 per pgd_alloc: the fork's and the exec's
    else:
        assert 1 <= d["cr3_reload_pdpte"] <= 3, d
        assert d["pmd_prealloc"] == 0, d


def test_deterministic_counters_identical_across_boots():
    runs = [mmboot.boot("mm.pmd_prealloc=off init=/tests/t_counters", icount=True) for _ in range(2)]
    for b in runs:
        assert_clean(b)
    first, second = ([flatten(r) for r in b.records if r["type"] in ("counters", "leak")] for b in runs)
    assert len(first) == len(second) == 4
    for a, b in zip(first, second):
        assert a == b, {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}


def flatten(record: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in record.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


@pytest.mark.parametrize("vcpus", [1, 2, 4, 8, 16])
def test_smp_bringup_and_kernel_tlb_shootdowns(vcpus):
    """Every CPU the MADT lists comes online (INIT-SIPI-SIPI), and a kernel unmap flushes every CPU:
    kmap_churn's vfree shootdowns are IPIs to the N-1 others, and each CPU runs the INVLPGs itself."""
    b = mmboot.boot("mm.kernel_pmd=unshared init=/init -- kmap_churn -r 16 -f 1", initrd=WORKLOAD_INITRD, smp=vcpus)
    assert_clean(b)
    boot = b.one("boot")
    smp = boot["smp"]
    assert boot["cpus"] == smp["online"] == smp["listed"] == vcpus, smp
    assert smp["tables"] == "acpi-madt" and "start_error" not in smp and "tables_error" not in smp, smp
    assert f"{vcpus} of {vcpus} CPUs online (acpi-madt)" in b.console
    d = run_deltas(b, 0, "kmap_churn")
    assert d["k.kernel_sync_missed"] == 0 and d["kernel_unmap"] >= 16, d
    if vcpus == 1:
        assert d["tlb_shootdown_ipi"] == 0, d
    else:
        # Each kernel unmap is an IPI to every one of the N-1 others (user-mm flushes add IPIs to
        # the CPUs that run that mm).
        assert d["tlb_shootdown_ipi"] >= (vcpus - 1) * d["k.kmap_churns"] > 0, d
    # Each page unmapped is INVLPG'd on every CPU, each counting on its own slot.
    assert d["tlb_flush_page"] >= vcpus * d["kernel_unmap"], d


def test_smp_from_the_mp_table_without_acpi():
    """No ACPI (QEMU acpi=off): the CPUs come from SeaBIOS's MP table, which lists one per package."""
    b = mmboot.boot("init=/hello", machine="pc,acpi=off", smp="4,sockets=4,cores=1")
    assert_clean(b)
    smp = b.one("boot")["smp"]
    assert smp["tables"] == "mp-table" and smp["online"] == smp["listed"] == 4, smp


def test_smp_deterministic_boots_are_identical():
    """-icount with 4 vCPUs (one TCG thread, vCPUs in turn): bring-up and the counters repeat exactly."""
    # Time counts instructions here, so the wall-clock limit only has to catch a hang: one TCG thread runs four
    # vCPUs, 33 s a boot with this 2-core host's load average at 5, and the default 60 s was once not enough.
    boots = [
        mmboot.boot("init=/init -- kmap_churn -r 4 -f 1", initrd=WORKLOAD_INITRD, smp=4, icount=True, timeout=240)
        for _ in range(2)
    ]
    for b in boots:
        assert_clean(b)
    a, c = (b.one("boot")["smp"] for b in boots)
    assert a == c and a["online"] == 4, (a, c)
    ca, cc = (b.of_type("counters")[-1] for b in boots)
    assert ca["mm"] == cc["mm"], "mm counters differ between two deterministic 4-vCPU boots"


def cpus_that(last: dict, key: str) -> int:
    """How many CPUs of a counters record have a non-zero per-CPU `key`."""
    return sum(1 for c in last["cpus"].values() if c[key] > 0)


@pytest.mark.parametrize("vcpus", [2, 4])
@pytest.mark.parametrize("ptlock", ["split", "mm"])
def test_smp_threads_run_and_fault_at_once(ptlock, vcpus):
    """glibc threads on several vCPUs, both ptlock modes: every t_threads check passes (the threads that fault one
    mm's pages at once leave every write in place), no leak; then page_fault's four threads fault on every CPU."""
    b = mmboot.boot(f"mm.ptlock={ptlock} init=/tests/t_threads", smp=vcpus)
    assert_clean(b)
    assert_passed(b, 15)
    last = b.of_type("counters")[-1]
    assert len(last["cpus"]) == vcpus and cpus_that(last, "user_faults") >= 2, last["cpus"]

    b = mmboot.boot(
        f"mm.ptlock={ptlock} init=/init -- page_fault -m threads -w {vcpus} -i 8", initrd=WORKLOAD_INITRD, smp=vcpus
    )
    leak = assert_clean(b)
    assert leak["killed_at_shutdown"] == 0, leak
    (res,) = [x for x in (json.loads(r["line"]) for r in b.of_type("result")) if x["workload"] == "page_fault"]
    assert res["points"][0]["workers"] == vcpus and res["points"][0]["faults"] == vcpus * 8 * 256, res
    d = run_deltas(b, 0, "page_fault")
    assert d["fault_anon"] >= vcpus * 8 * 256, d
    lock = "split_ptl" if ptlock == "split" else "page_table_lock"
    assert d[f"{lock}.acquire"] >= vcpus * 8 * 256, d
    # N runnable threads use N CPUs: every CPU took some of the faults.
    assert cpus_that(b.of_type("counters")[-1], "user_faults") == vcpus, b.of_type("counters")[-1]["cpus"]


@pytest.mark.parametrize("pgd_init", ["locked", "lockless"])
def test_smp_fork_exit_race_kernel_mapping_churn(pgd_init):
    """4 vCPUs: three processes fork and exit in a loop while a fourth maps and unmaps kernel pages (new kernel PTE
    tables under mm.kernel_pmd=unshared). After every churn call the kernel checks every live PGD for every kernel
    PMD entry: none is ever missing, in either pgd_init mode, and nothing leaks."""
    b = mmboot.boot(
        f"mm.kernel_pmd=unshared mm.pgd_init={pgd_init} init=/init -- kmap_churn -r 48 -p 512 -f 3",
        initrd=WORKLOAD_INITRD,
        smp=4,
        timeout=240,
    )
    leak = assert_clean(b)
    assert leak["kernel_sync_missed"] == 0, leak
    (res,) = [x for x in (json.loads(r["line"]) for r in b.of_type("result")) if x["workload"] == "kmap_churn"]
    d = run_deltas(b, 0, "kmap_churn")
    assert d["k.kmap_churns"] == 48 + 1 and d["k.kernel_sync_missed"] == 0, d  # + the probe call
    assert res["forks"] > 0 and d["kernel_pte_table"] > 0, (res, d)
    assert d["pgd_alloc"] == d["pgd_free"] >= res["forks"], d
    last = b.of_type("counters")[-1]
    assert cpus_that(last, "switches") >= 3, last["cpus"]
    if pgd_init == "locked":
        assert d["pgd_lock.acquire"] >= 2 * d["pgd_alloc"], d  # list add and remove, plus the syncs
    else:
        assert d["pgd_lock.acquire"] == 0 and d["pgd_init_late"] == d["pgd_alloc"], d


@pytest.mark.parametrize("vcpus", [1, 2, 4])
def test_smp_tlb_shootdown_reader_must_fault(vcpus):
    """A thread keeps reading a page while another unmaps (or mprotects) it and reuses the frame: the reader faults,
    it never reads the freed frame; after a COW break it sees the new frame at once. With several vCPUs the reader runs on another CPU, so the unmap's flush is a
    shootdown IPI to it."""
    b = mmboot.boot("init=/tests/t_tlb", smp=vcpus, timeout=240)
    assert_clean(b)
    assert_passed(b, 11)
    d = b.of_type("counters")[-1]["mm"]
    if vcpus > 1:
        assert d["tlb_shootdown_ipi"] > 0, d


def test_smp_tlb_shootdown_linux_agrees():
    """The same program on Linux PAE with two vCPUs: the same checks pass there."""
    b = mmboot.boot_linux(["/tests/t_tlb"], smp=2, timeout=240)
    assert b.status == "success", b.describe()
    assert "FAIL" not in b.console and b.console.count("PASS") >= 11, b.console


@pytest.mark.parametrize("vcpus", [8, 16])
def test_smp_many_vcpus_every_cpu_takes_a_thread(vcpus):
    """8 and 16 vCPUs (on however many host cores): t_threads passes, and page_fault's N threads, woken onto idle
    CPUs, spread over them; fork/exit racing kernel-mapping churn on all of them keeps every PGD in sync; nothing
    leaks. (At least half the CPUs, not all: with 16 vCPUs on 2 host cores a thread can finish its faults before
    the last one is created, and its CPU then takes another.)"""
    b = mmboot.boot("init=/tests/t_threads", smp=vcpus, timeout=240)
    assert_clean(b)
    assert_passed(b, 15)
    b = mmboot.boot(
        f"mm.kernel_pmd=unshared init=/init -- page_fault -m threads -w {vcpus} -i 2 :: kmap_churn -r 8 -f {vcpus // 2}",
        initrd=WORKLOAD_INITRD,
        smp=vcpus,
        timeout=240,
    )
    leak = assert_clean(b)
    assert leak["kernel_sync_missed"] == 0 and leak["killed_at_shutdown"] == 0, leak
    after = {r["label"]: r for r in b.of_type("counters")}["after:0:page_fault"]
    assert len(after["cpus"]) == vcpus and cpus_that(after, "user_faults") >= vcpus // 2, after["cpus"]
    d = run_deltas(b, 1, "kmap_churn")
    assert d["k.kernel_sync_missed"] == 0 and d["k.forks"] > 0, d
