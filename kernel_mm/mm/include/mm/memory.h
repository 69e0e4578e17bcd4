// Faults, fork's page-table copy, unmapping and page-table freeing.
#pragma once

#include <cstdint>

#include "mm/mm_struct.h"
#include "mm/tlb.h"
#include "mm/types.h"

namespace mm {

struct FaultFlags {
  bool write = false;
  bool exec = false;
  bool user = true;
};

// Resolves a fault at `a`: demand-zero, a page-cache page (file VMAs), COW
// copy or reuse, or a spurious fault on a stale TLB entry. Takes mmap_lock
// shared. kBadAddress / kAccess mean SIGSEGV, kBus (past the end of a
// mapped file) SIGBUS; kNoMem means the process must be killed (OOM).
Status handle_mm_fault(MmStruct* mm, VirtAddr a, FaultFlags flags);

// Fork: copies src's entries for `vma` into dst. Private writable pages
// become read-only in both (COW); shared ones stay writable. The caller
// holds src->mmap_lock exclusive (and dst's, which no one else can reach
// yet) and flushes src's TLBs afterwards.
Status copy_page_range(MmStruct* dst, MmStruct* src, const Vma& vma) MM_REQ(src->mmap_lock, dst->mmap_lock);

// zap: clears every PTE in [vma.start, vma.end) and hands the pages to `tlb`.
// The caller holds tlb.mm()->mmap_lock exclusive, as for free_pgtables.
void unmap_vma(MmuGather& tlb, const Vma& vma);

// free_pgtables, VMA-guided (mm.free_pgtables=vma, and munmap in both
// modes): frees the page tables under the VMAs in `vmas`, but only those
// wholly inside [floor, ceiling), the gap between the neighbouring VMAs
// that stay. `ceiling` 0 means the top of the address space (2^32): the
// arithmetic below compares `end - 1` with `ceiling - 1` so that 0 wraps
// to the largest value. The caller holds mmap_lock exclusive, which is what
// lets the tables go without page-table locks: no fault can walk them. The
// compiler checks it where the gather is made (MmuGather's constructor
// requires mm->mmap_lock); free_pgtables asserts it at run time.
void free_pgtables(MmuGather& tlb, const VmaList& vmas, VirtAddr floor, VirtAddr ceiling);

// mm.free_pgtables=full: the pre-2.6.12 way at teardown: visit every user
// PGD entry and every entry of every present PMD, whatever was mapped.
void free_pgtables_full(MmuGather& tlb);

}  // namespace mm
