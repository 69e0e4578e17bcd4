// Processes and threads: exit, fork, clone, execve, wait, futex,
// sched_yield, ids, TLS, limits, uname, getrandom (the work is in
// process.cc, exec.cc and futex.cc).
#include "kernel/errno.h"
#include "kernel/futex.h"
#include "kernel/klib.h"
#include "kernel/percpu.h"
#include "kernel/process.h"
#include "kernel/sched.h"
#include "kernel/syscall.h"
#include "kernel/uaccess.h"

namespace kern {

int32_t tls_from_user(uint64_t* tls, uint32_t uinfo) {
  uint32_t d[4];  // struct user_desc: entry_number, base_addr, limit, flags
  if (copy_from_user(d, uinfo, sizeof(d))) return -EFAULT;
  uint32_t idx = d[0];
  if (idx == 0xFFFFFFFFu) {
    for (idx = 0; idx < x86::kTlsEntries && tls[idx]; ++idx) {
    }
    if (idx == x86::kTlsEntries) return -ESRCH;
    idx += x86::kTlsFirstEntry;
    d[0] = idx;
    if (copy_to_user(uinfo, &d[0], 4)) return -EFAULT;
  }
  if (idx < x86::kTlsFirstEntry || idx >= x86::kTlsFirstEntry + x86::kTlsEntries) return -EINVAL;
  tls[idx - x86::kTlsFirstEntry] = x86::make_user_descriptor(d[1], d[2], d[3]);
  return 0;
}

namespace {

int32_t do_uname(uint32_t ubuf) {
  char u[6 * 65] = {};
  // sysname "Linux": programs check it; release says what this kernel is.
  kstrlcpy(u, "Linux", 65);
  kstrlcpy(u + 65, "mmlab", 65);
  kstrlcpy(u + 130, "6.1.0-mmlab", 65);
  kstrlcpy(u + 195, "#1 mmlab PAE mm-core kernel", 65);
  kstrlcpy(u + 260, "i686", 65);
  kstrlcpy(u + 325, "(none)", 65);
  return copy_to_user(ubuf, u, sizeof(u));
}

int32_t do_set_thread_area(uint32_t uinfo) {
  if (const int32_t r = tls_from_user(current->tls, uinfo)) return r;
  x86::load_tls(current->tls);
  return 0;
}

int32_t do_rlimit(uint32_t resource, uint32_t unew, uint32_t uold, bool is64) {
  if (resource >= 16) return -EINVAL;
  uint64_t cur = ~0ull;
  if (resource == 3) cur = 8u << 20;   // RLIMIT_STACK
  if (resource == 7) cur = kMaxFds;    // RLIMIT_NOFILE
  if (resource == 6) cur = kMaxTasks;  // RLIMIT_NPROC
  (void)unew;                          // limits are fixed; setting one is accepted and ignored
  if (!uold) return 0;
  if (is64) {
    const uint64_t v[2] = {cur, cur};
    return copy_to_user(uold, v, sizeof(v));
  }
  const uint32_t c32 = cur > 0xFFFFFFFFull ? 0xFFFFFFFFu : static_cast<uint32_t>(cur);
  const uint32_t v[2] = {c32, c32};
  return copy_to_user(uold, v, sizeof(v));
}

// Reproducible (deterministic runs), not cryptographic: call n of the
// boot draws from xorshift64 seeded by n (splitmix64), so calls on several
// CPUs share nothing but the call counter.
int32_t do_getrandom(uint32_t ubuf, uint32_t len) {
  if (!user_range_ok(ubuf, len)) return -EFAULT;
  static std::atomic<uint32_t> calls{0};
  uint64_t state = calls.fetch_add(1, std::memory_order_relaxed) + 0x9E3779B97F4A7C15ull;
  state = (state ^ (state >> 30)) * 0xBF58476D1CE4E5B9ull;
  state = (state ^ (state >> 27)) * 0x94D049BB133111EBull;
  state ^= (state >> 31) | 1;
  uint8_t chunk[64];
  uint32_t done = 0;
  while (done < len) {
    const uint32_t n = len - done < sizeof(chunk) ? len - done : sizeof(chunk);
    for (uint32_t i = 0; i < n; ++i) {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;
      chunk[i] = static_cast<uint8_t>(state);
    }
    if (copy_to_user(ubuf + done, chunk, n)) return -EFAULT;
    done += n;
  }
  return static_cast<int32_t>(len);
}

}  // namespace

// exit and exit_group take the exit code; the wait status is code << 8.
int32_t sys_exit(SyscallArgs r) { do_exit(static_cast<int32_t>((r.a() & 0xFF) << 8)); }
int32_t sys_exit_group(SyscallArgs r) { do_group_exit(static_cast<int32_t>((r.a() & 0xFF) << 8)); }
int32_t sys_fork(SyscallArgs r) { return do_fork(r.frame(), 0, 0, 0); }
// i386: clone(flags, newsp, parent_tid, tls, child_tid).
int32_t sys_clone(SyscallArgs r) { return do_clone(r.frame(), r.a(), r.b(), r.c(), r.d(), r.e()); }
int32_t sys_execve(SyscallArgs r) { return do_execve(r.frame(), r.a(), r.b(), r.c()); }
int32_t sys_wait4(SyscallArgs r) { return do_wait4(r.ia(), r.b(), r.c(), r.d()); }
int32_t sys_waitpid(SyscallArgs r) { return do_wait4(r.ia(), r.b(), r.c(), 0); }
// futex(uaddr, op, val, timeout, uaddr2 (unused), val3).
int32_t sys_futex(SyscallArgs r) { return do_futex(r.a(), r.b(), r.c(), r.d(), r.f(), false); }
int32_t sys_futex_time64(SyscallArgs r) { return do_futex(r.a(), r.b(), r.c(), r.d(), r.f(), true); }

int32_t sys_sched_yield(SyscallArgs) {
  schedule();
  return 0;
}

int32_t sys_getpid(SyscallArgs) { return current->leader->pid; }
int32_t sys_gettid(SyscallArgs) { return current->pid; }
int32_t sys_getppid(SyscallArgs) { return parent_pid(); }
// getpgrp, getpgid, getsid, setsid: every process is its own group and session.
int32_t sys_getpgrp(SyscallArgs) { return current->leader->pid; }
int32_t sys_setpgid(SyscallArgs) { return 0; }
// Every get[e]uid/get[e]gid(32): everything runs as root.
int32_t sys_getuid(SyscallArgs) { return 0; }
int32_t sys_set_thread_area(SyscallArgs r) { return do_set_thread_area(r.a()); }

int32_t sys_set_tid_address(SyscallArgs r) {
  current->clear_child_tid = r.a();
  return current->pid;
}

int32_t sys_set_robust_list(SyscallArgs r) {
  if (r.b() != 12) return -EINVAL;  // sizeof(struct robust_list_head)
  current->robust_list = r.a();
  return 0;
}

int32_t sys_ugetrlimit(SyscallArgs r) { return do_rlimit(r.a(), 0, r.b(), false); }

int32_t sys_prlimit64(SyscallArgs r) {
  if (r.a() && r.ia() != current->leader->pid) return -ESRCH;
  return do_rlimit(r.b(), r.c(), r.d(), true);
}

int32_t sys_getrandom(SyscallArgs r) { return do_getrandom(r.a(), r.b()); }
int32_t sys_uname(SyscallArgs r) { return do_uname(r.a()); }

}  // namespace kern
