// Page-table primitives in Linux's vocabulary: entry access, table pages and
// their locks, pgd_alloc/pgd_free, and on-demand PMD and PTE tables.
#pragma once

#include <cstdint>

#include "mm/annotations.h"
#include "mm/arch.h"
#include "mm/entry.h"
#include "mm/mm_struct.h"
#include "mm/page.h"
#include "mm/spinlock.h"
#include "mm/system.h"
#include "mm/types.h"

namespace mm {

// Entries are read and written whole (64 bits at once): the MMU on another
// CPU may walk the table while we change it.
template <Level L>
Entry<L> entry_get(const Entry<L>* p) {
  return Entry<L>::from_raw(arch::entry_read(reinterpret_cast<const uint64_t*>(p)));
}
template <Level L>
void entry_set(Entry<L>* p, Entry<L> e) {
  arch::entry_write(reinterpret_cast<uint64_t*>(p), e.raw());
}
template <Level L>
Entry<L> entry_xchg(Entry<L>* p, Entry<L> e) {
  return Entry<L>::from_raw(arch::entry_xchg(reinterpret_cast<uint64_t*>(p), e.raw()));
}

inline PgdEntry* pgd_offset(MmStruct* mm, VirtAddr a) { return &mm->pgd[a.pgd_index()]; }
// The PMD entry for `a` in the table a present PGD entry points at.
inline PmdEntry* pmd_offset(PgdEntry pgd, VirtAddr a) {
  return static_cast<PmdEntry*>(arch::phys_to_virt(pgd.addr())) + a.pmd_index();
}
// The PTE for `a` in the table a present, non-large PMD entry points at.
inline PteEntry* pte_offset_kernel(PmdEntry pmd, VirtAddr a) {
  return static_cast<PteEntry*>(arch::phys_to_virt(pmd.addr())) + a.pte_index();
}
// The PMD entry for `a`, or nullptr when its PGD entry is empty. Allocates nothing.
PmdEntry* pmd_lookup(MmStruct* mm, VirtAddr a);

// ---- Table pages and split page-table locks --------------------------------

// pgtable_pte_page_ctor / pgtable_pmd_page_ctor: set up the page's split
// lock (a separate allocation with mm.ptlock_alloc=dynamic, which can fail).
[[nodiscard]] bool ptlock_init(System& sys, Page* table);
// The matching dtor. Every path that frees a table page runs it first:
// pte_free, pmd_free, the mmu_gather batches and pgd_free's mop-up.
void ptlock_free(System& sys, Page* table);

// A zeroed table frame of `kind` with its lock constructed, or nullptr.
[[nodiscard]] Page* alloc_table_page(System& sys, PageKind kind);
// ptlock_free + free. For tables that no CPU can be walking any more.
void free_table_page(System& sys, Page* table);

// The lock that guards the PTEs of the table `pmd` points at: that table's
// split lock, or mm->page_table_lock with mm.ptlock=mm.
SpinLock* pte_lockptr(MmStruct* mm, PmdEntry pmd);
// The lock that guards the PMD entry `pmdp`: the split lock of the PMD table
// that holds it, or mm->page_table_lock.
SpinLock* pmd_lockptr(MmStruct* mm, PmdEntry* pmdp);

// Maps and locks the PTE for `a`; *ptlp receives the lock to pass to
// pte_unmap_unlock. The PMD entry must be present and must stay so, which
// holding mmap_lock (shared) guarantees.
PteEntry* pte_offset_map_lock(MmStruct* mm, PmdEntry* pmdp, VirtAddr a, SpinLock** ptlp) MM_NO_TSA;
void pte_unmap_unlock(PteEntry* pte, SpinLock* ptl) MM_NO_TSA;
// Locks and returns pmd_lockptr(mm, pmdp).
SpinLock* pmd_lock(MmStruct* mm, PmdEntry* pmdp) MM_NO_TSA;

// ---- PGD lifecycle ----------------------------------------------------------

// Allocates mm's PGD. mm.kernel_pmd=shared: a 32-byte PGD from pgd_cache;
// unshared: a page-sized PGD plus a private copy of the kernel PMD.
// mm.pmd_prealloc=on: the three user PMDs are allocated and installed here,
// before anyone can load the PGD, so they never cost a CR3 reload.
// mm.pgd_init=locked: the kernel part is filled and the PGD put on pgd_list
// under pgd_lock (pgd_ctor); lockless: the kernel part waits for
// pgd_init_late. On any allocation failure everything allocated so far is
// freed (with its ptl dtor) and kNoMem is returned.
Status pgd_alloc(MmStruct* mm);
// Takes the PGD off pgd_list (locked mode), mops up the user PMDs that
// free_pgtables left, frees the kernel PMD copy and the PGD. The mm must be
// loaded on no CPU.
void pgd_free(MmStruct* mm);
// mm.pgd_init=lockless: copies the kernel part of the PGD. Called by
// mm_publish after the mm is on the task list and after a full barrier
// (the ordering argument is at the definition).
void pgd_init_late(MmStruct* mm);

// The PMD entry for `a`, installing a PMD table when the PGD entry is empty
// (__pmd_alloc). Installing into a PGD loaded on some CPU reloads CR3 on
// every such CPU: PAE caches the four PDPTEs at CR3 load. mmap_lock (at
// least shared) keeps the tables from being freed meanwhile.
Status pmd_alloc(MmStruct* mm, VirtAddr a, PmdEntry** out) MM_REQ_SHARED(mm->mmap_lock);
// Makes sure `pmdp` points at a PTE table (__pte_alloc): allocate outside the
// lock, take pmd_lock, recheck, install or free the spare. mmap_lock as above.
Status pte_alloc(MmStruct* mm, PmdEntry* pmdp) MM_REQ_SHARED(mm->mmap_lock);

// Reloads CR3 on every CPU that has mm loaded, after a PGD entry changed.
void pdpte_reload(MmStruct* mm);

}  // namespace mm
