// The scheduler: per-CPU run queues with work stealing, context switches,
// time slices and sleeping (docs/kernel.md, "Scheduling on several CPUs").
#pragma once

#include <cstdint>

#include "kernel/kernel_lock.h"
#include "kernel/percpu.h"
#include "kernel/task.h"

namespace kern {

// Boot, before any other CPU schedules (so without kernel_lock).
void sched_init() MM_NO_TSA;
// An AP, once online: enters the scheduler with its own idle task.
[[noreturn]] void sched_ap_main(uint32_t cpu);
// The boot CPU, once PID 1 exists: lets the APs schedule, then idles.
[[noreturn]] void sched_start();
// shutdown(), with kernel_lock held: every other CPU parks; returns with
// kernel_lock held again once they all have (panics after a second).
void stop_other_cpus() MM_REQ(kernel_lock);

// Makes `t` runnable and queues it on a CPU (an idle one if there is one,
// woken by an IPI); no-op if it is queued or running already. kernel_lock held.
void wake_up(Task* t) MM_REQ(kernel_lock);
// Takes a queued task off its run queue (reap_all at shutdown).
void dequeue_task(Task* t) MM_REQ(kernel_lock);
// Gives the CPU to the next runnable task (or idle); returns when this task
// runs again, possibly on another CPU. Blocks first when the caller set
// current->state = kBlocked. kernel_lock held.
void schedule() MM_REQ(kernel_lock);
// The boot CPU's PIT tick (jiffies, sleepers) and every CPU's time slice.
void timer_tick();
void local_timer_tick();  // an AP's local APIC timer
// True when the current task's time slice is used up and another waits.
bool need_resched();
// The way back to ring 3 from any trap: preemption, a kill by another
// thread, shutdown. `locked`: the trap holds kernel_lock (released here),
// which is known only at run time (the system call's lock policy).
void return_to_user(bool locked) MM_NO_TSA;
// The same from code that holds kernel_lock: a new task's first run.
inline void return_to_user_locked() MM_RELEASE(kernel_lock) MM_NO_TSA { return_to_user(true); }
// A task killed or the system stopping: a blocking call gives up (-EINTR).
bool interrupted() MM_REQ(kernel_lock);
// Records that `t` sleeps until t->wake_tick (which the caller set).
void note_sleeper(const Task* t) MM_REQ(kernel_lock);

}  // namespace kern
