// BM_PgdAllocFree and BM_ExecLike: what mm.pmd_prealloc and mm.kernel_pmd
// cost at process creation, in time, memory and PDPTE-forced CR3 reloads.
#include <cstdio>

#include "bench_common.h"
#include "families.h"
#include "mm/pgtable.h"
#include "papi_counters.h"

namespace mmbench {
namespace {

using mm::ToggleId;

// An mm_struct with its locks set up as mm_alloc does, but no PGD: the
// object pgd_alloc/pgd_free run on.
mm::MmStruct* bare_mm(mm::System& sys) {
  mm::MmStruct* m = sys.mm_cache.create(&sys);
  if (!m) return nullptr;
  m->mmap_lock.init(&sys.counters, mm::LockClass::kMmapLock);
  m->page_table_lock.init(&sys.counters, mm::LockClass::kPageTableLock);
  return m;
}

// pgd_alloc + pgd_free and nothing else (mm/pgtable.h), on one mm_struct
// that lives for the whole run. A second process stays alive throughout so
// that the 32-byte-PGD slab page (kernel_pmd=shared) is not freed and
// re-allocated on every iteration, which no real system with more than one
// process would do.
void BM_PgdAllocFree(benchmark::State& state, uint8_t prealloc, uint8_t kernel_pmd) {
  const mm::Toggles t = make_toggles({{ToggleId::kPmdPrealloc, prealloc}, {ToggleId::kKernelPmd, kernel_pmd}});
  sim::Harness h(t, sim::HarnessOptions{.frames = 4096, .cpus = 1});
  sim::OnCpu on(h.machine(), 0);
  mm::System& sys = h.sys();
  mm::MmStruct* resident = new_process(h);
  mm::MmStruct* m = bare_mm(sys);
  if (!m) {
    state.SkipWithError("mm_cache: out of memory");
    return;
  }

  // Memory one process holds for its PGD and PMDs, from the mm's own
  // accounting (mm_usage) and from the allocator's frame count.
  const uint32_t frames_before = frames_in_use(h);
  if (mm::pgd_alloc(m) != mm::Status::kOk) {
    state.SkipWithError("pgd_alloc: out of memory");
    return;
  }
  const mm::MmUsage usage = mm::mm_usage(m);
  const uint32_t frames_held = frames_in_use(h) - frames_before;
  mm::pgd_free(m);

  CounterAccum acc;
  PapiRegion papi;
  acc.begin(sys);
  papi.resume();
  for (auto _ : state) {
    if (mm::pgd_alloc(m) != mm::Status::kOk) {
      state.SkipWithError("pgd_alloc: out of memory");
      break;
    }
    mm::pgd_free(m);
  }
  papi.pause();
  acc.end(sys);

  const double ops = static_cast<double>(state.iterations());
  state.SetLabel(toggles_label(t));
  state.counters["bytes_per_process"] = pgd_pmd_bytes(usage);
  state.counters["pgd_bytes"] = usage.pgd_bytes;
  state.counters["pmd_tables_per_process"] = usage.pmd_tables;
  state.counters["frames_per_process"] = frames_held;
  per_op(state, "pmd_prealloc_per_op", acc[mm::Counter::kPmdPrealloc], ops);
  per_op(state, "pmd_mop_up_per_op", acc[mm::Counter::kPmdMopUp], ops);
  per_op(state, "page_alloc_per_op", acc[mm::Counter::kPageAlloc], ops);
  lock_per_op(state, acc, mm::LockClass::kPgdLock, "per_op", ops);
  papi.report(state, "op", ops);

  sys.mm_cache.destroy(m);
  exit_process(h, resident);
}

// Text in GiB 0, an mmap area in GiB 1, the stack at the top of GiB 2:
// every user PGD entry of a PAE process gets a PMD.
constexpr uint32_t kTextStart = 0x08048000u;
constexpr uint32_t kMmapStart = 0x40000000u;
constexpr uint32_t kStackTop = 0xC0000000u;
constexpr uint32_t kRegionPages = 16;

// One exec: a new mm becomes current on CPU 0 (switch_mm), then its
// text, mmap area and stack are mapped and each faulted once (the ELF
// loader's and the first instructions' work); then the old one is switched
// back and the new one exits. Returns false when a step fails.
bool exec_like(sim::Harness& h, mm::MmStruct* shell, mm::MmUsage* usage) {
  mm::MmStruct* m = mm::mm_alloc(h.sys());
  if (!m) return false;
  mm::mm_publish(m);
  sim::load_on(h, 0, m);
  const uint32_t stack_start = kStackTop - kRegionPages * mm::kPageSize;
  bool ok = map_fixed(m, kTextStart, kRegionPages, mm::kVmRead | mm::kVmExec) &&
            map_fixed(m, kMmapStart, kRegionPages, mm::kVmRead | mm::kVmWrite) &&
            map_fixed(m, stack_start, kRegionPages, mm::kVmRead | mm::kVmWrite) &&
            touch(m, kTextStart, 1, /*write=*/false) && touch(m, kMmapStart, 1, /*write=*/true) &&
            touch(m, kStackTop - mm::kPageSize, 1, /*write=*/true);
  if (usage) *usage = mm::mm_usage(m);
  sim::load_on(h, 0, shell);
  mm::mmput(m);
  return ok;
}

// pgd_alloc while nobody runs the mm, then the three first touches of a
// PAE process after it is loaded: with mm.pmd_prealloc=off each installs
// a PMD into a live PGD and forces a CR3 reload (cr3_reload_pdpte).
void BM_ExecLike(benchmark::State& state, uint8_t prealloc, uint8_t kernel_pmd) {
  const mm::Toggles t = make_toggles({{ToggleId::kPmdPrealloc, prealloc}, {ToggleId::kKernelPmd, kernel_pmd}});
  sim::Harness h(t, sim::HarnessOptions{.frames = 4096, .cpus = 1});
  sim::OnCpu on(h.machine(), 0);
  mm::MmStruct* shell = new_process(h);
  sim::load_on(h, 0, shell);
  mm::MmUsage usage;
  if (!exec_like(h, shell, &usage)) {
    state.SkipWithError("exec_like: a step failed");
    return;
  }

  CounterAccum acc;
  PapiRegion papi;
  acc.begin(h.sys());
  papi.resume();
  for (auto _ : state) {
    if (!exec_like(h, shell, nullptr)) {
      state.SkipWithError("exec_like: a step failed");
      break;
    }
  }
  papi.pause();
  acc.end(h.sys());

  const double ops = static_cast<double>(state.iterations());
  state.SetLabel(toggles_label(t));
  per_op(state, "cr3_reload_pdpte_per_exec", acc[mm::Counter::kCr3ReloadPdpte], ops);
  per_op(state, "pmd_install_live_per_exec", acc[mm::Counter::kPmdInstallLive], ops);
  per_op(state, "cr3_switch_per_exec", acc[mm::Counter::kCr3Switch], ops);
  per_op(state, "tlb_flush_all_per_exec", acc[mm::Counter::kTlbFlushAll], ops);
  state.counters["pgd_pmd_bytes_per_process"] = pgd_pmd_bytes(usage);
  state.counters["pgtable_bytes_per_process"] = pgd_pmd_bytes(usage) + usage.pte_tables * mm::kPageSize;
  papi.report(state, "exec", ops);

  sim::load_on(h, 0, nullptr);
  mm::mmput(shell);
}

}  // namespace

void register_pgd_benchmarks(const Options&) {
  for (bool exec : {false, true}) {
    for (uint8_t prealloc : {0, 1}) {
      for (uint8_t kpmd : {0, 1}) {
        const std::string name = std::string(exec ? "BM_ExecLike" : "BM_PgdAllocFree") + "/" +
                                 toggle_part(ToggleId::kPmdPrealloc, prealloc) + "/" +
                                 toggle_part(ToggleId::kKernelPmd, kpmd);
        if (exec)
          benchmark::RegisterBenchmark(name.c_str(), BM_ExecLike, prealloc, kpmd);
        else
          benchmark::RegisterBenchmark(name.c_str(), BM_PgdAllocFree, prealloc, kpmd);
      }
    }
  }
}

}  // namespace mmbench
