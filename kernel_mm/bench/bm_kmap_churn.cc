// BM_ForkExitKmapChurn: fork+exit in a loop on CPU 0 while K threads
// create kernel mappings (vmalloc/vfree) on CPUs 1..K, with
// mm.kernel_pmd=unshared, under mm.pgd_init=locked and lockless.
//
// What creates kernel-mapping syncs: a vmalloc that reaches a 2-MiB slot of
// the vmalloc area with no kernel PTE table yet creates one, and the new
// kernel PMD entry is propagated to every PGD (locked: walk pgd_list under
// pgd_lock; lockless: walk the task list). Kernel PTE tables are never
// freed, so a System syncs at most once per slot (444 slots in the
// Harness's vmalloc area). Each iteration is therefore one batch on a fresh
// Harness: the vmalloc cursor keeps moving into untouched slots for the
// whole batch, and kernel_pte_table_per_batch shows the area never runs
// out within one.
#include <atomic>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "families.h"
#include "mm/vmalloc.h"
#include "papi_counters.h"

namespace mmbench {
namespace {

using mm::ToggleId;

// 63 pages + the guard page: eight vmallocs per 2-MiB slot, so one in
// eight creates a kernel PTE table and syncs.
constexpr uint32_t kVmallocPages = 63;
// Children kept alive until the end of a batch, so that the no-missed-sync
// check also covers processes created while syncs were running.
constexpr uint32_t kRing = 8;
// The parent: 16 touched pages in one VMA.
constexpr uint32_t kParentStart = 0x08000000u;
constexpr uint32_t kParentPages = 16;

struct KmapShared {
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> started{0};
  std::atomic<uint32_t> failures{0};
};

void kmap_worker(sim::Harness& h, uint32_t cpu, KmapShared& s) {
  sim::OnCpu on(h.machine(), cpu);
  s.started.fetch_add(1, std::memory_order_release);
  while (!s.stop.load(std::memory_order_acquire)) {
    mm::VirtAddr va;
    if (mm::vmalloc(h.sys(), kVmallocPages, &va) != mm::Status::kOk) {
      s.failures.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    mm::vfree(h.sys(), va, kVmallocPages);
  }
}

void BM_ForkExitKmapChurn(benchmark::State& state, uint8_t pgd_init, uint32_t forks, uint32_t background) {
  const uint32_t kmap_threads = static_cast<uint32_t>(state.range(0));
  const mm::Toggles t = make_toggles({{ToggleId::kPgdInit, pgd_init}, {ToggleId::kKernelPmd, 1}});
  CounterAccum acc;
  PapiRegion papi;
  double timed_s = 0;
  uint64_t fork_exits = 0;
  uint64_t batches = 0;
  uint64_t missing = 0;
  for (auto _ : state) {
    // A fresh machine: no kernel PTE table exists yet in the vmalloc area.
    // 4096 frames hold the kernel PTE tables of the whole vmalloc area
    // (444), the parent, the ring and the vmallocs in flight; each idle
    // process gets eight more (it holds five: PGD, kernel PMD copy, three
    // user PMDs).
    sim::Harness h(t, sim::HarnessOptions{.frames = 4096 + 8 * background, .cpus = kmap_threads + 1});
    sim::OnCpu on(h.machine(), 0);
    mm::System& sys = h.sys();
    std::vector<mm::MmStruct*> idle;
    for (uint32_t i = 0; i < background; ++i) idle.push_back(new_process(h));
    mm::MmStruct* parent = new_process(h);
    sim::load_on(h, 0, parent);
    if (!map_fixed(parent, kParentStart, kParentPages, mm::kVmRead | mm::kVmWrite) ||
        !touch(parent, kParentStart, kParentPages, /*write=*/true)) {
      state.SkipWithError("building the parent failed");
      break;
    }

    KmapShared shared;
    std::vector<std::thread> workers;
    for (uint32_t i = 0; i < kmap_threads; ++i) workers.emplace_back(kmap_worker, std::ref(h), i + 1, std::ref(shared));
    while (shared.started.load(std::memory_order_acquire) != kmap_threads) std::this_thread::yield();

    // Timed: `forks` fork+exits. Each child lives until kRing later forks
    // have happened; the last kRing children exit after the check below,
    // timed and counted too.
    mm::MmStruct* ring[kRing] = {};
    bool failed = false;
    acc.begin(sys);
    papi.resume();
    double t0 = now_s();
    for (uint32_t f = 0; f < forks; ++f) {
      mm::MmStruct* child = mm::dup_mm(parent);
      if (!child) {
        failed = true;
        break;
      }
      mm::mm_publish(child);
      mm::MmStruct*& slot = ring[f % kRing];
      if (slot) mm::mmput(slot);
      slot = child;
    }
    double t1 = now_s();
    papi.pause();
    acc.end(sys);
    double batch_s = t1 - t0;

    shared.stop.store(true, std::memory_order_release);
    for (std::thread& w : workers) w.join();
    // Every sync has finished: every live PGD must have every kernel PMD
    // entry, including the children forked while syncs ran.
    for (mm::MmStruct* m : idle) missing += mm::kernel_pmd_missing(sys, m);
    missing += mm::kernel_pmd_missing(sys, parent);
    for (mm::MmStruct* c : ring)
      if (c) missing += mm::kernel_pmd_missing(sys, c);

    acc.begin(sys);
    papi.resume();
    t0 = now_s();
    for (mm::MmStruct*& c : ring) {
      if (c) mm::mmput(c);
      c = nullptr;
    }
    t1 = now_s();
    papi.pause();
    acc.end(sys);
    batch_s += t1 - t0;
    state.SetIterationTime(batch_s);
    timed_s += batch_s;

    fork_exits += forks;
    ++batches;
    exit_process(h, parent);
    for (mm::MmStruct* m : idle) mm::mmput(m);
    if (failed || shared.failures.load() != 0) {
      state.SkipWithError(failed ? "dup_mm: out of memory" : "vmalloc failed");
      break;
    }
  }

  const double n = static_cast<double>(fork_exits);
  using mm::LockClass;
  state.SetLabel(toggles_label(t));
  state.counters["fork_exits_per_s"] = timed_s > 0 ? n / timed_s : 0;
  lock_per_op(state, acc, LockClass::kPgdLock, "per_fork_exit", n);
  lock_per_op(state, acc, LockClass::kTasklist, "per_fork_exit", n);
  // What else fork+exit and the kmap threads meet on: the page allocator's
  // global list (vmalloc takes 63 frames a call, more than a CPU list
  // holds), the kernel page-table lock (init_mm.page_table_lock), the
  // vmalloc-area allocator (vmap_lock), and the kernel-range TLB shootdowns
  // vfree sends to every CPU, the forking one included.
  lock_per_op(state, acc, LockClass::kPageAlloc, "per_fork_exit", n);
  lock_per_op(state, acc, LockClass::kKernelPt, "per_fork_exit", n);
  lock_per_op(state, acc, LockClass::kVmap, "per_fork_exit", n);
  per_op(state, "tlb_shootdown_ipi_per_fork_exit", acc[mm::Counter::kTlbShootdownIpi], n);
  per_op(state, "kernel_sync_per_fork_exit", acc[mm::Counter::kKernelSync], n);
  per_op(state, "kernel_sync_walk_per_fork_exit", acc[mm::Counter::kKernelSyncWalk], n);
  per_op(state, "vmalloc_per_fork_exit", static_cast<double>(acc[mm::Counter::kKernelMap]) / kVmallocPages, n);
  per_op(state, "kernel_pte_table_per_batch", acc[mm::Counter::kKernelPteTable], static_cast<double>(batches));
  per_op(state, "kernel_sync_per_batch", acc[mm::Counter::kKernelSync], static_cast<double>(batches));
  state.counters["missed_kernel_pmd_entries"] = static_cast<double>(missing);
  papi.report(state, "fork_exit", n);
  if (missing != 0) state.SkipWithError("a live PGD is missing kernel PMD entries after every sync finished");
}

}  // namespace

void register_kmap_churn_benchmarks(const Options& opts) {
  for (uint8_t pgd_init : {0, 1}) {
    const std::string name = "BM_ForkExitKmapChurn/" + toggle_part(ToggleId::kPgdInit, pgd_init) + "/" +
                             toggle_part(ToggleId::kKernelPmd, 1);
    benchmark::RegisterBenchmark(name.c_str(), BM_ForkExitKmapChurn, pgd_init, opts.churn_forks, opts.churn_background)
        ->ArgName("kmap_threads")
        ->Arg(0)
        ->Arg(1)
        ->Arg(2)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace mmbench
