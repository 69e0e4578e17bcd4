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

int32_t do_rt_sigaction(uint32_t sig, uint32_t act, uint32_t oact, uint32_t sigsetsize) {
  if (sigsetsize != 8) return -EINVAL;
  if (sig < 1 || sig > kNumSignals) return -EINVAL;
  KSigaction next;
  if (act) {
    if (sig == 9 || sig == 19) return -EINVAL;  // SIGKILL, SIGSTOP
    if (copy_from_user(&next, act, sizeof(next))) return -EFAULT;
  }
  // The copies to and from user memory stay outside siglock; as before,
  // nothing is installed when the old action cannot be written back.
  ThreadGroup& g = *current->group;
  if (oact) {
    KSigaction old;
    {
      mm::SpinGuard s(g.siglock);
      old = g.sigactions[sig - 1];
    }
    if (copy_to_user(oact, &old, sizeof(old))) return -EFAULT;
  }
  if (act) {
    mm::SpinGuard s(g.siglock);
    g.sigactions[sig - 1] = next;
  }
  return 0;
}

int32_t do_rt_sigprocmask(uint32_t how, uint32_t uset, uint32_t uold, uint32_t sigsetsize) {
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
int32_t do_kill(int32_t pid, uint32_t sig) {
  if (sig > kNumSignals) return -EINVAL;
  Task* self = current->leader;
  bool found, own;
  {
    mm::SpinGuard p(proctree_lock);
    Task* t = pid > 0 ? find_task(pid) : (pid == 0 || pid == -1 ? self : nullptr);
    // pid names a process (a group), and one not yet exited.
    found = t && t->leader == t && t->state.load() != TaskState::kZombie;
    own = t == self;
  }
  if (!found) return -ESRCH;
  if (sig == 0) return 0;
  if (!own) return -EPERM;
  do_group_exit(static_cast<int32_t>(sig));
}

// tgkill(tgid, tid, sig); tkill passes tgid -1 (any group).
int32_t do_tgkill(int32_t tgid, int32_t tid, uint32_t sig) {
  if (sig > kNumSignals || tid <= 0 || (tgid != -1 && tgid <= 0)) return -EINVAL;
  bool found, own;
  {
    mm::SpinGuard p(proctree_lock);
    Task* t = find_task(tid);
    found = t && t->state.load() != TaskState::kZombie && (tgid == -1 || t->leader->pid == tgid);
    own = t && t->leader == current->leader;
  }
  if (!found) return -ESRCH;
  if (sig == 0) return 0;
  if (!own) return -EPERM;
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
  for (;;) {
    set_current_state(TaskState::kBlocked);
    if (interrupted()) break;
    schedule();
  }
  set_current_state(TaskState::kRunnable);
  return -EINTR;
}

}  // namespace kern
