// pgd_alloc / pgd_free, on-demand PMD and PTE tables, split page-table locks.
#include "mm/pgtable.h"

#include "mm/tlb.h"

namespace mm {
namespace {

PhysAddr phys(System& sys, const Page* p) { return sys.pages.page_to_phys(p); }

// The first entry of the kernel PMD that mm's PGD entry 3 points at: the
// shared reference, or mm's private copy.
PmdEntry* kernel_pmd_of(MmStruct* mm) {
  return static_cast<PmdEntry*>(arch::phys_to_virt(entry_get(&mm->pgd[kKernelPgdIndex]).addr()));
}

// Fills the kernel part of mm's PGD. Shared kernel PMD: point entry 3 at
// it. Unshared: copy every present entry of the reference kernel PMD into
// mm's private copy. Only present entries are written, never "none": a
// concurrent lockless sync may already have put a newer entry there, and
// kernel PMD entries only ever go from none to present (system.h), so two
// writers of one slot write the same value.
void copy_kernel_part(MmStruct* mm) {
  System& sys = *mm->sys;
  if (sys.toggles.kernel_pmd_shared()) {
    entry_set(&mm->pgd[kKernelPgdIndex], PgdEntry::table(phys(sys, sys.kernel_pmd_page)));
    return;
  }
  PmdEntry* copy = kernel_pmd_of(mm);
  for (uint32_t i = 0; i < kPtrsPerPmd; ++i) {
    const PmdEntry e = entry_get(&sys.kernel_pmd[i]);
    if (!e.none()) entry_set(&copy[i], e);
  }
}

}  // namespace

PmdEntry* pmd_lookup(MmStruct* mm, VirtAddr a) {
  const PgdEntry e = entry_get(pgd_offset(mm, a));
  return e.present() ? pmd_offset(e, a) : nullptr;
}

// ---- Split page-table locks --------------------------------------------------

bool ptlock_init(System& sys, Page* table) {
  MM_ASSERT(!table->ptl_live);
  SpinLock* lock = nullptr;
  if (sys.toggles.ptlock_split()) {
    if (sys.toggles.ptlock_dynamic()) {
      lock = sys.ptl_cache.create();
      if (!lock) return false;
      sys.counters.add(Counter::kPtlDynAlloc);
    } else {
      lock = &table->ptl_inline;
    }
    lock->init(&sys.counters, LockClass::kSplitPtl);
  }
  // With mm.ptlock=mm there is no lock to set up, but the ctor/dtor pairing
  // is still tracked so a missed dtor shows in every mode.
  table->ptl = lock;
  table->ptl_live = true;
  sys.counters.add(Counter::kPtlCtor);
  return true;
}

void ptlock_free(System& sys, Page* table) {
  MM_ASSERT(table->ptl_live);
  if (table->ptl && table->ptl != &table->ptl_inline) {
    MM_ASSERT(!table->ptl->is_locked());
    sys.ptl_cache.destroy(table->ptl);
    sys.counters.add(Counter::kPtlDynFree);
  }
  table->ptl = nullptr;
  table->ptl_live = false;
  sys.counters.add(Counter::kPtlDtor);
}

Page* alloc_table_page(System& sys, PageKind kind) {
  Page* p = sys.pages.alloc(kind);
  if (!p) return nullptr;
  if (!ptlock_init(sys, p)) {
    sys.pages.free(p);
    return nullptr;
  }
  return p;
}

void free_table_page(System& sys, Page* table) {
  ptlock_free(sys, table);
  sys.pages.free(table);
}

SpinLock* pte_lockptr(MmStruct* mm, PmdEntry pmd) {
  if (!mm->sys->toggles.ptlock_split()) return &mm->page_table_lock;
  Page* table = mm->sys->pages.pfn_to_page(pmd.pfn());
  MM_ASSERT(table->ptl_live && table->ptl);
  return table->ptl;
}

SpinLock* pmd_lockptr(MmStruct* mm, PmdEntry* pmdp) {
  if (!mm->sys->toggles.ptlock_split()) return &mm->page_table_lock;
  Page* table = mm->sys->pages.virt_to_page(pmdp);
  MM_ASSERT(table->ptl_live && table->ptl);
  return table->ptl;
}

PteEntry* pte_offset_map_lock(MmStruct* mm, PmdEntry* pmdp, VirtAddr a, SpinLock** ptlp) {
  const PmdEntry pmd = entry_get(pmdp);
  MM_ASSERT(pmd.present() && !pmd.large());
  SpinLock* ptl = pte_lockptr(mm, pmd);
  ptl->lock();
  *ptlp = ptl;
  return pte_offset_kernel(pmd, a);
}

void pte_unmap_unlock(PteEntry* /*pte*/, SpinLock* ptl) { ptl->unlock(); }

SpinLock* pmd_lock(MmStruct* mm, PmdEntry* pmdp) {
  SpinLock* l = pmd_lockptr(mm, pmdp);
  l->lock();
  return l;
}

// ---- PGD lifecycle -------------------------------------------------------------

Status pgd_alloc(MmStruct* mm) {
  System& sys = *mm->sys;
  const Toggles& t = sys.toggles;
  const bool shared = t.kernel_pmd_shared();

  // The PGD itself: 32 bytes suffice for four PDPTEs, but the Xen-style
  // unshared layout wants a whole page (as Linux does when
  // !SHARED_KERNEL_PMD).
  Page* pgd_page = nullptr;
  PgdEntry* pgd = nullptr;
  if (shared) {
    pgd = static_cast<PgdEntry*>(sys.pgd_cache.alloc());
  } else if ((pgd_page = sys.pages.alloc(PageKind::kPgd))) {
    pgd = static_cast<PgdEntry*>(sys.pages.page_address(pgd_page));
  }
  if (!pgd) {
    sys.counters.add(Counter::kPgdAllocFail);
    return Status::kNoMem;
  }

  // preallocate_pmds: the user PMDs (prealloc on) and the kernel PMD copy
  // (unshared), all before anything is installed, so failure has only
  // these to mop up.
  Page* pmds[kUserPgdEntries + 1] = {};
  const uint32_t nr_user = t.pmd_prealloc() ? kUserPgdEntries : 0;
  const uint32_t nr_total = nr_user + (shared ? 0 : 1);
  for (uint32_t i = 0; i < nr_total; ++i) {
    pmds[i] = alloc_table_page(sys, PageKind::kPmdTable);
    if (pmds[i]) continue;
    for (uint32_t j = 0; j < i; ++j) free_table_page(sys, pmds[j]);
    if (shared)
      sys.pgd_cache.free(pgd);
    else
      sys.pages.free(pgd_page);
    sys.counters.add(Counter::kPgdAllocFail);
    return Status::kNoMem;
  }

  mm->pgd = pgd;
  mm->pgd_phys = arch::virt_to_phys(pgd);
  // Nobody can load this PGD yet, so installing PMDs costs no CR3 reload.
  for (uint32_t i = 0; i < nr_user; ++i) {
    entry_set(&pgd[i], PgdEntry::table(phys(sys, pmds[i])));
    sys.counters.add(Counter::kPmdPrealloc);
  }
  if (!shared) entry_set(&pgd[kKernelPgdIndex], PgdEntry::table(phys(sys, pmds[nr_user])));
  mm->nr_pmds.store(nr_total, std::memory_order_relaxed);

  if (!t.pgd_lockless()) {
    // pgd_ctor under pgd_lock: a sync that runs after we drop the lock finds
    // us on pgd_list; one that ran before has already updated the reference
    // we copy from.
    SpinGuard g(sys.pgd_lock);
    copy_kernel_part(mm);
    sys.pgd_list.push_back(mm);
    mm->on_pgd_list = true;
    mm->kernel_ready.store(true, std::memory_order_release);
  }
  sys.counters.add(Counter::kPgdAlloc);
  return Status::kOk;
}

// The ordering argument for mm.pgd_init=lockless (the syncing side is
// sync_kernel_pmd_entry in vmalloc.cc):
//
//   publisher (mm_publish)               syncer (new kernel PMD entry i)
//   A: link mm on the task list          1: write ref[i] (reference kernel PMD)
//      (tasklist_lock exclusive)
//   B: smp_mb()                          2: smp_mb()
//   C: read ref[*], copy present ones    3: walk the task list (tasklist_lock
//      into mm's kernel part                shared), copy ref[i] into each mm
//
// Claim: after both finish, mm has ref[i]. If C read ref[i] as none, then C
// came before 1 in ref[i]'s coherence order; with the full barriers B and 2
// this is the store-buffering pattern, so 3 cannot also miss A: the walk
// sees mm and copies ref[i]. (Here the walk also takes tasklist_lock, which
// orders 3 after A or A after 3 on its own; the barriers are what would keep
// the argument if the walk became an RCU traversal, as in Linux.) Neither
// side ever writes "none", so whichever copies last leaves ref[i].
// Nothing here touches pgd_lock: fork and exit no longer serialize on it.
void pgd_init_late(MmStruct* mm) {
  MM_ASSERT(mm->published && mm->sys->toggles.pgd_lockless());
  copy_kernel_part(mm);
  mm->kernel_ready.store(true, std::memory_order_release);
  mm->sys->counters.add(Counter::kPgdInitLate);
}

void pgd_free(MmStruct* mm) {
  System& sys = *mm->sys;
  MM_ASSERT(mm->cpumask.load() == 0);  // a PGD in some CR3 must not be freed
  if (mm->on_pgd_list) {
    SpinGuard g(sys.pgd_lock);
    sys.pgd_list.remove(mm);
    mm->on_pgd_list = false;
  }
  // pgd_mop_up_pmds: the user PMDs free_pgtables did not free (those it
  // never visited: preallocated ones under no VMA, or ones a floor/ceiling
  // kept). exit_mmap has freed every PTE table below them.
  for (uint32_t i = 0; i < kUserPgdEntries; ++i) {
    const PgdEntry e = entry_xchg(&mm->pgd[i], PgdEntry());
    if (!e.present()) continue;
    free_table_page(sys, sys.pages.pfn_to_page(e.pfn()));
    mm->nr_pmds.fetch_sub(1, std::memory_order_relaxed);
    sys.counters.add(Counter::kPmdMopUp);
  }
  if (sys.toggles.kernel_pmd_shared()) {
    sys.pgd_cache.free(mm->pgd);
  } else {
    const PgdEntry k = entry_get(&mm->pgd[kKernelPgdIndex]);
    free_table_page(sys, sys.pages.pfn_to_page(k.pfn()));
    mm->nr_pmds.fetch_sub(1, std::memory_order_relaxed);
    sys.pages.free(sys.pages.virt_to_page(mm->pgd));
  }
  mm->pgd = nullptr;
  sys.counters.add(Counter::kPgdFree);
}

void pdpte_reload(MmStruct* mm) {
  // The barrier orders the PGD-entry write before the cpumask read; it pairs
  // with the one in switch_mm between setting the bit and loading CR3: a CPU
  // we do not see in the mask loads CR3 after our write and reads it.
  arch::smp_mb();
  if (mm->cpumask.load() == 0) return;
  flush_tlb_mm_range(mm, FlushRequest{.kind = FlushRequest::Kind::kPdpteReload, .counters = &mm->sys->counters});
}

Status pmd_alloc(MmStruct* mm, VirtAddr a, PmdEntry** out) {
  mm->mmap_lock.debug_assert_held_shared();
  System& sys = *mm->sys;
  MM_ASSERT(a.is_user());
  PgdEntry* pgdp = pgd_offset(mm, a);
  PgdEntry e = entry_get(pgdp);
  if (e.none()) {
    Page* table = alloc_table_page(sys, PageKind::kPmdTable);
    if (!table) return Status::kNoMem;
    bool installed = false;
    {
      SpinGuard g(mm->page_table_lock);
      e = entry_get(pgdp);
      if (e.none()) {
        e = PgdEntry::table(phys(sys, table));
        entry_set(pgdp, e);
        installed = true;
        mm->nr_pmds.fetch_add(1, std::memory_order_relaxed);
        sys.counters.add(Counter::kPmdInstall);
        // PAE caches the PDPTEs at CR3 load: a CPU running this mm keeps
        // seeing "not present" for this GiB until CR3 is reloaded.
        if (mm->cpumask.load() != 0) {
          sys.counters.add(Counter::kPmdInstallLive);
          pdpte_reload(mm);
        }
      }
    }
    if (!installed) free_table_page(sys, table);
  }
  *out = pmd_offset(e, a);
  return Status::kOk;
}

Status pte_alloc(MmStruct* mm, PmdEntry* pmdp) {
  mm->mmap_lock.debug_assert_held_shared();
  if (!entry_get(pmdp).none()) return Status::kOk;
  System& sys = *mm->sys;
  Page* table = alloc_table_page(sys, PageKind::kPteTable);
  if (!table) return Status::kNoMem;
  bool installed = false;
  {
    SpinGuard g(*pmd_lockptr(mm, pmdp));
    if (entry_get(pmdp).none()) {
      // A not-present PDE is never cached, so no flush is needed.
      entry_set(pmdp, PmdEntry::table(phys(sys, table)));
      installed = true;
      mm->nr_ptes.fetch_add(1, std::memory_order_relaxed);
      sys.counters.add(Counter::kPteTableAlloc);
    }
  }
  if (!installed) free_table_page(sys, table);
  return Status::kOk;
}

}  // namespace mm
