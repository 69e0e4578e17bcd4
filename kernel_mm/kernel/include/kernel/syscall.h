// The Linux i386 system-call subset (int 0x80: number in eax, arguments in
// ebx, ecx, edx, esi, edi, ebp; -errno in eax on failure), as one table in
// syscall.cc: a row per call with its number (Linux's
// arch/x86/entry/syscalls/syscall_32.tbl), name and handler, the way
// xv6's syscalls[] is. A number with no row returns -ENOSYS and is
// counted by number (the `counters` record lists them). The handlers live
// with their subsystem: sys_fs.cc, sys_mm.cc, sys_proc.cc, sys_time.cc,
// sys_signal.cc.
#pragma once

#include <cstdint>

#include "arch/x86.h"
#include "kernel/fs.h"
#include "mm/annotations.h"

namespace kern {

// A call's arguments, read from its trap frame (a view: pass it by value):
// a() to f() are the argument registers in order (ebx, ecx, edx, esi, edi,
// ebp), frame() the whole user state for the calls that copy or replace it
// (fork, clone, execve).
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
using SyscallHandler = int32_t (*)(SyscallArgs);

struct Syscall {
  uint32_t nr;
  const char* name;
  SyscallHandler handler;
};

// The system-call entry (trap.cc): looks the number in eax up, counts the
// call, runs the handler and puts its result in eax. No lock is taken here:
// each handler takes the locks of what it touches (docs/kernel.md, "The
// kernel's locks").
void syscall_entry(x86::TrapFrame* frame);

// The calling process's open file `fd` in its table `t`, or nullptr
// (sys_fs.cc). The file stays open while t.lock is held.
OpenFile* fd_get(FdTable& t, int32_t fd) MM_REQ(t.lock);

// ---- The handlers, by subsystem ---------------------------------------------
// Each is called with no lock held.

// sys_fs.cc: files, directories, paths.
int32_t sys_read(SyscallArgs r);
int32_t sys_pread64(SyscallArgs r);
int32_t sys_write(SyscallArgs r);
int32_t sys_writev(SyscallArgs r);
int32_t sys_open(SyscallArgs r);
int32_t sys_openat(SyscallArgs r);
int32_t sys_close(SyscallArgs r);
int32_t sys_dup(SyscallArgs r);
int32_t sys_dup2(SyscallArgs r);
int32_t sys_dup3(SyscallArgs r);
int32_t sys_fcntl(SyscallArgs r);
int32_t sys_lseek(SyscallArgs r);
int32_t sys_llseek(SyscallArgs r);
int32_t sys_ioctl(SyscallArgs r);
int32_t sys_stat64(SyscallArgs r);
int32_t sys_lstat64(SyscallArgs r);
int32_t sys_fstat64(SyscallArgs r);
int32_t sys_fstatat64(SyscallArgs r);
int32_t sys_statx(SyscallArgs r);
int32_t sys_getdents64(SyscallArgs r);
int32_t sys_access(SyscallArgs r);
int32_t sys_faccessat(SyscallArgs r);
int32_t sys_readlink(SyscallArgs r);
int32_t sys_readlinkat(SyscallArgs r);
int32_t sys_getcwd(SyscallArgs r);
int32_t sys_chdir(SyscallArgs r);
int32_t sys_umask(SyscallArgs r);

// sys_mm.cc: the address space, and mmlab's own calls (docs/records.md).
int32_t sys_brk(SyscallArgs r);
int32_t sys_mmap2(SyscallArgs r);
int32_t sys_munmap(SyscallArgs r);
int32_t sys_mprotect(SyscallArgs r);
int32_t sys_mmlab_counters(SyscallArgs r);
int32_t sys_mmlab_kmap_churn(SyscallArgs r);

// sys_proc.cc: processes, threads, futexes, identity and limits.
int32_t sys_exit(SyscallArgs r);
int32_t sys_exit_group(SyscallArgs r);
int32_t sys_fork(SyscallArgs r);
int32_t sys_clone(SyscallArgs r);
int32_t sys_execve(SyscallArgs r);
int32_t sys_wait4(SyscallArgs r);
int32_t sys_waitpid(SyscallArgs r);
int32_t sys_futex(SyscallArgs r);
int32_t sys_futex_time64(SyscallArgs r);
int32_t sys_sched_yield(SyscallArgs r);
int32_t sys_getpid(SyscallArgs r);
int32_t sys_gettid(SyscallArgs r);
int32_t sys_getppid(SyscallArgs r);
int32_t sys_getpgrp(SyscallArgs r);
int32_t sys_setpgid(SyscallArgs r);
int32_t sys_getuid(SyscallArgs r);
int32_t sys_set_thread_area(SyscallArgs r);
int32_t sys_set_tid_address(SyscallArgs r);
int32_t sys_set_robust_list(SyscallArgs r);
int32_t sys_ugetrlimit(SyscallArgs r);
int32_t sys_prlimit64(SyscallArgs r);
int32_t sys_getrandom(SyscallArgs r);
int32_t sys_uname(SyscallArgs r);

// sys_time.cc: clocks and sleeps.
int32_t sys_time(SyscallArgs r);
int32_t sys_gettimeofday(SyscallArgs r);
int32_t sys_clock_gettime(SyscallArgs r);
int32_t sys_clock_gettime64(SyscallArgs r);
int32_t sys_clock_getres(SyscallArgs r);
int32_t sys_clock_getres_time64(SyscallArgs r);
int32_t sys_nanosleep(SyscallArgs r);
int32_t sys_clock_nanosleep(SyscallArgs r);
int32_t sys_clock_nanosleep_time64(SyscallArgs r);

// sys_signal.cc: signals (recorded and, for the caller's own group, fatal;
// not delivered yet).
int32_t sys_rt_sigaction(SyscallArgs r);
int32_t sys_rt_sigprocmask(SyscallArgs r);
int32_t sys_kill(SyscallArgs r);
int32_t sys_tkill(SyscallArgs r);
int32_t sys_tgkill(SyscallArgs r);
int32_t sys_pause(SyscallArgs r);

}  // namespace kern
