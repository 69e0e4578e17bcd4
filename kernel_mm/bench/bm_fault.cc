// BM_PageFaultThroughput: N threads, each on its own simulated CPU, fault
// pages into one shared mm, under mm.ptlock=split and mm.ptlock=mm.
//
// Two layouts of the same number of pages in the same VMA:
//   own_table:    each thread faults pages in PTE tables no other thread
//                 touches. Split ptlocks: disjoint locks, no ptl contention;
//                 ptlock=mm: every fault of every thread takes the one
//                 page_table_lock.
//   shared_table: thread t faults page i*N + t, so every PTE table holds
//                 pages of every thread and the threads meet on the same
//                 split lock too (the control: both modes contend).
// Two kinds of fault:
//   anon:     demand-zero faults on fresh pages, what a process that grows
//             does. Each also allocates (and zeroes) a frame, from its CPU's
//             page list (pcp_lock) refilled in batches from the global list
//             (page_alloc_lock), in both modes; both are reported so that a
//             ceiling the ptlock toggle cannot lift is visible, not hidden.
//   spurious: faults on pages already mapped writable (a stale TLB entry on
//             hardware): mmap_lock shared, the PTE lock, a local INVLPG, no
//             allocation. The fault path's own locking, isolated.
#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "families.h"
#include "mm/memory.h"

namespace mmbench {
namespace {

using mm::ToggleId;

enum class FaultLayout : uint8_t { kOwnTable, kSharedTable };
enum class FaultKind : uint8_t { kAnon, kSpurious };

struct FaultPlan {
  static constexpr uint32_t kBase = 0x40000000u;  // GiB 1: one PMD table for all threads
  uint32_t threads;
  uint32_t pages;  // per thread
  FaultLayout layout;
  uint32_t rounds = 1;  // passes over the pages per batch (spurious: the pages stay mapped)

