// The kernel's memory-management state: Linux's globals (init_mm,
// swapper_pg_dir, pgd_list, pgd_lock, the task list, the slab caches) in
// one object, so a test can build a fresh one per toggle combination and
// the kernel keeps exactly one.
#pragma once

#include <cstdint>

#include "mm/annotations.h"
#include "mm/counters.h"
#include "mm/entry.h"
#include "mm/filemap.h"
#include "mm/kmem_cache.h"
#include "mm/mm_struct.h"
#include "mm/page_alloc.h"
#include "mm/spinlock.h"
#include "mm/toggles.h"

namespace mm {

// Kernel virtual layout above PAGE_OFFSET. The vmalloc area is where kernel
// page tables are created at run time (what an unshared kernel PMD must sync).
struct Layout {
  uint32_t vmalloc_start = 0xF0000000u;
  uint32_t vmalloc_end = 0xFF800000u;
};

struct SystemConfig {
  Toggles toggles;
  Layout layout;
};

// The kernel PTE tables of the vmalloc area are never freed (as in Linux),
// so a kernel PMD entry goes from none to present once and never back: the
// property both kernel-mapping sync schemes rely on.
inline constexpr uint32_t kVmapMaxPages = (0xFF800000u - kPageOffset) / kPageSize;

struct System {
  System() = default;
  System(const System&) = delete;
  System& operator=(const System&) = delete;

  // Phase 1: take the frame range (all reserved until add_free_range).
  void init(const SystemConfig& config, Page* meta, uint32_t first_pfn, uint32_t nr_frames);
  // Phase 2, after pages.add_free_range: build the reference kernel page
  // tables (swapper_pg_dir and the kernel PMD). The only failure is kNoMem.
  Status init_kernel_tables();
  // Frees what init_kernel_tables and the vmalloc area created, so a hosted
  // test can check that every frame came back.
  void destroy_kernel_tables();

  Toggles toggles;
  Layout layout;
  Counters counters;
  PageAllocator pages;

  TypedCache<MmStruct> mm_cache;
  TypedCache<Vma> vma_cache;
  TypedCache<SpinLock> ptl_cache;     // split ptls with mm.ptlock_alloc=dynamic
  TypedCache<FileCache> shmem_cache;  // anonymous shared memory objects
  KmemCache pgd_cache;                // 32-byte PGDs with mm.kernel_pmd=shared

  // init_mm: the kernel's own address space. Its PGD is swapper_pg_dir, whose
  // entry 3 points at the reference kernel PMD. Kernel PTE tables are
  // installed under init_mm.page_table_lock.
  MmStruct init_mm{this};
  PmdEntry* kernel_pmd = nullptr;
  Page* kernel_pmd_page = nullptr;
  // Bit i: kernel PMD entry i has been propagated to every PGD (set after
  // the sync, read with acquire; see ensure_synced in vmalloc.cc).
  uint32_t kernel_pmd_synced[kPtrsPerPmd / 32] = {};

  // pgd_lock guards pgd_list (mm.pgd_init=locked): every PGD sits on it from
  // its constructor to its destructor, and kernel-mapping syncs walk it.
  SpinLock pgd_lock;
  PgdList pgd_list MM_GUARDED(pgd_lock);

  // tasklist_lock guards the task list: the published mms. Fork and exec take
  // it exclusive to publish, exit to unpublish; lockless syncs walk it shared.
  RwLock tasklist_lock;
  TaskList tasks MM_GUARDED(tasklist_lock);

  // vmap_lock guards the vmalloc-area allocation bitmap.
  SpinLock vmap_lock;
  uint32_t vmap_bitmap[kVmapMaxPages / 32] MM_GUARDED(vmap_lock) = {};
  uint32_t vmap_cursor MM_GUARDED(vmap_lock) = 0;
};

}  // namespace mm
