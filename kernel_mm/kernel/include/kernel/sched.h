// The scheduler: per-CPU run queues with work stealing, context switches,
// time slices, wake-ups and sleeping (docs/kernel.md, "Scheduling on
// several CPUs").
//
// Blocking, Linux's way: the task sets itself kBlocked, then looks at what
// it waits for (under the lock of that condition, or with a sequentially
// consistent load), then calls schedule(); a waker changes the condition,
// then wakes the task (try_to_wake_up). Whichever comes second sees the
// other's write, so no wake-up is lost. schedule() is called with no lock
// held.
#pragma once

#include <cstdint>

#include "kernel/percpu.h"
#include "kernel/task.h"

namespace kern {

// Set once by shutdown(): every other CPU stops (park_cpu) at its next safe
// point: a return to ring 3 or the idle loop.
extern volatile bool stopping;

// Boot, before any other CPU schedules: binds every kernel lock to its
// class and counters (and so to the lock-order checker), and makes CPU 0's
// idle task.
void sched_init();
// An AP, once online: enters the scheduler with its own idle task.
[[noreturn]] void sched_ap_main(uint32_t cpu);
// The boot CPU, once PID 1 exists: lets the APs schedule, then idles.
[[noreturn]] void sched_start();
// shutdown(): every other CPU parks; returns once they all have (panics
// after a second). Called with no lock held.
void stop_other_cpus();
// This CPU stops for good: it leaves its mm for init_mm and only answers
// cross-CPU calls from now on.
[[noreturn]] void park_cpu();

// The calling task's state, for the blocking protocol above.
void set_current_state(TaskState s);
// Wakes `t` if it is kBlocked: it becomes runnable and is queued on a CPU
// (the one it last ran on if that is idle, else an idle one, woken by an
// IPI, else the shortest queue). Returns whether it was blocked. The caller
// keeps `t` alive: it found it on a list whose lock it holds. `sync`: the
// caller is about to block or exit, so `t` may take its CPU (Linux's
// WF_SYNC).
bool try_to_wake_up(Task* t, bool sync = false);
// A new task (kNew, set up): runnable and queued.
void wake_up_new_task(Task* t);
// Takes a queued task off its run queue (reap_all at shutdown, with every
// other CPU parked).
void dequeue_task(Task* t);
// Gives the CPU to the next runnable task (or idle); returns when this task
// runs again, possibly on another CPU. Blocks when the caller set itself
// kBlocked (and nobody woke it since). No lock held.
void schedule();
// A new task's first instructions on its first CPU (fork_child_tail):
// ends the switch that brought it there.
void finish_task_switch();
// shutdown(): the switch that would drop this CPU's deferred mm reference
// (Cpu::mm_drop) never comes; this CPU leaves that mm and drops it now.
void drop_deferred_mm();
// The boot CPU's PIT tick (jiffies, sleepers) and every CPU's time slice.
void timer_tick();
void local_timer_tick();  // an AP's local APIC timer
// True when the current task's time slice is used up and another waits.
bool need_resched();
// The way back to ring 3 from any trap: preemption, a kill by another
// thread, shutdown. No lock held.
void return_to_user();
// A task killed or the system stopping: a blocking call gives up (-EINTR).
bool interrupted();

// Sleepers: `t` (the caller) is woken once jiffies >= tick (timer_arm); it
// takes itself off with timer_disarm before it returns, woken or not.
// timer_armed: still waiting for its tick.
void timer_arm(Task* t, uint64_t tick);
void timer_disarm(Task* t);
bool timer_armed(const Task* t);

}  // namespace kern
