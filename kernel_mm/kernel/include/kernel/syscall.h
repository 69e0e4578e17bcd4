// The Linux i386 system-call subset (syscall.cc).
#pragma once

#include <cstdint>

#include "arch/x86.h"

namespace kern {

int32_t syscall_dispatch(x86::TrapFrame* frame);
// False for the calls that touch only the caller's mm, which the mm core
// locks itself: munmap, mprotect and anonymous mmap2 (as in Linux, where no
// global lock is taken for them). They run without kernel_lock, so threads
// of one mm meet only on its mmap_lock and PTE locks.
bool syscall_needs_kernel_lock(const x86::TrapFrame* frame);

}  // namespace kern
