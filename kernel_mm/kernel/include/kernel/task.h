// A task: one thread of a process (Linux's task_struct), its thread group
// (Linux's signal_struct and sighand_struct in one), and the task table
// (sched.cc). The kernel is not preemptible: it runs with interrupts off
// (every gate is an interrupt gate), and a task is switched out only when it
// blocks or on its way back to ring 3 (its time slice is used up).
//
// The locks (docs/kernel.md, "The kernel's locks"; the order rules there):
//   proctree_lock  the process tree: who is whose child, who waits for a
//                  child, which processes have ended, and the pid list
//   siglock        a group's threads and its signal state (per group)
//   alloc_lock     a group's working directory and heap bounds (per group)
//   FdTable::lock  a group's file descriptors (fs.h)
//   pi_lock        wake-ups of one task (per task)
//   rq_lock        a CPU's run queue (percpu.h)
// What a task changes only for itself (its mm, stacks, TLS, FPU, signal
// mask, uaccess and fault-loop state, console line) has no lock: other
// tasks never read it, and the page-fault path reads it freely.
#pragma once

#include <atomic>
#include <cstdint>

#include "arch/x86.h"
#include "kernel/fs.h"
#include "mm/list.h"
#include "mm/mm_struct.h"
#include "mm/spinlock.h"

namespace kern {

// Tasks and kernel stacks come from fixed pools: the process limit, which
// also bounds a fork bomb (fork returns -EAGAIN beyond it).
inline constexpr uint32_t kMaxTasks = 128;
inline constexpr uint32_t kKernelStackSize = 8192;
inline constexpr uint32_t kTimeSliceTicks = 10;  // round-robin quantum
inline constexpr uint32_t kNumSignals = 64;

// A task's life: kFree -> kNew (claimed by fork or clone, not yet runnable)
// -> kRunnable <-> kBlocked -> kZombie (a group leader that exited; its
// parent reaps it) or kDead (an exited thread, or a reaped leader). A kDead
// slot is free again once no CPU runs on its kernel stack (!on_cpu).
enum class TaskState : uint8_t { kFree, kNew, kRunnable, kBlocked, kZombie, kDead };

// Linux's struct k_sigaction on i386 (rt_sigaction's argument).
struct KSigaction {
  uint32_t handler;
  uint32_t flags;
  uint32_t restorer;
  uint32_t mask[2];
};

// The process tree's lock (process.cc): Linux's tasklist_lock in its
// process-tree role. The mm core's tasklist_lock (the published mms that a
// lockless kernel-mapping sync walks) is a lock of its own, so that the
// counters show each.
extern mm::SpinLock proctree_lock;
// The sleepers' lock (sched.cc): every task with a wake-up tick.
extern mm::SpinLock timer_lock;

struct Task;
struct ThreadGroup;

// A futex wait (futex.cc): the key and the bit set, written by the waiter
// before it queues itself and read by wakers under the bucket's lock.
// `queued` is cleared by the waker that dequeues it, under the same lock;
// the waiter reads it without the lock to know it was woken.
struct FutexWait {
  const void* object = nullptr;
  uint32_t offset = 0;
  uint32_t bitset = 0;
  std::atomic<bool> queued{false};
};

struct Task {
  constexpr explicit Task(TaskState s = TaskState::kFree) : state(s) {}
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  int32_t pid = 0;  // the thread id; the group's pid (tgid) is leader->pid
  // Changed by the task itself (kBlocked, kZombie, kDead), by a waker
  // (kBlocked -> kRunnable, under pi_lock), by fork/clone (kNew ->
  // kRunnable) and by the reaper (kZombie -> kDead): sequentially
  // consistent, so that "set kBlocked, then look at the condition" and
  // "change the condition, then look at the state" never both miss.
  std::atomic<TaskState> state;
  char comm[16] = {};

  // Set by alloc_task before the task is visible: the group's leader
  // (itself for a process) and the group.
  Task* leader = nullptr;
  ThreadGroup* group = nullptr;

  mm::MmStruct* mm = nullptr;
  uint32_t kstack_top = 0;
  uint32_t saved_esp = 0;  // while switched out (switch_stacks)
  alignas(16) uint8_t fpu[512] = {};
  uint64_t tls[x86::kTlsEntries] = {};
  uint64_t sigmask = 0;  // nothing is delivered, so only the task reads it
  uint32_t clear_child_tid = 0;
  uint32_t set_child_tid = 0;  // written by the child itself on its first run
  uint32_t robust_list = 0;

  // exit_group, a fatal signal or exec's de_thread in another thread: this
  // thread ends at its next return to ring 3, and blocking calls return
  // -EINTR so that it gets there. Set under its group's siglock.
  std::atomic<bool> killed{false};

