// Page faults, fork's copy_page_range, zapping, and free_pgtables.
#include "mm/memory.h"

#include "mm/filemap.h"
#include "mm/mmap.h"
#include "mm/pgtable.h"
#include "mm/system.h"

namespace mm {
namespace {

// The end of the PMD-sized (or PGD-sized) block holding addr, or `end` if
// that comes first. Compares `boundary - 1 < end - 1` so that an end of 0
// (the top of the address space) works, as Linux's pmd_addr_end does.
uint32_t pmd_addr_end(uint32_t addr, uint32_t end) {
  const uint32_t boundary = (addr + kPmdSize) & ~(kPmdSize - 1);
  return (boundary - 1 < end - 1) ? boundary : end;
}
uint32_t pgd_addr_end(uint32_t addr, uint32_t end) {
  const uint32_t boundary = static_cast<uint32_t>((uint64_t{addr} + kPgdSize) & ~(kPgdSize - 1));
  return (boundary - 1 < end - 1) ? boundary : end;
}

Page* pte_page(System& sys, PteEntry e) { return sys.pages.pfn_to_page(e.pfn()); }

Status do_anonymous_page(MmStruct* mm, const Vma& vma, PmdEntry* pmdp, VirtAddr a) MM_REQ_SHARED(mm->mmap_lock) {
  System& sys = *mm->sys;
  // Allocate before taking the lock; a racing fault may make it a spare.
  Page* page = sys.pages.alloc(PageKind::kUser);
  if (!page) {
    sys.counters.add(Counter::kFaultOom);
    return Status::kNoMem;
  }
  SpinLock* ptl;
  PteEntry* ptep = pte_offset_map_lock(mm, pmdp, a, &ptl);
  if (!entry_get(ptep).none()) {
    pte_unmap_unlock(ptep, ptl);
    put_page(sys.pages, page);
    return Status::kOk;
  }
  // The page is ours alone, so a writable VMA gets a writable PTE even on a
  // read fault (Linux maps the shared zero page instead; we have none).
  entry_set(ptep, PteEntry::page(sys.pages.page_to_phys(page), vma.prot(true)));
  mm->rss.fetch_add(1, std::memory_order_relaxed);
  sys.counters.add(Counter::kFaultAnon);
  pte_unmap_unlock(ptep, ptl);
  return Status::kOk;
}

// A fault on an empty PTE of a file VMA (Linux's do_read_fault and
// do_cow_fault; do_shared_fault has no case here: shared file mappings are
// read-only). A read or exec maps the page-cache page itself, read-only,
// so every process shares the frame; a write to a private mapping gets a
// private copy at once. Past the end of the file: kBus (SIGBUS).
Status do_file_page(MmStruct* mm, const Vma& vma, PmdEntry* pmdp, VirtAddr a, FaultFlags flags)
    MM_REQ_SHARED(mm->mmap_lock) {
  System& sys = *mm->sys;
  Page* cached;
  switch (vma.file->read_page(vma.file_index(a), &cached)) {
    case Status::kOk:
      break;
    case Status::kNoMem:
      sys.counters.add(Counter::kFaultOom);
      return Status::kNoMem;
    default:
      sys.counters.add(Counter::kFaultSigbus);
      return Status::kBus;
  }
  const bool cow = flags.write && !(vma.flags & kVmShared);
  Page* page = cached;
  if (cow) {
    page = sys.pages.alloc(PageKind::kUser);
    if (!page) {
      put_page(sys.pages, cached);
      sys.counters.add(Counter::kFaultOom);
      return Status::kNoMem;
    }
    arch::copy_frame(sys.pages.page_to_phys(page), sys.pages.page_to_phys(cached));
    put_page(sys.pages, cached);
  }
  SpinLock* ptl;
  PteEntry* ptep = pte_offset_map_lock(mm, pmdp, a, &ptl);
  if (!entry_get(ptep).none()) {
    pte_unmap_unlock(ptep, ptl);
    put_page(sys.pages, page);
    return Status::kOk;
  }
  // The reference read_page (or alloc) gave us becomes the mapping's. A
  // private copy, or a page of writable shared memory, is mapped writable.
  entry_set(ptep, PteEntry::page(sys.pages.page_to_phys(page), vma.prot(cow || (vma.flags & kVmShared))));
  mm->rss.fetch_add(1, std::memory_order_relaxed);
  sys.counters.add(cow ? Counter::kFaultFileCow : Counter::kFaultFile);
  pte_unmap_unlock(ptep, ptl);
  return Status::kOk;
}

// An empty PTE: a file page or a demand-zero one.
Status do_none_page(MmStruct* mm, const Vma& vma, PmdEntry* pmdp, VirtAddr a, FaultFlags flags)
    MM_REQ_SHARED(mm->mmap_lock) {
  return vma.file ? do_file_page(mm, vma, pmdp, a, flags) : do_anonymous_page(mm, vma, pmdp, a);
}

// A write to a present read-only PTE in a writable VMA: copy-on-write.
// Called with ptl held; returns with it released (which lock is ptl is
// decided at run time: the body is not analysed, the assertion checks it).
Status do_wp_page(MmStruct* mm, const Vma& vma, PmdEntry* pmdp, PteEntry* ptep, SpinLock* ptl, VirtAddr a,
                  PteEntry orig) MM_REQ_SHARED(mm->mmap_lock) MM_NO_TSA {
  ptl->debug_assert_held();
  System& sys = *mm->sys;
  Page* old = pte_page(sys, orig);
  // Reuse when nobody else maps the page. The count cannot rise under us:
  // only fork adds mappings of our pages, and fork holds our mmap_lock
  // exclusive while we hold it shared. A page-cache page is never reused
  // while cached: the cache's own reference keeps its count above 1.
  if ((vma.flags & kVmShared) || old->refcount.load(std::memory_order_acquire) == 1) {
    // Upgrading needs no flush: the faulting CPU dropped its entry with the
    // fault, and any other CPU's read-only entry just faults once more.
    entry_set(ptep, orig.mkwrite());
    sys.counters.add(Counter::kFaultCowReuse);
    pte_unmap_unlock(ptep, ptl);
    return Status::kOk;
  }
  get_page(old);
  pte_unmap_unlock(ptep, ptl);
  Page* copy = sys.pages.alloc(PageKind::kUser);
  if (!copy) {
    put_page(sys.pages, old);
    sys.counters.add(Counter::kFaultOom);
    return Status::kNoMem;
  }
  arch::copy_frame(sys.pages.page_to_phys(copy), sys.pages.page_to_phys(old));
  ptep = pte_offset_map_lock(mm, pmdp, a, &ptl);
  if (entry_get(ptep) == orig) {
    // ptep_clear_flush, then the new PTE: no CPU may go on reading the old
    // frame through a stale entry once we have written to the copy.
    entry_xchg(ptep, PteEntry());
    flush_tlb_page(mm, a);
    entry_set(ptep, PteEntry::page(sys.pages.page_to_phys(copy), vma.prot(true)));
    put_page(sys.pages, old);  // the mapping's reference
    copy = nullptr;
    sys.counters.add(Counter::kFaultCowCopy);
  }
  pte_unmap_unlock(ptep, ptl);
  put_page(sys.pages, old);  // our temporary reference
  if (copy) put_page(sys.pages, copy);
  return Status::kOk;
}

Status handle_pte_fault(MmStruct* mm, const Vma& vma, PmdEntry* pmdp, VirtAddr a, FaultFlags flags)
    MM_REQ_SHARED(mm->mmap_lock) {
  // A first look without the lock, as Linux's handle_pte_fault does: an
  // empty entry goes straight to do_anonymous_page, which takes the lock
  // once and rechecks. The PTE table cannot go away: we hold mmap_lock.
  if (entry_get(pte_offset_kernel(entry_get(pmdp), a)).none()) return do_none_page(mm, vma, pmdp, a, flags);
  SpinLock* ptl;
  PteEntry* ptep = pte_offset_map_lock(mm, pmdp, a, &ptl);
  const PteEntry e = entry_get(ptep);
  // Empty under the lock although the look saw an entry: nothing does
  // that today (munmap needs mmap_lock exclusive; a COW copy's transient
  // clear happens under this lock), but zapping under mmap_lock shared
  // (Linux's MADV_DONTNEED) would, so handle it rather than assume.
  if (e.none()) {
    pte_unmap_unlock(ptep, ptl);
    return do_none_page(mm, vma, pmdp, a, flags);
  }
  if (flags.write && !e.writable()) return do_wp_page(mm, vma, pmdp, ptep, ptl, a, e);
  // The entry already allows the access: another CPU got here first, or
  // this CPU's TLB held a stale, stricter entry. Drop it locally.
  flush_tlb_func(FlushRequest{.kind = FlushRequest::Kind::kRange,
                              .start = a.page_down(),
                              .end = a.page_down() + kPageSize,
                              .counters = &mm->sys->counters});
  mm->sys->counters.add(Counter::kFaultSpurious);
  pte_unmap_unlock(ptep, ptl);
  return Status::kOk;
}

void free_pte_range(MmuGather& tlb, PmdEntry* pmdp, VirtAddr a) MM_REQ(tlb.mm()->mmap_lock) {
  MmStruct* mm = tlb.mm();
  const PmdEntry e = entry_xchg(pmdp, PmdEntry());
  tlb.pte_free_tlb(mm->sys->pages.pfn_to_page(e.pfn()), a);
  mm->nr_ptes.fetch_sub(1, std::memory_order_relaxed);
}

void free_pmd_range(MmuGather& tlb, PgdEntry* pgdp, uint32_t addr, uint32_t end, uint32_t floor, uint32_t ceiling)
    MM_REQ(tlb.mm()->mmap_lock) {
  MmStruct* mm = tlb.mm();
  Counters& c = mm->sys->counters;
  uint32_t start = addr;
  PmdEntry* pmdp = pmd_offset(entry_get(pgdp), VirtAddr(addr));
  uint32_t next;
  do {
    next = pmd_addr_end(addr, end);
    c.add(Counter::kPgtScanned);
    if (!entry_get(pmdp).none()) free_pte_range(tlb, pmdp, VirtAddr(addr));
  } while (++pmdp, addr = next, addr != end);

  // Free the PMD table itself only if its whole GiB lies in [floor, ceiling).
  start &= ~static_cast<uint32_t>(kPgdSize - 1);
  if (start < floor) return;
  if (ceiling) {
    ceiling &= ~static_cast<uint32_t>(kPgdSize - 1);
    if (!ceiling) return;
  }
  if (end - 1 > ceiling - 1) return;
  const PgdEntry e = entry_xchg(pgdp, PgdEntry());  // pud_clear
  tlb.pmd_free_tlb(mm->sys->pages.pfn_to_page(e.pfn()), VirtAddr(start));
  mm->nr_pmds.fetch_sub(1, std::memory_order_relaxed);
}

// Linux's free_pgd_range: [addr, end) is what the VMAs covered; page tables
// are freed only where they lie wholly within [floor, ceiling).
void free_pgd_range(MmuGather& tlb, uint32_t addr, uint32_t end, uint32_t floor, uint32_t ceiling)
    MM_REQ(tlb.mm()->mmap_lock) {
  addr &= ~(kPmdSize - 1);
  if (addr < floor) {
    addr += kPmdSize;
    if (!addr) return;
  }
  if (ceiling) {
    ceiling &= ~(kPmdSize - 1);
    if (!ceiling) return;
  }
  if (end - 1 > ceiling - 1) end -= kPmdSize;
  if (addr > end - 1) return;

  MmStruct* mm = tlb.mm();
  Counters& c = mm->sys->counters;
  uint32_t next;
  do {
    next = pgd_addr_end(addr, end);
    PgdEntry* pgdp = pgd_offset(mm, VirtAddr(addr));
    c.add(Counter::kPgtScanned);
    if (entry_get(pgdp).present()) free_pmd_range(tlb, pgdp, addr, next, floor, ceiling);
  } while (addr = next, addr != end);
}

}  // namespace

Status handle_mm_fault(MmStruct* mm, VirtAddr a, FaultFlags flags) {
  System& sys = *mm->sys;
  auto fail = [&](Status s) {
    sys.counters.add(s == Status::kNoMem ? Counter::kFaultOom : Counter::kFaultBad);
    return s;
  };
  if (!a.is_user()) return fail(Status::kBadAddress);
  ReadGuard g(mm->mmap_lock);
  const Vma* vma = find_vma(mm, a);
  if (!vma || !vma->contains(a)) return fail(Status::kBadAddress);
  // x86 has no read permission: any of R/W/X makes a page readable.
  if ((flags.write && !(vma->flags & kVmWrite)) || (flags.exec && !(vma->flags & kVmExec)) ||
      !(vma->flags & kVmProtMask))
    return fail(Status::kAccess);
  PmdEntry* pmdp;
  if (pmd_alloc(mm, a, &pmdp) != Status::kOk || pte_alloc(mm, pmdp) != Status::kOk) return fail(Status::kNoMem);
  return handle_pte_fault(mm, *vma, pmdp, a, flags);
}

Status copy_page_range(MmStruct* dst, MmStruct* src, const Vma& vma) {
  src->mmap_lock.debug_assert_held();
  System& sys = *src->sys;
  const bool cow = !(vma.flags & kVmShared);
  for (uint32_t addr = vma.start.value(), next; addr < vma.end.value(); addr = next) {
    next = pmd_addr_end(addr, vma.end.value());
    PmdEntry* src_pmdp = pmd_lookup(src, VirtAddr(addr));
    if (!src_pmdp || entry_get(src_pmdp).none()) continue;
    PmdEntry* dst_pmdp;
    if (pmd_alloc(dst, VirtAddr(addr), &dst_pmdp) != Status::kOk) return Status::kNoMem;
    if (pte_alloc(dst, dst_pmdp) != Status::kOk) return Status::kNoMem;
    SpinLock* dst_ptl;
    PteEntry* d = pte_offset_map_lock(dst, dst_pmdp, VirtAddr(addr), &dst_ptl);
    SpinLock* src_ptl = pte_lockptr(src, entry_get(src_pmdp));
    src_ptl->lock();  // nests inside dst's: dst is new and unreachable, so no inversion
    PteEntry* s = pte_offset_kernel(entry_get(src_pmdp), VirtAddr(addr));
    for (uint32_t a = addr; a != next; a += kPageSize, ++s, ++d) {
      PteEntry e = entry_get(s);
      if (e.none()) continue;
      get_page(pte_page(sys, e));
      if (cow && e.writable()) {
        e = e.wrprotect();
        entry_set(s, e);
        sys.counters.add(Counter::kForkPtesWrprotected);
      }
      entry_set(d, e);
      dst->rss.fetch_add(1, std::memory_order_relaxed);
      sys.counters.add(Counter::kForkPtesCopied);
    }
    src_ptl->unlock();
    pte_unmap_unlock(d, dst_ptl);
  }
  return Status::kOk;
}

void unmap_vma(MmuGather& tlb, const Vma& vma) {
  tlb.mm()->mmap_lock.debug_assert_held();
  MmStruct* mm = tlb.mm();
  System& sys = *mm->sys;
  for (uint32_t addr = vma.start.value(), next; addr < vma.end.value(); addr = next) {
    next = pmd_addr_end(addr, vma.end.value());
    PmdEntry* pmdp = pmd_lookup(mm, VirtAddr(addr));
    if (!pmdp || entry_get(pmdp).none()) continue;
    SpinLock* ptl;
    PteEntry* ptep = pte_offset_map_lock(mm, pmdp, VirtAddr(addr), &ptl);
    for (uint32_t a = addr; a != next; a += kPageSize, ++ptep) {
      const PteEntry e = entry_xchg(ptep, PteEntry());  // ptep_get_and_clear
      if (e.none()) continue;
      mm->rss.fetch_sub(1, std::memory_order_relaxed);
      tlb.remove_page(pte_page(sys, e), VirtAddr(a));
    }
    pte_unmap_unlock(ptep, ptl);
  }
}

void free_pgtables(MmuGather& tlb, const VmaList& vmas, VirtAddr floor, VirtAddr ceiling) {
  tlb.mm()->mmap_lock.debug_assert_held();
  for (const Vma* vma = vmas.front(); vma;) {
    const uint32_t addr = vma->start.value();
    const Vma* next = VmaList::next(vma);
    // Neighbours closer than a PMD share tables: free them as one range.
    while (next && next->start.value() <= vma->end.value() + kPmdSize) {
      vma = next;
      next = VmaList::next(vma);
    }
    free_pgd_range(tlb, addr, vma->end.value(), floor.value(), next ? next->start.value() : ceiling.value());
    vma = next;
  }
}

void free_pgtables_full(MmuGather& tlb) {
  tlb.mm()->mmap_lock.debug_assert_held();
  MmStruct* mm = tlb.mm();
  Counters& c = mm->sys->counters;
  for (uint32_t i = 0; i < kUserPgdEntries; ++i) {
    c.add(Counter::kPgtScanned);
    PgdEntry* pgdp = &mm->pgd[i];
    if (!entry_get(pgdp).present()) continue;
    const uint32_t base = i << kPgdShift;
    free_pmd_range(tlb, pgdp, base, base + static_cast<uint32_t>(kPgdSize), 0, 0);
  }
}

}  // namespace mm
