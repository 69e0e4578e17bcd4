// Address spaces: creation, publication, fork, teardown, mmap, munmap, mprotect.
#include "mm/mmap.h"

#include "mm/filemap.h"
#include "mm/memory.h"
#include "mm/pgtable.h"
#include "mm/tlb.h"

namespace mm {
namespace {

// [start, end) with end computed in 64 bits; false when it is not a
// page-aligned, non-empty range inside user space.
bool user_range(VirtAddr start, uint32_t len, uint32_t* end) {
  if (!start.page_aligned() || len == 0) return false;
  const uint64_t e = uint64_t{start.value()} + ((uint64_t{len} + kPageSize - 1) & ~uint64_t{kPageSize - 1});
  if (e > kTaskSize) return false;
  *end = static_cast<uint32_t>(e);
  return true;
}

// Sets what v maps; a VMA holds a reference on its file (which matters for
// anonymous shared memory, freed with its last VMA).
void set_vma_file(Vma* v, FileCache* file, uint32_t pgoff) {
  v->file = file;
  v->pgoff = pgoff;
  if (file) file->get();
}

// Every VMA is freed here, dropping its reference on the file it maps.
void free_vma(System& sys, Vma* v) {
  if (v->file) v->file->put();
  sys.vma_cache.destroy(v);
}

void insert_vma(MmStruct* mm, Vma* v) MM_REQ(mm->mmap_lock) {
  Vma* pos = mm->vmas.front();
  while (pos && pos->start < v->end) pos = VmaList::next(pos);
  MM_ASSERT(!pos || pos->start >= v->end);
  Vma* prev = pos ? VmaList::prev(pos) : mm->vmas.back();
  MM_ASSERT(!prev || prev->end <= v->start);
  mm->vmas.insert_before(pos, v);
}

// Splits v at `at` (strictly inside): v keeps [start, at), a new VMA takes
// [at, end). Fails only for memory, before changing anything.
Status split_vma(MmStruct* mm, Vma* v, VirtAddr at) MM_REQ(mm->mmap_lock) {
  MM_ASSERT(v->start < at && at < v->end);
  Vma* tail = mm->sys->vma_cache.create();
  if (!tail) return Status::kNoMem;
  tail->start = at;
  tail->end = v->end;
  tail->flags = v->flags;
  set_vma_file(tail, v->file, v->file ? v->file_index(at) : 0);
  v->end = at;
  mm->vmas.insert_before(VmaList::next(v), tail);
  return Status::kOk;
}

// Merges v with its neighbours when Vma::mergeable_with allows.
void merge_vma(MmStruct* mm, Vma* v) MM_REQ(mm->mmap_lock) {
  if (Vma* next = VmaList::next(v); next && v->mergeable_with(*next)) {
    v->end = next->end;
    mm->vmas.remove(next);
    free_vma(*mm->sys, next);
  }
  if (Vma* prev = VmaList::prev(v); prev && prev->mergeable_with(*v)) {
    prev->end = v->end;
    mm->vmas.remove(v);
    free_vma(*mm->sys, v);
  }
}

// Makes VMA boundaries fall on `start` and `end`. Returns the first VMA
// inside [start, end), or nullptr when none overlaps.
Status split_at(MmStruct* mm, uint32_t start, uint32_t end, Vma** first) MM_REQ(mm->mmap_lock) {
  Vma* v = find_vma(mm, VirtAddr(start));
  *first = nullptr;
  if (!v || v->start.value() >= end) return Status::kOk;
  if (v->start.value() < start) {
    if (split_vma(mm, v, VirtAddr(start)) != Status::kOk) return Status::kNoMem;
    v = VmaList::next(v);
  }
  Vma* last = v;
  while (VmaList::next(last) && VmaList::next(last)->start.value() < end) last = VmaList::next(last);
  if (last->end.value() > end && split_vma(mm, last, VirtAddr(end)) != Status::kOk) return Status::kNoMem;
  *first = v;
  return Status::kOk;
}

Status munmap_locked(MmStruct* mm, uint32_t start, uint32_t end) MM_REQ(mm->mmap_lock) {
  Vma* first;
  if (split_at(mm, start, end, &first) != Status::kOk) return Status::kNoMem;
  if (!first) return Status::kOk;
  Vma* prev = VmaList::prev(first);
  VmaList detached;
  for (Vma* v = first; v && v->start.value() < end;) {
    Vma* next = VmaList::next(v);
    mm->vmas.remove(v);
    detached.push_back(v);
    v = next;
  }
  Vma* next = prev ? VmaList::next(prev) : mm->vmas.front();
  {
    MmuGather tlb(mm, false);
    for (const Vma* v = detached.front(); v; v = VmaList::next(v)) unmap_vma(tlb, *v);
    // floor: where the VMA below ends (0: none); ceiling: where the VMA
    // above starts (0: none, meaning the top of the address space).
    free_pgtables(tlb, detached, prev ? prev->end : VirtAddr(0), next ? next->start : VirtAddr(0));
    tlb.finish();
  }
  while (Vma* v = detached.pop_front()) free_vma(*mm->sys, v);
  return Status::kOk;
}

// First fit at or above `from`, below kTaskSize. 0 when nothing fits.
uint32_t find_gap(MmStruct* mm, uint32_t from, uint32_t len) MM_REQ(mm->mmap_lock) {
  uint64_t cursor = from;
  for (const Vma* v = mm->vmas.front(); v; v = VmaList::next(v)) {
    if (v->end.value() <= cursor) continue;
    if (v->start.value() >= cursor + len) break;
    cursor = v->end.value();
  }
  return cursor + len <= kTaskSize ? static_cast<uint32_t>(cursor) : 0;
}

void mm_destroy(MmStruct* mm) {
  exit_mmap(mm);
  pgd_free(mm);
  mm->sys->mm_cache.destroy(mm);
}

}  // namespace

Vma* find_vma(MmStruct* mm, VirtAddr a) {
  for (Vma* v = mm->vmas.front(); v; v = VmaList::next(v))
    if (a < v->end) return v;
  return nullptr;
}

MmStruct* mm_alloc(System& sys) {
  MmStruct* mm = sys.mm_cache.create(&sys);
  if (!mm) return nullptr;
  mm->mmap_lock.init(&sys.counters, LockClass::kMmapLock);
  mm->page_table_lock.init(&sys.counters, LockClass::kPageTableLock);
  if (pgd_alloc(mm) != Status::kOk) {
    sys.mm_cache.destroy(mm);
    return nullptr;
  }
  return mm;
}

void mm_publish(MmStruct* mm) {
  System& sys = *mm->sys;
  {
    WriteGuard g(sys.tasklist_lock);
    sys.tasks.push_back(mm);
    mm->published = true;
  }
  if (sys.toggles.pgd_lockless()) {
    arch::smp_mb();  // B in the argument above pgd_init_late
    pgd_init_late(mm);
  }
}

MmStruct* dup_mm(MmStruct* parent) {
  System& sys = *parent->sys;
  MmStruct* child = mm_alloc(sys);
  if (!child) return nullptr;
  Status st = Status::kOk;
  {
    WriteGuard pg(parent->mmap_lock);
    WriteGuard cg(child->mmap_lock);
    child->mmap_base = parent->mmap_base;
    const uint64_t wrprotected_before = sys.counters.get(Counter::kForkPtesWrprotected);
    for (const Vma* v = parent->vmas.front(); v && st == Status::kOk; v = VmaList::next(v)) {
      Vma* copy = sys.vma_cache.create();
      if (!copy) {
        st = Status::kNoMem;
        break;
      }
      copy->start = v->start;
      copy->end = v->end;
      copy->flags = v->flags;
      set_vma_file(copy, v->file, v->pgoff);
      child->vmas.push_back(copy);
      st = copy_page_range(child, parent, *v);
    }
    // Parent PTEs lost their write bit: no CPU running the parent may keep
    // a writable translation to a page the child now shares.
    if (sys.counters.get(Counter::kForkPtesWrprotected) != wrprotected_before)
      flush_tlb_mm_range(parent, FlushRequest{.kind = FlushRequest::Kind::kAll, .counters = &sys.counters});
  }
  if (st != Status::kOk) {
    mm_destroy(child);  // never published, never loaded
    return nullptr;
  }
  return child;
}

void mmput(MmStruct* mm) {
  if (mm->users.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  System& sys = *mm->sys;
  if (mm->published) {
    WriteGuard g(sys.tasklist_lock);
    sys.tasks.remove(mm);
    mm->published = false;
  }
  mm_destroy(mm);
}

void exit_mmap(MmStruct* mm) {
  System& sys = *mm->sys;
  WriteGuard g(mm->mmap_lock);
  {
    MmuGather tlb(mm, true);
    for (const Vma* v = mm->vmas.front(); v; v = VmaList::next(v)) unmap_vma(tlb, *v);
    if (sys.toggles.free_pgtables_full())
      free_pgtables_full(tlb);
    else
      free_pgtables(tlb, mm->vmas, VirtAddr(0), VirtAddr(0));
    tlb.finish();
  }
  while (Vma* v = mm->vmas.pop_front()) free_vma(sys, v);
}

Status do_mmap(MmStruct* mm, const MmapRequest& req, VirtAddr* out) {
  if (req.prot & ~kVmProtMask) return Status::kInvalid;
  if (req.file && !req.file->anonymous() && req.shared && (req.prot & kVmWrite)) return Status::kAccess;
  const uint32_t len = page_align_up(req.len);
  if (len == 0) return Status::kInvalid;
  WriteGuard g(mm->mmap_lock);
  uint32_t start;
  if (req.fixed) {
    uint32_t end;
    if (!user_range(req.addr, len, &end)) return Status::kInvalid;
    if (munmap_locked(mm, req.addr.value(), end) != Status::kOk) return Status::kNoMem;
    start = req.addr.value();
  } else {
    uint32_t end;
    start = 0;
    if (req.addr.value() && user_range(req.addr.page_down(), len, &end) &&
        find_gap(mm, req.addr.page_down().value(), len) == req.addr.page_down().value())
      start = req.addr.page_down().value();
    if (!start) start = find_gap(mm, mm->mmap_base.value(), len);
    if (!start) start = find_gap(mm, kPageSize, len);
    if (!start) return Status::kNoMem;
  }
  // Shared anonymous memory is a shmem object, so that a page first
  // touched after a fork is still one page for every process.
  Vma* v = mm->sys->vma_cache.create();
  if (!v) return Status::kNoMem;
  FileCache* file = req.file;
  if (!file && req.shared && !(file = shmem_create(*mm->sys, len))) {
    mm->sys->vma_cache.destroy(v);
    return Status::kNoMem;
  }
  v->start = VirtAddr(start);
  v->end = VirtAddr(start + len);
  v->flags = req.prot | (req.shared ? uint32_t{kVmShared} : 0u);
  set_vma_file(v, file, req.pgoff);
  insert_vma(mm, v);
  merge_vma(mm, v);
  *out = VirtAddr(start);
  return Status::kOk;
}

Status do_munmap(MmStruct* mm, VirtAddr start, uint32_t len) {
  uint32_t end;
  if (!user_range(start, len, &end)) return Status::kInvalid;
  WriteGuard g(mm->mmap_lock);
  return munmap_locked(mm, start.value(), end);
}

Status do_mprotect(MmStruct* mm, VirtAddr start, uint32_t len, uint32_t prot) {
  uint32_t end;
  if (!user_range(start, len, &end) || (prot & ~kVmProtMask)) return Status::kInvalid;
  System& sys = *mm->sys;
  WriteGuard g(mm->mmap_lock);
  // Every byte must be mapped (Linux: -ENOMEM otherwise), and a shared
  // file mapping cannot become writable (Linux: no VM_MAYWRITE, -EACCES).
  uint32_t cursor = start.value();
  for (const Vma* v = find_vma(mm, start); v && v->start.value() < end; v = VmaList::next(v)) {
    if (v->start.value() > cursor) return Status::kNoMem;
    if (v->file && !v->file->anonymous() && (v->flags & kVmShared) && (prot & kVmWrite)) return Status::kAccess;
    cursor = v->end.value();
  }
  if (cursor < end) return Status::kNoMem;
  Vma* first;
  if (split_at(mm, start.value(), end, &first) != Status::kOk) return Status::kNoMem;
  bool changed = false;
  for (Vma* v = first; v && v->start.value() < end; v = VmaList::next(v)) {
    const uint32_t flags = (v->flags & ~kVmProtMask) | prot;
    if (flags == v->flags) continue;
    v->flags = flags;
    // change_protection: drop write where it is no longer allowed, set NX
    // as asked. Write is never added here: the next write fault decides
    // between COW copy and reuse. PROT_NONE: x86 has no "no access" bit for
    // a present page, so the entry becomes supervisor-only (U/S clear):
    // every ring-3 access faults, and the fault path refuses it (the VMA
    // allows nothing), while the frame and its data stay mapped for a later
    // mprotect that gives access back. (Linux clears Present and keeps a
    // software PROTNONE bit instead; before this, a page touched before
    // mprotect(PROT_NONE) stayed readable: t_tlb found it.)
    for (uint32_t addr = v->start.value(); addr < v->end.value(); addr += kPageSize) {
      PmdEntry* pmdp = pmd_lookup(mm, VirtAddr(addr));
      if (!pmdp || entry_get(pmdp).none()) {
        addr = (addr | (kPmdSize - 1)) - kPageSize + 1;  // skip to the next PMD
        continue;
      }
      SpinLock* ptl;
      PteEntry* ptep = pte_offset_map_lock(mm, pmdp, VirtAddr(addr), &ptl);
      const PteEntry e = entry_get(ptep);
      if (e.present()) {
        entry_set(ptep, e.with_prot(PageProt{.write = e.writable() && (flags & kVmWrite),
                                             .user = (flags & kVmProtMask) != 0,
                                             .exec = (flags & kVmExec) != 0}));
        changed = true;
      }
      pte_unmap_unlock(ptep, ptl);
    }
  }
  if (changed) {
    const bool small = (end - start.value()) / kPageSize <= 32;
    flush_tlb_mm_range(mm, FlushRequest{.kind = small ? FlushRequest::Kind::kRange : FlushRequest::Kind::kAll,
                                        .start = start,
                                        .end = VirtAddr(end),
                                        .counters = &sys.counters});
  }
  // Re-merge what the split and the new flags allow, from the VMA below
  // the range to the one just above it.
  Vma* v = first ? (VmaList::prev(first) ? VmaList::prev(first) : first) : nullptr;
  while (v) {
    Vma* next = VmaList::next(v);
    if (!next || next->start.value() > end) break;
    if (v->mergeable_with(*next)) {
      v->end = next->end;
      mm->vmas.remove(next);
      free_vma(sys, next);
      continue;  // v may absorb the following one too
    }
    v = next;
  }
  return Status::kOk;
}

MmUsage mm_usage(MmStruct* mm) {
  MmUsage u;
  {
    ReadGuard g(mm->mmap_lock);
    u.vmas = mm->vmas.size();
  }
  u.rss = mm->rss.load(std::memory_order_relaxed);
  u.pmd_tables = mm->nr_pmds.load(std::memory_order_relaxed);
  u.pte_tables = mm->nr_ptes.load(std::memory_order_relaxed);
  u.pgd_bytes = mm->sys->toggles.kernel_pmd_shared() ? kPtrsPerPgd * 8 : kPageSize;
  return u;
}

}  // namespace mm
