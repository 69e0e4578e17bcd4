// The system-call table and its dispatch (syscall.h).
#include "kernel/syscall.h"

#include "kernel/errno.h"
#include "kernel/kstats.h"
#include "kernel/percpu.h"

namespace kern {
namespace {

constexpr SyscallLock kKernel = SyscallLock::kKernel;
constexpr SyscallLock kMmOnly = SyscallLock::kMmOnly;
constexpr SyscallLock kMmOnlyIfAnonymous = SyscallLock::kMmOnlyIfAnonymous;

// Linux i386 numbers; 1000 and 1001 are mmlab's own, outside Linux's range.
constexpr Syscall kSyscalls[] = {
    {1, "exit", sys_exit, kKernel},
    {2, "fork", sys_fork, kKernel},
    {3, "read", sys_read, kKernel},
    {4, "write", sys_write, kKernel},
    {5, "open", sys_open, kKernel},
    {6, "close", sys_close, kKernel},
    {7, "waitpid", sys_waitpid, kKernel},
    {11, "execve", sys_execve, kKernel},
    {12, "chdir", sys_chdir, kKernel},
    {13, "time", sys_time, kKernel},
    {19, "lseek", sys_lseek, kKernel},
    {20, "getpid", sys_getpid, kKernel},
    {24, "getuid", sys_getuid, kKernel},
    {29, "pause", sys_pause, kKernel},
    {33, "access", sys_access, kKernel},
    {37, "kill", sys_kill, kKernel},
    {41, "dup", sys_dup, kKernel},
    {45, "brk", sys_brk, kKernel},
    {47, "getgid", sys_getuid, kKernel},
    {49, "geteuid", sys_getuid, kKernel},
    {50, "getegid", sys_getuid, kKernel},
    {54, "ioctl", sys_ioctl, kKernel},
    {55, "fcntl", sys_fcntl, kKernel},
    {57, "setpgid", sys_setpgid, kKernel},
    {60, "umask", sys_umask, kKernel},
    {63, "dup2", sys_dup2, kKernel},
    {64, "getppid", sys_getppid, kKernel},
    {65, "getpgrp", sys_getpgrp, kKernel},
    {66, "setsid", sys_getpgrp, kKernel},
    {78, "gettimeofday", sys_gettimeofday, kKernel},
    {85, "readlink", sys_readlink, kKernel},
    {91, "munmap", sys_munmap, kMmOnly},
    {114, "wait4", sys_wait4, kKernel},
    {120, "clone", sys_clone, kKernel},
    {122, "uname", sys_uname, kKernel},
    {125, "mprotect", sys_mprotect, kMmOnly},
    {132, "getpgid", sys_getpgrp, kKernel},
    {140, "_llseek", sys_llseek, kKernel},
    {146, "writev", sys_writev, kKernel},
    {147, "getsid", sys_getpgrp, kKernel},
    {158, "sched_yield", sys_sched_yield, kKernel},
    {162, "nanosleep", sys_nanosleep, kKernel},
    {174, "rt_sigaction", sys_rt_sigaction, kKernel},
    {175, "rt_sigprocmask", sys_rt_sigprocmask, kKernel},
    {180, "pread64", sys_pread64, kKernel},
    {183, "getcwd", sys_getcwd, kKernel},
    {190, "vfork", sys_fork, kKernel},
    {191, "ugetrlimit", sys_ugetrlimit, kKernel},
    {192, "mmap2", sys_mmap2, kMmOnlyIfAnonymous},
    {195, "stat64", sys_stat64, kKernel},
    {196, "lstat64", sys_lstat64, kKernel},
    {197, "fstat64", sys_fstat64, kKernel},
    {199, "getuid32", sys_getuid, kKernel},
    {200, "getgid32", sys_getuid, kKernel},
    {201, "geteuid32", sys_getuid, kKernel},
    {202, "getegid32", sys_getuid, kKernel},
    {220, "getdents64", sys_getdents64, kKernel},
    {221, "fcntl64", sys_fcntl, kKernel},
    {224, "gettid", sys_gettid, kKernel},
    {238, "tkill", sys_tkill, kKernel},
    {240, "futex", sys_futex, kKernel},
    {243, "set_thread_area", sys_set_thread_area, kKernel},
    {252, "exit_group", sys_exit_group, kKernel},
    {258, "set_tid_address", sys_set_tid_address, kKernel},
    {265, "clock_gettime", sys_clock_gettime, kKernel},
    {266, "clock_getres", sys_clock_getres, kKernel},
    {267, "clock_nanosleep", sys_clock_nanosleep, kKernel},
    {270, "tgkill", sys_tgkill, kKernel},
    {295, "openat", sys_openat, kKernel},
    {300, "fstatat64", sys_fstatat64, kKernel},
    {305, "readlinkat", sys_readlinkat, kKernel},
    {307, "faccessat", sys_faccessat, kKernel},
    {311, "set_robust_list", sys_set_robust_list, kKernel},
    {330, "dup3", sys_dup3, kKernel},
    {340, "prlimit64", sys_prlimit64, kKernel},
    {355, "getrandom", sys_getrandom, kKernel},
    {383, "statx", sys_statx, kKernel},
    {403, "clock_gettime64", sys_clock_gettime64, kKernel},
    {406, "clock_getres_time64", sys_clock_getres_time64, kKernel},
    {407, "clock_nanosleep_time64", sys_clock_nanosleep_time64, kKernel},
    {422, "futex_time64", sys_futex_time64, kKernel},
    {439, "faccessat2", sys_faccessat, kKernel},
    {1000, "mmlab_counters", sys_mmlab_counters, kKernel},
    {1001, "mmlab_kmap_churn", sys_mmlab_kmap_churn, kKernel},
};
constexpr uint32_t kNumSyscalls = sizeof(kSyscalls) / sizeof(kSyscalls[0]);

// The table's rows by number, built at compile time: row + 1, 0 for none.
constexpr uint32_t kNrLimit = 1002;  // one past the largest number
struct Index {
  uint8_t row[kNrLimit] = {};
};
constexpr Index make_index() {
  Index x;
  for (uint32_t i = 0; i < kNumSyscalls; ++i) x.row[kSyscalls[i].nr] = static_cast<uint8_t>(i + 1);
  return x;
}
constexpr Index kIndex = make_index();

// Every number in range, each in one row only, and row + 1 fits a byte.
constexpr bool table_well_formed() {
  if (kNumSyscalls >= 255) return false;
  for (uint32_t i = 0; i < kNumSyscalls; ++i)
    if (kSyscalls[i].nr >= kNrLimit || kIndex.row[kSyscalls[i].nr] != i + 1) return false;
  return true;
}
static_assert(table_well_formed(), "a system-call number out of range or in two rows");

const Syscall* find_syscall(uint32_t nr) {
  const uint32_t row = nr < kNrLimit ? kIndex.row[nr] : 0;
  return row ? &kSyscalls[row - 1] : nullptr;
}

}  // namespace

void count_enosys(uint32_t nr) {
  for (uint32_t i = 0; i < KernelStats::kEnosysSlots; ++i) {
    if (kstats.enosys_count[i] && kstats.enosys_nr[i] == nr) {
      ++kstats.enosys_count[i];
      return;
    }
    if (!kstats.enosys_count[i]) {
      kstats.enosys_nr[i] = nr;
      kstats.enosys_count[i] = 1;
      return;
    }
  }
  ++kstats.enosys_other;
}

// Whether the lock is held is decided here, at run time, by the row: the
// analysis stops at this function and at the handler call (syscall.h).
bool syscall_entry(x86::TrapFrame* f) MM_NO_TSA {
  const Syscall* s = find_syscall(f->eax);
  const bool locked = !s || s->lock == kKernel || (s->lock == kMmOnlyIfAnonymous && !(f->esi & kMapAnonymous));
  if (locked) lock_kernel_at_safe_point();
  ++cpu_self().syscalls;
  // A system call is progress: the same fault after it is a new one (a
  // forking loop takes the same COW fault after every fork).
  current->same_fault_count = 0;
  if (s) {
    f->eax = static_cast<uint32_t>(s->handler(SyscallArgs(f)));
  } else {
    count_enosys(f->eax);
    f->eax = static_cast<uint32_t>(-ENOSYS);
  }
  return locked;
}

}  // namespace kern
