// A task: one thread of a process (Linux's task_struct), and the task table
// (sched.cc). The kernel is not preemptible: it runs with interrupts off
// (every gate is an interrupt gate), and a task is switched out only when it
// blocks or on its way back to ring 3 (its time slice is used up).
#pragma once

#include <cstdint>

#include "arch/x86.h"
#include "kernel/fs.h"
#include "kernel/kernel_lock.h"
#include "mm/mm_struct.h"

namespace kern {

// Tasks and kernel stacks come from fixed pools: the process limit, which
// also bounds a fork bomb (fork returns -EAGAIN beyond it).
inline constexpr uint32_t kMaxTasks = 128;
inline constexpr uint32_t kKernelStackSize = 8192;
inline constexpr uint32_t kTimeSliceTicks = 10;  // round-robin quantum
inline constexpr uint32_t kNumSignals = 64;

// kDead: a thread that has exited; its slot is free once it is not the
// running task (its kernel stack is in use until the switch away).
enum class TaskState : uint8_t { kFree, kRunnable, kBlocked, kZombie, kDead };

// Linux's struct k_sigaction on i386 (rt_sigaction's argument).
struct KSigaction {
  uint32_t handler;
  uint32_t flags;
  uint32_t restorer;
  uint32_t mask[2];
};

// What kernel_lock guards is marked so; the rest is the task's own: set
// before it first runs (pid, leader), or changed only by the task itself
// and read by it or by the CPU switching it (comm, mm, stack, FPU and TLS
// state, the uaccess and fault-loop fields, the console line), which is
// why the page fault path reads them without the lock.
struct Task {
  int32_t pid = 0;  // the thread id; the group's pid (tgid) is leader->pid
  TaskState state MM_GUARDED(kernel_lock) = TaskState::kFree;
  Task* parent MM_GUARDED(kernel_lock) = nullptr;  // a group leader: who waits for this group
  char comm[16] = {};

  // The thread group (CLONE_THREAD). Its leader holds what the threads
  // share: `files`, `cwd`, `sigactions`, `brk_start`/`brk` (read them as
  // leader->...; glibc's pthread_create shares all of them, and clone
  // refuses other sharing combinations). A task alone is its own leader.
  Task* leader = nullptr;                                 // set by alloc_task: itself, or the group's leader
  uint32_t nr_threads MM_GUARDED(kernel_lock) = 1;        // leader: threads not yet exited, itself included
  bool group_dead MM_GUARDED(kernel_lock) = false;        // leader: exit_group or a fatal signal ends the group
  int32_t group_exit_status MM_GUARDED(kernel_lock) = 0;  // leader: the group's wait status when group_dead

  // Changed only by the task itself (exec, exit) or before it first runs
  // (fork), always under kernel_lock; the task reads its own without it.
  mm::MmStruct* mm = nullptr;
  uint32_t brk_start MM_GUARDED(kernel_lock) = 0;  // end of the loaded image: the heap starts here
  uint32_t brk MM_GUARDED(kernel_lock) = 0;

  uint32_t kstack_top = 0;
  uint32_t saved_esp = 0;  // while switched out (switch_stacks)
  alignas(16) uint8_t fpu[512] = {};
  uint64_t tls[x86::kTlsEntries] = {};

  FdTable files MM_GUARDED(kernel_lock);
  char cwd[128] MM_GUARDED(kernel_lock) = "/";

  KSigaction sigactions[kNumSignals] MM_GUARDED(kernel_lock) = {};
  uint64_t sigmask MM_GUARDED(kernel_lock) = 0;
  uint32_t clear_child_tid = 0;
  uint32_t set_child_tid = 0;  // written by the child itself on its first run
  uint32_t robust_list = 0;

  // Why a blocked task waits: a child's exit, a futex, or a tick.
  bool waiting_child MM_GUARDED(kernel_lock) = false;
  const void* futex_object MM_GUARDED(kernel_lock) = nullptr;  // futex key (futex.cc); nullptr: not waiting on one
  uint32_t futex_offset MM_GUARDED(kernel_lock) = 0;
  uint32_t futex_bitset MM_GUARDED(kernel_lock) = 0;
  uint64_t wake_tick MM_GUARDED(kernel_lock) = 0;   // sleeping until jiffies >= wake_tick (0: not sleeping)
  int32_t exit_status MM_GUARDED(kernel_lock) = 0;  // wait status (Linux encoding) once a zombie

  // User-access recovery (uaccess.cc): a fault on a user address that the
  // mm cannot resolve, taken while copying, returns -EFAULT from the copy.
  void* uaccess_jmp[5] = {};
  bool uaccess_active = false;
  // A fault the mm resolved but that keeps recurring is a kernel bug.
  uint32_t last_fault_addr = 0, last_fault_ip = 0, same_fault_count = 0;

  // The run queues (percpu.h) link tasks through run_next.
  uint32_t ticks_left = kTimeSliceTicks;  // counted down by this CPU's timer
  Task* run_next MM_GUARDED(kernel_lock) = nullptr;
  bool on_rq MM_GUARDED(kernel_lock) = false;
  bool on_cpu MM_GUARDED(kernel_lock) = false;  // some CPU's current task (its kernel stack is in use)
  uint32_t cpu MM_GUARDED(kernel_lock) = 0;     // the CPU it last ran on (or whose queue it is on)
  // exit_group or a fatal signal in another thread: this thread ends at its
  // next return to ring 3; blocking calls return -EINTR so that it gets there.
  bool killed MM_GUARDED(kernel_lock) = false;
  bool de_thread_waiting MM_GUARDED(kernel_lock) = false;  // leader: exec waits for the other threads to end
  // Console output collected into lines (result-record forwarding); a
  // longer line is forwarded cut, with "truncated": true.
  char line[4096] = {};
  uint32_t line_len = 0;
  bool line_truncated = false;
};

// The task table (sched.cc).
Task* alloc_task() MM_REQ(kernel_lock);
Task* find_task(int32_t pid) MM_REQ(kernel_lock);
Task* task_at(uint32_t index);  // the task table, for walks (slot 0 is idle)
// A kernel stack holding `frame` as the state to iret into.
void task_setup_frame(Task* t, const x86::TrapFrame& frame);

}  // namespace kern
