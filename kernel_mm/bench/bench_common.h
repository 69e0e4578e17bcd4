// What every mm_bench family shares: toggle sets and their names, guest
// counter deltas reported per operation, wall-clock timing for manual-time
// benchmarks, and the address-space builders.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "mm/counters.h"
#include "mm/mmap.h"
#include "mm/system.h"
#include "mm/toggles.h"
#include "sim/harness.h"

namespace mmbench {

// Options from mm_bench's own flags (main.cc), read when benchmarks are registered.
struct Options {
  uint32_t max_threads = 8;        // --mm_max_threads: BM_PageFaultThroughput goes 1, 2, 4, ... up to this
  uint32_t fault_pages = 2048;     // --mm_fault_pages: pages each faulting thread touches per batch
  uint32_t churn_forks = 2000;     // --mm_churn_forks: fork+exits per BM_ForkExitKmapChurn batch
  uint32_t churn_background = 64;  // --mm_churn_background: idle processes alive during the churn
};

// Toggles from (id, value) pairs on top of the defaults; value 1 is the
// second value in kToggleSpecs.
struct ToggleSetting {
  mm::ToggleId id;
  uint8_t value;
};
mm::Toggles make_toggles(std::initializer_list<ToggleSetting> settings);
// "mm.pmd_prealloc=on mm.pgd_init=locked ..." for the benchmark label.
std::string toggles_label(const mm::Toggles& t);
// "pmd_prealloc=on": one name component (the key without "mm.").
std::string toggle_part(mm::ToggleId id, uint8_t value);

// Guest counters summed over the operations of one benchmark run: take
// begin() before an operation and end() after it; what happens in between
// on any simulated CPU is counted.
class CounterAccum {
 public:
  void begin(const mm::System& sys) { before_ = sys.counters.snapshot(); }
  void end(const mm::System& sys) {
    const mm::CounterSnapshot d = sys.counters.snapshot() - before_;
    for (uint32_t i = 0; i < mm::kNumCounters; ++i) total_.v[i] += d.v[i];
  }
  const mm::CounterSnapshot& total() const { return total_; }
  uint64_t operator[](mm::Counter c) const { return total_[c]; }
  uint64_t lock(mm::LockClass cls, mm::LockStat s) const { return total_.lock(cls, s); }

 private:
  mm::CounterSnapshot before_;
  mm::CounterSnapshot total_;
};

// state.counters[name] = value / ops (a plain average, not a rate).
void per_op(benchmark::State& state, const std::string& name, double value, double ops);
// The three lock statistics of `cls` per op, as "<lock>_acquire_<suffix>",
// "<lock>_contended_<suffix>", "<lock>_wait_cycles_<suffix>".
void lock_per_op(benchmark::State& state, const CounterAccum& acc, mm::LockClass cls, const std::string& suffix,
                 double ops);

// Monotonic wall-clock seconds, for SetIterationTime.
inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Frames in use over every kind (the allocator's exact count).
uint32_t frames_in_use(sim::Harness& h);
// Bytes of page-table memory one process holds for its PGD and PMDs
// (mm_usage: the PGD, user PMDs and, unshared, the kernel PMD copy).
uint32_t pgd_pmd_bytes(const mm::MmUsage& u);

// A published mm, or aborts the benchmark run with a message (a benchmark
// cannot go on without one; Harnesses are sized so this never happens).
mm::MmStruct* new_process(sim::Harness& h);
// do_mmap(MAP_FIXED) of [start, start + pages) with `prot`; false on failure.
bool map_fixed(mm::MmStruct* m, uint32_t start, uint32_t pages, uint32_t prot);
// A fault at every address in [start, start + pages pages); false on the first failure.
bool touch(mm::MmStruct* m, uint32_t start, uint32_t pages, bool write);
// Unloads m from every CPU and drops it (exit).
void exit_process(sim::Harness& h, mm::MmStruct* m);

}  // namespace mmbench
