// An ELF32 i386 executable parser for exec (the layouts are the System V
// ABI's, i386 supplement; the checks follow Linux's load_elf_binary).
// Accepted: little-endian ELFCLASS32 EM_386 files of type ET_EXEC, or
// ET_DYN without PT_INTERP (a static-pie, loaded at a bias the caller
// picks). Untrusted input: every offset and size is checked, nothing is
// read outside [data, data + size), and an error is a static string naming
// the problem.
#pragma once

#include <cstdint>

namespace formats {

// One PT_LOAD with memsz > 0 (empty ones are skipped, as Linux does).
struct ElfSegment {
  uint32_t vaddr, memsz, offset, filesz;
  bool read, write, exec;
};
inline constexpr uint32_t kElfMaxSegments = 16;

struct ElfImage {
  uint32_t entry = 0;
  bool pie = false;  // ET_DYN without PT_INTERP: every address below is relative to the caller's bias
  // Where the program headers are in memory (AT_PHDR): PT_PHDR's vaddr, else
  // computed from the PT_LOAD whose file bytes hold the whole table; 0 if
  // no PT_LOAD does.
  uint32_t phdr_vaddr = 0;
  uint32_t phnum = 0, phent = 0;  // AT_PHNUM, AT_PHENT
  uint32_t nsegs = 0;
  ElfSegment segs[kElfMaxSegments] = {};  // ascending vaddr, byte ranges disjoint
  bool exec_stack = false;                // a PT_GNU_STACK with PF_X (no PT_GNU_STACK: false)
};

// True if data starts with "\x7fELF" (exec answers ENOEXEC otherwise).
bool elf_has_magic(const uint8_t* data, uint32_t size);

// Parses the executable in [data, data + size). nullptr on success, with
// *out filled in; otherwise the reason it cannot be run, and *out is
// unspecified. What is checked, in order:
//   the identification and header ("not an ELF file", "not ELF32",
//     "not little-endian", "not i386 (e_machine)", "not an executable
//     (e_type)", "bad e_phentsize", "too many program headers"),
//   the program header table lies in the file,
//   no PT_INTERP ("dynamically linked (PT_INTERP)"),
//   each PT_LOAD: its file bytes lie in the file, filesz <= memsz,
//     [vaddr, vaddr + memsz) ends at or below user_limit without wrapping,
//     vaddr and offset agree modulo 4 KiB (so the file can be mapped), and
//     it starts at or above the previous one ("PT_LOAD segments not in
//     ascending order") and after its last byte ("overlapping segments";
//     two segments sharing a page is fine, glibc's static binaries do),
//   at least one and at most kElfMaxSegments PT_LOADs,
//   the entry point lies in an executable segment.
// For a pie the checks against user_limit assume bias 0; the caller
// re-checks [bias + vaddr, bias + vaddr + memsz) with its bias.
[[nodiscard]] const char* elf_parse(const uint8_t* data, uint32_t size, uint32_t user_limit, ElfImage* out);

}  // namespace formats
