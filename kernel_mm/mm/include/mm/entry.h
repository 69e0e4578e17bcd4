// PAE paging-structure entries, one type templated on the level.
//
// Layouts: Intel SDM Vol. 3A §4.4 "PAE Paging": Table 4-8 (PDPTE), Table 4-9
// (PDE mapping a 2-MByte page), Table 4-10 (PDE referencing a page table),
// Table 4-11 (PTE mapping a 4-KByte page). Every entry is 64 bits.
//
// Linux names the three PAE levels pgd (the four PDPTEs), pmd (page
// directory) and pte (page table); so do we. The PGD level is special: a
// PDPTE has only P, PWT, PCD and the address. R/W, U/S and XD are reserved
// there (setting them makes the CR3 load #GP), so the permission accessors
// do not exist at that level and `table()` sets Present only, as Linux's
// pud_populate does.
#pragma once

#include <cstdint>

#include "mm/types.h"

namespace mm {

enum class Level : uint8_t { kPgd, kPmd, kPte };

namespace pte_bits {
inline constexpr uint64_t kPresent = 1ull << 0;
inline constexpr uint64_t kWrite = 1ull << 1;
inline constexpr uint64_t kUser = 1ull << 2;
inline constexpr uint64_t kPwt = 1ull << 3;
inline constexpr uint64_t kPcd = 1ull << 4;
inline constexpr uint64_t kAccessed = 1ull << 5;
inline constexpr uint64_t kDirty = 1ull << 6;
inline constexpr uint64_t kLarge = 1ull << 7;  // PS in a PDE: maps a 2-MByte page
inline constexpr uint64_t kGlobal = 1ull << 8;
inline constexpr uint64_t kNx = 1ull << 63;  // XD: execute-disable (IA32_EFER.NXE=1)
// Bits 51:12 hold the address. MAXPHYADDR may be smaller; the bits above it
// must be zero, which holds because we never hand out such frames.
inline constexpr uint64_t kAddrMask = 0x000FFFFFFFFFF000ull;
// Bits that must be zero in a present PDPTE (Table 4-8): 2:1, 8:5, 63.
inline constexpr uint64_t kPdpteReserved = (3ull << 1) | (0xFull << 5) | kNx;
}  // namespace pte_bits

// Permissions of a leaf mapping, as the mm core asks for them.
struct PageProt {
  bool write = false;
  bool user = true;
  bool exec = false;
  bool global = false;    // kernel mappings: survive a CR3 reload, need INVLPG
  bool uncached = false;  // device memory: PCD | PWT, strong uncacheable with the default PAT (§11.12.3)
};

template <Level L>
class Entry {
 public:
  constexpr Entry() = default;
  static constexpr Entry from_raw(uint64_t raw) { return Entry(raw); }

  // A non-leaf entry pointing at the next-level table.
  static constexpr Entry table(PhysAddr child) requires(L != Level::kPte) {
    if constexpr (L == Level::kPgd) {
      return Entry(pte_bits::kPresent | (child.value() & pte_bits::kAddrMask));
    } else {
      // Linux's _PAGE_TABLE: permissions are decided at the leaf.
      return Entry(pte_bits::kPresent | pte_bits::kWrite | pte_bits::kUser | pte_bits::kAccessed |
                   (child.value() & pte_bits::kAddrMask));
    }
  }

  // A leaf: a 4-KByte page (PTE) or a 2-MByte page (PMD with PS).
  static constexpr Entry page(PhysAddr frame, PageProt prot) requires(L != Level::kPgd) {
    uint64_t raw = pte_bits::kPresent | pte_bits::kAccessed | (frame.value() & pte_bits::kAddrMask);
    if (prot.write) raw |= pte_bits::kWrite | pte_bits::kDirty;
    if (prot.user) raw |= pte_bits::kUser;
    if (!prot.exec) raw |= pte_bits::kNx;
    if (prot.global) raw |= pte_bits::kGlobal;
    if (prot.uncached) raw |= pte_bits::kPcd | pte_bits::kPwt;
    if constexpr (L == Level::kPmd) raw |= pte_bits::kLarge;
    return Entry(raw);
  }

  constexpr uint64_t raw() const { return raw_; }
  constexpr bool none() const { return raw_ == 0; }
  constexpr bool present() const { return raw_ & pte_bits::kPresent; }
  constexpr PhysAddr addr() const { return PhysAddr(raw_ & pte_bits::kAddrMask); }
  constexpr uint32_t pfn() const { return addr().pfn(); }

  constexpr bool writable() const requires(L != Level::kPgd) { return raw_ & pte_bits::kWrite; }
  constexpr bool user() const requires(L != Level::kPgd) { return raw_ & pte_bits::kUser; }
  constexpr bool nx() const requires(L != Level::kPgd) { return raw_ & pte_bits::kNx; }
  constexpr bool global() const requires(L != Level::kPgd) { return raw_ & pte_bits::kGlobal; }
  constexpr bool large() const requires(L == Level::kPmd) { return raw_ & pte_bits::kLarge; }
  // pte_wrprotect / pte_mkwrite.
  constexpr Entry wrprotect() const requires(L == Level::kPte) { return Entry(raw_ & ~pte_bits::kWrite); }
  constexpr Entry mkwrite() const requires(L == Level::kPte) {
    return Entry(raw_ | pte_bits::kWrite | pte_bits::kDirty);
  }
  constexpr Entry with_prot(PageProt prot) const requires(L == Level::kPte) { return page(addr(), prot); }

  // A PDPTE the CPU would refuse at CR3 load (#GP): reserved bits set.
  constexpr bool pdpte_valid() const requires(L == Level::kPgd) {
    return !present() || (raw_ & pte_bits::kPdpteReserved) == 0;
  }

  constexpr bool operator==(const Entry&) const = default;
  // Both present (or both not) and pointing at the same frame: what a
  // table entry means, whatever the CPU has set in it since (Accessed on a
  // walk; QEMU's TCG sets it even in PAE PDPTEs).
  constexpr bool same_target(const Entry& o) const { return present() == o.present() && addr() == o.addr(); }

 private:
  constexpr explicit Entry(uint64_t raw) : raw_(raw) {}
  uint64_t raw_ = 0;
};

using PgdEntry = Entry<Level::kPgd>;
using PmdEntry = Entry<Level::kPmd>;
using PteEntry = Entry<Level::kPte>;
static_assert(sizeof(PteEntry) == 8 && sizeof(PgdEntry) == 8);

}  // namespace mm
