#include "kernel/elf.h"

#include <cstring>

namespace kern {
namespace {

struct Ehdr {
  uint8_t ident[16];
  uint16_t type, machine;
  uint32_t version, entry, phoff, shoff, flags;
  uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct Phdr {
  uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
};
static_assert(sizeof(Ehdr) == 52 && sizeof(Phdr) == 32);

constexpr uint32_t kPtLoad = 1, kPtInterp = 3, kPtPhdr = 6, kPtGnuStack = 0x6474E551;
constexpr uint32_t kPfX = 1, kPfW = 2, kPfR = 4;

}  // namespace

bool elf_has_magic(const uint8_t* data, uint32_t size) {
  return size >= 4 && memcmp(data,
                             "\x7f"
                             "ELF",
                             4) == 0;
}

const char* elf_parse(const uint8_t* data, uint32_t size, uint32_t user_limit, ElfImage* out) {
  *out = ElfImage{};
  if (!elf_has_magic(data, size)) return "not an ELF file";
  if (size < sizeof(Ehdr)) return "truncated ELF header";
  Ehdr eh;
  memcpy(&eh, data, sizeof(eh));
  if (eh.ident[4] != 1) return "not ELF32";
  if (eh.ident[5] != 1) return "not little-endian";
  if (eh.machine != 3) return "not i386 (e_machine)";
  if (eh.type != 2 && eh.type != 3) return "not an executable (e_type)";
  if (eh.phentsize != sizeof(Phdr)) return "unexpected program header size";
  if (eh.phnum == 0) return "no PT_LOAD";
  if (eh.phoff > size || uint64_t{eh.phnum} * sizeof(Phdr) > size - eh.phoff) return "program header out of file";
  bool interp = false;
  uint32_t phdr_from_pt_phdr = 0;
  bool have_pt_phdr = false;
  for (uint32_t i = 0; i < eh.phnum; ++i) {
    Phdr ph;
    memcpy(&ph, data + eh.phoff + i * sizeof(Phdr), sizeof(ph));
    if (ph.type == kPtInterp) interp = true;
    if (ph.type == kPtPhdr) have_pt_phdr = true, phdr_from_pt_phdr = ph.vaddr;
    if (ph.type == kPtGnuStack) out->exec_stack = ph.flags & kPfX;
    if (ph.type != kPtLoad || ph.memsz == 0) continue;
    if (out->nsegs == kElfMaxSegments) return "too many PT_LOAD segments";
    if (ph.offset > size || ph.filesz > size - ph.offset) return "segment out of file";
    if (ph.filesz > ph.memsz) return "segment filesz > memsz";
    if (ph.vaddr >= user_limit || ph.memsz > user_limit - ph.vaddr)
      return "segment wraps or reaches the kernel (>= limit)";
    if ((ph.vaddr & 0xFFF) != (ph.offset & 0xFFF))
      return "segment offset and address not congruent modulo the page size";
    if (out->nsegs) {
      const ElfSegment& prev = out->segs[out->nsegs - 1];
      if (ph.vaddr < prev.vaddr) return "PT_LOAD segments not in ascending order";
      if (ph.vaddr < prev.vaddr + prev.memsz) return "overlapping segments";
    }
    out->segs[out->nsegs++] = ElfSegment{ph.vaddr,
                                         ph.memsz,
                                         ph.offset,
                                         ph.filesz,
                                         (ph.flags & kPfR) != 0,
                                         (ph.flags & kPfW) != 0,
                                         (ph.flags & kPfX) != 0};
  }
  if (interp) return "dynamically linked (PT_INTERP)";
  if (!out->nsegs) return "no PT_LOAD";
  bool entry_ok = false;
  for (uint32_t i = 0; i < out->nsegs; ++i) {
    const ElfSegment& s = out->segs[i];
    if (s.exec && eh.entry >= s.vaddr && eh.entry - s.vaddr < s.memsz) entry_ok = true;
    // Where the program headers are mapped, if the PT_LOAD holding them is.
    if (!have_pt_phdr && eh.phoff >= s.offset && eh.phoff - s.offset < s.filesz)
      out->phdr_vaddr = s.vaddr + (eh.phoff - s.offset);
  }
  if (!entry_ok) return "entry not in an executable segment";
  if (have_pt_phdr) out->phdr_vaddr = phdr_from_pt_phdr;
  out->entry = eh.entry;
  out->pie = eh.type == 3;
  out->phnum = eh.phnum;
  out->phent = eh.phentsize;
  return nullptr;
}

}  // namespace kern
