// The lock-order checker (mm/lockdep.h) on the simulated machine: it stays
// quiet on a consistent order and on the mm core's own paths, and stops the
// machine naming the classes on an inversion, whether the two orders come
// from one CPU or two, directly or through a third class.
#include "mm/lockdep.h"

#include <gtest/gtest.h>

#include "mm/mmap.h"
#include "mm/spinlock.h"
#include "mm/vmalloc.h"
#include "test_util.h"

namespace {

using mm::LockClass;

// Three locks of three classes, bound to the harness's counters, and the
// checker on for the test (and off again after it: other suites in this
// binary run without it).
class LockdepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_.init(&h_.sys().counters, LockClass::kProcTree);
    b_.init(&h_.sys().counters, LockClass::kSiglock);
    c_.init(&h_.sys().counters, LockClass::kRqLock);
    a2_.init(&h_.sys().counters, LockClass::kProcTree);
    mm::lockdep::enable();
  }
  void TearDown() override { mm::lockdep::disable(); }

  sim::Harness h_{mm::Toggles{}};
  mm::SpinLock a_, b_, c_, a2_;
};

TEST_F(LockdepTest, ConsistentOrderIsQuietAndRecordsEdges) {
  sim::OnCpu on(h_.machine(), 0);
  for (int i = 0; i < 3; ++i) {
    mm::SpinGuard ga(a_);
    mm::SpinGuard gb(b_);
    mm::SpinGuard gc(c_);
  }
  // proctree -> siglock, proctree -> rq, siglock -> rq.
  EXPECT_EQ(mm::lockdep::edges(), 3u);
  {
    // Two locks of one class held together: no edge, no complaint.
    mm::SpinGuard ga(a_);
    mm::SpinGuard ga2(a2_);
  }
  {
    // A lock taken alone after the others, and out-of-order releases.
    b_.lock();
    c_.lock();
    b_.unlock();
    c_.unlock();
  }
  EXPECT_EQ(mm::lockdep::edges(), 3u);
  mm::lockdep::assert_none_held("checks the test's own balance");
}

TEST_F(LockdepTest, InversionOnOneCpuPanicsWithBothChains) {
  sim::OnCpu on(h_.machine(), 0);
  {
    mm::SpinGuard ga(a_);
    mm::SpinGuard gb(b_);
  }
  EXPECT_DEATH(
      {
        mm::SpinGuard gb(b_);
        mm::SpinGuard ga(a_);
      },
      "lock order inversion: CPU 0 holds \\[siglock\\] and takes proctree_lock \\(new edge siglock -> "
      "proctree_lock\\), but proctree_lock -> siglock was recorded: siglock taken on CPU 0 holding "
      "\\[proctree_lock\\]");
}

// The inversion is found before the second CPU spins: with the real
// interleaving (each CPU holding its first lock) this would be a deadlock.
TEST_F(LockdepTest, InversionAcrossCpusThroughAThirdClass) {
  {
    sim::OnCpu on(h_.machine(), 1);
    mm::SpinGuard ga(a_);
    mm::SpinGuard gb(b_);
  }
  {
    sim::OnCpu on(h_.machine(), 2);
    mm::SpinGuard gb(b_);
    mm::SpinGuard gc(c_);
  }
  EXPECT_DEATH(
      {
        sim::OnCpu on(h_.machine(), 3);
        mm::SpinGuard gc(c_);
        mm::SpinGuard ga(a_);
      },
      "CPU 3 holds \\[rq_lock\\] and takes proctree_lock \\(new edge rq_lock -> proctree_lock\\), but "
      "proctree_lock -> siglock -> rq_lock was recorded: siglock taken on CPU 1 holding \\[proctree_lock\\]; "
      "rq_lock taken on CPU 2 holding \\[siglock\\]");
}

