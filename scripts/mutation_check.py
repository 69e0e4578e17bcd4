#!/usr/bin/env python3
"""Mutation check: do the mm-core tests and the boot tests catch the bugs they claim to?

Each mutation removes one flush, recheck or free from a copy of the tree,
rebuilds the test binaries there and runs them; a mutation the suites do not
fail on "survived". Prints a Markdown table; exits 1 if anything survived or a
mutation no longer applies (the source changed under it: update the pattern).

The booted-kernel mutations (K*, with --boot) also rebuild the kernel and boot
it, through this tree's build/bin/mmlab (MMLAB_KERNEL), in the boot tests'
`bochs` cases (the defaults, and every toggle flipped with mm.pmd_prealloc=off
on two vCPUs) under QEMU and under Bochs; the table says which of the sim
tests, the QEMU boots and the Bochs boots caught each. K0 is the unmutated
kernel: every boot must pass, so a "missed" is not an artefact of the cases.

    /usr/bin/python3 scripts/mutation_check.py [--work DIR] [--only M1,M9,K1] [--boot]
"""
import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (id, what the mutation breaks, file, text to find, replacement)
MUTATIONS = [
    (
        "M1",
        "no CR3 reload after a PMD is installed into a live PGD",
        "kernel_mm/mm/pgtable.cc",
        "  arch::smp_mb();\n  if (mm->cpumask.load() == 0) return;\n  flush_tlb_mm_range(mm, FlushRequest{.kind = FlushRequest::Kind::kPdpteReload",
        "  return;\n  flush_tlb_mm_range(mm, FlushRequest{.kind = FlushRequest::Kind::kPdpteReload",
    ),
    (
        "M2",
        "no flush of the parent after fork write-protects it",
        "kernel_mm/mm/mmap.cc",
        "      flush_tlb_mm_range(parent, FlushRequest{.kind = FlushRequest::Kind::kAll",
        "      if (false) flush_tlb_mm_range(parent, FlushRequest{.kind = FlushRequest::Kind::kAll",
    ),
    (
        "M3",
        "mmu_gather frees pages and tables without flushing",
        "kernel_mm/mm/tlb.cc",
        "    flush_tlb_mm_range(mm_, req);\n    sys.counters.add(Counter::kGatherFlush);",
        "    (void)req;",
    ),
    (
        "M4",
        "lockless late init copies no kernel part",
        "kernel_mm/mm/pgtable.cc",
        "  copy_kernel_part(mm);\n  mm->kernel_ready.store(true, std::memory_order_release);\n  mm->sys->counters.add(Counter::kPgdInitLate);",
        "  mm->kernel_ready.store(true, std::memory_order_release);\n  mm->sys->counters.add(Counter::kPgdInitLate);",
    ),
    (
        "M5",
        "lockless kernel-mapping sync skips the task list",
        "kernel_mm/mm/vmalloc.cc",
        "for (MmStruct* mm = sys.tasks.front(); mm; mm = TaskList::next(mm)) sync_one(sys, mm, idx, e);",
        "",
    ),
    (
        "M6",
        "pte_free_tlb skips the ptl dtor",
        "kernel_mm/mm/tlb.cc",
        "  ptlock_free(*mm_->sys, table);\n  tables_.push_back(table);\n  mm_->sys->counters.add(Counter::kPteTableFree);",
        "  tables_.push_back(table);\n  mm_->sys->counters.add(Counter::kPteTableFree);",
    ),
    (
        "M7",
        "free_pgtables ignores the ceiling",
        "kernel_mm/mm/memory.cc",
        "  if (end - 1 > ceiling - 1) return;\n  const PgdEntry e",
        "  const PgdEntry e",
    ),
    (
        "M8",
        "COW reuses a page that is still shared",
        "kernel_mm/mm/memory.cc",
        "old->refcount.load(std::memory_order_acquire) == 1",
        "true",
    ),
    (
        "M9",
        "COW copy replaces the PTE without a flush",
        "kernel_mm/mm/memory.cc",
        "    flush_tlb_page(mm, a);\n    entry_set(ptep, PteEntry::page(sys.pages.page_to_phys(copy)",
        "    entry_set(ptep, PteEntry::page(sys.pages.page_to_phys(copy)",
    ),
    (
        "M10",
        "demand-zero fault installs without rechecking the PTE under its lock",
        "kernel_mm/mm/memory.cc",
        "  if (!entry_get(ptep).none()) {\n    pte_unmap_unlock(ptep, ptl);\n    put_page(sys.pages, page);\n    return Status::kOk;\n  }",
        "",
    ),
    (
        "M11",
        "kernel unmap without a flush",
        "kernel_mm/mm/vmalloc.cc",
        "  flush_tlb_kernel_range(sys, va, va + npages * kPageSize);",
        "",
    ),
    (
        "M12",
        "pgd_free skips the PMD mop-up",
        "kernel_mm/mm/pgtable.cc",
        "    if (!e.present()) continue;\n    free_table_page(sys, sys.pages.pfn_to_page(e.pfn()));\n    mm->nr_pmds",
        "    if (true) continue;\n    free_table_page(sys, sys.pages.pfn_to_page(e.pfn()));\n    mm->nr_pmds",
    ),
    ("M13", "mprotect without a flush", "kernel_mm/mm/mmap.cc", "  if (changed) {", "  if (false && changed) {"),
    (
        "M14",
        "no remote shootdown (local flush only)",
        "kernel_mm/mm/tlb.cc",
        "arch::flush_tlb_others(others, req);",
        "(void)others;",
    ),
    (
        "M15",
        "locked kernel-mapping sync skips pgd_list",
        "kernel_mm/mm/vmalloc.cc",
        "for (MmStruct* mm = sys.pgd_list.front(); mm; mm = PgdList::next(mm)) sync_one(sys, mm, idx, e);",
        "",
    ),
    (
        "M16",
        "mmu_gather flush range one page short",
        "kernel_mm/mm/tlb.cc",
        "  if (s + kPageSize > end_) end_ = s + kPageSize;",
        "  if (s > end_) end_ = s;",
    ),
]

