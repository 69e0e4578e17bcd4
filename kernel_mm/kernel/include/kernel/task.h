// Processes and the scheduler (docs/kernel.md, "Scheduling on several
// CPUs"). The kernel is not preemptible: it runs with interrupts off (every
// gate is an interrupt gate), and a task is switched out only when it
// blocks or on its way back to ring 3 (its time slice is used up).
//
// Every CPU runs tasks from its own run queue and steals from the busiest
// other queue when its own is empty. One big kernel lock (`kernel_lock`)
// guards the task table, the run queues and everything else outside the mm
// core: system calls run under it, page faults do not (the mm core has its
// own locks, which are what the lock toggles are about), and neither do
// dup_mm in fork, the last mmput of an exit, and the kernel-mapping churn.
// The lock is held across a context switch and released by the task
// switched to, on the same CPU.
#pragma once

#include <cstdint>

#include "arch/x86.h"
#include "kernel/fs.h"
#include "mm/mm_struct.h"
#include "mm/spinlock.h"
#include "mm/system.h"

namespace kern {

// Tasks and kernel stacks come from fixed pools: the process limit, which
// also bounds a fork bomb (fork returns -EAGAIN beyond it).
inline constexpr uint32_t kMaxTasks = 128;
inline constexpr uint32_t kKernelStackSize = 8192;
inline constexpr uint32_t kHz = 1000;            // timer interrupts per second
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
  uint64_t syscalls = 0;  // some run without kernel_lock (syscall_needs_kernel_lock)
};
extern Cpu cpus[x86::kMaxCpus];
inline Cpu& cpu_self() { return cpus[x86::this_cpu()]; }
// The task running on this CPU. Kernel code moves between CPUs only across
// schedule(), and reads `current` afresh every time.
#define current (::kern::cpu_self().curr)

// The big kernel lock (above); lock class kernel_lock in the counters.
extern mm::SpinLock kernel_lock;
// Set once by shutdown(): every other CPU stops (park) at its next safe
// point: a return to ring 3, the idle loop, or waiting for kernel_lock.
extern volatile bool stopping;
// Takes kernel_lock where this CPU holds nothing else (system call entry,
// the way back to ring 3, the idle loop): if shutdown() is stopping the
// CPUs meanwhile, this CPU parks instead.
void lock_kernel_at_safe_point();
// This CPU stops for good: it leaves its mm for init_mm, releases
// kernel_lock if it holds it, and only answers cross-CPU calls from now on.
[[noreturn]] void park_cpu();
// An AP, once online: enters the scheduler with its own idle task.
[[noreturn]] void sched_ap_main(uint32_t cpu);
// The boot CPU, once PID 1 exists: lets the APs schedule, then idles.
[[noreturn]] void sched_start();
// shutdown(), with kernel_lock held: every other CPU parks; returns with
// kernel_lock held again once they all have (panics after a second).
void stop_other_cpus();

extern mm::System* sys;
extern volatile uint64_t jiffies;
extern uint64_t tsc_hz;
extern uint64_t boot_tsc;
uint64_t tsc_to_ns(uint64_t cycles);  // time.cc
uint64_t time_ns();                   // since boot_tsc
extern uint64_t realtime_base_s;      // wall-clock seconds at boot_tsc (CMOS RTC)

void sched_init();
// Makes `t` runnable and queues it on a CPU (an idle one if there is one,
// woken by an IPI); no-op if it is queued or running already. kernel_lock held.
void wake_up(Task* t);
// Gives the CPU to the next runnable task (or idle); returns when this task
// runs again, possibly on another CPU. Blocks first when the caller set
// current->state = kBlocked. kernel_lock held.
void schedule();
// The boot CPU's PIT tick (jiffies, sleepers) and every CPU's time slice.
void timer_tick();
void local_timer_tick();  // an AP's local APIC timer
// True when the current task's time slice is used up and another waits.
bool need_resched();
// The way back to ring 3 from any trap: preemption, a kill by another
// thread, shutdown. `locked`: the trap holds kernel_lock (released here).
void return_to_user(bool locked);
// A task killed or the system stopping: a blocking call gives up (-EINTR).
bool interrupted();
// Records that `t` sleeps until t->wake_tick (which the caller set).
void note_sleeper(const Task* t);

