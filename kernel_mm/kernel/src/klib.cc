#include "kernel/klib.h"

extern "C" {

// Byte loops the compiler must not turn back into calls to themselves.
[[gnu::optimize("no-tree-loop-distribute-patterns")]] void* memcpy(void* dst, const void* src, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  // rep movsl for the bulk, then bytes: page copies are the hot case.
  size_t words = n / 4;
  asm volatile("rep movsl" : "+D"(d), "+S"(s), "+c"(words) : : "memory");
  for (n &= 3; n; --n) *d++ = *s++;
  return dst;
}

[[gnu::optimize("no-tree-loop-distribute-patterns")]] void* memmove(void* dst, const void* src, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  if (d <= s || d >= s + n) return memcpy(dst, src, n);
  while (n--) d[n] = s[n];
  return dst;
}

[[gnu::optimize("no-tree-loop-distribute-patterns")]] void* memset(void* dst, int c, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  const uint32_t v = 0x01010101u * static_cast<unsigned char>(c);
  size_t words = n / 4;
  asm volatile("rep stosl" : "+D"(d), "+c"(words) : "a"(v) : "memory");
  for (n &= 3; n; --n) *d++ = static_cast<unsigned char>(c);
  return dst;
}

[[gnu::optimize("no-tree-loop-distribute-patterns")]] int memcmp(const void* a, const void* b, size_t n) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (size_t i = 0; i < n; ++i)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}

int strcmp(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return static_cast<unsigned char>(*a) - static_cast<unsigned char>(*b);
}

int strncmp(const char* a, const char* b, size_t n) {
  for (; n; --n, ++a, ++b) {
    if (*a != *b) return static_cast<unsigned char>(*a) - static_cast<unsigned char>(*b);
    if (!*a) return 0;
  }
  return 0;
}

}  // extern "C"

namespace kern {

int kstrcmp(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return static_cast<unsigned char>(*a) - static_cast<unsigned char>(*b);
}
bool kstreq(const char* a, const char* b) { return kstrcmp(a, b) == 0; }
bool starts_with(const char* s, const char* prefix) {
  while (*prefix)
    if (*s++ != *prefix++) return false;
  return true;
}
void kstrlcpy(char* dst, const char* src, uint32_t len) {
  uint32_t i = 0;
  for (; i + 1 < len && src[i]; ++i) dst[i] = src[i];
  dst[i] = 0;
}

namespace {

struct Out {
  char* buf;
  uint32_t len;
  uint32_t pos = 0;
  void put(char c) {
    if (pos + 1 < len) buf[pos] = c;
    ++pos;
  }
};

void put_number(Out& o, uint64_t v, uint32_t base, bool neg, uint32_t width, bool zero, bool left) {
  char tmp[24];
  uint32_t n = 0;
  do {
    const uint32_t d = static_cast<uint32_t>(v % base);
    tmp[n++] = static_cast<char>(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v);
  const uint32_t total = n + (neg ? 1 : 0);
  if (!left && !zero)
    for (uint32_t i = total; i < width; ++i) o.put(' ');
  if (neg) o.put('-');
  if (!left && zero)
    for (uint32_t i = total; i < width; ++i) o.put('0');
  while (n) o.put(tmp[--n]);
  if (left)
    for (uint32_t i = total; i < width; ++i) o.put(' ');
}

}  // namespace

uint32_t vformat(char* buf, uint32_t len, const char* fmt, va_list ap) {
  Out o{buf, len};
  for (const char* p = fmt; *p; ++p) {
    if (*p != '%') {
      o.put(*p);
      continue;
    }
    ++p;
    bool left = false, zero = false;
    if (*p == '-') left = true, ++p;
    if (*p == '0') zero = true, ++p;
    uint32_t width = 0;
    while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
    int longs = 0;
    while (*p == 'l') ++longs, ++p;
    switch (*p) {
      case 's': {
        const char* s = va_arg(ap, const char*);
        if (!s) s = "(null)";
        const uint32_t n = static_cast<uint32_t>(strlen(s));
        if (!left)
          for (uint32_t i = n; i < width; ++i) o.put(' ');
        while (*s) o.put(*s++);
        if (left)
          for (uint32_t i = n; i < width; ++i) o.put(' ');
        break;
      }
      case 'c':
        o.put(static_cast<char>(va_arg(ap, int)));
        break;
      case 'd': {
        const int64_t v = longs >= 2 ? va_arg(ap, long long) : va_arg(ap, long);
        put_number(o, v < 0 ? -static_cast<uint64_t>(v) : v, 10, v < 0, width, zero, left);
        break;
      }
      case 'u':
      case 'x': {
        const uint64_t v = longs >= 2 ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned long);
        put_number(o, v, *p == 'u' ? 10 : 16, false, width, zero, left);
        break;
      }
      case 'p':
        o.put('0'), o.put('x');
        put_number(o, reinterpret_cast<uintptr_t>(va_arg(ap, void*)), 16, false, 8, true, false);
        break;
      case '%':
        o.put('%');
        break;
      default:
        o.put('%');
        if (*p) o.put(*p);
        if (!*p) --p;
        break;
    }
  }
  if (len) buf[o.pos < len ? o.pos : len - 1] = 0;
  return o.pos;
}

uint32_t format(char* buf, uint32_t len, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const uint32_t n = vformat(buf, len, fmt, ap);
  va_end(ap);
  return n;
}

}  // namespace kern
