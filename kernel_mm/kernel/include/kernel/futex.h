// futex(2) and futex_time64, and the wake of CLONE_CHILD_CLEARTID (futex.cc).
#pragma once

#include <cstdint>

namespace kern {

// Waiters and wakers of one key meet under its hash bucket's lock (futex.cc).
int32_t do_futex(uint32_t uaddr, uint32_t op, uint32_t val, uint32_t utime, uint32_t val3, bool time64);
int32_t futex_wake(uint32_t uaddr, uint32_t count, uint32_t bitset);
// Boot (init_kernel_locks): the buckets' locks get their class.
void futex_init_locks();

}  // namespace kern
