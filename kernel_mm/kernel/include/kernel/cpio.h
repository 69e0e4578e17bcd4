// A reader for cpio "newc" archives (the initrd) in memory. Untrusted
// input: every field is checked, nothing is read out of bounds.
#pragma once

#include <cstdint>

namespace kern {

struct CpioEntry {
  const char* name;  // without a leading "./" or "/"; NUL-terminated in the archive
  uint32_t name_len;
  uint32_t mode;
  const uint8_t* data;
  uint32_t size;
};

class CpioReader {
 public:
  CpioReader(const uint8_t* base, uint32_t size) : base_(base), size_(size) {}
  // The next entry; false at TRAILER!!!, at the end of the data, or on an
  // error (then error() says what).
  bool next(CpioEntry* out);
  const char* error() const { return error_; }
  uint32_t offset() const { return off_; }

 private:
  bool fail(const char* why) {
    error_ = why;
    return false;
  }
  const uint8_t* base_;
  uint32_t size_;
  uint32_t off_ = 0;
  const char* error_ = nullptr;
  bool done_ = false;
};

inline bool cpio_is_dir(uint32_t mode) { return (mode & 0170000) == 0040000; }
inline bool cpio_is_reg(uint32_t mode) { return (mode & 0170000) == 0100000; }
inline bool cpio_is_symlink(uint32_t mode) { return (mode & 0170000) == 0120000; }

}  // namespace kern
