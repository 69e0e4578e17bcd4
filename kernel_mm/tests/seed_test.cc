// The behaviours the lab exists to show, each pinned by a test.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "mm/pgtable.h"
#include "mm/tlb.h"
#include "test_util.h"

namespace {

using mmtest::touch;
using mmtest::TouchResult;

constexpr uint32_t kRX = mm::kVmRead | mm::kVmExec;
using mmtest::kRW;

// exec of a typical static i386 binary: text at 0x08048000, the mmap area at
// 0x40000000, the stack just below 0xC0000000: one user PGD entry each.
struct ExecCost {
  uint64_t pdpte_reloads;
  uint64_t pmd_installs_live;
};

ExecCost exec_typical_layout(const mm::Toggles& t) {
  sim::Harness h(t);
  mm::MmStruct* old_mm = mmtest::new_mm(h);
  sim::load_on(h, 0, old_mm);
  mmtest::Cr3Audit audit(h);
  const mm::CounterSnapshot before = h.sys().counters.snapshot();
  // exec: a new mm becomes current, the old one is dropped, then the new
  // image is mapped and faulted in while it is live in CR3.
  mm::MmStruct* m = mmtest::new_mm(h);
  sim::load_on(h, 0, m);
  {
    sim::OnCpu on(h.machine(), 0);
    mm::mmput(old_mm);
  }
  mmtest::map_fixed(h, m, 0x08048000, 4 * mm::kPageSize, kRX);
  mmtest::map_fixed(h, m, 0x40000000, 4 * mm::kPageSize, kRW);
  mmtest::map_fixed(h, m, 0xBFFFE000, 2 * mm::kPageSize, kRW);
  EXPECT_EQ(touch(h, 0, m, 0x08048000, false), TouchResult::kOk);
  EXPECT_EQ(touch(h, 0, m, 0x40000000, true, 1), TouchResult::kOk);
  EXPECT_EQ(touch(h, 0, m, 0xBFFFF000, true, 2), TouchResult::kOk);
  const mm::CounterSnapshot d = h.sys().counters.snapshot() - before;
  audit.expect_balanced();
  mmtest::exit_mm(h, m);
  mmtest::expect_no_leaks(h);
  return ExecCost{d[mm::Counter::kCr3ReloadPdpte], d[mm::Counter::kPmdInstallLive]};
}

TEST(Seed, ExecTypicalLayoutCostsThreePdpteReloadsWithoutPrealloc) {
  for (const bool unshared : {false, true}) {
    mm::Toggles on, off;
    on.set(mm::ToggleId::kKernelPmd, unshared);
    off.set(mm::ToggleId::kKernelPmd, unshared);
    off.set(mm::ToggleId::kPmdPrealloc, 1);
    const ExecCost with = exec_typical_layout(on);
    const ExecCost without = exec_typical_layout(off);
    EXPECT_EQ(with.pdpte_reloads, 0u);
    EXPECT_EQ(with.pmd_installs_live, 0u);
    EXPECT_EQ(without.pdpte_reloads, 3u);
    EXPECT_EQ(without.pmd_installs_live, 3u);
  }
}

// Fails exactly the k-th preallocated PMD (k = 0, 1, 2) and checks that
// pgd_alloc mops up everything it had.
TEST(Seed, PreallocFailureAtEachPmdLeaksNothing) {
  for (const bool unshared : {false, true}) {
    for (const bool dynamic : {false, true}) {
      mm::Toggles t;
      t.set(mm::ToggleId::kKernelPmd, unshared);
      t.set(mm::ToggleId::kPtlockAlloc, dynamic);
      sim::Harness h(t);
      sim::OnCpu on(h.machine(), 0);
      // A live mm keeps the mm_struct, PGD and ptl slabs warm, so pgd_alloc's
      // own frame allocations are: [the PGD page (unshared)], PMD 0, 1, 2,
      // [the kernel PMD copy (unshared)].
      mm::MmStruct* warm = mm::mm_alloc(h.sys());
      ASSERT_NE(warm, nullptr);
      const uint32_t first_pmd = unshared ? 2 : 1;
      for (uint32_t k = 0; k < 3; ++k) {
        const mm::CounterSnapshot before = h.sys().counters.snapshot();
        const uint32_t pmds_before = h.in_use(mm::PageKind::kPmdTable);
        const uint32_t pgds_before = h.in_use(mm::PageKind::kPgd);
        h.sys().pages.set_fail_policy(mm::FailPolicy{.fail_at = first_pmd + k});
        mm::MmStruct* m = mm::mm_alloc(h.sys());
        h.sys().pages.set_fail_policy({});
        EXPECT_EQ(m, nullptr) << "PMD " << k;
        const mm::CounterSnapshot d = h.sys().counters.snapshot() - before;
        EXPECT_EQ(d[mm::Counter::kAllocFailInjected], 1u);
        EXPECT_EQ(d[mm::Counter::kPgdAllocFail], 1u);
        EXPECT_EQ(d[mm::Counter::kPtlCtor], k) << "PMDs 0..k-1 were constructed";
        EXPECT_EQ(d[mm::Counter::kPtlDtor], k) << "...and destroyed by the mop-up";
        EXPECT_EQ(d[mm::Counter::kPtlDynAlloc], d[mm::Counter::kPtlDynFree]);
        EXPECT_EQ(h.in_use(mm::PageKind::kPmdTable), pmds_before);
        EXPECT_EQ(h.in_use(mm::PageKind::kPgd), pgds_before);
      }
      mm::mm_publish(warm);
      mmtest::exit_mm(h, warm);
      mmtest::expect_no_leaks(h);
    }
  }
}

// The present entries of the user part of mm's page tables:
// (pgd index) -> [(pmd index, present PTE count)].
std::map<uint32_t, std::map<uint32_t, uint32_t>> table_fingerprint(mm::MmStruct* m) {
  std::map<uint32_t, std::map<uint32_t, uint32_t>> fp;
  for (uint32_t i = 0; i < mm::kUserPgdEntries; ++i) {
    const mm::PgdEntry g = mm::entry_get(&m->pgd[i]);
    if (!g.present()) continue;
    auto& level = fp[i];
    for (uint32_t j = 0; j < mm::kPtrsPerPmd; ++j) {
      const mm::PmdEntry e = mm::entry_get(mm::pmd_offset(g, mm::VirtAddr(i << mm::kPgdShift)) + j);
      if (e.none()) continue;
      uint32_t n = 0;
      for (uint32_t k = 0; k < mm::kPtrsPerPte; ++k)
        n += mm::entry_get(mm::pte_offset_kernel(e, mm::VirtAddr(0)) + k).present();
      level[j] = n;
    }
  }
  return fp;
}

struct TeardownResult {
  std::map<uint32_t, std::map<uint32_t, uint32_t>> after_munmap, after_exit;
  uint64_t scanned_exit;
};

TeardownResult sparse_teardown(bool full, bool prealloc) {
  mm::Toggles t;
  t.set(mm::ToggleId::kFreePgtables, full);
  t.set(mm::ToggleId::kPmdPrealloc, !prealloc);
  sim::Harness h(t);
  mm::MmStruct* m = mmtest::new_mm(h);
  sim::load_on(h, 0, m);
  // Sparse: a page here and there across all three user GiBs.
  const uint32_t spots[] = {0x00400000, 0x08048000, 0x10000000, 0x40000000,
                            0x6F000000, 0x80000000, 0xA0000000, 0xBFFFF000};
  for (uint32_t va : spots) {
    mmtest::map_fixed(h, m, va, mm::kPageSize, kRW);
    EXPECT_EQ(touch(h, 0, m, va, true, va), TouchResult::kOk);
  }
  {
    sim::OnCpu on(h.machine(), 0);
    EXPECT_EQ(mm::do_munmap(m, mm::VirtAddr(0x6F000000), mm::kPageSize), mm::Status::kOk);
    EXPECT_EQ(mm::do_munmap(m, mm::VirtAddr(0x10000000), mm::kPageSize), mm::Status::kOk);
  }
  TeardownResult r;
  {
    sim::OnCpu on(h.machine(), 0);
    r.after_munmap = table_fingerprint(m);
  }
  sim::unload_everywhere(h, m);
  {
    sim::OnCpu on(h.machine(), 0);
    const uint64_t s0 = h.sys().counters.get(mm::Counter::kPgtScanned);
    mm::exit_mmap(m);
    r.scanned_exit = h.sys().counters.get(mm::Counter::kPgtScanned) - s0;
    r.after_exit = table_fingerprint(m);
    EXPECT_EQ(m->rss.load(), 0u);
    EXPECT_EQ(m->nr_ptes.load(), 0u);
    EXPECT_EQ(h.in_use(mm::PageKind::kUser), 0u);
    EXPECT_EQ(h.in_use(mm::PageKind::kPteTable), 0u);
    mm::mmput(m);
  }
  mmtest::expect_no_leaks(h);
  return r;
}

TEST(Seed, FullAndVmaGuidedFreePgtablesAgreeButScanVeryDifferently) {
  for (const bool prealloc : {true, false}) {
    const TeardownResult vma = sparse_teardown(false, prealloc);
    const TeardownResult full = sparse_teardown(true, prealloc);
    EXPECT_EQ(vma.after_munmap, full.after_munmap);
    // Every PTE table is gone in both; only emptied PMDs may remain, and
    // those only in vma mode where no VMA led to them (mopped up by pgd_free).
    for (const auto& [pgd, pmds] : vma.after_exit) EXPECT_TRUE(pmds.empty()) << "pgd " << pgd;
    EXPECT_TRUE(full.after_exit.empty());
    if (!prealloc) EXPECT_EQ(vma.after_exit, full.after_exit);
    // 3 PGD entries + 3 x 512 PMD entries, against a handful.
    EXPECT_EQ(full.scanned_exit, 3u + 3u * 512u);
    EXPECT_LT(vma.scanned_exit * 20, full.scanned_exit) << "vma " << vma.scanned_exit;
  }
}

// A PMD freed by free_pgtables travels through the mmu_gather: its ptl
// dtor runs (and its dynamic lock is freed), the CPUs running the mm reload
// CR3 before the frame is reused, and no translation survives.
TEST(Seed, PmdFreedThroughMmuGatherRunsPtlDtor) {
  for (const bool prealloc : {true, false}) {
    mm::Toggles t;
    t.set(mm::ToggleId::kPtlockAlloc, 1);  // dynamic: a missed dtor leaks a lock
    t.set(mm::ToggleId::kPmdPrealloc, !prealloc);
    sim::Harness h(t);
    mm::MmStruct* m = mmtest::new_mm(h);
    sim::load_on(h, 0, m);
    sim::load_on(h, 1, m);                                    // a second CPU runs it too (a thread)
    mmtest::map_fixed(h, m, 0x08048000, mm::kPageSize, kRW);  // GiB 0
    mmtest::map_fixed(h, m, 0x50000000, mm::kPageSize, kRW);  // alone in GiB 1
    ASSERT_EQ(touch(h, 0, m, 0x08048000, true, 1), TouchResult::kOk);
    ASSERT_EQ(touch(h, 1, m, 0x50000000, true, 2), TouchResult::kOk);
    mmtest::Cr3Audit audit(h);
    const mm::CounterSnapshot before = h.sys().counters.snapshot();
    const uint32_t live_ptls = h.live_ptls();
    {
      sim::OnCpu on(h.machine(), 0);
      ASSERT_EQ(mm::do_munmap(m, mm::VirtAddr(0x50000000), mm::kPageSize), mm::Status::kOk);
    }
    const mm::CounterSnapshot d = h.sys().counters.snapshot() - before;
    EXPECT_EQ(d[mm::Counter::kPmdTableFree], 1u);
    EXPECT_EQ(d[mm::Counter::kPteTableFree], 1u);
    EXPECT_EQ(d[mm::Counter::kPtlDtor], 2u);
    EXPECT_EQ(d[mm::Counter::kPtlDynFree], 2u);
    EXPECT_EQ(h.live_ptls(), live_ptls - 2);
    EXPECT_EQ(d[mm::Counter::kCr3ReloadPdpte], 2u) << "both CPUs reload CR3 once";
    EXPECT_EQ(d[mm::Counter::kTlbShootdownIpi], 1u);
    EXPECT_FALSE(mm::entry_get(&m->pgd[1]).present());
    for (uint32_t c : {0u, 1u}) EXPECT_FALSE(h.cpu(c).translate(mm::VirtAddr(0x50000000), sim::Access::kRead).ok);
    audit.expect_balanced();
    // Mapping there again installs a PMD into the live PGD: one more reload each.
    mmtest::map_fixed(h, m, 0x50000000, mm::kPageSize, kRW);
    EXPECT_EQ(touch(h, 1, m, 0x50000000, false), TouchResult::kOk);
    mmtest::exit_mm(h, m);
    mmtest::expect_no_leaks(h);
  }
}

TEST(Seed, ForkIsCopyOnWriteOnEveryCpu) {
  for (const uint32_t bits : {0u, 63u, 0b010101u, 0b101010u}) {
    sim::Harness h(mm::Toggles::from_index(bits));
    mm::MmStruct* parent = mmtest::new_mm(h);
    sim::load_on(h, 0, parent);
    sim::load_on(h, 2, parent);
    mmtest::map_fixed(h, parent, 0x40000000, 8 * mm::kPageSize, kRW);
    for (uint32_t i = 0; i < 8; ++i)
      ASSERT_EQ(touch(h, i % 2 ? 2 : 0, parent, 0x40000000 + i * mm::kPageSize, true, 100 + i), TouchResult::kOk);
    mm::MmStruct* child;
    {
      sim::OnCpu on(h.machine(), 0);
      child = mm::dup_mm(parent);
      ASSERT_NE(child, nullptr);
      mm::mm_publish(child);
    }
    sim::load_on(h, 1, child);
    // The parent's CPUs must have lost their writable entries. Then both
    // read every page, so each holds a read-only entry to the shared frame
    // when the other one's write copies it.
    for (uint32_t c : {0u, 2u}) {
      for (uint32_t i = 0; i < 8; ++i) {
        const mm::VirtAddr va(0x40000000 + i * mm::kPageSize);
        EXPECT_FALSE(h.cpu(c).probe(va, sim::Access::kWrite).ok)
            << "stale writable TLB entry after fork, cpu " << c << " page " << i;
        ASSERT_EQ(touch(h, c, parent, va.value(), false), TouchResult::kOk);
      }
    }
    for (uint32_t i = 0; i < 8; ++i) {
      const uint32_t va = 0x40000000 + i * mm::kPageSize;
      ASSERT_EQ(touch(h, i % 2 ? 2 : 0, parent, va, true, 200 + i), TouchResult::kOk);
      uint32_t v = 0;
      // The other parent CPU's read-only entry pointed at the frame the
      // child keeps: the copy must have flushed it.
      ASSERT_EQ(touch(h, i % 2 ? 0 : 2, parent, va, false, 0, &v), TouchResult::kOk);
      EXPECT_EQ(v, 200 + i) << "a parent CPU still reads the pre-COW frame";
      ASSERT_EQ(touch(h, 1, child, va, false, 0, &v), TouchResult::kOk);
      EXPECT_EQ(v, 100 + i) << "child sees the parent's write";
      ASSERT_EQ(touch(h, 1, child, va, true, 300 + i), TouchResult::kOk);
      for (uint32_t c : {0u, 2u}) {
        ASSERT_EQ(touch(h, c, parent, va, false, 0, &v), TouchResult::kOk);
        EXPECT_EQ(v, 200 + i) << "parent sees the child's write";
      }
    }
    const auto c = h.sys().counters.snapshot();
    EXPECT_EQ(c[mm::Counter::kForkPtesCopied], 8u);
    EXPECT_EQ(c[mm::Counter::kFaultCowCopy] + c[mm::Counter::kFaultCowReuse], 16u);
    EXPECT_GE(c[mm::Counter::kFaultCowReuse], 1u) << "the last writer of a page reuses it";
    mmtest::exit_mm(h, child);
    mmtest::exit_mm(h, parent);
    mmtest::expect_no_leaks(h);
  }
}

TEST(Seed, UnmapShootsDownOtherCpus) {
  sim::Harness h(mm::Toggles{});
  mm::MmStruct* m = mmtest::new_mm(h);
  sim::load_on(h, 0, m);
  sim::load_on(h, 3, m);
  mmtest::map_fixed(h, m, 0x20000000, 4 * mm::kPageSize, kRW);
  for (uint32_t i = 0; i < 4; ++i) {
    ASSERT_EQ(touch(h, 0, m, 0x20000000 + i * mm::kPageSize, true, i), TouchResult::kOk);
    ASSERT_EQ(touch(h, 3, m, 0x20000000 + i * mm::kPageSize, false), TouchResult::kOk);  // fills CPU 3's TLB
  }
  {
    sim::OnCpu on(h.machine(), 0);
    ASSERT_EQ(mm::do_munmap(m, mm::VirtAddr(0x20001000), 2 * mm::kPageSize), mm::Status::kOk);
  }
  for (uint32_t c : {0u, 3u}) {
    EXPECT_TRUE(h.cpu(c).translate(mm::VirtAddr(0x20000000), sim::Access::kRead).ok);
    EXPECT_FALSE(h.cpu(c).translate(mm::VirtAddr(0x20001000), sim::Access::kRead).ok) << "cpu " << c;
    EXPECT_FALSE(h.cpu(c).translate(mm::VirtAddr(0x20002000), sim::Access::kRead).ok) << "cpu " << c;
    EXPECT_TRUE(h.cpu(c).translate(mm::VirtAddr(0x20003000), sim::Access::kRead).ok);
  }
  // CPUs 1 and 2 never ran the mm: no IPI for them.
  EXPECT_EQ(h.sys().counters.get(mm::Counter::kTlbShootdownIpi), 1u);
  mmtest::exit_mm(h, m);
  mmtest::expect_no_leaks(h);
}

}  // namespace
