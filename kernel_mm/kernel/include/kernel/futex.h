// futex(2) and futex_time64, and the wake of CLONE_CHILD_CLEARTID (futex.cc).
#pragma once

#include <cstdint>

namespace kern {

int32_t do_futex(uint32_t uaddr, uint32_t op, uint32_t val, uint32_t utime, uint32_t val3, bool time64);
int32_t futex_wake(uint32_t uaddr, uint32_t count, uint32_t bitset);

}  // namespace kern