  // List links; each list says which lock guards it.
  mm::Link<Task> thread_link;   // group->threads (siglock)
  mm::Link<Task> sibling_link;  // the parent group's children (proctree_lock); leaders only
  mm::Link<Task> pid_link;      // the pid list (proctree_lock)
  mm::Link<Task> wait_link;     // a parent's child_waiters (proctree_lock) or a futex bucket (its lock)
  mm::Link<Task> timer_link;    // the sleepers (timer_lock)
  FutexWait futex;

  // A wake-up tick (timer_lock): on the sleepers' list until jiffies >=
  // wake_tick. `on_timer` is read without the lock by the sleeper itself.
  uint64_t wake_tick MM_GUARDED(timer_lock) = 0;
  std::atomic<bool> on_timer{false};

  // The scheduler's. pi_lock serializes wake-ups of this task (Linux's
  // p->pi_lock); run_next and on_rq belong to the run queue the task is
  // on, guarded by that CPU's rq_lock; on_cpu and cpu are written under it
  // and read elsewhere as hints, but for the wake-up protocol (sched.cc).
  mm::SpinLock pi_lock;
  uint32_t ticks_left = kTimeSliceTicks;  // counted down by this CPU's timer
  Task* run_next = nullptr;
  bool on_rq = false;
  std::atomic<bool> on_cpu{false};  // some CPU's current task (its kernel stack is in use)
  std::atomic<uint32_t> cpu{0};     // the CPU it runs on, or whose queue it is on, or last ran on

  // User-access recovery (uaccess.cc): a fault on a user address that the
  // mm cannot resolve, taken while copying, returns -EFAULT from the copy.
  void* uaccess_jmp[5] = {};
  bool uaccess_active = false;
  // A fault the mm resolved but that keeps recurring is a kernel bug.
  uint32_t last_fault_addr = 0, last_fault_ip = 0, same_fault_count = 0;
  // Console output collected into lines (result-record forwarding); a
  // longer line is forwarded cut, with "truncated": true.
  char line[4096] = {};
  uint32_t line_len = 0;
  bool line_truncated = false;
};

using ThreadList = mm::IntrusiveList<Task, &Task::thread_link>;
using ChildList = mm::IntrusiveList<Task, &Task::sibling_link>;
using PidList = mm::IntrusiveList<Task, &Task::pid_link>;
using WaitList = mm::IntrusiveList<Task, &Task::wait_link>;
using TimerList = mm::IntrusiveList<Task, &Task::timer_link>;

// What the threads of a process share, kept with its leader's task slot
// (groups[i] belongs to tasks[i] while that task leads a process).
struct ThreadGroup {
  constexpr ThreadGroup() = default;
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;

  // siglock guards the threads and the group's signal state: exit_group
  // and a new thread meet here, so no thread escapes a group kill.
  mm::SpinLock siglock;
  ThreadList threads MM_GUARDED(siglock);
  uint32_t nr_threads MM_GUARDED(siglock) = 0;        // threads not yet exited
  bool group_dead MM_GUARDED(siglock) = false;        // exit_group or a fatal signal ends the group
  int32_t group_exit_status MM_GUARDED(siglock) = 0;  // the group's wait status when group_dead
  int32_t leader_status MM_GUARDED(siglock) = 0;      // the leader's own exit status, once it exited
  Task* exec_waiter MM_GUARDED(siglock) = nullptr;    // exec waits for the other threads to end
  KSigaction sigactions[kNumSignals] MM_GUARDED(siglock) = {};

  // alloc_lock (Linux's task_lock, for what fs_struct and mm->brk hold
  // there): the working directory and the heap.
  mm::SpinLock alloc_lock;
  char cwd[128] MM_GUARDED(alloc_lock) = "/";
  uint32_t brk_start MM_GUARDED(alloc_lock) = 0;  // end of the loaded image: the heap starts here
  uint32_t brk MM_GUARDED(alloc_lock) = 0;

  FdTable files;  // its own lock

  // The process tree, under proctree_lock.
  Task* parent MM_GUARDED(proctree_lock) = nullptr;   // the leader of the process that reaps this one
  ChildList children MM_GUARDED(proctree_lock);       // leaders of the processes this one reaps
  WaitList child_waiters MM_GUARDED(proctree_lock);   // this group's threads blocked in wait4
  bool exited MM_GUARDED(proctree_lock) = false;      // the last thread has exited: the parent may reap
  int32_t exit_status MM_GUARDED(proctree_lock) = 0;  // its wait status, once exited
};

// The task table (sched.cc). alloc_task claims a free slot (lock-free: a
// compare-and-swap on the slot's state) and returns it in kNew with a
// fresh pid: its own leader and group for a process (`leader` null), or a
// thread of `leader`'s group. free_task gives back a slot that was never
// made visible.
Task* alloc_task(Task* leader);
void free_task(Task* t);
Task* task_at(uint32_t index);  // the task table, for the walk at shutdown (slot 0 is idle)
// A kernel stack holding `frame` as the state to iret into.
void task_setup_frame(Task* t, const x86::TrapFrame& frame);

}  // namespace kern
