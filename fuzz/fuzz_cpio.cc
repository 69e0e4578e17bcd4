// The cpio (newc) reader (lib/formats) on arbitrary bytes: every entry it hands
// out lies inside the buffer, it always ends, and an error is final.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "formats/cpio.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  formats::CpioReader r(data, static_cast<uint32_t>(size));
  formats::CpioEntry e;
  uint32_t last = 0;
  for (size_t n = 0; r.next(&e); ++n) {
    const auto* name = reinterpret_cast<const uint8_t*>(e.name);
    if (name < data || name + e.name_len >= data + size || e.name[e.name_len] != 0) abort();
    if (e.data < data || e.data + e.size > data + size) abort();
    if (r.offset() <= last && n) abort();  // progress
    last = r.offset();
    if (n > size) abort();
  }
  if (r.next(&e)) abort();  // false is final
  return 0;
}
