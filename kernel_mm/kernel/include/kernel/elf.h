// An ELF32 i386 executable parser for exec. Untrusted input: every offset
// and size is checked; an error is a message naming the problem.
#pragma once

#include <cstdint>

namespace kern {

struct ElfSegment {
  uint32_t vaddr, memsz, offset, filesz;
  bool read, write, exec;
};
inline constexpr uint32_t kElfMaxSegments = 16;

struct ElfImage {
  uint32_t entry = 0;
  bool pie = false;         // ET_DYN without PT_INTERP: the caller picks a load bias
  uint32_t phdr_vaddr = 0;  // the program headers in memory (PT_PHDR or the PT_LOAD holding them); 0 if unmapped
  uint32_t phnum = 0, phent = 0;
  uint32_t nsegs = 0;
  ElfSegment segs[kElfMaxSegments];  // PT_LOAD, ascending vaddr
  bool exec_stack = false;           // PT_GNU_STACK with PF_X
};

bool elf_has_magic(const uint8_t* data, uint32_t size);
// nullptr on success, else why the file cannot be run. Segments must lie
// below user_limit (at bias 0 for a static-pie; the caller re-checks).
const char* elf_parse(const uint8_t* data, uint32_t size, uint32_t user_limit, ElfImage* out);

}  // namespace kern
