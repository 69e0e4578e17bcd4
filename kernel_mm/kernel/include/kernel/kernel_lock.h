// The big kernel lock (docs/kernel.md, "Scheduling on several CPUs").
//
// One spinlock guards the task table, the run queues and everything else
// outside the mm core: system calls run under it (but for the mm-only ones,
// syscall.h), page faults do not (the mm core has its own locks, which are
// what the lock toggles are about), and neither do dup_mm in fork, the last
// mmput of an exit, and the kernel-mapping churn. The lock is held across a
// context switch and released by the task switched to, on the same CPU.
// Lock class kernel_lock in the counters.
//
// The rules are annotated for clang's -Wthread-safety (`make tsa` compiles
// the kernel with it): the fields the lock guards are MM_GUARDED(kernel_lock)
// (task.h, percpu.h), the functions that need it MM_REQ(kernel_lock), and
// system-call handlers say which they are (syscall.h). The few places where
// whether the lock is held is decided at run time (the trap entry and exit,
// boot before the scheduler starts) are MM_NO_TSA and say why.
#pragma once

#include "mm/annotations.h"

// Declared, not defined, here (mm/spinlock.h has it): the headers that
// only name the lock in annotations stay free of <atomic>.
namespace mm {
class MM_CAPABILITY("spinlock") SpinLock;
}

namespace kern {

extern mm::SpinLock kernel_lock;
// Set once by shutdown(): every other CPU stops (park) at its next safe
// point: a return to ring 3, the idle loop, or waiting for kernel_lock.
extern volatile bool stopping;
// Takes kernel_lock where this CPU holds nothing else (system call entry,
// the way back to ring 3, the idle loop): if shutdown() is stopping the
// CPUs meanwhile, this CPU parks instead.
void lock_kernel_at_safe_point() MM_ACQUIRE(kernel_lock);
// This CPU stops for good: it leaves its mm for init_mm, releases
// kernel_lock if it holds it, and only answers cross-CPU calls from now on.
[[noreturn]] void park_cpu();

}  // namespace kern
