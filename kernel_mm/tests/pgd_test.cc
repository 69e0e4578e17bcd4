// pgd_alloc / pgd_free in every toggle combination, their failure paths,
// the PAE mop-up, pgd_list membership and the lockless late init.
#include <gtest/gtest.h>

#include "mm/pgtable.h"
#include "mm/tlb.h"
#include "mm/vmalloc.h"
#include "test_util.h"

namespace {

using mmtest::toggle_param_name;

class PgdTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  mm::Toggles toggles() const { return mm::Toggles::from_index(GetParam()); }
};

TEST_P(PgdTest, AllocFreeLayoutAndMemory) {
  const mm::Toggles t = toggles();
  sim::Harness h(t);
  sim::OnCpu on(h.machine(), 0);
  mm::MmStruct* m = mm::mm_alloc(h.sys());
  ASSERT_NE(m, nullptr);
  // User PGD entries: present exactly when preallocated.
  for (uint32_t i = 0; i < mm::kUserPgdEntries; ++i)
    EXPECT_EQ(mm::entry_get(&m->pgd[i]).present(), t.pmd_prealloc()) << "entry " << i;
  EXPECT_EQ(m->pgd_phys.value() % 32, 0u);
  const uint32_t pmds = (t.pmd_prealloc() ? 3 : 0) + (t.kernel_pmd_shared() ? 0 : 1);
  EXPECT_EQ(h.in_use(mm::PageKind::kPmdTable), pmds);
  EXPECT_EQ(mm::mm_usage(m).pmd_tables, pmds);
  EXPECT_EQ(mm::mm_usage(m).pgd_bytes, t.kernel_pmd_shared() ? 32u : 4096u);
  // Locked: pgd_alloc took pgd_lock once (pgd_ctor), filled the kernel part
  // and put the PGD on pgd_list. Lockless: none of that until publish.
  auto pgd_lock_taken = [&] {
    return h.sys().counters.snapshot().lock(mm::LockClass::kPgdLock, mm::LockStat::kAcquire);
  };
  EXPECT_EQ(pgd_lock_taken(), t.pgd_lockless() ? 0u : 1u);
  {
    mm::SpinGuard g(h.sys().pgd_lock);  // the test's own acquisition, counted too
    EXPECT_EQ(h.sys().pgd_list.size(), t.pgd_lockless() ? 0u : 1u);
  }
  EXPECT_EQ(m->kernel_ready.load(), !t.pgd_lockless());
  mm::mm_publish(m);
  EXPECT_TRUE(m->kernel_ready.load());
  EXPECT_EQ(mm::kernel_pmd_missing(h.sys(), m), 0u);
  EXPECT_EQ(h.sys().counters.get(mm::Counter::kPgdInitLate), t.pgd_lockless() ? 1u : 0u);
  const uint64_t before_exit = pgd_lock_taken();
  mmtest::exit_mm(h, m);
  // pgd_free: the untouched preallocated PMDs are mopped up; pgd_dtor takes
  // pgd_lock once more in locked mode, never in lockless mode.
  // (mm.free_pgtables=full visits every user PGD entry and frees the PMDs
  // itself, leaving the mop-up nothing.)
  const uint64_t by_free_pgtables = h.sys().counters.get(mm::Counter::kPmdTableFree);
  EXPECT_EQ(h.sys().counters.get(mm::Counter::kPmdMopUp), t.pmd_prealloc() && !t.free_pgtables_full() ? 3u : 0u);
  EXPECT_EQ(by_free_pgtables, t.pmd_prealloc() && t.free_pgtables_full() ? 3u : 0u);
  EXPECT_EQ(pgd_lock_taken() - before_exit, t.pgd_lockless() ? 0u : 1u);
  mmtest::expect_no_leaks(h);
}

// Fails each allocation pgd_alloc makes, in turn: the PGD itself, each
// preallocated PMD, the kernel PMD copy, the dynamic ptls. Nothing leaks.
TEST_P(PgdTest, FailureAtEveryAllocationLeaksNothing) {
  const mm::Toggles t = toggles();
  sim::Harness h(t);
  sim::OnCpu on(h.machine(), 0);
  uint32_t failures = 0;
  for (uint32_t n = 1; n < 40; ++n) {
    const uint64_t allocs_before = h.sys().counters.get(mm::Counter::kPageAlloc);
    h.sys().pages.set_fail_policy(mm::FailPolicy{.fail_at = n});
    mm::MmStruct* m = mm::mm_alloc(h.sys());
    h.sys().pages.set_fail_policy({});
    if (m) {
      // n exceeded the allocations pgd_alloc makes: every failure point seen.
      EXPECT_LT(h.sys().counters.get(mm::Counter::kPageAlloc) - allocs_before, n);
      mm::mm_publish(m);
      mmtest::exit_mm(h, m);
      break;
    }
    ++failures;
    mmtest::expect_no_leaks(h);
  }
  // At least: mm_struct slab, PGD, every preallocated PMD.
  const uint32_t expected_min = 2 + (t.pmd_prealloc() ? 3 : 0) + (t.kernel_pmd_shared() ? 0 : 1);
  EXPECT_GE(failures, expected_min);
  EXPECT_GE(h.sys().counters.get(mm::Counter::kPgdAllocFail), failures - 1);
  mmtest::expect_no_leaks(h);
}

