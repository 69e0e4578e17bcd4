// A task: one thread of a process (Linux's task_struct), and the task table
// (sched.cc). The kernel is not preemptible: it runs with interrupts off
// (every gate is an interrupt gate), and a task is switched out only when it
// blocks or on its way back to ring 3 (its time slice is used up).
#pragma once

#include <cstdint>

#include "arch/x86.h"
#include "kernel/fs.h"
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

struct Task {
  int32_t pid = 0;  // the thread id; the group's pid (tgid) is leader->pid
  TaskState state = TaskState::kFree;
  Task* parent = nullptr;  // a group leader: who waits for this group
  char comm[16] = {};

  // The thread group (CLONE_THREAD). Its leader holds what the threads
  // share: `files`, `cwd`, `sigactions`, `brk_start`/`brk` (read them as
  // leader->...; glibc's pthread_create shares all of them, and clone
  // refuses other sharing combinations). A task alone is its own leader.
  Task* leader = nullptr;         // set by alloc_task: itself, or the thread group's leader
  uint32_t nr_threads = 1;        // leader: threads not yet exited, itself included
  bool group_dead = false;        // leader: exit_group or a fatal signal is ending the group
  int32_t group_exit_status = 0;  // leader: the wait status of the group when group_dead

  mm::MmStruct* mm = nullptr;
  uint32_t brk_start = 0;  // end of the loaded image: the heap starts here
  uint32_t brk = 0;

  uint32_t kstack_top = 0;
  uint32_t saved_esp = 0;  // while switched out (switch_stacks)
  alignas(16) uint8_t fpu[512] = {};
  uint64_t tls[x86::kTlsEntries] = {};

  FdTable files;
  char cwd[128] = "/";

  KSigaction sigactions[kNumSignals] = {};
  uint64_t sigmask = 0;
  uint32_t clear_child_tid = 0;
  uint32_t set_child_tid = 0;  // written by the child itself on its first run
  uint32_t robust_list = 0;

  // Why a blocked task waits: a child's exit, a futex, or a tick.
  bool waiting_child = false;
  const void* futex_object = nullptr;  // futex key (futex.cc); nullptr: not waiting on one
  uint32_t futex_offset = 0;
  uint32_t futex_bitset = 0;
  uint64_t wake_tick = 0;   // sleeping until jiffies >= wake_tick (0: not sleeping)
  int32_t exit_status = 0;  // wait status (Linux encoding) once a zombie

  // User-access recovery (uaccess.cc): a fault on a user address that the
  // mm cannot resolve, taken while copying, returns -EFAULT from the copy.
  void* uaccess_jmp[5] = {};
  bool uaccess_active = false;
  // A fault the mm resolved but that keeps recurring is a kernel bug.
  uint32_t last_fault_addr = 0, last_fault_ip = 0, same_fault_count = 0;

  uint32_t ticks_left = kTimeSliceTicks;
  Task* run_next = nullptr;
  bool on_rq = false;
  bool on_cpu = false;  // some CPU's current task (its kernel stack is in use)
  uint32_t cpu = 0;     // the CPU it last ran on (or whose queue it is on)
  // exit_group or a fatal signal in another thread: this thread ends at its
  // next return to ring 3; blocking calls return -EINTR so that it gets there.
  bool killed = false;
  bool de_thread_waiting = false;  // leader: exec waits for the other threads to end
  // Console output collected into lines (result-record forwarding); a
  // longer line is forwarded cut, with "truncated": true.
  char line[4096] = {};
  uint32_t line_len = 0;
  bool line_truncated = false;
};

// The task table (sched.cc).
Task* alloc_task();
Task* find_task(int32_t pid);
Task* task_at(uint32_t index);  // the task table, for walks (slot 0 is idle)
// A kernel stack holding `frame` as the state to iret into.
void task_setup_frame(Task* t, const x86::TrapFrame& frame);

}  // namespace kern
