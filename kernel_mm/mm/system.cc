#include "mm/system.h"

#include "mm/pgtable.h"

namespace mm {

void System::init(const SystemConfig& config, Page* meta, uint32_t first_pfn, uint32_t nr_frames) {
  toggles = config.toggles;
  layout = config.layout;
  MM_ASSERT(layout.vmalloc_start > kPageOffset && layout.vmalloc_start < layout.vmalloc_end &&
            layout.vmalloc_end <= 0xFF800000u && (layout.vmalloc_start & (kPmdSize - 1)) == 0);
  pages.init(&counters, meta, first_pfn, nr_frames);
  mm_cache.init("mm_struct", PageKind::kKernel, &pages, &counters);
  vma_cache.init("vm_area_struct", PageKind::kKernel, &pages, &counters);
  ptl_cache.init("ptlock", PageKind::kKernel, &pages, &counters);
  shmem_cache.init("shmem", PageKind::kKernel, &pages, &counters);
  // CR3 under PAE takes a 32-byte aligned PDPT.
  pgd_cache.init("pgd", kPtrsPerPgd * sizeof(PgdEntry), 32, PageKind::kPgd, &pages, &counters);
  pgd_lock.init(&counters, LockClass::kPgdLock);
  tasklist_lock.init(&counters, LockClass::kTasklist);
  vmap_lock.init(&counters, LockClass::kVmap);
  init_mm.page_table_lock.init(&counters, LockClass::kKernelPt);
  init_mm.mmap_lock.init(&counters, LockClass::kMmapLock);
}

Status System::init_kernel_tables() {
  Page* swapper = pages.alloc(PageKind::kKernel);
  kernel_pmd_page = pages.alloc(PageKind::kKernel);
  if (!swapper || !kernel_pmd_page) {
    if (swapper) pages.free(swapper);
    if (kernel_pmd_page) pages.free(kernel_pmd_page);
    kernel_pmd_page = nullptr;
    return Status::kNoMem;
  }
  init_mm.pgd = static_cast<PgdEntry*>(pages.page_address(swapper));
  init_mm.pgd_phys = pages.page_to_phys(swapper);
  kernel_pmd = static_cast<PmdEntry*>(pages.page_address(kernel_pmd_page));
  entry_set(&init_mm.pgd[kKernelPgdIndex], PgdEntry::table(pages.page_to_phys(kernel_pmd_page)));
  init_mm.kernel_ready.store(true, std::memory_order_release);
  return Status::kOk;
}

void System::destroy_kernel_tables() {
  for (uint32_t i = 0; i < kPtrsPerPmd; ++i) {
    const PmdEntry e = entry_xchg(&kernel_pmd[i], PmdEntry());
    if (e.present() && !e.large()) pages.free(pages.pfn_to_page(e.pfn()));
  }
  pages.free(kernel_pmd_page);
  pages.free(pages.virt_to_page(init_mm.pgd));
  kernel_pmd = nullptr;
  kernel_pmd_page = nullptr;
  init_mm.pgd = nullptr;
}

}  // namespace mm