# Booted-kernel mutations: (id, what, file, text to find, replacement). K0 changes nothing.
BOOT_MUTATIONS = [
    ("K0", "none (the kernel as it is)", None, None, None),
    (
        "K1",
        "PDPTE reload removed: pdpte_reload() does nothing (a PMD installed into a live PGD stays invisible)",
        "kernel_mm/mm/pgtable.cc",
        "  arch::smp_mb();\n  if (mm->cpumask.load() == 0) return;\n  flush_tlb_mm_range(mm, FlushRequest{.kind = FlushRequest::Kind::kPdpteReload",
        "  return;\n  flush_tlb_mm_range(mm, FlushRequest{.kind = FlushRequest::Kind::kPdpteReload",
    ),
    (
        "K2",
        "shootdown removed: the x86 IPI handler acknowledges a remote flush without flushing",
        "kernel_mm/arch/x86_pae/src/smp.cc",
        "    mm::flush_tlb_func(*req);\n",
        "    (void)req;\n",
    ),
    (
        "K3",
        "INVLPG removed: a range flush invalidates nothing",
        "kernel_mm/mm/tlb.cc",
        "        arch::invlpg(VirtAddr(va));\n",
        "",
    ),
]
BOOT_CASES = ["bochs.defaults", "bochs.flipped"]

TESTS = ["mm_tests", "mm_concurrency_tests"]


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, **kw)


def run_suites(build):
    """The sim suites: a list of 'SUITE: N (e.g. `Test`)' for each that failed (empty: all passed)."""
    failed = []
    for t in TESTS:
        r = sh(f"timeout 600 {build}/kernel_mm/tests/{t} --gtest_brief=1")
        if r.returncode:
            names = {
                l.split("]", 1)[1].split(",")[0].strip()
                for l in r.stdout.splitlines()
                if l.startswith("[  FAILED  ]") and "listed below" not in l and " test" not in l[13:20]
            }
            names.discard("")
            failed.append(f"{t}: {len(names) if names else 'crashed'}")
            sample = sorted(names)[:1]
            if sample:
                failed[-1] += f" (e.g. `{sample[0].split('/')[1] if '/' in sample[0] else sample[0]}`)"
    return failed


def run_boots(kernel, tree, emulators):
    """Boots `kernel` in BOOT_CASES under each emulator, two boots at a time: per emulator, the cases that failed,
    each with its first problem."""
    mmlab = os.path.join(ROOT, "build", "bin", "mmlab")
    if not os.path.exists(mmlab):
        sys.exit("mutation_check: --boot boots through build/bin/mmlab: run `make build` first")

    def one(emulator, case):
        r = subprocess.run(
            [mmlab, "boot", "--test", case, "--emulator", emulator]
            + ["--tests", os.path.join(tree, "kernel_mm", "kernel", "tests", "boot_tests.toml")],
            capture_output=True,
            text=True,
            env=dict(os.environ, MMLAB_KERNEL=kernel),
        )
        if not r.returncode:
            return None
        problems = [l.strip()[2:] for l in r.stderr.splitlines() if l.startswith("  - ")]
        why = problems[0] if problems else (r.stderr.strip().splitlines() or ["no output"])[-1]
        return f"{case.split('.')[1]}: {why[:110].replace('|', '/')}"

    jobs = [(e, c) for e in emulators for c in BOOT_CASES]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda j: one(*j), jobs))
    return {e: [r for (je, _), r in zip(jobs, results) if je == e and r] for e in emulators}


