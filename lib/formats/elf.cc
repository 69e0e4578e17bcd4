#include "formats/elf.h"

namespace formats {
namespace {

// The file layouts (System V ABI, "ELF Header" and "Program Header"), all
// fields little-endian; read with memcpy, so the file needs no alignment.
struct Elf32Ehdr {
  uint8_t ident[16];
  uint16_t type, machine;
  uint32_t version, entry, phoff, shoff, flags;
  uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct Elf32Phdr {
  uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
};
static_assert(sizeof(Elf32Ehdr) == 52 && sizeof(Elf32Phdr) == 32);

constexpr uint8_t kMagic[4] = {0x7f, 'E', 'L', 'F'};
constexpr uint32_t kEiClass = 4, kEiData = 5;
constexpr uint8_t kElfClass32 = 1, kElfData2Lsb = 1;
constexpr uint16_t kEtExec = 2, kEtDyn = 3;
constexpr uint16_t kEm386 = 3;
constexpr uint32_t kPtLoad = 1, kPtInterp = 3, kPtPhdr = 6, kPtGnuStack = 0x6474E551;
constexpr uint32_t kPfX = 1, kPfW = 2, kPfR = 4;
constexpr uint32_t kPageMask = 0xFFF;
// Linux's limit (load_elf_phdrs): the table must fit in 64 KiB.
constexpr uint32_t kMaxPhnum = 65536 / sizeof(Elf32Phdr);

Elf32Phdr read_phdr(const uint8_t* data, const Elf32Ehdr& eh, uint32_t i) {
  Elf32Phdr ph;
  __builtin_memcpy(&ph, data + eh.phoff + i * sizeof(Elf32Phdr), sizeof(ph));
  return ph;
}

// Checks one PT_LOAD on its own and against the previous one.
const char* check_load(const Elf32Phdr& ph, uint32_t size, uint32_t user_limit, const ElfImage& img) {
  if (ph.offset > size || ph.filesz > size - ph.offset) return "segment out of file";
  if (ph.filesz > ph.memsz) return "segment filesz > memsz";
  if (ph.vaddr >= user_limit || ph.memsz > user_limit - ph.vaddr)
    return "segment wraps or reaches the kernel (>= limit)";
  if ((ph.vaddr & kPageMask) != (ph.offset & kPageMask)) return "segment vaddr and offset differ modulo the page size";
  if (img.nsegs) {
    // Sorted and each disjoint from its predecessor means all disjoint.
    // prev.vaddr + prev.memsz <= user_limit: it cannot wrap.
    const ElfSegment& prev = img.segs[img.nsegs - 1];
    if (ph.vaddr < prev.vaddr) return "PT_LOAD segments not in ascending order";
    if (ph.vaddr < prev.vaddr + prev.memsz) return "overlapping segments";
  }
  if (img.nsegs == kElfMaxSegments) return "too many PT_LOAD segments";
  return nullptr;
}

}  // namespace

bool elf_has_magic(const uint8_t* data, uint32_t size) {
  return size >= sizeof(kMagic) && __builtin_memcmp(data, kMagic, sizeof(kMagic)) == 0;
}

const char* elf_parse(const uint8_t* data, uint32_t size, uint32_t user_limit, ElfImage* out) {
  *out = ElfImage{};
  if (!elf_has_magic(data, size)) return "not an ELF file";
  if (size < sizeof(Elf32Ehdr)) return "truncated ELF header";
  Elf32Ehdr eh;
  __builtin_memcpy(&eh, data, sizeof(eh));
  if (eh.ident[kEiClass] != kElfClass32) return "not ELF32";
  if (eh.ident[kEiData] != kElfData2Lsb) return "not little-endian";
  if (eh.machine != kEm386) return "not i386 (e_machine)";
  if (eh.type != kEtExec && eh.type != kEtDyn) return "not an executable (e_type)";
  if (eh.phentsize != sizeof(Elf32Phdr)) return "bad e_phentsize";
  if (eh.phnum == 0) return "no PT_LOAD";
  if (eh.phnum > kMaxPhnum) return "too many program headers";
  // phnum * 32 <= 64 KiB: no overflow.
  if (eh.phoff > size || eh.phnum * sizeof(Elf32Phdr) > size - eh.phoff) return "program header out of file";
  const uint32_t table_size = eh.phnum * sizeof(Elf32Phdr);

  // PT_INTERP first: a dynamic binary says so rather than whatever else
  // about it we would not like.
  for (uint32_t i = 0; i < eh.phnum; ++i)
    if (read_phdr(data, eh, i).type == kPtInterp) return "dynamically linked (PT_INTERP)";

  bool have_pt_phdr = false;
  uint32_t pt_phdr_vaddr = 0;
  for (uint32_t i = 0; i < eh.phnum; ++i) {
    const Elf32Phdr ph = read_phdr(data, eh, i);
    if (ph.type == kPtPhdr) have_pt_phdr = true, pt_phdr_vaddr = ph.vaddr;
    if (ph.type == kPtGnuStack) out->exec_stack = (ph.flags & kPfX) != 0;
    if (ph.type != kPtLoad || ph.memsz == 0) continue;
    if (const char* why = check_load(ph, size, user_limit, *out)) return why;
    out->segs[out->nsegs++] = ElfSegment{.vaddr = ph.vaddr,
                                         .memsz = ph.memsz,
                                         .offset = ph.offset,
                                         .filesz = ph.filesz,
                                         .read = (ph.flags & kPfR) != 0,
                                         .write = (ph.flags & kPfW) != 0,
                                         .exec = (ph.flags & kPfX) != 0};
  }
  if (!out->nsegs) return "no PT_LOAD";

  bool entry_ok = false, table_mapped = false;
  for (uint32_t i = 0; i < out->nsegs; ++i) {
    const ElfSegment& s = out->segs[i];
    if (s.exec && eh.entry >= s.vaddr && eh.entry - s.vaddr < s.memsz) entry_ok = true;
    // The table is mapped if some segment's file bytes hold all of it
    // (phoff + table_size <= size, so the sum cannot wrap).
    if (!table_mapped && eh.phoff >= s.offset && eh.phoff + table_size - s.offset <= s.filesz) {
      table_mapped = true;
      out->phdr_vaddr = s.vaddr + (eh.phoff - s.offset);
    }
  }
  if (!entry_ok) return "entry not in an executable segment";
  if (have_pt_phdr) out->phdr_vaddr = pt_phdr_vaddr;
  out->entry = eh.entry;
  out->pie = eh.type == kEtDyn;
  out->phnum = eh.phnum;
  out->phent = eh.phentsize;
  return nullptr;
}

}  // namespace formats
