// Signals, as far as they go: handlers and masks are recorded, a signal to
// the caller's own group is fatal, and nothing is delivered yet.
#include "kernel/errno.h"
#include "kernel/percpu.h"
#include "kernel/process.h"
#include "kernel/sched.h"
#include "kernel/syscall.h"
#include "kernel/uaccess.h"

namespace kern {
namespace {

int32_t do_rt_sigaction(uint32_t sig, uint32_t act, uint32_t oact, uint32_t sigsetsize) MM_REQ(kernel_lock) {
  if (sigsetsize != 8) return -EINVAL;
  if (sig < 1 || sig > kNumSignals) return -EINVAL;
  KSigaction& slot = current->leader->sigactions[sig - 1];
  KSigaction next;
  if (act) {
    if (sig == 9 || sig == 19) return -EINVAL;  // SIGKILL, SIGSTOP
    if (copy_from_user(&next, act, sizeof(next))) return -EFAULT;
  }
  if (oact && copy_to_user(oact, &slot, sizeof(slot))) return -EFAULT;
  if (act) slot = next;
  return 0;
}

int32_t do_rt_sigprocmask(uint32_t how, uint32_t uset, uint32_t uold, uint32_t sigsetsize) MM_REQ(kernel_lock) {
  if (sigsetsize != 8) return -EINVAL;
  const uint64_t old = current->sigmask;
  if (uset) {
    uint64_t set;
    if (copy_from_user(&set, uset, 8)) return -EFAULT;
    set &= ~((1ull << 8) | (1ull << 18));  // SIGKILL, SIGSTOP cannot be blocked
    switch (how) {
      case 0:
        current->sigmask |= set;
        break;
      case 1:
        current->sigmask &= ~set;
        break;
      case 2:
        current->sigmask = set;
        break;
      default:
        return -EINVAL;
    }
  }
  if (uold && copy_to_user(uold, &old, 8)) return -EFAULT;
  return 0;
}

// Signals are not delivered yet: a signal to the caller's own group ends
// the group as the default action of a fatal signal would (which is what
// abort() and raise() need); signal 0 checks the target; anything else is
// -EPERM until signal delivery comes.
int32_t do_kill(int32_t pid, uint32_t sig) MM_REQ(kernel_lock) {
  if (sig > kNumSignals) return -EINVAL;
  Task* t = pid > 0 ? find_task(pid) : (pid == 0 || pid == -1 ? current->leader : nullptr);
  if (!t || t->state == TaskState::kZombie || t->leader != t) return -ESRCH;  // pid names a process (a group)
  if (sig == 0) return 0;
  if (t != current->leader) return -EPERM;
  do_group_exit(static_cast<int32_t>(sig));
}

// tgkill(tgid, tid, sig); tkill passes tgid -1 (any group).
int32_t do_tgkill(int32_t tgid, int32_t tid, uint32_t sig) MM_REQ(kernel_lock) {
  if (sig > kNumSignals || tid <= 0 || (tgid != -1 && tgid <= 0)) return -EINVAL;
  Task* t = find_task(tid);
  if (!t || t->state == TaskState::kZombie || (tgid != -1 && t->leader->pid != tgid)) return -ESRCH;
  if (sig == 0) return 0;
  if (t->leader != current->leader) return -EPERM;
  do_group_exit(static_cast<int32_t>(sig));
}

}  // namespace

int32_t sys_rt_sigaction(SyscallArgs r) { return do_rt_sigaction(r.a(), r.b(), r.c(), r.d()); }
int32_t sys_rt_sigprocmask(SyscallArgs r) { return do_rt_sigprocmask(r.a(), r.b(), r.c(), r.d()); }
int32_t sys_kill(SyscallArgs r) { return do_kill(r.ia(), r.b()); }
int32_t sys_tkill(SyscallArgs r) { return do_tgkill(-1, r.ia(), r.b()); }
int32_t sys_tgkill(SyscallArgs r) { return do_tgkill(r.ia(), r.ib(), r.c()); }

// Waits for a signal, and none is ever delivered: the task sleeps until its
// group is killed (exit_group, a fatal fault, shutdown).
int32_t sys_pause(SyscallArgs) {
  while (!interrupted()) {
    current->state = TaskState::kBlocked;
    schedule();
  }
  return -EINTR;
}

}  // namespace kern
