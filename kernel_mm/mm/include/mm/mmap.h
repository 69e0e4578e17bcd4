// Address-space operations: creation, fork, teardown, mmap, munmap, mprotect.
#pragma once

#include <cstdint>

#include "mm/annotations.h"
#include "mm/mm_struct.h"
#include "mm/system.h"
#include "mm/types.h"

namespace mm {

// A new, empty address space with its PGD (pgd_alloc), not yet published;
// nullptr when out of memory.
[[nodiscard]] MmStruct* mm_alloc(System& sys);
// Puts mm on the task list; with mm.pgd_init=lockless then fills the
// kernel part (pgd_init_late). Must precede the first switch_mm to mm.
void mm_publish(MmStruct* mm);
// Fork: a copy of parent's VMAs and page tables (COW), unpublished, or
// nullptr when out of memory (nothing leaked).
[[nodiscard]] MmStruct* dup_mm(MmStruct* parent);
// Another user of mm: a thread sharing it (CLONE_VM).
inline void mmget(MmStruct* mm) { mm->users.fetch_add(1, std::memory_order_relaxed); }
// Drops a user; the last one unpublishes and tears the mm down (exit_mmap,
// pgd_free). No CPU may have mm loaded.
void mmput(MmStruct* mm);
// Unmaps everything and frees the page tables (the mm is going away).
void exit_mmap(MmStruct* mm);

struct MmapRequest {
  VirtAddr addr;              // hint, or the address with fixed
  uint32_t len = 0;           // bytes, rounded up to pages
  uint32_t prot = 0;          // kVmRead | kVmWrite | kVmExec
  bool fixed = false;         // MAP_FIXED: replace what is there
  bool shared = false;        // MAP_SHARED
  FileCache* file = nullptr;  // a file mapping (nullptr: anonymous)
  uint32_t pgoff = 0;         // the file page mapped at the start
};
// Maps anonymous memory or a file's pages; *out receives the start.
// Adjacent VMAs with the same flags (and file, contiguously) are merged. A
// shared file mapping is read-only (kAccess if asked for write): the page
// cache serves read-only files.
Status do_mmap(MmStruct* mm, const MmapRequest& req, VirtAddr* out);
// Unmaps [start, start+len): splits VMAs at the edges, zaps, frees page
// tables in the gap (free_pgtables with floor/ceiling).
Status do_munmap(MmStruct* mm, VirtAddr start, uint32_t len);
// Changes the protection of [start, start+len), which VMAs must cover.
Status do_mprotect(MmStruct* mm, VirtAddr start, uint32_t len, uint32_t prot);

// The VMA containing `a` or the first above it, or nullptr.
Vma* find_vma(MmStruct* mm, VirtAddr a) MM_REQ_SHARED(mm->mmap_lock);

// Counts of what an mm holds, for tests and the per-process memory report.
struct MmUsage {
  uint32_t vmas = 0;
  uint32_t rss = 0;
  uint32_t pmd_tables = 0;
  uint32_t pte_tables = 0;
  uint32_t pgd_bytes = 0;
};
MmUsage mm_usage(MmStruct* mm);

}  // namespace mm
