// Per-CPU state: what each CPU runs, its run queue and its lock, and the
// counts it keeps for the records.
#pragma once

#include <cstdint>

#include "arch/x86.h"
#include "kernel/task.h"
#include "mm/mm_struct.h"
#include "mm/spinlock.h"

namespace kern {

// One per CPU, indexed by x86::this_cpu(). rq_lock (Linux's rq->lock)
// guards the run queue (rq_head..rq_tail through Task::run_next, and the
// queued tasks' on_rq) and `curr`, and is held across a context switch:
// taken by the task that switches out, released by the task switched to
// (finish_task_switch, sched.cc). Only this CPU changes its own `curr`, so
// it reads it without the lock (running(), `current`); any CPU reads the
// queue length and the current task of another as hints (queued_hint(),
// running()): the idle loop and wake-up placement decide by them, and a
// stale value only delays a switch. The rest is this CPU's own.
struct Cpu {
  mm::SpinLock rq_lock;
  Task* curr MM_GUARDED(rq_lock) = nullptr;
  Task* rq_head MM_GUARDED(rq_lock) = nullptr;
  Task* rq_tail MM_GUARDED(rq_lock) = nullptr;
  volatile uint32_t nr_queued MM_GUARDED(rq_lock) = 0;
  // The task this CPU is switching away from, until finish_task_switch
  // clears its on_cpu on the next task's stack.
  Task* prev MM_GUARDED(rq_lock) = nullptr;
  Task* idle = nullptr;  // set once, when the CPU starts scheduling
  // An exited thread's mm, still loaded here, whose reference is dropped
  // once this CPU has switched to the next task (release_mm, process.cc).
  mm::MmStruct* mm_drop = nullptr;
  mm::MmStruct* loaded_mm = nullptr;  // the mm in this CPU's CR3 (init_mm when idle)
  bool online = false;                // runs tasks (set once, before it schedules)
  // Timer ticks that found a task (not idle) running, and context switches
  // into a task: where the work went (the counters record's "cpus").
  uint64_t busy_ticks = 0;
  uint64_t switches = 0;
  // Counted where they happen, without a shared line (the records add
  // them up).
  uint64_t user_faults = 0;
  uint64_t uaccess_faults = 0;
  uint64_t init_oom_retries = 0;
  uint64_t syscalls = 0;

  // `curr` without rq_lock: exact on this CPU (only this CPU changes it),
  // a hint on another.
  Task* running() const MM_NO_TSA { return curr; }
  uint32_t queued_hint() const MM_NO_TSA { return nr_queued; }
};
extern Cpu cpus[x86::kMaxCpus];
inline Cpu& cpu_self() { return cpus[x86::this_cpu()]; }
// The task running on this CPU. Kernel code moves between CPUs only across
// schedule(), and reads `current` afresh every time.
inline Task* current_task() { return cpu_self().running(); }
#define current (::kern::current_task())

}  // namespace kern
