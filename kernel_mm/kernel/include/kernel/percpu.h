// Per-CPU state: what each CPU runs, its run queue, and the counts it keeps
// for work done without kernel_lock.
#pragma once

#include <cstdint>

#include "arch/x86.h"
#include "kernel/kernel_lock.h"
#include "kernel/task.h"
#include "mm/mm_struct.h"

namespace kern {

// One per CPU, indexed by x86::this_cpu(). The run queue (rq_head..rq_tail
// through Task::run_next) and `curr` are guarded by kernel_lock. Only this
// CPU changes its own `curr`, so it reads it without the lock (running(),
// `current`); `nr_queued` is also read without it through queued_hint (a
// stale value only delays a switch by a tick). The rest is this CPU's own.
struct Cpu {
  Task* curr MM_GUARDED(kernel_lock) = nullptr;
  Task* idle = nullptr;               // set once, when the CPU starts scheduling
  mm::MmStruct* loaded_mm = nullptr;  // the mm in this CPU's CR3 (init_mm when idle)
  Task* rq_head MM_GUARDED(kernel_lock) = nullptr;
  Task* rq_tail MM_GUARDED(kernel_lock) = nullptr;
  volatile uint32_t nr_queued MM_GUARDED(kernel_lock) = 0;
  bool online = false;  // runs tasks (set once, under kernel_lock)
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

  // `curr` as this CPU reads it, without kernel_lock: only this CPU changes
  // its own `curr` (context_switch), so on this CPU it is never stale.
  Task* running() const MM_NO_TSA { return curr; }
  // A look at the queue length without kernel_lock: the idle loop and the
  // way back to ring 3 decide whether to take the lock by it.
  uint32_t queued_hint() const MM_NO_TSA { return nr_queued; }
};
extern Cpu cpus[x86::kMaxCpus];
inline Cpu& cpu_self() { return cpus[x86::this_cpu()]; }
// The task running on this CPU. Kernel code moves between CPUs only across
// schedule(), and reads `current` afresh every time.
inline Task* current_task() { return cpu_self().running(); }
#define current (::kern::current_task())

}  // namespace kern
