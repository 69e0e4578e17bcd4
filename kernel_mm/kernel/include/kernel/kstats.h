// Kernel counters beyond the mm core's, and the `counters` record that
// reports them (records.cc).
#pragma once

#include <cstdint>

namespace kern {

struct KernelStats {
  uint64_t context_switches = 0;
  uint64_t forks = 0;
  uint64_t threads = 0;  // clone with CLONE_THREAD
  uint64_t execs = 0;
  uint64_t exits = 0;
  uint64_t segfaults = 0;
  uint64_t timer_ticks = 0;
  // mmlab_kmap_churn (syscall 1001): calls, and PGDs found missing a kernel
  // PMD entry by the check after each call (must stay 0).
  uint64_t kmap_churns = 0;
  uint64_t kernel_sync_missed = 0;
  static constexpr uint32_t kEnosysSlots = 32;
  uint32_t enosys_nr[kEnosysSlots] = {};
  uint64_t enosys_count[kEnosysSlots] = {};
  uint64_t enosys_other = 0;
};
extern KernelStats kstats;
// Counts an -ENOSYS by number (the `counters` record's "enosys").
void count_enosys(uint32_t nr);
void emit_counters_record(const char* label);
// What the system holds when PID 1 starts: the leak check's baseline.
void take_baseline();

}  // namespace kern
