// Allocation failure on every path that allocates: fork, faults, mmap,
// kernel mappings. Each either succeeds or fails cleanly, and nothing leaks.
#include <gtest/gtest.h>

#include "mm/pgtable.h"
#include "mm/vmalloc.h"
#include "test_util.h"

namespace {

using mmtest::touch;
using mmtest::TouchResult;

using mmtest::kRW;

class FailureTest : public ::testing::TestWithParam<uint32_t> {};

// A parent with pages in all three user GiBs; fork it with the n-th
// allocation failing, for every n until fork succeeds.
TEST_P(FailureTest, ForkFailingAtEveryAllocationLeaksNothing) {
  sim::Harness h(mm::Toggles::from_index(GetParam()));
  mm::MmStruct* parent = mmtest::new_mm(h);
  sim::load_on(h, 0, parent);
  const uint32_t spots[] = {0x08048000, 0x40000000, 0x40400000, 0xBFFFE000};
  for (uint32_t va : spots) {
    mmtest::map_fixed(h, parent, va, 2 * mm::kPageSize, kRW);
    ASSERT_EQ(touch(h, 0, parent, va, true, va), TouchResult::kOk);
  }
  uint32_t failures = 0;
  for (uint32_t n = 1; n < 200; ++n) {
    mm::MmStruct* child;
    {
      sim::OnCpu on(h.machine(), 0);
      h.sys().pages.set_fail_policy(mm::FailPolicy{.fail_at = n});
      child = mm::dup_mm(parent);
      h.sys().pages.set_fail_policy({});
    }
    // The parent is untouched either way: same data, still writable after COW.
    for (uint32_t va : spots) {
      uint32_t v = 0;
      ASSERT_EQ(touch(h, 0, parent, va, false, 0, &v), TouchResult::kOk);
      EXPECT_EQ(v, va) << "n=" << n;
    }
    if (child) {
      sim::OnCpu on(h.machine(), 0);
      mm::mm_publish(child);
      mm::mmput(child);
      break;
    }
    ++failures;
    // The failed child's frames are all back: only the parent's remain.
    EXPECT_EQ(h.in_use(mm::PageKind::kUser), 4u) << "n=" << n;
  }
  EXPECT_GE(failures, 5u) << "fork allocates: mm, PGD, PMDs, PTE tables, VMAs";
  mmtest::exit_mm(h, parent);
  mmtest::expect_no_leaks(h);
}

TEST_P(FailureTest, FaultsFailingAtEveryAllocationLeakNothing) {
  sim::Harness h(mm::Toggles::from_index(GetParam()));
  mm::MmStruct* m = mmtest::new_mm(h);
  sim::load_on(h, 0, m);
  mmtest::map_fixed(h, m, 0x40000000, 4 * mm::kPageSize, kRW);
  mmtest::map_fixed(h, m, 0x80000000, 4 * mm::kPageSize, kRW);
  uint32_t nomem = 0;
  for (uint32_t n = 1; n < 8; ++n) {
    {
      sim::OnCpu on(h.machine(), 0);
      h.sys().pages.set_fail_policy(mm::FailPolicy{.fail_at = n});
    }
    const uint32_t va = (n % 2 ? 0x40000000 : 0x80000000) + (n / 2) * mm::kPageSize;
    const TouchResult r = touch(h, 0, m, va, true, n);
    {
      sim::OnCpu on(h.machine(), 0);
      h.sys().pages.set_fail_policy({});
    }
    if (r == TouchResult::kNoMem) {
      ++nomem;
      // A retry without the failure succeeds: the failed fault left no half state.
      EXPECT_EQ(touch(h, 0, m, va, true, n), TouchResult::kOk);
    } else {
      EXPECT_EQ(r, TouchResult::kOk);
    }
  }
  EXPECT_GE(nomem, 1u);
  // A COW copy that cannot allocate leaves both processes as they were.
  mm::MmStruct* child;
  {
    sim::OnCpu on(h.machine(), 0);
    child = mm::dup_mm(m);
    ASSERT_NE(child, nullptr);
    mm::mm_publish(child);
    h.sys().pages.set_fail_policy(mm::FailPolicy{.fail_every = 1});
  }
  EXPECT_EQ(touch(h, 0, m, 0x40000000, true, 99), TouchResult::kNoMem);
  {
    sim::OnCpu on(h.machine(), 0);
    h.sys().pages.set_fail_policy({});
  }
  uint32_t v = 0;
  ASSERT_EQ(touch(h, 0, m, 0x40000000, false, 0, &v), TouchResult::kOk);
  EXPECT_EQ(v, 1u);
  mmtest::exit_mm(h, child);
  mmtest::exit_mm(h, m);
  mmtest::expect_no_leaks(h);
}

// Defaults, everything flipped, and the two unshared-kernel-PMD lock modes.
INSTANTIATE_TEST_SUITE_P(SomeToggles, FailureTest, ::testing::Values(0u, 63u, 5u, 54u, 21u, 42u),
                         mmtest::toggle_param_name);

TEST(Failure, VmallocFailingAtEveryAllocationLeaksNothing) {
  mm::Toggles t;
  t.set(mm::ToggleId::kKernelPmd, 1);
  sim::Harness h(t);
  mm::MmStruct* m = mmtest::new_mm(h);
  sim::OnCpu on(h.machine(), 0);
  uint32_t failures = 0;
  for (uint32_t n = 1; n < 20; ++n) {
    h.sys().pages.set_fail_policy(mm::FailPolicy{.fail_at = n});
    mm::VirtAddr va;
    const mm::Status s = mm::vmalloc(h.sys(), 4, &va);
    h.sys().pages.set_fail_policy({});
    if (s == mm::Status::kOk) {
      EXPECT_EQ(mm::kernel_pmd_missing(h.sys(), m), 0u);
      mm::vfree(h.sys(), va, 4);
      break;
    }
    EXPECT_EQ(s, mm::Status::kNoMem);
    ++failures;
  }
  EXPECT_GE(failures, 4u);
  mm::mmput(m);
  mmtest::expect_no_leaks(h);
}

TEST(Locks, PteAndPmdLockPointersFollowTheToggle) {
  for (const bool split : {true, false}) {
    mm::Toggles t;
    t.set(mm::ToggleId::kPtlock, split ? 0 : 1);
    sim::Harness h(t);
    mm::MmStruct* m = mmtest::new_mm(h);
    sim::load_on(h, 0, m);
    mmtest::map_fixed(h, m, 0x40000000, 4 * 1024 * 1024, kRW);
    ASSERT_EQ(touch(h, 0, m, 0x40000000, true, 1), TouchResult::kOk);
    ASSERT_EQ(touch(h, 0, m, 0x40200000, true, 2), TouchResult::kOk);  // the next PTE table
    {
      sim::OnCpu on(h.machine(), 0);
      mm::PmdEntry* a = mm::pmd_lookup(m, mm::VirtAddr(0x40000000));
      mm::PmdEntry* b = mm::pmd_lookup(m, mm::VirtAddr(0x40200000));
      mm::SpinLock* la = mm::pte_lockptr(m, mm::entry_get(a));
      mm::SpinLock* lb = mm::pte_lockptr(m, mm::entry_get(b));
      if (split) {
        EXPECT_NE(la, lb) << "two PTE tables, two locks";
        EXPECT_NE(la, &m->page_table_lock);
        EXPECT_EQ(mm::pmd_lockptr(m, a), mm::pmd_lockptr(m, b)) << "one PMD table, one lock";
        EXPECT_NE(mm::pmd_lockptr(m, a), la);
      } else {
        EXPECT_EQ(la, &m->page_table_lock);
        EXPECT_EQ(lb, &m->page_table_lock);
        EXPECT_EQ(mm::pmd_lockptr(m, a), &m->page_table_lock);
      }
      mm::SpinLock* held = mm::pmd_lock(m, a);
      EXPECT_TRUE(held->held_by_me());
      held->unlock();
      mm::SpinLock* ptl;
      mm::PteEntry* pte = mm::pte_offset_map_lock(m, a, mm::VirtAddr(0x40000000), &ptl);
      EXPECT_EQ(ptl, la);
      EXPECT_TRUE(ptl->held_by_me());
      EXPECT_TRUE(mm::entry_get(pte).present());
      mm::pte_unmap_unlock(pte, ptl);
      EXPECT_FALSE(ptl->is_locked());
    }
    mmtest::exit_mm(h, m);
    mmtest::expect_no_leaks(h);
  }
}

}  // namespace