def boot_check(args, tree, build, only):
    """The booted-kernel mutations: sim suites, QEMU boots, Bochs boots."""
    kbuild = os.path.join(args.work, "build-kernel")
    r = sh(
        f"cmake -S {tree} -B {kbuild} -G Ninja -DMMLAB_BENCH=OFF -DMMLAB_TESTS=OFF && ninja -C {kbuild} mmlab_kernel"
    )
    if r.returncode:
        sys.exit(f"mutation_check: the unmutated kernel does not build:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    kernel = os.path.join(kbuild, "kernel", "mmlab-kernel.elf")
    rows, bad = [], 0
    for mid, what, path, old, new in BOOT_MUTATIONS:
        if only and mid not in only:
            continue
        f = os.path.join(tree, path) if path else None
        orig = open(f).read() if f else None
        if f and old not in orig:
            rows.append((mid, what, "pattern no longer in the source", "", "", ""))
            bad += 1
            continue
        if f:
            open(f, "w").write(orig.replace(old, new, 1))
        try:
            k = sh(f"ninja -C {kbuild} mmlab_kernel")
            b = sh(f"ninja -C {build} {' '.join(TESTS)}")
            if k.returncode or b.returncode:
                rows.append((mid, what, "does not build", "", "", ""))
                bad += 1
                continue
            if "no work to do" in b.stdout:
                sim = "missed: not in the sim build (arch/x86_pae)" if f else "pass"
                sim_caught = False
            else:
                s_failed = run_suites(build)
                sim_caught = bool(s_failed)
                sim = "; ".join(s_failed) if s_failed else "missed"
            booted = run_boots(kernel, tree, ["qemu", "bochs"])
            q_failed, x_failed = booted["qemu"], booted["bochs"]
            by = [n for n, c in (("sim", sim_caught), ("QEMU", bool(q_failed)), ("Bochs", bool(x_failed))) if c]
            if f:
                verdict = "caught by " + ", ".join(by) if by else "SURVIVED"
                bad += not by
            else:
                verdict = "all pass" if not by else "FAILS UNMUTATED"
                bad += bool(by)
            cell = lambda failed: "caught: " + "; ".join(failed) if failed else ("missed" if f else "pass")
            rows.append((mid, what, verdict, sim, cell(q_failed), cell(x_failed)))
            print(f"{mid}: {verdict}", file=sys.stderr, flush=True)
        finally:
            if f:
                open(f, "w").write(orig)
    sh(f"ninja -C {kbuild} mmlab_kernel && ninja -C {build} {' '.join(TESTS)}")
    print()
    print("| id | booted-kernel mutation | result | sim tests | QEMU boots | Bochs boots |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %s | %s | %s | %s |" % r)
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/mmlab-mutation")
    ap.add_argument("--only", default="")
    ap.add_argument(
        "--reuse", action="store_true", help="keep the builds of an earlier run in --work (tar keeps mtimes)"
    )
    ap.add_argument("--boot", action="store_true", help="also the booted-kernel mutations (K*: QEMU and Bochs boots)")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    tree = os.path.join(args.work, "tree")
    if not args.reuse:
        shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(tree, exist_ok=True)
    r = sh(f"cd {ROOT} && git ls-files -z | xargs -0 tar -cf - | tar -xf - -C {tree}")
    if r.returncode:
        sys.exit(f"mutation_check: cannot copy the tree: {r.stderr}")
    if args.reuse:
        # A run killed mid-mutation leaves objects built from a mutated file that tar just restored with its old
        # mtime: touch every file a mutation edits, so ninja rebuilds from the restored text.
        for m in MUTATIONS + BOOT_MUTATIONS:
            if m[2]:
                os.utime(os.path.join(tree, m[2]))
    build = os.path.join(args.work, "build")
    r = sh(
        f"cmake -S {tree} -B {build} -G Ninja -DMMLAB_BENCH=OFF -DMMLAB_FREESTANDING=OFF && "
        f"ninja -C {build} {' '.join(TESTS)}"
    )
    if r.returncode:
        sys.exit(f"mutation_check: the unmutated tree does not build:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    rows, bad = [], 0
    for mid, what, path, old, new in MUTATIONS:
        if only and mid not in only:
            continue
        f = os.path.join(tree, path)
        orig = open(f).read()
        if old not in orig:
            rows.append((mid, what, "pattern no longer in the source", ""))
            bad += 1
            continue
        open(f, "w").write(orig.replace(old, new, 1))
        b = sh(f"ninja -C {build} {' '.join(TESTS)}")
        if b.returncode:
            rows.append((mid, what, "does not build", ""))
            bad += 1
        else:
            failed = run_suites(build)
            rows.append((mid, what, "killed" if failed else "SURVIVED", "; ".join(failed)))
            bad += not failed
        open(f, "w").write(orig)
        print(f"{mid}: {rows[-1][2]}", file=sys.stderr, flush=True)
    if rows:
        print("| id | mutation | result | failing suites |")
        print("|---|---|---|---|")
        for r in rows:
            print("| %s | %s | %s | %s |" % r)
    if args.boot:
        bad += boot_check(args, tree, build, only)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
