// Copies between kernel memory and the user memory of the current mm
// (uaccess.cc). A fault the mm cannot resolve makes the copy return -EFAULT.
#pragma once

#include <cstdint>

namespace kern {

bool user_range_ok(uint32_t addr, uint32_t len);
int32_t copy_to_user(uint32_t dst, const void* src, uint32_t n);
int32_t copy_from_user(void* dst, uint32_t src, uint32_t n);
int32_t clear_user(uint32_t dst, uint32_t n);
// Copies a NUL-terminated string of at most max-1 bytes; returns its length,
// -EFAULT, or -ENAMETOOLONG.
int32_t strncpy_from_user(char* dst, uint32_t src, uint32_t max);

}  // namespace kern
