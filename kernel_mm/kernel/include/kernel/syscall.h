// The Linux i386 system-call subset (int 0x80: number in eax, arguments in
// ebx, ecx, edx, esi, edi, ebp; -errno in eax on failure), as one table in
// syscall.cc: a row per call with its number (Linux's
// arch/x86/entry/syscalls/syscall_32.tbl), name, handler and lock policy,
// the way xv6's syscalls[] is. A number with no row returns -ENOSYS and is
// counted by number (the `counters` record lists them). The handlers live
// with their subsystem: sys_fs.cc, sys_mm.cc, sys_proc.cc, sys_time.cc,
// sys_signal.cc.
#pragma once

#include <cstdint>

#include "arch/x86.h"
#include "kernel/fs.h"
#include "kernel/kernel_lock.h"

namespace kern {

// A call's arguments, read from its trap frame: a() to f() are the argument
// registers in order (ebx, ecx, edx, esi, edi, ebp), frame() the whole user
// state for the calls that copy or replace it (fork, clone, execve).
class SyscallArgs {
 public:
  explicit SyscallArgs(x86::TrapFrame* frame) : f_(frame) {}
  uint32_t a() const { return f_->ebx; }
  uint32_t b() const { return f_->ecx; }
  uint32_t c() const { return f_->edx; }
  uint32_t d() const { return f_->esi; }
  uint32_t e() const { return f_->edi; }
  uint32_t f() const { return f_->ebp; }
  int32_t ia() const { return static_cast<int32_t>(a()); }
  int32_t ib() const { return static_cast<int32_t>(b()); }
  x86::TrapFrame* frame() const { return f_; }

 private:
  x86::TrapFrame* f_;
};
using SyscallHandler = int32_t (*)(const SyscallArgs&);

// Where a call runs with respect to kernel_lock (kernel_lock.h).
enum class SyscallLock : uint8_t {
  kKernel,  // under kernel_lock: everything that touches tasks, files, futexes
  // Without it: the call touches only the caller's mm, which the mm core
  // locks itself (as in Linux, where no global lock is taken for them), so
  // threads of one mm meet only on its mmap_lock and PTE locks.
  kMmOnly,
  // mmap2: kMmOnly for an anonymous mapping (MAP_ANONYMOUS in esi); a file
  // mapping looks up the fd table, under kernel_lock.
  kMmOnlyIfAnonymous,
};

struct Syscall {
  uint32_t nr;
  const char* name;
  SyscallHandler handler;
  SyscallLock lock;
};

// The system-call entry (trap.cc): looks the number in eax up, takes
// kernel_lock when the row's policy asks for it (an unknown number does: its
// -ENOSYS is counted under the lock), counts the call, runs the handler and
// puts its result in eax. Returns whether kernel_lock is held, for the way
// back to ring 3.
bool syscall_entry(x86::TrapFrame* frame);

// mmap2's flag that makes a mapping anonymous (the lock policy reads it).
inline constexpr uint32_t kMapAnonymous = 0x20;

// The calling process's open file `fd`, or nullptr (sys_fs.cc).
OpenFile* fd_get(int32_t fd) MM_REQ(kernel_lock);

// ---- The handlers, by subsystem ---------------------------------------------
// Every handler whose row says kKernel requires kernel_lock; the mm-only
// ones (munmap, mprotect, mmap2) do not, and mmap2 asserts it where it
// needs it (a file mapping). The table's policy and these annotations must
// agree: the call through the table is where the compiler stops looking.

// sys_fs.cc: files, directories, paths.
int32_t sys_read(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_pread64(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_write(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_writev(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_open(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_openat(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_close(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_dup(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_dup2(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_dup3(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_fcntl(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_lseek(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_llseek(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_ioctl(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_stat64(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_lstat64(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_fstat64(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_fstatat64(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_statx(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_getdents64(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_access(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_faccessat(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_readlink(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_readlinkat(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_getcwd(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_chdir(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_umask(const SyscallArgs& r) MM_REQ(kernel_lock);

// sys_mm.cc: the address space, and mmlab's own calls (docs/records.md).
int32_t sys_brk(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_mmap2(const SyscallArgs& r);
int32_t sys_munmap(const SyscallArgs& r);
int32_t sys_mprotect(const SyscallArgs& r);
int32_t sys_mmlab_counters(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_mmlab_kmap_churn(const SyscallArgs& r) MM_REQ(kernel_lock);

// sys_proc.cc: processes, threads, futexes, identity and limits.
int32_t sys_exit(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_exit_group(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_fork(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_clone(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_execve(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_wait4(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_waitpid(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_futex(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_futex_time64(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_sched_yield(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_getpid(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_gettid(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_getppid(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_getpgrp(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_setpgid(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_getuid(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_set_thread_area(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_set_tid_address(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_set_robust_list(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_ugetrlimit(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_prlimit64(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_getrandom(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_uname(const SyscallArgs& r) MM_REQ(kernel_lock);

// sys_time.cc: clocks and sleeps.
int32_t sys_time(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_gettimeofday(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_clock_gettime(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_clock_gettime64(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_clock_getres(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_clock_getres_time64(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_nanosleep(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_clock_nanosleep(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_clock_nanosleep_time64(const SyscallArgs& r) MM_REQ(kernel_lock);

// sys_signal.cc: signals (recorded and, for the caller's own group, fatal;
// not delivered yet).
int32_t sys_rt_sigaction(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_rt_sigprocmask(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_kill(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_tkill(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_tgkill(const SyscallArgs& r) MM_REQ(kernel_lock);
int32_t sys_pause(const SyscallArgs& r) MM_REQ(kernel_lock);

}  // namespace kern
