// Kernel counters beyond the mm core's, and the `counters` record that
// reports them (records.cc).
#pragma once

#include <atomic>
#include <cstdint>

#include "arch/x86.h"
#include "mm/arch.h"

namespace kern {

// A count kept per CPU, each CPU adding to its own cache line (as the mm
// core's counters are), and summed when read: forks and exits on several
// CPUs share no line to count themselves. A sum taken while CPUs run may be
// a few events behind.
class StatCounter {
 public:
  constexpr StatCounter() = default;
  void operator++() { arch::counter_add(&slot_[x86::this_cpu()].v, 1); }
  void operator+=(uint64_t n) { arch::counter_add(&slot_[x86::this_cpu()].v, n); }
  operator uint64_t() const {
    uint64_t total = 0;
    for (const Slot& s : slot_) total += arch::counter_read(&s.v);
    return total;
  }

 private:
  struct alignas(64) Slot {
    uint64_t v = 0;
  };
  Slot slot_[x86::kMaxCpus];
};

struct KernelStats {
  StatCounter context_switches;
  StatCounter forks;
  StatCounter threads;  // clone with CLONE_THREAD
  StatCounter execs;
  StatCounter exits;
  StatCounter segfaults;
  StatCounter timer_ticks;
  // mmlab_kmap_churn (syscall 1001): calls, and PGDs found missing a kernel
  // PMD entry by the check after each call (must stay 0).
  StatCounter kmap_churns;
  StatCounter kernel_sync_missed;
  // -ENOSYS by number: a slot is claimed for a number once (enosys_key =
  // nr + 1, then enosys_nr is set) and then only counted (count_enosys).
  static constexpr uint32_t kEnosysSlots = 32;
  std::atomic<uint32_t> enosys_key[kEnosysSlots] = {};
  uint32_t enosys_nr[kEnosysSlots] = {};
  std::atomic<uint32_t> enosys_count[kEnosysSlots] = {};
  StatCounter enosys_other;
};
extern KernelStats kstats;
// Counts an -ENOSYS by number (the `counters` record's "enosys").
void count_enosys(uint32_t nr);
void emit_counters_record(const char* label);
// The lock-order checker's graph (records.cc; nothing when it is off).
void emit_lockdep_record();
// What the system holds when PID 1 starts: the leak check's baseline.
void take_baseline();

}  // namespace kern
