// An address space (mm_struct) and its VMAs.
#pragma once

#include <atomic>
#include <cstdint>

#include "mm/annotations.h"
#include "mm/entry.h"
#include "mm/list.h"
#include "mm/spinlock.h"
#include "mm/types.h"

namespace mm {

struct System;
class FileCache;

enum VmFlags : uint32_t {
  kVmRead = 1u << 0,
  kVmWrite = 1u << 1,
  kVmExec = 1u << 2,
  kVmShared = 1u << 3,  // MAP_SHARED: fork shares, no COW (a shared file mapping is never writable)
  kVmProtMask = kVmRead | kVmWrite | kVmExec,
};

// One mapping [start, end), page aligned: anonymous, or of a file's pages
// from `pgoff` on (the page at `start` is the file's page `pgoff`).
struct Vma {
  VirtAddr start;
  VirtAddr end;
  uint32_t flags = 0;
  FileCache* file = nullptr;
  uint32_t pgoff = 0;
  Link<Vma> link;

  bool contains(VirtAddr a) const { return start <= a && a < end; }
  uint32_t pages() const { return (end.value() - start.value()) / kPageSize; }
  // The file page that `a` maps (file VMAs).
  uint32_t file_index(VirtAddr a) const { return pgoff + (a.value() - start.value()) / kPageSize; }
  // True when `next`, which must follow this VMA, could be merged into it:
  // they touch, have the same flags, and map the same file contiguously.
  bool mergeable_with(const Vma& next) const {
    return end == next.start && flags == next.flags && file == next.file && (!file || pgoff + pages() == next.pgoff);
  }
  // The leaf permissions for a page of this VMA. Private writable pages
  // start writable only when the fault that creates them says so.
  PageProt prot(bool write) const {
    return PageProt{.write = write && (flags & kVmWrite), .user = true, .exec = (flags & kVmExec) != 0};
  }
};

using VmaList = IntrusiveList<Vma, &Vma::link>;

struct MmStruct {
  explicit MmStruct(System* s) : sys(s) {}
  MmStruct(const MmStruct&) = delete;
  MmStruct& operator=(const MmStruct&) = delete;

  System* const sys;

  // The PGD: four PDPTEs, 32-byte aligned below 4 GiB (CR3 holds 32 bits).
  // Written by pgd_alloc and then only under page_table_lock.
  PgdEntry* pgd = nullptr;
  PhysAddr pgd_phys;

  // mmap_lock guards the VMA list. Page faults hold it shared; mmap, munmap,
  // mprotect, fork (on the parent) and teardown hold it exclusive, which is
  // what lets free_pgtables run without page-table locks.
  RwLock mmap_lock;
  VmaList vmas MM_GUARDED(mmap_lock);
  VirtAddr mmap_base MM_GUARDED(mmap_lock) = VirtAddr(0x40000000u);

  // page_table_lock guards populating user PGD entries (installing PMDs), and
  // with mm.ptlock=mm every PMD and PTE entry of this mm as well.
  SpinLock page_table_lock;

  // CPUs with this mm in CR3. Set before the CR3 load, cleared after the
  // CPU has loaded another one (switch_mm).
  CpuMask cpumask;

  std::atomic<int32_t> users{1};  // mm_users: mmput frees at zero

  // pgd_list membership (mm.pgd_init=locked), guarded by sys->pgd_lock. The
  // links are followed only by walks of sys->pgd_list, which is
  // MM_GUARDED(pgd_lock) (system.h): a walk without the lock does not
  // compile. on_pgd_list changes under the lock, in pgd_alloc and pgd_free,
  // and only pgd_free (the mm's own end) reads it without.
  Link<MmStruct> pgd_link;
  bool on_pgd_list = false;

  // Task-list membership, guarded by sys->tasklist_lock (the same way:
  // sys->tasks is MM_GUARDED). A published mm is visible to kernel-mapping
  // syncs in mm.pgd_init=lockless mode.
  Link<MmStruct> task_link;
  bool published = false;
  // The kernel part of the PGD has been filled (pgd_ctor or init_late).
  std::atomic<bool> kernel_ready{false};

  // Frames this mm holds, for the per-process memory report.
  std::atomic<uint32_t> nr_pmds{0};
  std::atomic<uint32_t> nr_ptes{0};
  std::atomic<uint32_t> rss{0};
};

using PgdList = IntrusiveList<MmStruct, &MmStruct::pgd_link>;
using TaskList = IntrusiveList<MmStruct, &MmStruct::task_link>;

}  // namespace mm
