// Real threads, each on its own simulated CPU, against one mm core. Also
// run under ThreadSanitizer (make tsan).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "mm/filemap.h"
#include "mm/pgtable.h"
#include "mm/tlb.h"
#include "mm/vmalloc.h"
#include "test_util.h"

namespace {

using mmtest::touch;
using mmtest::TouchResult;

using mmtest::kRW;

// With mm.pmd_prealloc=off, a CPU that faults while another CPU installs
// the PMD for the same GiB keeps its stale "not present" PDPTE until the
// installer's CR3-reload IPI reaches it (the installer holds
// page_table_lock from the PGD write to the IPI, so this is short): it
// refaults meanwhile, as it would on hardware. Racing touches therefore
// allow many attempts; a reload that never comes still shows as kStuck.
constexpr int kRacingAttempts = 100000;

// Starts all threads at once so they really overlap.
class StartGate {
 public:
  explicit StartGate(uint32_t n) : waiting_(n) {}
  void arrive_and_wait() {
    waiting_.fetch_sub(1);
    while (waiting_.load() > 0) std::this_thread::yield();
  }

 private:
  std::atomic<int32_t> waiting_;
};

// ---- Concurrent faults into one mm -----------------------------------------

struct FaultCase {
  bool split;
  bool dynamic;
  bool prealloc;
};

class ConcurrentFaults : public ::testing::TestWithParam<uint32_t> {};

// Threads fault interleaved pages of one region (the same PTE tables), each
// its own stripe in a second region (its own PTE tables), and read the
// others' pages; a fourth CPU keeps mapping and unmapping elsewhere, which
// takes mmap_lock exclusive and shoots down the faulting CPUs. At the end
// every page holds what its writer wrote, and nothing leaks.
TEST_P(ConcurrentFaults, DataIsCorrectAndNothingLeaks) {
  const mm::Toggles t = mm::Toggles::from_index(GetParam());
  constexpr uint32_t kThreads = 3;
  constexpr uint32_t kShared = 0x40000000;   // 3 x 96 interleaved pages
  constexpr uint32_t kStripes = 0x10000000;  // a 4 MiB stripe each (2 PTE tables)
  constexpr uint32_t kPagesPerThread = 96;
  sim::Harness h(t, sim::HarnessOptions{.frames = 16384, .cpus = 4});
  mm::MmStruct* m = mmtest::new_mm(h);
  mmtest::map_fixed(h, m, kShared, kThreads * kPagesPerThread * mm::kPageSize, kRW);
  mmtest::map_fixed(h, m, kStripes, kThreads * 4 * 1024 * 1024, kRW);
  for (uint32_t c = 0; c < 4; ++c) sim::load_on(h, c, m);
  mmtest::Cr3Audit audit(h);

  StartGate gate(kThreads + 1);
  std::atomic<uint32_t> errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (uint32_t tid = 0; tid < kThreads; ++tid) {
    threads.emplace_back([&, tid] {
      gate.arrive_and_wait();
      for (uint32_t i = 0; i < kPagesPerThread; ++i) {
        const uint32_t shared_va = kShared + (i * kThreads + tid) * mm::kPageSize;
        const uint32_t stripe_va = kStripes + tid * 4 * 1024 * 1024 + i * 8 * mm::kPageSize;
        if (touch(h, tid, m, shared_va, true, shared_va ^ 0x5A5A, nullptr, kRacingAttempts) != TouchResult::kOk)
          errors++;
        if (touch(h, tid, m, stripe_va, true, stripe_va ^ 0xA5A5, nullptr, kRacingAttempts) != TouchResult::kOk)
          errors++;
        // Read a neighbour's page: may be faulted here first (the race on
        // one PTE that do_anonymous_page's recheck settles).
        const uint32_t other = kShared + (i * kThreads + (tid + 1) % kThreads) * mm::kPageSize;
        uint32_t v = 0;
        if (touch(h, tid, m, other, false, 0, &v, kRacingAttempts) != TouchResult::kOk) errors++;
        if (v != 0 && v != (other ^ 0x5A5A)) errors++;
      }
    });
  }
  threads.emplace_back([&] {
    sim::OnCpu on(h.machine(), 3);
    gate.arrive_and_wait();
    for (uint32_t round = 0; !stop.load() && round < 200; ++round) {
      mm::VirtAddr out;
      const uint32_t va = 0x90000000 + (round % 8) * 0x200000;
      if (mm::do_mmap(m,
                      mm::MmapRequest{.addr = mm::VirtAddr(va), .len = 2 * mm::kPageSize, .prot = kRW, .fixed = true},
                      &out) != mm::Status::kOk)
        errors++;
      if (touch(h, 3, m, va, true, round, nullptr, kRacingAttempts) != TouchResult::kOk) errors++;
      if (mm::do_munmap(m, mm::VirtAddr(va), 2 * mm::kPageSize) != mm::Status::kOk) errors++;
    }
  });
  for (uint32_t i = 0; i < kThreads; ++i) threads[i].join();
  stop = true;
  threads.back().join();
  EXPECT_EQ(errors.load(), 0u);

  // Everything written is there, seen from every CPU.
  for (uint32_t c = 0; c < 4; ++c) {
    for (uint32_t i = 0; i < kThreads * kPagesPerThread; ++i) {
      const uint32_t va = kShared + i * mm::kPageSize;
      uint32_t v = 0;
      ASSERT_EQ(touch(h, c, m, va, false, 0, &v), TouchResult::kOk);
      EXPECT_EQ(v, va ^ 0x5A5A) << "cpu " << c << " page " << i;
    }
  }
  EXPECT_EQ(m->rss.load(), kThreads * kPagesPerThread * 2);
  const mm::CounterSnapshot c = h.sys().counters.snapshot();
  EXPECT_EQ(c[mm::Counter::kFaultOom] + c[mm::Counter::kFaultBad], 0u);
  // The ptl the faults took: split ptls, or the one page_table_lock.
  if (t.ptlock_split()) EXPECT_GT(c.lock(mm::LockClass::kSplitPtl, mm::LockStat::kAcquire), 0u);
  audit.expect_balanced();
  mmtest::exit_mm(h, m);
  mmtest::expect_no_leaks(h);
}

// All threads fault the same pages at the same moment, round after round:
// the race do_anonymous_page settles by rechecking the PTE under its lock
// (the loser frees its page). A lost recheck leaks pages or loses data.
TEST_P(ConcurrentFaults, SamePageRacesLeaveOnePagePerAddress) {
  const mm::Toggles t = mm::Toggles::from_index(GetParam());
  constexpr uint32_t kThreads = 3;
  constexpr uint32_t kPages = 64;
  constexpr uint32_t kBase = 0x60000000;
  sim::Harness h(t, sim::HarnessOptions{.frames = 8192, .cpus = kThreads});
  mm::MmStruct* m = mmtest::new_mm(h);
  for (uint32_t c = 0; c < kThreads; ++c) sim::load_on(h, c, m);
  std::atomic<uint32_t> errors{0};
  for (uint32_t round = 0; round < 150; ++round) {
    mmtest::map_fixed(h, m, kBase, kPages * mm::kPageSize, kRW);
    StartGate gate(kThreads);
    std::vector<std::thread> threads;
    for (uint32_t tid = 0; tid < kThreads; ++tid) {
      threads.emplace_back([&, tid] {
        gate.arrive_and_wait();
        for (uint32_t i = 0; i < kPages; ++i) {
          uint32_t v = 0;
          // Thread 0 writes, the others read: a read that wins the race
          // must not hide the write that follows it.
          const bool write = tid == 0;
          const uint32_t va = kBase + i * mm::kPageSize;
          if (touch(h, tid, m, va, write, va, &v, kRacingAttempts) != TouchResult::kOk) errors++;
          if (!write && v != 0 && v != va) errors++;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(errors.load(), 0u) << "round " << round;
    EXPECT_EQ(h.in_use(mm::PageKind::kUser), kPages) << "round " << round << ": one page per address";
    for (uint32_t i = 0; i < kPages; ++i) {
      uint32_t v = 0;
      ASSERT_EQ(touch(h, 1, m, kBase + i * mm::kPageSize, false, 0, &v), TouchResult::kOk);
      EXPECT_EQ(v, kBase + i * mm::kPageSize) << "round " << round << ": the write was lost";
    }
    sim::OnCpu on(h.machine(), 0);
    ASSERT_EQ(mm::do_munmap(m, mm::VirtAddr(kBase), kPages * mm::kPageSize), mm::Status::kOk);
  }
  mmtest::exit_mm(h, m);
  mmtest::expect_no_leaks(h);
}

// All threads fault the same file pages at the same moment, each round with
// a fresh page cache: read_page settles the race to read a page in (the
// loser's frame is a spare), the PTE recheck settles the race to map it.
// Thread 0 writes (a private copy), the others read the cached page.
TEST_P(ConcurrentFaults, SameFilePageRacesReadEachPageInOnce) {
  const mm::Toggles t = mm::Toggles::from_index(GetParam());
  constexpr uint32_t kThreads = 3;
  constexpr uint32_t kPages = 32;
  constexpr uint32_t kBase = 0x08048000;
  sim::Harness h(t, sim::HarnessOptions{.frames = 8192, .cpus = kThreads});
  std::vector<uint8_t> file(kPages * mm::kPageSize);
  for (uint32_t i = 0; i < kPages; ++i) __builtin_memcpy(&file[i * mm::kPageSize], &i, 4);
  mm::MmStruct* m = mmtest::new_mm(h);
  for (uint32_t c = 0; c < kThreads; ++c) sim::load_on(h, c, m);
  std::atomic<uint32_t> errors{0};
  for (uint32_t round = 0; round < 100; ++round) {
    mm::FileCache cache;
    {
      sim::OnCpu on(h.machine(), 0);
      cache.init(&h.sys(), file.data(), static_cast<uint32_t>(file.size()));
      mm::VirtAddr out;
      ASSERT_EQ(mm::do_mmap(m,
                            mm::MmapRequest{.addr = mm::VirtAddr(kBase),
                                            .len = kPages * mm::kPageSize,
                                            .prot = kRW,
                                            .fixed = true,
                                            .file = &cache},
                            &out),
                mm::Status::kOk);
    }
    StartGate gate(kThreads);
    std::vector<std::thread> threads;
    for (uint32_t tid = 0; tid < kThreads; ++tid) {
      threads.emplace_back([&, tid] {
        gate.arrive_and_wait();
        for (uint32_t i = 0; i < kPages; ++i) {
          uint32_t v = 0;
          const bool write = tid == 0;
          const uint32_t va = kBase + i * mm::kPageSize + 4;  // word 0 holds the page index
          if (touch(h, tid, m, va, write, 0xC0DE0000 + i, &v, kRacingAttempts) != TouchResult::kOk) errors++;
          if (!write && v != 0 && v != 0xC0DE0000 + i) errors++;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(errors.load(), 0u) << "round " << round;
    {
      sim::OnCpu on(h.machine(), 0);
      EXPECT_EQ(cache.cached(), kPages) << "round " << round;
    }
    EXPECT_EQ(h.in_use(mm::PageKind::kUser), kPages) << "round " << round << ": one private copy per page";
    for (uint32_t i = 0; i < kPages; ++i) {
      uint32_t index = ~0u, written = 0;
      ASSERT_EQ(touch(h, 1, m, kBase + i * mm::kPageSize, false, 0, &index), TouchResult::kOk);
      ASSERT_EQ(touch(h, 2, m, kBase + i * mm::kPageSize + 4, false, 0, &written), TouchResult::kOk);
      EXPECT_EQ(index, i) << "round " << round << ": page " << i << " maps the wrong file page";
      EXPECT_EQ(written, 0xC0DE0000 + i) << "round " << round << ": the write was lost";
    }
    sim::OnCpu on(h.machine(), 0);
    ASSERT_EQ(mm::do_munmap(m, mm::VirtAddr(kBase), kPages * mm::kPageSize), mm::Status::kOk);
    cache.drop();
    EXPECT_EQ(h.in_use(mm::PageKind::kPageCache), 0u) << "round " << round;
  }
  mmtest::exit_mm(h, m);
  mmtest::expect_no_leaks(h);
}

std::string fault_case_name(const ::testing::TestParamInfo<uint32_t>& info) {
  return mmtest::toggle_name(mm::Toggles::from_index(info.param));
}

// ptlock split/mm x ptlock_alloc inline/dynamic x pmd_prealloc on/off
// (bits 4, 5 and 0 of the toggle index).
INSTANTIATE_TEST_SUITE_P(PtlockModes, ConcurrentFaults, ::testing::Values(0u, 1u, 16u, 17u, 32u, 33u, 48u, 49u),
                         fault_case_name);

// ---- Fork/exit racing kernel-mapping creation ---------------------------------

class KernelSyncRace : public ::testing::TestWithParam<uint32_t> {};

// Forkers on two CPUs fork, publish, check and exit in a loop while a third
// CPU creates kernel mappings, each in a fresh 2 MiB of the vmalloc area (so
// each needs a new kernel PMD entry, and with an unshared kernel PMD a sync
// into every PGD). After publishing, a child must hold every kernel PMD
// entry whose creation had completed, and must reach its page.
TEST_P(KernelSyncRace, NoPgdMissesACompletedKernelMapping) {
  const mm::Toggles t = mm::Toggles::from_index(GetParam());
  for (uint32_t round = 0; round < 3; ++round) {
    sim::Harness h(t, sim::HarnessOptions{.frames = 16384, .cpus = 4});
    mm::System& sys = h.sys();
    constexpr uint32_t kForkers = 2;
    constexpr uint32_t kEntries = 160;  // kernel PMD entries created this round
    const uint32_t base = sys.layout.vmalloc_start;
    mm::PhysAddr frame;
    {
      sim::OnCpu on(h.machine(), 0);
      frame = sys.pages.page_to_phys(sys.pages.alloc(mm::PageKind::kKernel));
    }
    // completed[k] is set (release) after map_kernel_page of entry k returned.
    std::vector<std::atomic<bool>> completed(kEntries);
    std::atomic<uint32_t> missed{0}, unreachable{0}, forks{0};
    std::atomic<bool> done{false};
    StartGate gate(kForkers + 1);
    std::vector<mm::MmStruct*> parents(kForkers);
    for (uint32_t f = 0; f < kForkers; ++f) {
      parents[f] = mmtest::new_mm(h);
      mmtest::map_fixed(h, parents[f], 0x08048000, 4 * mm::kPageSize, kRW);
      sim::load_on(h, f, parents[f]);
      ASSERT_EQ(touch(h, f, parents[f], 0x08048000, true, f), TouchResult::kOk);
    }
    std::vector<std::thread> threads;
    for (uint32_t f = 0; f < kForkers; ++f) {
      threads.emplace_back([&, f] {
        sim::OnCpu on(h.machine(), f);
        gate.arrive_and_wait();
        // At least one fork each, also when the mapper finishes before this
        // thread gets a host CPU (a loaded CI machine): a fork after the
        // last mapping must see every entry.
        for (bool once = true; once || !done.load(); once = false) {
          // Entries complete before the child exists must all be in it.
          std::vector<uint32_t> must;
          for (uint32_t k = 0; k < kEntries; ++k)
            if (completed[k].load(std::memory_order_acquire)) must.push_back(k);
          mm::MmStruct* child = mm::dup_mm(parents[f]);
          if (!child) {
            missed += 1000;  // out of memory: fail loudly
            return;
          }
          mm::mm_publish(child);
          forks++;
          const mm::PgdEntry k3 = mm::entry_get(&child->pgd[mm::kKernelPgdIndex]);
          auto* view = static_cast<mm::PmdEntry*>(arch::phys_to_virt(k3.addr()));
          const uint32_t first = mm::VirtAddr(base).pmd_index();
          for (uint32_t k : must)
            if (mm::entry_get(&view[first + k]) != mm::entry_get(&sys.kernel_pmd[first + k])) missed++;
          // And the CPU gets there through the child's PGD.
          mm::switch_mm(parents[f], child);
          if (!must.empty()) {
            const mm::VirtAddr va(base + must.back() * mm::kPmdSize);
            uint32_t v;
            if (!h.cpu(f).read32(va, &v, false)) unreachable++;
          }
          mm::switch_mm(child, parents[f]);
          mm::mmput(child);
        }
      });
    }
    threads.emplace_back([&] {
      sim::OnCpu on(h.machine(), kForkers);
      gate.arrive_and_wait();
      for (uint32_t k = 0; k < kEntries; ++k) {
        if (mm::map_kernel_page(sys, mm::VirtAddr(base + k * mm::kPmdSize), frame, mm::PageProt{.write = true}) !=
            mm::Status::kOk)
          missed += 1000;
        completed[k].store(true, std::memory_order_release);
        if (k % 16 == 0) std::this_thread::yield();
      }
      done = true;
    });
    for (auto& th : threads) th.join();
    EXPECT_EQ(missed.load(), 0u) << "round " << round << ": a completed kernel mapping missing from a new PGD";
    EXPECT_EQ(unreachable.load(), 0u) << "round " << round;
    EXPECT_GT(forks.load(), 0u);
    for (uint32_t f = 0; f < kForkers; ++f) {
      {
        sim::OnCpu on(h.machine(), 0);
        EXPECT_EQ(mm::kernel_pmd_missing(sys, parents[f]), 0u);
      }
      mmtest::exit_mm(h, parents[f]);
    }
    const mm::CounterSnapshot c = sys.counters.snapshot();
    // The point of the lockless mode: fork and exit never take pgd_lock.
    if (t.pgd_lockless())
      EXPECT_EQ(c.lock(mm::LockClass::kPgdLock, mm::LockStat::kAcquire), 0u);
    else
      EXPECT_GE(c.lock(mm::LockClass::kPgdLock, mm::LockStat::kAcquire), 2 * forks.load());
    if (!t.kernel_pmd_shared()) EXPECT_GE(c[mm::Counter::kKernelSync], kEntries * kForkers) << "parents synced";
    {
      sim::OnCpu on(h.machine(), 0);
      for (uint32_t k = 0; k < kEntries; ++k) mm::unmap_kernel_range(sys, mm::VirtAddr(base + k * mm::kPmdSize), 1);
      sys.pages.free(sys.pages.pfn_to_page(frame.pfn()));
    }
    mmtest::expect_no_leaks(h);
  }
}

// pgd_init locked/lockless with an unshared kernel PMD (the case that
// needs the sync), and with a shared one (where there is nothing to sync).
INSTANTIATE_TEST_SUITE_P(PgdInitModes, KernelSyncRace, ::testing::Values(4u, 6u, 0u, 2u, 5u, 7u), fault_case_name);

// ---- TLB shootdown: a reader on one CPU while another unmaps -------------------

TEST(Shootdown, ReaderNeverSeesAFreedFrame) {
  for (const uint32_t bits : {0u, 16u}) {
    sim::Harness h(mm::Toggles::from_index(bits), sim::HarnessOptions{.frames = 8192, .cpus = 2});
    mm::MmStruct* m = mmtest::new_mm(h);
    sim::load_on(h, 0, m);
    sim::load_on(h, 1, m);
    constexpr uint32_t kVa = 0x30000000;
    constexpr uint32_t kPoison = 0xDEADBEEF;
    for (uint32_t round = 0; round < 20; ++round) {
      mmtest::map_fixed(h, m, kVa, mm::kPageSize, kRW);
      ASSERT_EQ(touch(h, 0, m, kVa, true, 1000 + round), TouchResult::kOk);
      std::atomic<uint32_t> reads{0};
      std::atomic<uint32_t> bad{0};
      std::atomic<bool> faulted{false};
      std::atomic<bool> stop{false};
      std::thread reader([&] {
        sim::OnCpu on(h.machine(), 1);
        uint32_t v;
        // Until the unmap reaches us: then the read must fault.
        while (!stop.load()) {
          if (!h.cpu(1).read32(mm::VirtAddr(kVa), &v)) {
            faulted = true;
            return;
          }
          if (v != 1000 + round) bad++;
          reads++;
        }
      });
      while (reads.load() < 100) std::this_thread::yield();
      {
        sim::OnCpu on(h.machine(), 0);
        ASSERT_EQ(mm::do_munmap(m, mm::VirtAddr(kVa), mm::kPageSize), mm::Status::kOk);
      }
      // Reuse the freed frame at once (the allocator is LIFO) and poison it.
      mmtest::map_fixed(h, m, 0x31000000, mm::kPageSize, kRW);
      ASSERT_EQ(touch(h, 0, m, 0x31000000, true, kPoison), TouchResult::kOk);
      // munmap has returned: the reader's next read must fault. Give it a
      // bounded number of reads to show it (a missing shootdown would let
      // it read on forever).
      const uint32_t after = reads.load();
      while (!faulted.load() && reads.load() < after + 10000) std::this_thread::yield();
      stop = true;
      reader.join();
      EXPECT_EQ(bad.load(), 0u) << "round " << round << ": the reader saw a reused frame";
      EXPECT_TRUE(faulted.load()) << "round " << round << ": the reader still translates an unmapped page";
      sim::OnCpu on(h.machine(), 0);
      ASSERT_EQ(mm::do_munmap(m, mm::VirtAddr(0x31000000), mm::kPageSize), mm::Status::kOk);
    }
    mmtest::exit_mm(h, m);
    mmtest::expect_no_leaks(h);
  }
}

}  // namespace