Task* alloc_task();
// Takes a queued task off its run queue (reap_all at shutdown).
void dequeue_task(Task* t);
Task* find_task(int32_t pid);
Task* task_at(uint32_t index);  // the task table, for walks (slot 0 is idle)
// A kernel stack holding `frame` as the state to iret into.
void task_setup_frame(Task* t, const x86::TrapFrame& frame);

// Process lifecycle (process.cc).
// fork / vfork / fork-like clone: CLONE_PARENT_SETTID, CLONE_CHILD_SETTID
// and CLONE_CHILD_CLEARTID are honoured (glibc's fork uses them).
int32_t do_fork(x86::TrapFrame* frame, uint32_t clone_flags, uint32_t parent_tid, uint32_t child_tid);
// clone: fork-like flags fork; CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|
// CLONE_THREAD together (pthread_create) make a thread of the caller's
// group on the user stack `newsp`, with CLONE_SETTLS's descriptor at `tls`;
// any other sharing combination is -EINVAL.
int32_t do_clone(x86::TrapFrame* frame, uint32_t flags, uint32_t newsp, uint32_t parent_tid, uint32_t tls,
                 uint32_t child_tid);
uint32_t reap_all();
// PID 1 (its leader: any of its threads).
bool is_init(const Task* t);
// exit(2): this thread ends; the group ends with its last thread.
[[noreturn]] void do_exit(int32_t wait_status);
// exit_group(2) and fatal signals: every thread of the group ends.
[[noreturn]] void do_group_exit(int32_t wait_status);
// Tells every other thread of the group to end (they exit on their way
// back to ring 3).
void kill_other_threads();
// exec in a multi-threaded group (Linux's de_thread): the other threads
// end, and the caller (the leader) waits until they have; -EINTR if it is
// itself killed meanwhile.
int32_t de_thread();
int32_t do_wait4(int32_t pid, uint32_t status_ptr, uint32_t options, uint32_t rusage_ptr);
// Starts PID 1 from `path` with argv/envp (kernel strings); false on failure.
// PID 1 exited: kills what is left, writes the `leak` record, leaves QEMU.
[[noreturn]] void shutdown(int32_t init_status);
// `fail`: fault injection (mm.fail_alloc), switched on once init's exec has
// succeeded, so that the boot itself never fails on purpose.
bool start_init(const char* path, const char* const* argv, int argc, const char* const* envp, int envc,
                const mm::FailPolicy& fail);

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

// futex.cc: futex(2) and futex_time64, and the wake of CLONE_CHILD_CLEARTID.
int32_t do_futex(uint32_t uaddr, uint32_t op, uint32_t val, uint32_t utime, uint32_t val3, bool time64);
int32_t futex_wake(uint32_t uaddr, uint32_t count, uint32_t bitset);

// TLS descriptors (set_thread_area and CLONE_SETTLS): a struct user_desc at
// `uinfo` into tls[]; an entry number of -1 picks a free slot and writes it
// back. 0 or -errno.
int32_t tls_from_user(uint64_t* tls, uint32_t uinfo);

// trap.cc
void on_user_fault_kill(x86::TrapFrame* frame, int sig, const char* what);

// syscall.cc
int32_t syscall_dispatch(x86::TrapFrame* frame);
// False for the calls that touch only the caller's mm, which the mm core
// locks itself: munmap, mprotect and anonymous mmap2 (as in Linux, where no
// global lock is taken for them). They run without kernel_lock, so threads
// of one mm meet only on its mmap_lock and PTE locks.
bool syscall_needs_kernel_lock(const x86::TrapFrame* frame);

// Kernel counters beyond the mm core's (records.cc).
struct KernelStats {
  uint64_t context_switches = 0;
  uint64_t forks = 0;
  uint64_t threads = 0;  // clone with CLONE_THREAD
  uint64_t execs = 0;
  uint64_t exits = 0;
  uint64_t segfaults = 0;
  uint64_t timer_ticks = 0;
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
