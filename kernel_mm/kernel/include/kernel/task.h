// Processes and the scheduler. Uniprocessor, kernel not preemptible: the
// kernel runs with interrupts off (every gate is an interrupt gate), and a
// task is switched out only when it blocks or on its way back to ring 3
// (timer preemption). The SMP issue brings per-CPU run queues and locks.
#pragma once

#include <cstdint>

#include "arch/x86.h"
#include "kernel/fs.h"
#include "mm/mm_struct.h"
#include "mm/system.h"

namespace kern {

// Tasks and kernel stacks come from fixed pools: the process limit, which
// also bounds a fork bomb (fork returns -EAGAIN beyond it).
inline constexpr uint32_t kMaxTasks = 128;
inline constexpr uint32_t kKernelStackSize = 8192;
inline constexpr uint32_t kHz = 1000;            // timer interrupts per second
inline constexpr uint32_t kTimeSliceTicks = 10;  // round-robin quantum
inline constexpr uint32_t kNumSignals = 64;

enum class TaskState : uint8_t { kFree, kRunnable, kBlocked, kZombie };

// Linux's struct k_sigaction on i386 (rt_sigaction's argument).
struct KSigaction {
  uint32_t handler;
  uint32_t flags;
  uint32_t restorer;
  uint32_t mask[2];
};

struct Task {
  int32_t pid = 0;
  TaskState state = TaskState::kFree;
  Task* parent = nullptr;
  char comm[16] = {};

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

  // Why a blocked task waits: a child's exit, or a tick.
  bool waiting_child = false;
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
  // Console output collected into lines (result-record forwarding); a
  // longer line is forwarded cut, with "truncated": true.
  char line[4096] = {};
  uint32_t line_len = 0;
  bool line_truncated = false;
};

extern Task* current;
extern mm::System* sys;
extern mm::MmStruct* active_mm;  // the mm in CR3 (the idle task borrows one)
extern volatile uint64_t jiffies;
extern uint64_t tsc_hz;
extern uint64_t boot_tsc;
uint64_t tsc_to_ns(uint64_t cycles);  // time.cc
uint64_t time_ns();                   // since boot_tsc

void sched_init();
// Makes `t` runnable and queues it (no-op if it already is).
void wake_up(Task* t);
// Gives the CPU to the next runnable task (or idle); returns when this task
// runs again. Blocks first when the caller set current->state = kBlocked.
void schedule();
// Called on the timer tick with the interrupted frame.
void timer_tick(const x86::TrapFrame* frame);
// True when the current task's time slice is used up.
bool need_resched();
[[noreturn]] void idle_loop();

Task* alloc_task();
Task* find_task(int32_t pid);
Task* task_at(uint32_t index);  // the task table, for walks (slot 0 is idle)
// A kernel stack holding `frame` as the state to iret into.
void task_setup_frame(Task* t, const x86::TrapFrame& frame);

// Process lifecycle (process.cc).
// fork / vfork / fork-like clone: CLONE_PARENT_SETTID, CLONE_CHILD_SETTID
// and CLONE_CHILD_CLEARTID are honoured (glibc's fork uses them).
int32_t do_fork(x86::TrapFrame* frame, uint32_t clone_flags, uint32_t parent_tid, uint32_t child_tid);
uint32_t reap_all();
[[noreturn]] void do_exit(int32_t wait_status);
int32_t do_wait4(int32_t pid, uint32_t status_ptr, uint32_t options, uint32_t rusage_ptr);
// Starts PID 1 from `path` with argv/envp (kernel strings); false on failure.
// PID 1 exited: kills what is left, writes the `leak` record, leaves QEMU.
[[noreturn]] void shutdown(int32_t init_status);
bool start_init(const char* path, const char* const* argv, int argc, const char* const* envp, int envc);

// exec.cc: replaces the current process's image. The strings are in kernel
// memory. Returns 0 or -errno; on error the old image is untouched.
int32_t exec_image(x86::TrapFrame* frame, const char* path, const char* const* argv, uint32_t argc,
                   const char* const* envp, uint32_t envc);
int32_t sys_execve(x86::TrapFrame* frame, uint32_t path, uint32_t argv, uint32_t envp);

// uaccess.cc: copies between kernel and user memory of the current mm.
bool user_range_ok(uint32_t addr, uint32_t len);
int32_t copy_to_user(uint32_t dst, const void* src, uint32_t n);
int32_t copy_from_user(void* dst, uint32_t src, uint32_t n);
int32_t clear_user(uint32_t dst, uint32_t n);
// Copies a NUL-terminated string of at most max-1 bytes; returns its length,
// -EFAULT, or -ENAMETOOLONG.
int32_t strncpy_from_user(char* dst, uint32_t src, uint32_t max);

// trap.cc
void on_user_fault_kill(x86::TrapFrame* frame, int sig, const char* what);

// syscall.cc
int32_t syscall_dispatch(x86::TrapFrame* frame);

// Kernel counters beyond the mm core's (records.cc).
struct KernelStats {
  uint64_t syscalls = 0;
  uint64_t context_switches = 0;
  uint64_t forks = 0;
  uint64_t execs = 0;
  uint64_t exits = 0;
  uint64_t segfaults = 0;
  uint64_t timer_ticks = 0;
  uint64_t user_faults = 0;
  uint64_t kernel_uaccess_faults = 0;
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
void count_enosys(uint32_t nr);
void emit_counters_record(const char* label);

}  // namespace kern
