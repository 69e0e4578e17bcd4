// BM_Fork and BM_Exit: copy_page_range at fork, and exit_mmap's
// free_pgtables (mm.free_pgtables=vma against full) at exit.
#include "bench_common.h"
#include "families.h"
#include "papi_counters.h"

namespace mmbench {
namespace {

using mm::ToggleId;

// The parent of BM_Fork: M VMAs, each in PTE tables of its own (a 2-MiB
// gap keeps them from merging and from sharing a table), with N pages
// touched round-robin over them: page i is page i / M of VMA i % M.
struct ForkLayout {
  static constexpr uint32_t kBase = 0x10000000u;
  uint32_t touched;
  uint32_t vmas;
  uint32_t pages_per_vma() const { return (touched + vmas - 1) / vmas; }
  uint32_t stride() const {
    const uint32_t bytes = pages_per_vma() * mm::kPageSize;
    return ((bytes + mm::kPmdSize - 1) & ~(mm::kPmdSize - 1)) + mm::kPmdSize;
  }
  uint32_t vma_start(uint32_t v) const { return kBase + v * stride(); }
  uint32_t page_addr(uint32_t i) const { return vma_start(i % vmas) + (i / vmas) * mm::kPageSize; }
};

bool build_parent(mm::MmStruct* m, const ForkLayout& l) {
  for (uint32_t v = 0; v < l.vmas; ++v)
    if (!map_fixed(m, l.vma_start(v), l.pages_per_vma(), mm::kVmRead | mm::kVmWrite)) return false;
  return true;
}

// Write-faults every touched page: the first time demand-zero, after a
// fork whose child has exited a COW reuse (the page is the parent's alone
// again), so each fork starts from a parent with writable PTEs, as a
// running process has.
bool dirty_parent(mm::MmStruct* m, const ForkLayout& l) {
  for (uint32_t i = 0; i < l.touched; ++i)
    if (!touch(m, l.page_addr(i), 1, /*write=*/true)) return false;
  return true;
}

// Fork of a process with N touched pages in M VMAs: dup_mm + mm_publish
// timed (manual time), the child's exit (mmput) timed separately and
// reported as child_exit_us, the parent's re-dirtying not timed at all.
void BM_Fork(benchmark::State& state) {
  const ForkLayout l{static_cast<uint32_t>(state.range(0)), static_cast<uint32_t>(state.range(1))};
  const mm::Toggles t;  // mainline defaults
  sim::Harness h(t, sim::HarnessOptions{.frames = 16384, .cpus = 2});
  sim::OnCpu on(h.machine(), 0);
  mm::MmStruct* parent = new_process(h);
  sim::load_on(h, 0, parent);
  if (!build_parent(parent, l)) {
    state.SkipWithError("mmap of the parent's VMAs failed");
    return;
  }

  CounterAccum acc;
  PapiRegion papi;
  double exit_s = 0;
  for (auto _ : state) {
    if (!dirty_parent(parent, l)) {
      state.SkipWithError("parent fault failed");
      break;
    }
    acc.begin(h.sys());
    papi.resume();
    const double t0 = now_s();
    mm::MmStruct* child = mm::dup_mm(parent);
    if (child) mm::mm_publish(child);
    const double t1 = now_s();
    papi.pause();
    acc.end(h.sys());
    if (!child) {
      state.SkipWithError("dup_mm: out of memory");
      break;
    }
    state.SetIterationTime(t1 - t0);
    const double t2 = now_s();
    mm::mmput(child);  // never loaded
    exit_s += now_s() - t2;
  }

  const double ops = static_cast<double>(state.iterations());
  state.SetLabel(toggles_label(t));
  per_op(state, "fork_ptes_copied_per_fork", acc[mm::Counter::kForkPtesCopied], ops);
  per_op(state, "fork_ptes_wrprotected_per_fork", acc[mm::Counter::kForkPtesWrprotected], ops);
  per_op(state, "pte_table_alloc_per_fork", acc[mm::Counter::kPteTableAlloc], ops);
  per_op(state, "page_alloc_per_fork", acc[mm::Counter::kPageAlloc], ops);
  per_op(state, "tlb_flush_all_per_fork", acc[mm::Counter::kTlbFlushAll], ops);
  lock_per_op(state, acc, mm::LockClass::kPgdLock, "per_fork", ops);
  per_op(state, "child_exit_us", exit_s * 1e6, ops);
  papi.report(state, "fork", ops);
  exit_process(h, parent);
}

// BM_Exit's address spaces: the same 24 pages either one per VMA, eight
// VMAs 64 MiB apart in each of the three user GiBs (sparse), or all in one
// VMA inside one PTE table (dense).
constexpr uint32_t kExitPages = 24;
constexpr uint32_t kSparsePerGiB = kExitPages / mm::kUserPgdEntries;

uint32_t sparse_addr(uint32_t i) {
  const uint32_t gib = i / kSparsePerGiB;
  const uint32_t k = i % kSparsePerGiB;
  return (gib << mm::kPgdShift) + 0x01000000u + k * 0x04000000u;
}
constexpr uint32_t kDenseStart = 0x08000000u;

bool build_exit_space(mm::MmStruct* m, bool sparse) {
  if (!sparse)
    return map_fixed(m, kDenseStart, kExitPages, mm::kVmRead | mm::kVmWrite) &&
           touch(m, kDenseStart, kExitPages, /*write=*/true);
  for (uint32_t i = 0; i < kExitPages; ++i)
    if (!map_fixed(m, sparse_addr(i), 1, mm::kVmRead | mm::kVmWrite) || !touch(m, sparse_addr(i), 1, true))
      return false;
  return true;
}

// Exit of a sparse or a dense address space: the process is built, run on
// CPU 0 and switched away from (not timed); mmput (exit_mmap + pgd_free)
// is timed. A second process stays alive throughout, so the exit does not
// also free the last object of the mm_struct, VMA and PGD slabs.
void BM_Exit(benchmark::State& state, bool sparse, uint8_t free_pgtables, uint8_t prealloc) {
  const mm::Toggles t = make_toggles({{ToggleId::kFreePgtables, free_pgtables}, {ToggleId::kPmdPrealloc, prealloc}});
  sim::Harness h(t, sim::HarnessOptions{.frames = 4096, .cpus = 1});
  sim::OnCpu on(h.machine(), 0);
  mm::MmStruct* resident = new_process(h);
  if (!map_fixed(resident, kDenseStart, 1, mm::kVmRead | mm::kVmWrite)) {
    state.SkipWithError("mmap failed");
    return;
  }
  CounterAccum acc;
  PapiRegion papi;
  for (auto _ : state) {
    mm::MmStruct* m = new_process(h);
    sim::load_on(h, 0, m);
    if (!build_exit_space(m, sparse)) {
      state.SkipWithError("building the address space failed");
      exit_process(h, m);
      break;
    }
    sim::unload_everywhere(h, m);
    acc.begin(h.sys());
    papi.resume();
    const double t0 = now_s();
    mm::mmput(m);
    const double t1 = now_s();
    papi.pause();
    acc.end(h.sys());
    state.SetIterationTime(t1 - t0);
  }

  const double ops = static_cast<double>(state.iterations());
  state.SetLabel(toggles_label(t));
  per_op(state, "pgtable_entries_scanned_per_exit", acc[mm::Counter::kPgtScanned], ops);
  per_op(state, "pte_table_free_per_exit", acc[mm::Counter::kPteTableFree], ops);
  per_op(state, "pmd_table_free_per_exit", acc[mm::Counter::kPmdTableFree], ops);
  per_op(state, "pmd_mop_up_per_exit", acc[mm::Counter::kPmdMopUp], ops);
  per_op(state, "gather_flush_per_exit", acc[mm::Counter::kGatherFlush], ops);
  per_op(state, "page_free_per_exit", acc[mm::Counter::kPageFree], ops);
  papi.report(state, "exit", ops);
  exit_process(h, resident);
}

}  // namespace

void register_fork_exit_benchmarks(const Options&) {
  benchmark::RegisterBenchmark("BM_Fork", BM_Fork)
      ->ArgNames({"pages", "vmas"})
      ->ArgsProduct({{16, 256, 1024}, {1, 16, 64}})
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
  for (bool sparse : {true, false}) {
    for (uint8_t fp : {0, 1}) {
      for (uint8_t prealloc : {0, 1}) {
        const std::string name = std::string("BM_Exit/") + (sparse ? "sparse" : "dense") + "/" +
                                 toggle_part(ToggleId::kFreePgtables, fp) + "/" +
                                 toggle_part(ToggleId::kPmdPrealloc, prealloc);
        benchmark::RegisterBenchmark(name.c_str(), BM_Exit, sparse, fp, prealloc)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace mmbench