TEST_F(LockdepTest, ATryLockAddsNoEdgeButOrdersWhatFollows) {
  sim::OnCpu on(h_.machine(), 0);
  {
    mm::SpinGuard gb(b_);
    ASSERT_TRUE(a_.try_lock());  // siglock then proctree_lock by try_lock: allowed, no edge
    a_.unlock();
  }
  EXPECT_EQ(mm::lockdep::edges(), 0u);
  {
    ASSERT_TRUE(a_.try_lock());
    mm::SpinGuard gb(b_);  // held after a try_lock: proctree_lock -> siglock
    a_.unlock();
  }
  EXPECT_EQ(mm::lockdep::edges(), 1u);
  EXPECT_DEATH(
      {
        mm::SpinGuard gb(b_);
        mm::SpinGuard ga(a_);
      },
      "new edge siglock -> proctree_lock");
}

TEST_F(LockdepTest, BlockingWithALockHeldIsCaught) {
  sim::OnCpu on(h_.machine(), 0);
  EXPECT_DEATH(
      {
        mm::SpinGuard gb(b_);
        mm::lockdep::assert_none_held("blocks");
      },
      "CPU 0 blocks holding \\[siglock\\]");
  EXPECT_DEATH(
      {
        mm::SpinGuard gc(c_);
        mm::SpinGuard gb(b_);
        mm::lockdep::assert_only_held(LockClass::kRqLock, "switches");
      },
      "CPU 0 switches holding \\[rq_lock, siglock\\]");
  {
    mm::SpinGuard gc(c_);
    mm::lockdep::assert_only_held(LockClass::kRqLock, "switches");  // the run-queue lock alone is allowed
  }
}

TEST_F(LockdepTest, ReleasingAClassNotHeldIsCaught) {
  sim::OnCpu on(h_.machine(), 0);
  a_.lock();
  mm::lockdep::disable();
  b_.lock();  // taken while the checker was off
  mm::lockdep::on = true;
  EXPECT_DEATH(b_.unlock(), "CPU 0 releases siglock, which it does not hold: it holds \\[proctree_lock\\]");
  mm::lockdep::disable();
  b_.unlock();
  a_.unlock();
}

// The mm core's own order holds on its fork, exit and kernel-mapping paths,
// in every combination of the pgd_init and kernel_pmd toggles: the checker
// on, nothing reported, and the edges it recorded include the ones the
// design names (docs/mm-core.md).
TEST(LockdepMmCore, ForkExitAndKernelMappingsKeepOneOrder) {
  for (const char* pgd_init : {"locked", "lockless"}) {
    for (const char* kpmd : {"shared", "unshared"}) {
      mm::Toggles t;
      char why[128];
      const std::string a = std::string("mm.pgd_init=") + pgd_init, b = std::string("mm.kernel_pmd=") + kpmd;
      ASSERT_TRUE(t.parse(a.c_str(), static_cast<uint32_t>(a.size()), why, sizeof(why))) << why;
      ASSERT_TRUE(t.parse(b.c_str(), static_cast<uint32_t>(b.size()), why, sizeof(why))) << why;
      sim::Harness h(t);
      sim::OnCpu on(h.machine(), 0);
      mm::lockdep::enable();
      mm::MmStruct* parent = mmtest::new_mm(h);
      ASSERT_NE(parent, nullptr);
      sim::load_on(h, 0, parent);
      mmtest::map_fixed(h, parent, 0x10000000, 16 * mm::kPageSize, mm::kVmRead | mm::kVmWrite);
      for (uint32_t i = 0; i < 16; ++i)
        ASSERT_EQ(mmtest::touch(h, 0, parent, 0x10000000 + i * mm::kPageSize, true, i), mmtest::TouchResult::kOk);
      for (int round = 0; round < 4; ++round) {
        mm::MmStruct* child = mm::dup_mm(parent);
        ASSERT_NE(child, nullptr);
        mm::mm_publish(child);
        mm::VirtAddr va;
        ASSERT_EQ(mm::vmalloc(h.sys(), 512, &va), mm::Status::kOk);
        mm::vfree(h.sys(), va, 512);
        mmtest::exit_mm(h, child);
      }
      mmtest::exit_mm(h, parent);
      mm::lockdep::assert_none_held("ends the test");
      EXPECT_GT(mm::lockdep::edges(), 0u) << pgd_init << " " << kpmd;
      mm::lockdep::disable();
      mmtest::expect_no_leaks(h);
    }
  }
}

}  // namespace
