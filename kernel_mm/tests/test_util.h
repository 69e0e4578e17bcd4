// Shared helpers for the mm-core tests on the simulated MMU.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "mm/counters.h"
#include "mm/memory.h"
#include "mm/mmap.h"
#include "mm/toggles.h"
#include "sim/harness.h"

namespace mmtest {

// Read-write protection, as most tests map.
inline constexpr uint32_t kRW = mm::kVmRead | mm::kVmWrite;

// "prealloc_on-locked-shared-vma-split-inline": readable test names.
std::string toggle_name(const mm::Toggles& t);
std::string toggle_param_name(const ::testing::TestParamInfo<uint32_t>& info);

enum class TouchResult { kOk, kSegv, kBus, kNoMem, kStuck };

// A user access from `cpu`, as hardware and the fault path do it together:
// translate; on a fault call handle_mm_fault and retry. kStuck means the
// fault handler reported success `attempts` times and the CPU still faults:
// in a single-threaded test (3 attempts), the signature of a missing CR3
// reload or flush. `mm` must be loaded on `cpu`.
TouchResult touch(sim::Harness& h, uint32_t cpu, mm::MmStruct* mm, uint32_t va, bool write, uint32_t value = 0,
                  uint32_t* read_out = nullptr, int attempts = 3);

// A fresh published mm (pgd_alloc + publish), or nullptr.
mm::MmStruct* new_mm(sim::Harness& h);
// Maps [va, va+len) anonymous private with `prot` at a fixed address.
void map_fixed(sim::Harness& h, mm::MmStruct* mm, uint32_t va, uint32_t len, uint32_t prot);
// Unloads from every CPU and drops the last user.
void exit_mm(sim::Harness& h, mm::MmStruct* mm);

// The end-of-run invariants: every user page, page table, PGD and (once
// the caches are dropped) page-cache page freed;
// every ptl constructed was destroyed (and every dynamic one freed); no
// mm, VMA or PGD left on any list or in any cache.
void expect_no_leaks(sim::Harness& h);

// CR3 writes the simulated CPUs saw equal the ones the mm core counted.
struct Cr3Audit {
  explicit Cr3Audit(sim::Harness& h);
  void expect_balanced() const;
  sim::Harness& h;
  uint64_t machine_before;
  mm::CounterSnapshot counters_before;
};

}  // namespace mmtest
