// The ELF parser (lib/formats) on arbitrary bytes: it must never read outside
// them, and what it accepts must be loadable (segments inside the file and
// below the user limit, sorted, disjoint).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "formats/elf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  const auto n = static_cast<uint32_t>(size);
  (void)formats::elf_has_magic(data, n);
  formats::ElfImage img;
  constexpr uint32_t kLimit = 0xC0000000u;
  if (formats::elf_parse(data, n, kLimit, &img)) return 0;
  if (img.nsegs == 0 || img.nsegs > formats::kElfMaxSegments) abort();
  uint64_t prev_end = 0;
  for (uint32_t i = 0; i < img.nsegs; ++i) {
    const formats::ElfSegment& s = img.segs[i];
    if (uint64_t{s.offset} + s.filesz > size || s.filesz > s.memsz) abort();
    if (uint64_t{s.vaddr} + s.memsz > kLimit || s.vaddr < prev_end) abort();
    prev_end = uint64_t{s.vaddr} + s.memsz;
  }
  return 0;
}
