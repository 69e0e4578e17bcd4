// A reader for cpio "newc" archives (the initrd) in memory, the format
// Linux's initramfs reads (Documentation/driver-api/early-userspace/
// buffer-format.rst):
//
//   header   "070701" (or "070702", the crc variant; the checksum is not
//            verified) and 13 fields of 8 hex digits: ino mode uid gid
//            nlink mtime filesize devmajor devminor rdevmajor rdevminor
//            namesize check
//   name     namesize bytes, the last one NUL; then NULs to a multiple of 4
//   data     filesize bytes; then NULs to a multiple of 4
//
// offsets counted from the start of the archive. The archive ends at the
// entry named "TRAILER!!!" (anything after it, such as block padding, is
// ignored) or, without a trailer, exactly at the end of the data; the last
// entry may lack its data padding. Concatenated archives are not supported.
//
// Untrusted input: every field and size is checked, nothing is read outside
// [base, base + size), and an error is a static string naming the problem.
#pragma once

#include <cstdint>

namespace formats {

struct CpioEntry {
  // Into the archive: without the leading "./" and "/" prefixes (repeated
  // ones too), NUL-terminated there, holding no other NUL. "." (the root)
  // and "" (a bare "/" or "./") are returned as they are.
  const char* name;
  uint32_t name_len;  // without the NUL
  uint32_t mode;      // st_mode: type bits and permissions
  const uint8_t* data;
  uint32_t size;  // c_filesize; for a symlink, the target's length
};

class CpioReader {
 public:
  CpioReader(const uint8_t* base, uint32_t size) : base_(base), size_(size) {}
  // The next entry; false at the end of the data, at a TRAILER!!! not
  // followed (after NUL padding) by another archive, or on an error (then
  // error() says what and offset() is where the bad header starts). Once it
  // has returned false it keeps returning false.
  [[nodiscard]] bool next(CpioEntry* out);
  // nullptr while there is no error.
  const char* error() const { return error_; }
  // The archive offset of the next header to read.
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

inline constexpr uint32_t kCpioTypeMask = 0170000;
inline bool cpio_is_dir(uint32_t mode) { return (mode & kCpioTypeMask) == 0040000; }
inline bool cpio_is_reg(uint32_t mode) { return (mode & kCpioTypeMask) == 0100000; }
inline bool cpio_is_symlink(uint32_t mode) { return (mode & kCpioTypeMask) == 0120000; }

}  // namespace formats
