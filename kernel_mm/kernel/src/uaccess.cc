// Copies to and from user memory. The range is checked against the user
// half first; then the copy simply runs, and a page fault on the user
// address goes through the mm core like a user fault (demand-zero, COW).
// A fault the core cannot resolve longjmps back here (trap.cc) and the
// copy returns -EFAULT, which is Linux's exception-table fixup in C++.
#include "kernel/uaccess.h"

#include "kernel/errno.h"
#include "kernel/klib.h"
#include "kernel/percpu.h"

namespace kern {

bool user_range_ok(uint32_t addr, uint32_t len) { return addr <= mm::kTaskSize && len <= mm::kTaskSize - addr; }

namespace {

// Not inlined: __builtin_setjmp's frame must stay live for the longjmp.
[[gnu::noinline]] int32_t guarded_copy(void* dst, const void* src, uint32_t n, bool zero) {
  Task* t = current;
  if (__builtin_setjmp(t->uaccess_jmp)) {
    t->uaccess_active = false;
    return -EFAULT;
  }
  t->uaccess_active = true;
  if (zero) {
    memset(dst, 0, n);
  } else {
    memcpy(dst, src, n);
  }
  t->uaccess_active = false;
  return 0;
}

}  // namespace

int32_t copy_to_user(uint32_t dst, const void* src, uint32_t n) {
  if (!user_range_ok(dst, n)) return -EFAULT;
  if (n == 0) return 0;
  return guarded_copy(reinterpret_cast<void*>(dst), src, n, false);
}

int32_t copy_from_user(void* dst, uint32_t src, uint32_t n) {
  if (!user_range_ok(src, n)) return -EFAULT;
  if (n == 0) return 0;
  return guarded_copy(dst, reinterpret_cast<const void*>(src), n, false);
}

int32_t clear_user(uint32_t dst, uint32_t n) {
  if (!user_range_ok(dst, n)) return -EFAULT;
  if (n == 0) return 0;
  return guarded_copy(reinterpret_cast<void*>(dst), nullptr, n, true);
}

int32_t strncpy_from_user(char* dst, uint32_t src, uint32_t max) {
  // Byte by byte up to the end of each page, so that a string ending just
  // before an unmapped page is still read.
  uint32_t i = 0;
  while (i < max) {
    const uint32_t addr = src + i;
    if (addr < src || addr >= mm::kTaskSize) return -EFAULT;
    uint32_t chunk = mm::kPageSize - (addr & (mm::kPageSize - 1));
    if (chunk > max - i) chunk = max - i;
    if (const int32_t r = copy_from_user(dst + i, addr, chunk); r) return r;
    for (uint32_t k = 0; k < chunk; ++k)
      if (dst[i + k] == 0) return static_cast<int32_t>(i + k);
    i += chunk;
  }
  dst[max - 1] = 0;
  return -ENAMETOOLONG;
}

}  // namespace kern
