// Per-CPU state: what each CPU runs, its run queue, and the counts it keeps
// for work done without kernel_lock.
#pragma once

#include <cstdint>

#include "arch/x86.h"
#include "kernel/task.h"
#include "mm/mm_struct.h"

namespace kern {

// One per CPU, indexed by x86::this_cpu(). The run queue and `curr` are
// guarded by kernel_lock; `nr_queued` is also read without it (a stale
// value only delays a switch by a tick).
struct Cpu {
  Task* curr = nullptr;
  Task* idle = nullptr;
  mm::MmStruct* loaded_mm = nullptr;  // the mm in this CPU's CR3 (init_mm when idle)
  Task* rq_head = nullptr;
  Task* rq_tail = nullptr;
  volatile uint32_t nr_queued = 0;
  bool online = false;  // runs tasks
  // Timer ticks that found a task (not idle) running, and context switches
  // into a task: where the work went (the counters record's "cpus").
  uint64_t busy_ticks = 0;
  uint64_t switches = 0;
  // Page faults run without kernel_lock, so their counts are per CPU
  // (the records add them up).
  uint64_t user_faults = 0;
  uint64_t uaccess_faults = 0;
  uint64_t init_oom_retries = 0;
  uint64_t syscalls = 0;  // some run without kernel_lock (syscall.h)
};
extern Cpu cpus[x86::kMaxCpus];
inline Cpu& cpu_self() { return cpus[x86::this_cpu()]; }
// The task running on this CPU. Kernel code moves between CPUs only across
// schedule(), and reads `current` afresh every time.
#define current (::kern::cpu_self().curr)

}  // namespace kern
