// futex(2) and futex_time64, and the wake of CLONE_CHILD_CLEARTID (futex.cc).
#pragma once

#include <cstdint>

#include "kernel/kernel_lock.h"

namespace kern {

// Waiters and wakers meet under kernel_lock (futex.cc).
int32_t do_futex(uint32_t uaddr, uint32_t op, uint32_t val, uint32_t utime, uint32_t val3, bool time64)
    MM_REQ(kernel_lock);
int32_t futex_wake(uint32_t uaddr, uint32_t count, uint32_t bitset) MM_REQ(kernel_lock);

}  // namespace kern
