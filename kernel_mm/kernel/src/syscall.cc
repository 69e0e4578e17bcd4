// The system-call table and its dispatch (syscall.h).
#include "kernel/syscall.h"

#include "kernel/errno.h"
#include "kernel/kstats.h"
#include "kernel/percpu.h"

namespace kern {
namespace {

// Linux i386 numbers; 1000 and 1001 are mmlab's own, outside Linux's range.
constexpr Syscall kSyscalls[] = {
    {1, "exit", sys_exit},
    {2, "fork", sys_fork},
    {3, "read", sys_read},
    {4, "write", sys_write},
    {5, "open", sys_open},
    {6, "close", sys_close},
    {7, "waitpid", sys_waitpid},
    {11, "execve", sys_execve},
    {12, "chdir", sys_chdir},
    {13, "time", sys_time},
    {19, "lseek", sys_lseek},
    {20, "getpid", sys_getpid},
    {24, "getuid", sys_getuid},
    {29, "pause", sys_pause},
    {33, "access", sys_access},
    {37, "kill", sys_kill},
    {41, "dup", sys_dup},
    {45, "brk", sys_brk},
    {47, "getgid", sys_getuid},
    {49, "geteuid", sys_getuid},
    {50, "getegid", sys_getuid},
    {54, "ioctl", sys_ioctl},
    {55, "fcntl", sys_fcntl},
    {57, "setpgid", sys_setpgid},
    {60, "umask", sys_umask},
    {63, "dup2", sys_dup2},
    {64, "getppid", sys_getppid},
    {65, "getpgrp", sys_getpgrp},
    {66, "setsid", sys_getpgrp},
    {78, "gettimeofday", sys_gettimeofday},
    {85, "readlink", sys_readlink},
    {91, "munmap", sys_munmap},
    {114, "wait4", sys_wait4},
    {120, "clone", sys_clone},
    {122, "uname", sys_uname},
    {125, "mprotect", sys_mprotect},
    {132, "getpgid", sys_getpgrp},
    {140, "_llseek", sys_llseek},
    {146, "writev", sys_writev},
    {147, "getsid", sys_getpgrp},
    {158, "sched_yield", sys_sched_yield},
    {162, "nanosleep", sys_nanosleep},
    {174, "rt_sigaction", sys_rt_sigaction},
    {175, "rt_sigprocmask", sys_rt_sigprocmask},
    {180, "pread64", sys_pread64},
    {183, "getcwd", sys_getcwd},
    {190, "vfork", sys_fork},
    {191, "ugetrlimit", sys_ugetrlimit},
    {192, "mmap2", sys_mmap2},
    {195, "stat64", sys_stat64},
    {196, "lstat64", sys_lstat64},
    {197, "fstat64", sys_fstat64},
    {199, "getuid32", sys_getuid},
    {200, "getgid32", sys_getuid},
    {201, "geteuid32", sys_getuid},
    {202, "getegid32", sys_getuid},
    {220, "getdents64", sys_getdents64},
    {221, "fcntl64", sys_fcntl},
    {224, "gettid", sys_gettid},
    {238, "tkill", sys_tkill},
    {240, "futex", sys_futex},
    {243, "set_thread_area", sys_set_thread_area},
    {252, "exit_group", sys_exit_group},
    {258, "set_tid_address", sys_set_tid_address},
    {265, "clock_gettime", sys_clock_gettime},
    {266, "clock_getres", sys_clock_getres},
    {267, "clock_nanosleep", sys_clock_nanosleep},
    {270, "tgkill", sys_tgkill},
    {295, "openat", sys_openat},
    {300, "fstatat64", sys_fstatat64},
    {305, "readlinkat", sys_readlinkat},
    {307, "faccessat", sys_faccessat},
    {311, "set_robust_list", sys_set_robust_list},
    {330, "dup3", sys_dup3},
    {340, "prlimit64", sys_prlimit64},
    {355, "getrandom", sys_getrandom},
    {383, "statx", sys_statx},
    {403, "clock_gettime64", sys_clock_gettime64},
    {406, "clock_getres_time64", sys_clock_getres_time64},
    {407, "clock_nanosleep_time64", sys_clock_nanosleep_time64},
    {422, "futex_time64", sys_futex_time64},
    {439, "faccessat2", sys_faccessat},
    {1000, "mmlab_counters", sys_mmlab_counters},
    {1001, "mmlab_kmap_churn", sys_mmlab_kmap_churn},
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
  // A slot is claimed once for a number (its key: nr + 1) and then only
  // counted: lock-free, calls on several CPUs share the slot's line only.
  for (uint32_t i = 0; i < KernelStats::kEnosysSlots; ++i) {
    uint32_t key = kstats.enosys_key[i].load(std::memory_order_acquire);
    if (!key && kstats.enosys_key[i].compare_exchange_strong(key, nr + 1, std::memory_order_acq_rel)) {
      kstats.enosys_nr[i] = nr;
      key = nr + 1;
    }
    if (key == nr + 1) {
      kstats.enosys_count[i].fetch_add(1, std::memory_order_release);
      return;
    }
  }
  ++kstats.enosys_other;
}

void syscall_entry(x86::TrapFrame* f) {
  const Syscall* s = find_syscall(f->eax);
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
}

}  // namespace kern
