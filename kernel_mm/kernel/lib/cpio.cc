#include "kernel/cpio.h"

#include <cstring>

namespace kern {
namespace {

constexpr uint32_t kHeader = 110;  // "070701" + 13 fields of 8 hex digits

bool hex8(const uint8_t* p, uint32_t* out) {
  uint32_t v = 0;
  for (int i = 0; i < 8; ++i) {
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

// Rounds up to 4; false on overflow.
bool align4(uint64_t v, uint32_t limit, uint32_t* out) {
  v = (v + 3) & ~uint64_t{3};
  if (v > limit) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

bool CpioReader::next(CpioEntry* out) {
  if (done_ || error_) return false;
  if (off_ == size_) {
    done_ = true;
    return false;  // no trailer: accepted, the data simply ends
  }
  if (size_ - off_ < kHeader) return fail("cpio: truncated header");
  const uint8_t* h = base_ + off_;
  if (memcmp(h, "070701", 6) != 0 && memcmp(h, "070702", 6) != 0) return fail("cpio: bad magic (not newc)");
  uint32_t f[13];
  for (int i = 0; i < 13; ++i)
    if (!hex8(h + 6 + 8 * i, &f[i])) return fail("cpio: non-hex header field");
  const uint32_t mode = f[1], filesize = f[6], namesize = f[11];
  if (namesize == 0) return fail("cpio: empty name");
  if (namesize > size_ - off_ - kHeader) return fail("cpio: truncated name");
  const char* name = reinterpret_cast<const char*>(h + kHeader);
  if (name[namesize - 1] != 0) return fail("cpio: name not NUL-terminated");
  uint32_t data_off;
  if (!align4(uint64_t{off_} + kHeader + namesize, size_, &data_off)) return fail("cpio: truncated name padding");
  if (filesize > size_ - data_off) return fail("cpio: truncated file data");
  uint32_t next_off;
  if (!align4(uint64_t{data_off} + filesize, size_, &next_off)) {
    // The last entry may lack its padding.
    next_off = size_;
  }
  uint32_t len = namesize - 1;
  if (len == 10 && memcmp(name, "TRAILER!!!", 10) == 0) {
    done_ = true;
    off_ = next_off;
    return false;
  }
  while (len >= 2 && name[0] == '.' && name[1] == '/') name += 2, len -= 2;
  while (len >= 1 && name[0] == '/') ++name, --len;
  *out = CpioEntry{name, len, mode, base_ + data_off, filesize};
  off_ = next_off;
  return true;
}

}  // namespace kern
