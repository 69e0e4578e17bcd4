// Kernel mappings made at run time, and the sync of new kernel PMD entries
// into every PGD when the kernel PMD is unshared.
#include "mm/vmalloc.h"

#include "mm/pgtable.h"
#include "mm/tlb.h"

namespace mm {
namespace {

uint32_t vmap_bit(VirtAddr va) { return (va.value() - kPageOffset) >> kPageShift; }

// mm's view of kernel PMD entry `idx`: its private copy's slot.
PmdEntry* copy_slot(MmStruct* mm, uint32_t idx) {
  return static_cast<PmdEntry*>(arch::phys_to_virt(entry_get(&mm->pgd[kKernelPgdIndex]).addr())) + idx;
}

void sync_one(System& sys, MmStruct* mm, uint32_t idx, PmdEntry e) {
  sys.counters.add(Counter::kKernelSyncWalk);
  PmdEntry* slot = copy_slot(mm, idx);
  if (entry_get(slot).none()) {
    // none -> present needs no flush: a not-present entry is never cached.
    entry_set(slot, e);
    sys.counters.add(Counter::kKernelSync);
  }
}

// Propagates reference kernel PMD entry `idx` (already present) to every
// PGD that owns a copy. Returns when every such PGD has it.
void sync_kernel_pmd_entry(System& sys, uint32_t idx) {
  if (sys.toggles.kernel_pmd_shared()) return;  // every PGD points at the reference itself
  const PmdEntry e = entry_get(&sys.kernel_pmd[idx]);
  MM_ASSERT(e.present());
  if (!sys.toggles.pgd_lockless()) {
    // Every PGD is on pgd_list from pgd_ctor (which copies the reference
    // under this same lock) until pgd_dtor.
    SpinGuard g(sys.pgd_lock);
    for (MmStruct* mm : sys.pgd_list) sync_one(sys, mm, idx, e);
  } else {
    arch::smp_mb();  // 2 in the argument above pgd_init_late (pgtable.cc)
    ReadGuard g(sys.tasklist_lock);
    for (MmStruct* mm : sys.tasks) sync_one(sys, mm, idx, e);
  }
}

// Sets kernel PMD entry `idx` to `e` if it is empty; true if it did.
bool install_kernel_pmd(System& sys, uint32_t idx, PmdEntry e) {
  SpinGuard g(sys.init_mm.page_table_lock);
  PmdEntry* pmdp = &sys.kernel_pmd[idx];
  if (!entry_get(pmdp).none()) return false;
  entry_set(pmdp, e);
  return true;
}

// Returns once kernel PMD entry `idx` (present) is in every PGD. The CPU
// that installed it syncs it; a CPU that finds it installed but its synced
// bit not yet set (the installer may still be walking) syncs it too. A
// second sync of the same entry is harmless, and this way no caller of
// map_kernel_page returns before its entry is everywhere.
void ensure_synced(System& sys, uint32_t idx) {
  std::atomic_ref<uint32_t> word(sys.kernel_pmd_synced[idx / 32]);
  const uint32_t bit = 1u << (idx % 32);
  if (word.load(std::memory_order_acquire) & bit) return;
  sync_kernel_pmd_entry(sys, idx);
  word.fetch_or(bit, std::memory_order_release);
}

// The kernel PTE table for va, created (and synced) on first use.
Status ensure_kernel_pte_table(System& sys, VirtAddr va, PteEntry** out) {
  const uint32_t idx = va.pmd_index();
  if (entry_get(&sys.kernel_pmd[idx]).none()) {
    Page* table = sys.pages.alloc(PageKind::kKernel);
    if (!table) return Status::kNoMem;
    if (install_kernel_pmd(sys, idx, PmdEntry::table(sys.pages.page_to_phys(table))))
      sys.counters.add(Counter::kKernelPteTable);
    else
      sys.pages.free(table);
  }
  ensure_synced(sys, idx);
  const PmdEntry e = entry_get(&sys.kernel_pmd[idx]);
  MM_ASSERT(e.present() && !e.large());
  *out = pte_offset_kernel(e, va);
  return Status::kOk;
}

bool in_vmalloc(const System& sys, VirtAddr va, uint32_t npages) {
  const uint64_t end = uint64_t{va.value()} + uint64_t{npages} * kPageSize;
  return va.page_aligned() && va.value() >= sys.layout.vmalloc_start && end <= sys.layout.vmalloc_end;
}

// Finds and reserves npages + 1 (a guard page) free pages in the vmalloc area.
uint32_t vmap_reserve(System& sys, uint32_t npages) MM_EXCL(sys.vmap_lock) {
  const uint32_t first = vmap_bit(VirtAddr(sys.layout.vmalloc_start));
  const uint32_t limit = vmap_bit(VirtAddr(sys.layout.vmalloc_end));
  const uint32_t want = npages + 1;
  SpinGuard g(sys.vmap_lock);
  auto used = [&](uint32_t b) MM_REQ(sys.vmap_lock) { return (sys.vmap_bitmap[b / 32] >> (b % 32)) & 1u; };
  // Next fit from the cursor, then once more from the start.
  for (uint32_t pass = 0; pass < 2; ++pass) {
    uint32_t b = pass == 0 && sys.vmap_cursor >= first ? sys.vmap_cursor : first;
    while (b + want <= limit) {
      uint32_t run = 0;
      while (run < want && !used(b + run)) ++run;
      if (run == want) {
        for (uint32_t i = 0; i < want; ++i) sys.vmap_bitmap[(b + i) / 32] |= 1u << ((b + i) % 32);
        sys.vmap_cursor = b + want;
        return b;
      }
      b += run + 1;
    }
  }
  return 0;
}

void vmap_release(System& sys, uint32_t bit, uint32_t npages) MM_EXCL(sys.vmap_lock) {
  SpinGuard g(sys.vmap_lock);
  for (uint32_t i = 0; i < npages + 1; ++i) sys.vmap_bitmap[(bit + i) / 32] &= ~(1u << ((bit + i) % 32));
}

// Unmaps [va, va + npages pages) and frees the frames behind it, after the flush.
void unmap_and_free(System& sys, VirtAddr va, uint32_t npages) {
  Page* frames[64];
  for (uint32_t done = 0; done < npages;) {
    const uint32_t n = npages - done < 64 ? npages - done : 64;
    for (uint32_t i = 0; i < n; ++i) {
      const VirtAddr v = va + (done + i) * kPageSize;
      const PteEntry e = entry_get(pte_offset_kernel(entry_get(&sys.kernel_pmd[v.pmd_index()]), v));
      MM_ASSERT(e.present());
      frames[i] = sys.pages.pfn_to_page(e.pfn());
    }
    unmap_kernel_range(sys, va + done * kPageSize, n);
    for (uint32_t i = 0; i < n; ++i) sys.pages.free(frames[i]);
    done += n;
  }
}

}  // namespace

Status kernel_map_range(System& sys, VirtAddr va, PhysAddr pa, uint32_t len, PageProt prot, bool allow_large) {
  MM_ASSERT(va.value() >= kPageOffset && va.page_aligned() && pa.page_aligned());
  prot.user = false;
  prot.global = true;
  for (uint32_t off = 0; off < len;) {
    const VirtAddr v = va + off;
    const PhysAddr p = pa + off;
    if (allow_large && (v.value() & (kPmdSize - 1)) == 0 && (p.value() & (kPmdSize - 1)) == 0 &&
        len - off >= kPmdSize) {
      const bool installed = install_kernel_pmd(sys, v.pmd_index(), PmdEntry::page(p, prot));
      MM_ASSERT(installed);  // the direct map is built once, on empty entries
      ensure_synced(sys, v.pmd_index());
      off += kPmdSize;
      continue;
    }
    PteEntry* ptep;
    if (ensure_kernel_pte_table(sys, v, &ptep) != Status::kOk) return Status::kNoMem;
    {
      SpinGuard g(sys.init_mm.page_table_lock);
      MM_ASSERT(entry_get(ptep).none());
      entry_set(ptep, PteEntry::page(p, prot));
    }
    off += kPageSize;
  }
  return Status::kOk;
}

Status map_kernel_page(System& sys, VirtAddr va, PhysAddr pa, PageProt prot) {
  MM_ASSERT(in_vmalloc(sys, va, 1));
  PteEntry* ptep;
  if (ensure_kernel_pte_table(sys, va, &ptep) != Status::kOk) return Status::kNoMem;
  prot.user = false;
  prot.global = true;
  {
    SpinGuard g(sys.init_mm.page_table_lock);
    MM_ASSERT(entry_get(ptep).none());
    entry_set(ptep, PteEntry::page(pa, prot));
  }
  sys.counters.add(Counter::kKernelMap);
  return Status::kOk;
}

void unmap_kernel_range(System& sys, VirtAddr va, uint32_t npages) {
  MM_ASSERT(in_vmalloc(sys, va, npages));
  {
    SpinGuard g(sys.init_mm.page_table_lock);
    for (uint32_t i = 0; i < npages; ++i) {
      const VirtAddr v = va + i * kPageSize;
      const PmdEntry pmd = entry_get(&sys.kernel_pmd[v.pmd_index()]);
      MM_ASSERT(pmd.present() && !pmd.large());
      entry_xchg(pte_offset_kernel(pmd, v), PteEntry());
      sys.counters.add(Counter::kKernelUnmap);
    }
  }
  // Kernel entries are global: every CPU, whatever mm it runs, may hold them.
  flush_tlb_kernel_range(sys, va, va + npages * kPageSize);
}

Status vmalloc(System& sys, uint32_t npages, VirtAddr* out) {
  if (npages == 0) return Status::kInvalid;
  const uint32_t bit = vmap_reserve(sys, npages);
  if (!bit) return Status::kNoMem;
  const VirtAddr va(kPageOffset + bit * kPageSize);
  for (uint32_t i = 0; i < npages; ++i) {
    Page* p = sys.pages.alloc(PageKind::kKernel);
    if (!p ||
        map_kernel_page(sys, va + i * kPageSize, sys.pages.page_to_phys(p), PageProt{.write = true}) != Status::kOk) {
      if (p) sys.pages.free(p);
      unmap_and_free(sys, va, i);
      vmap_release(sys, bit, npages);
      return Status::kNoMem;
    }
  }
  *out = va;
  return Status::kOk;
}

void vfree(System& sys, VirtAddr va, uint32_t npages) {
  unmap_and_free(sys, va, npages);
  vmap_release(sys, vmap_bit(va), npages);
}

namespace {

// The pages that hold [start, start + len): the first one's address and how many.
void page_span(uint64_t start, uint32_t len, uint64_t* first, uint32_t* npages) {
  *first = start & ~uint64_t{kPageSize - 1};
  const uint64_t end = (start + len + kPageSize - 1) & ~uint64_t{kPageSize - 1};
  *npages = static_cast<uint32_t>((end - *first) / kPageSize);
}

}  // namespace

Status ioremap(System& sys, PhysAddr pa, uint32_t len, VirtAddr* out) {
  if (len == 0) return Status::kInvalid;
  uint64_t first;
  uint32_t npages;
  page_span(pa.value(), len, &first, &npages);
  const uint32_t bit = vmap_reserve(sys, npages);
  if (!bit) return Status::kNoMem;
  const VirtAddr va(kPageOffset + bit * kPageSize);
  for (uint32_t i = 0; i < npages; ++i) {
    if (map_kernel_page(sys, va + i * kPageSize, PhysAddr(first + uint64_t{i} * kPageSize),
                        PageProt{.write = true, .uncached = true}) != Status::kOk) {
      if (i) unmap_kernel_range(sys, va, i);
      vmap_release(sys, bit, npages);
      return Status::kNoMem;
    }
  }
  *out = va + static_cast<uint32_t>(pa.value() - first);
  return Status::kOk;
}

void iounmap(System& sys, VirtAddr va, uint32_t len) {
  uint64_t first;
  uint32_t npages;
  page_span(va.value(), len, &first, &npages);
  unmap_kernel_range(sys, VirtAddr(static_cast<uint32_t>(first)), npages);
  vmap_release(sys, vmap_bit(VirtAddr(static_cast<uint32_t>(first))), npages);
}

uint32_t kernel_pmd_missing(System& sys, MmStruct* mm) {
  // Lockless mode: between mm_publish's link (A) and its copy (C) the mm is
  // on the task list but no CPU may load it yet; it owes nothing until then.
  if (!mm->kernel_ready.load(std::memory_order_acquire)) return 0;
  const PgdEntry k = entry_get(&mm->pgd[kKernelPgdIndex]);
  if (sys.toggles.kernel_pmd_shared())
    return k.same_target(PgdEntry::table(sys.pages.page_to_phys(sys.kernel_pmd_page))) ? 0 : kPtrsPerPmd;
  if (!k.present()) return kPtrsPerPmd;
  uint32_t missing = 0;
  for (uint32_t i = 0; i < kPtrsPerPmd; ++i) {
    // An entry whose sync is still running (another CPU's vmalloc) is not
    // promised yet: ensure_synced sets the bit once every PGD has it.
    std::atomic_ref<uint32_t> synced(sys.kernel_pmd_synced[i / 32]);
    if (!(synced.load(std::memory_order_acquire) & (1u << (i % 32)))) continue;
    const PmdEntry ref = entry_get(&sys.kernel_pmd[i]);
    if (!ref.none() && !entry_get(copy_slot(mm, i)).same_target(ref)) ++missing;
  }
  return missing;
}

}  // namespace mm