  // Each thread's share of the VMA, rounded up to whole PTE tables.
  uint32_t slice_bytes() const { return (pages * mm::kPageSize + mm::kPmdSize - 1) & ~(mm::kPmdSize - 1); }
  uint32_t vma_pages() const { return threads * slice_bytes() / mm::kPageSize; }
  uint32_t addr(uint32_t thread, uint32_t i) const {
    if (layout == FaultLayout::kOwnTable) return kBase + thread * slice_bytes() + i * mm::kPageSize;
    return kBase + (i * threads + thread) * mm::kPageSize;
  }
};

// The start line of one batch: every worker checks in (ready), then all
// wait for go, so the timed part starts with every thread created and
// spinning, not with the host still starting threads.
struct StartLine {
  std::atomic<uint32_t> ready{0};
  std::atomic<bool> go{false};
  std::atomic<uint32_t> failures{0};
  // Per thread: seconds from seeing go to its last fault (written by the
  // thread, read after join).
  std::vector<double> busy_s;
};

void fault_worker(sim::Harness& h, mm::MmStruct* m, const FaultPlan& p, uint32_t thread, StartLine& line) {
  sim::OnCpu on(h.machine(), thread + 1);  // CPU 0 is the benchmark's own thread
  line.ready.fetch_add(1, std::memory_order_acq_rel);
  while (!line.go.load(std::memory_order_acquire)) std::this_thread::yield();
  const double t0 = now_s();
  for (uint32_t r = 0; r < p.rounds; ++r)
    for (uint32_t i = 0; i < p.pages; ++i)
      if (mm::handle_mm_fault(m, mm::VirtAddr(p.addr(thread, i)), mm::FaultFlags{.write = true}) != mm::Status::kOk)
        line.failures.fetch_add(1, std::memory_order_relaxed);
  line.busy_s[thread] = now_s() - t0;
}

// A process whose one VMA is loaded on every faulting CPU (a
// multithreaded process); with `prefault`, every page the plan touches is
// already mapped. nullptr when mmap or a fault failed.
mm::MmStruct* fault_process(sim::Harness& h, const FaultPlan& p, bool prefault) {
  mm::MmStruct* m = new_process(h);
  bool ok = map_fixed(m, FaultPlan::kBase, p.vma_pages(), mm::kVmRead | mm::kVmWrite);
  for (uint32_t t = 0; ok && prefault && t < p.threads; ++t)
    for (uint32_t i = 0; ok && i < p.pages; ++i) ok = touch(m, p.addr(t, i), 1, /*write=*/true);
  if (!ok) {
    exit_process(h, m);
    return nullptr;
  }
  for (uint32_t c = 1; c <= p.threads; ++c) sim::load_on(h, c, m);
  return m;
}

// One batch per iteration: N threads released together, timed from the
// release to the last thread's last fault. anon: a fresh process per batch,
// which exits after it (not timed), so memory never runs out. spurious:
// one prefaulted process for the whole run.
void BM_PageFaultThroughput(benchmark::State& state, uint8_t ptlock, FaultLayout layout, FaultKind kind,
                            uint32_t pages) {
  // A spurious fault costs a tenth of a demand-zero one: 16 passes make
  // its batches about as long.
  const FaultPlan p{static_cast<uint32_t>(state.range(0)), pages, layout, kind == FaultKind::kSpurious ? 16u : 1u};
  const mm::Toggles t = make_toggles({{ToggleId::kPtlock, ptlock}});
  const uint32_t frames = std::max<uint32_t>(16384, p.vma_pages() + p.vma_pages() / 256 + 4096);
  sim::Harness h(t, sim::HarnessOptions{.frames = frames, .cpus = p.threads + 1});
  sim::OnCpu on(h.machine(), 0);

  CounterAccum acc;
  double timed_s = 0;
  double busy_s = 0;  // summed over threads
  uint64_t faults = 0;
  const bool spurious = kind == FaultKind::kSpurious;
  mm::MmStruct* kept = spurious ? fault_process(h, p, /*prefault=*/true) : nullptr;
  if (spurious && !kept) {
    state.SkipWithError("setting up the prefaulted process failed");
    return;
  }
  for (auto _ : state) {
    mm::MmStruct* m = spurious ? kept : fault_process(h, p, /*prefault=*/false);
    if (!m) {
      state.SkipWithError("setting up the process failed");
      break;
    }
    StartLine line;
    line.busy_s.assign(p.threads, 0.0);
    std::vector<std::thread> workers;
    workers.reserve(p.threads);
    for (uint32_t i = 0; i < p.threads; ++i)
      workers.emplace_back(fault_worker, std::ref(h), m, std::cref(p), i, std::ref(line));
    while (line.ready.load(std::memory_order_acquire) != p.threads) std::this_thread::yield();
    acc.begin(h.sys());
    const double t0 = now_s();
    line.go.store(true, std::memory_order_release);
    for (std::thread& w : workers) w.join();
    const double t1 = now_s();
    acc.end(h.sys());
    state.SetIterationTime(t1 - t0);
    timed_s += t1 - t0;
    for (double b : line.busy_s) busy_s += b;
    faults += uint64_t{p.threads} * p.pages * p.rounds;
    if (!spurious) exit_process(h, m);
    if (line.failures.load() != 0) {
      state.SkipWithError("a fault failed");
      break;
    }
  }

  const double n = static_cast<double>(faults);
  auto lock = [&](mm::LockClass c, mm::LockStat s) { return static_cast<double>(acc.lock(c, s)); };
  using mm::LockClass;
  using mm::LockStat;
  state.SetLabel(toggles_label(t));
  state.counters["faults_per_s"] = timed_s > 0 ? n / timed_s : 0;
  state.counters["threads"] = p.threads;
  state.counters["host_cpus"] = std::thread::hardware_concurrency();
  // Threads' busy time (preempted time included) over wall time: how many
  // were inside their fault loop at once, on average.
  // It cannot exceed the host's cores, whatever `threads` says.
  state.counters["concurrency"] = timed_s > 0 ? busy_s / timed_s : 0;
  per_op(state, "fault_anon_per_fault", acc[mm::Counter::kFaultAnon], n);
  per_op(state, "fault_spurious_per_fault", acc[mm::Counter::kFaultSpurious], n);
  // The PTE lock of either mode: the split ptl of the table, or page_table_lock.
  per_op(state, "ptl_acquire_per_fault",
         lock(LockClass::kSplitPtl, LockStat::kAcquire) + lock(LockClass::kPageTableLock, LockStat::kAcquire), n);
  per_op(state, "ptl_contended_per_fault",
         lock(LockClass::kSplitPtl, LockStat::kContended) + lock(LockClass::kPageTableLock, LockStat::kContended), n);
  per_op(state, "ptl_wait_cycles_per_fault",
         lock(LockClass::kSplitPtl, LockStat::kWaitCycles) + lock(LockClass::kPageTableLock, LockStat::kWaitCycles), n);
  lock_per_op(state, acc, LockClass::kSplitPtl, "per_fault", n);
  lock_per_op(state, acc, LockClass::kPageTableLock, "per_fault", n);
  per_op(state, "page_alloc_lock_contended_per_fault", lock(LockClass::kPageAlloc, LockStat::kContended), n);
  per_op(state, "page_alloc_lock_wait_cycles_per_fault", lock(LockClass::kPageAlloc, LockStat::kWaitCycles), n);
  per_op(state, "pcp_lock_contended_per_fault", lock(LockClass::kPcp, LockStat::kContended), n);
  per_op(state, "mmap_lock_contended_per_fault", lock(LockClass::kMmapLock, LockStat::kContended), n);
  if (kept) exit_process(h, kept);
}

}  // namespace

void register_fault_benchmarks(const Options& opts) {
  const uint32_t max_threads = std::clamp<uint32_t>(opts.max_threads, 1, mm::kMaxCpus - 1);
  std::vector<int64_t> counts;
  for (uint32_t n = 1; n < max_threads; n *= 2) counts.push_back(n);
  counts.push_back(max_threads);
  // anon in both layouts; spurious (the lock path alone) in own_table,
  // where split and mm differ.
  struct Variant {
    FaultKind kind;
    FaultLayout layout;
    const char* name;
  };
  constexpr Variant kVariants[] = {{FaultKind::kAnon, FaultLayout::kOwnTable, "fault=anon/layout=own_table"},
                                   {FaultKind::kAnon, FaultLayout::kSharedTable, "fault=anon/layout=shared_table"},
                                   {FaultKind::kSpurious, FaultLayout::kOwnTable, "fault=spurious/layout=own_table"}};
  for (const Variant& v : kVariants) {
    for (uint8_t ptlock : {0, 1}) {
      const std::string name =
          "BM_PageFaultThroughput/" + std::string(v.name) + "/" + toggle_part(ToggleId::kPtlock, ptlock);
      auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_PageFaultThroughput, ptlock, v.layout, v.kind,
                                             opts.fault_pages);
      b->ArgName("threads")->UseManualTime()->Unit(benchmark::kMillisecond);
      for (int64_t n : counts) b->Arg(n);
    }
  }
}

}  // namespace mmbench
