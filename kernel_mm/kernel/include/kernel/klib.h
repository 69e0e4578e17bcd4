// The little C library a freestanding kernel needs: string helpers and a
// printf-style formatter (%s %d %u %x %lld %llu %llx %c %p %%, with width,
// zero padding and '-' for left alignment). No floating point.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdint>

extern "C" {
void* memcpy(void* dst, const void* src, size_t n);
void* memmove(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
int strcmp(const char* a, const char* b);
int strncmp(const char* a, const char* b, size_t n);
}

namespace kern {

int kstrcmp(const char* a, const char* b);
bool kstreq(const char* a, const char* b);
bool starts_with(const char* s, const char* prefix);
// Copies at most len-1 bytes and always NUL-terminates (len > 0).
void kstrlcpy(char* dst, const char* src, uint32_t len);

// Formats into buf (always NUL-terminated when len > 0); returns the length
// the full output would have had.
uint32_t vformat(char* buf, uint32_t len, const char* fmt, va_list ap);
[[gnu::format(printf, 3, 4)]] uint32_t format(char* buf, uint32_t len, const char* fmt, ...);

}  // namespace kern