INSTANTIATE_TEST_SUITE_P(AllToggles, PgdTest, ::testing::Range(0u, mm::kNumToggleCombinations), toggle_param_name);

// With the kernel PMD unshared, a kernel mapping created after an mm exists
// reaches its PGD; in lockless mode also one created between pgd_alloc and
// the publish (the window the late init closes).
TEST(PgdSync, KernelMappingCreatedBeforePublishIsNotMissed) {
  for (const bool lockless : {false, true}) {
    mm::Toggles t;
    t.set(mm::ToggleId::kKernelPmd, 1);
    t.set(mm::ToggleId::kPgdInit, lockless);
    sim::Harness h(t);
    sim::OnCpu on(h.machine(), 0);
    mm::MmStruct* m = mm::mm_alloc(h.sys());
    ASSERT_NE(m, nullptr);
    mm::VirtAddr va;
    ASSERT_EQ(mm::vmalloc(h.sys(), 1, &va), mm::Status::kOk);  // new kernel PTE table
    mm::mm_publish(m);
    EXPECT_EQ(mm::kernel_pmd_missing(h.sys(), m), 0u) << (lockless ? "lockless" : "locked");
    mm::VirtAddr va2;
    ASSERT_EQ(mm::vmalloc(h.sys(), 1, &va2), mm::Status::kOk);
    EXPECT_EQ(mm::kernel_pmd_missing(h.sys(), m), 0u);
    // And the CPU can reach the kernel page through this mm's PGD.
    sim::load_on(h, 0, m);
    EXPECT_TRUE(h.cpu(0).translate(va, sim::Access::kRead, /*user=*/false).ok);
    EXPECT_FALSE(h.cpu(0).translate(va, sim::Access::kRead, /*user=*/true).ok) << "kernel page reachable from ring 3";
    mm::vfree(h.sys(), va, 1);
    mm::vfree(h.sys(), va2, 1);
    EXPECT_FALSE(h.cpu(0).translate(va, sim::Access::kRead, false).ok) << "stale kernel translation after vfree";
    mmtest::exit_mm(h, m);
    mmtest::expect_no_leaks(h);
  }
}

// ioremap maps frames the allocator does not own (device memory), uncached,
// at the byte offset asked for, and iounmap takes the mapping and the
// address range back (the same range is handed out again).
TEST(Ioremap, MapsUncachedAtTheOffsetAndGivesTheRangeBack) {
  sim::Harness h(mm::Toggles{});
  sim::OnCpu on(h.machine(), 0);
  sim::load_on(h, 0, &h.sys().init_mm);
  const mm::PhysAddr device(uint64_t{h.sys().pages.page_to_phys(h.sys().pages.pfn_to_page(5)).value()} + 0x30);
  mm::VirtAddr va;
  ASSERT_EQ(mm::ioremap(h.sys(), device, 0x1000, &va), mm::Status::kOk);  // spans two pages
  EXPECT_EQ(va.value() & 0xFFF, 0x30u);
  const sim::Translation t = h.cpu(0).translate(va, sim::Access::kWrite, /*user=*/false);
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.pa.value(), device.value());
  EXPECT_TRUE(h.cpu(0).translate(va + 0xFC0, sim::Access::kRead, false).ok) << "the second page";
  EXPECT_FALSE(h.cpu(0).translate(va, sim::Access::kRead, /*user=*/true).ok) << "device memory reachable from ring 3";
  const mm::PmdEntry pmd = mm::entry_get(&h.sys().kernel_pmd[va.pmd_index()]);
  const mm::PteEntry pte = mm::entry_get(mm::pte_offset_kernel(pmd, va));
  EXPECT_EQ(pte.raw() & (mm::pte_bits::kPcd | mm::pte_bits::kPwt), mm::pte_bits::kPcd | mm::pte_bits::kPwt);
  EXPECT_NE(pte.raw() & mm::pte_bits::kNx, 0u);
  mm::iounmap(h.sys(), va, 0x1000);
  EXPECT_FALSE(h.cpu(0).translate(va, sim::Access::kRead, false).ok) << "stale translation after iounmap";
  mm::VirtAddr again;
  ASSERT_EQ(mm::ioremap(h.sys(), device, 0x1000, &again), mm::Status::kOk);
  mm::iounmap(h.sys(), again, 0x1000);
  EXPECT_EQ(mm::ioremap(h.sys(), device, 0, &again), mm::Status::kInvalid);
  mmtest::expect_no_leaks(h);
}

}  // namespace
