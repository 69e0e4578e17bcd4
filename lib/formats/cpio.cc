#include "formats/cpio.h"

namespace formats {
namespace {

constexpr uint32_t kMagicLen = 6;
constexpr uint32_t kNumFields = 13;
constexpr uint32_t kHeaderSize = kMagicLen + 8 * kNumFields;  // 110
// Field indices, in header order.
constexpr uint32_t kFieldMode = 1, kFieldFilesize = 6, kFieldNamesize = 11;

// Eight hex digits (either case) at p; false if any is not one.
bool parse_hex8(const uint8_t* p, uint32_t* out) {
  uint32_t v = 0;
  for (uint32_t i = 0; i < 8; ++i) {
    const uint8_t c = p[i];
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = v << 4 | d;
  }
  *out = v;
  return true;
}

// v rounded up to a multiple of 4, computed in 64 bits so that no
// 32-bit sum of offsets and sizes can wrap before it is compared.
uint64_t align4(uint64_t v) { return (v + 3) & ~uint64_t{3}; }

}  // namespace

bool CpioReader::next(CpioEntry* out) {
  if (done_ || error_) return false;
  if (off_ == size_) {
    done_ = true;  // no trailer: the data simply ends
    return false;
  }
  // off_ <= size_ always: it only ever takes values checked against size_.
  const uint32_t left = size_ - off_;
  if (left < kMagicLen) return fail("cpio: truncated header");
  const uint8_t* h = base_ + off_;
  if (__builtin_memcmp(h, "070701", kMagicLen) != 0 && __builtin_memcmp(h, "070702", kMagicLen) != 0)
    return fail("cpio: bad magic (not newc 070701/070702)");
  if (left < kHeaderSize) return fail("cpio: truncated header");
  uint32_t f[kNumFields];
  for (uint32_t i = 0; i < kNumFields; ++i)
    if (!parse_hex8(h + kMagicLen + 8 * i, &f[i])) return fail("cpio: non-hex digit in a header field");
  const uint32_t namesize = f[kFieldNamesize], filesize = f[kFieldFilesize];
  if (namesize == 0) return fail("cpio: namesize 0 (the name needs at least its NUL)");
  if (namesize > left - kHeaderSize) return fail("cpio: name runs past the end of the archive");
  const char* name = reinterpret_cast<const char*>(h + kHeaderSize);
  uint32_t len = namesize - 1;
  if (name[len] != 0) return fail("cpio: name not NUL-terminated");
  for (uint32_t i = 0; i < len; ++i)
    if (name[i] == 0) return fail("cpio: NUL inside the name");

  const uint64_t data_off = align4(uint64_t{off_} + kHeaderSize + namesize);
  if (data_off > size_) return fail("cpio: name padding runs past the end of the archive");
  if (filesize > size_ - data_off) return fail("cpio: file data runs past the end of the archive");
  const uint64_t data_end = data_off + filesize;
  // The last entry may lack its padding: then the archive ends with it.
  const uint64_t next_off = align4(data_end) <= size_ ? align4(data_end) : size_;

  if (len == 10 && __builtin_memcmp(name, "TRAILER!!!", 10) == 0) {
    // As Linux's initramfs: archives may be concatenated (the loader adds a
    // user's binary that way), with NUL padding between them. What follows
    // the padding is read only if it starts like a newc header; anything
    // else ends the archive, as before.
    off_ = static_cast<uint32_t>(next_off);
    while (off_ < size_ && base_[off_] == 0) ++off_;
    if (size_ - off_ >= kMagicLen && (__builtin_memcmp(base_ + off_, "070701", kMagicLen) == 0 ||
                                      __builtin_memcmp(base_ + off_, "070702", kMagicLen) == 0))
      return next(out);
    done_ = true;
    return false;
  }
  for (;;) {
    if (len >= 2 && name[0] == '.' && name[1] == '/') {
      name += 2, len -= 2;
    } else if (len >= 1 && name[0] == '/') {
      ++name, --len;
    } else {
      break;
    }
  }
  *out = CpioEntry{name, len, f[kFieldMode], base_ + data_off, filesize};
  off_ = static_cast<uint32_t>(next_off);
  return true;
}

}  // namespace formats
