// TLB maintenance: switch_mm, flushes and shootdowns, and the mmu_gather.
#pragma once

#include <cstdint>

#include "mm/arch.h"
#include "mm/mm_struct.h"
#include "mm/page.h"
#include "mm/system.h"

namespace mm {

// Loads `next` on this CPU (CR3 write) and moves this CPU from prev's
// cpumask to next's. next's kernel part must be ready.
void switch_mm(MmStruct* prev, MmStruct* next);

// Runs `req` on every CPU that has mm loaded: locally, and by IPI elsewhere.
void flush_tlb_mm_range(MmStruct* mm, const FlushRequest& req);
void flush_tlb_page(MmStruct* mm, VirtAddr a);
// Kernel (global) translations: every online CPU.
void flush_tlb_kernel_range(System& sys, VirtAddr start, VirtAddr end);

// Changes the tables first and frees memory after the flush. Unmapping
// hands user pages and dead page tables to the gather; flush() invalidates
// every CPU that may hold a translation or a paging-structure-cache entry
// through them, and only then drops the pages and frees the tables.
class MmuGather {
 public:
  // fullmm: the whole address space is going away (exit_mmap). Made under
  // mm's mmap_lock exclusive (munmap, exit_mmap), which unmap_vma and
  // free_pgtables rely on.
  MmuGather(MmStruct* mm, bool fullmm) MM_REQ(mm->mmap_lock);
  ~MmuGather();
  MmuGather(const MmuGather&) = delete;
  MmuGather& operator=(const MmuGather&) = delete;

  MmStruct* mm() const { return mm_; }
  bool fullmm() const { return fullmm_; }

  // A PTE mapping `page` at `a` was cleared: flush `a`, then drop the ref.
  void remove_page(Page* page, VirtAddr a);
  // pte_free_tlb: the PTE table covering `a` was unhooked from its PMD.
  void pte_free_tlb(Page* table, VirtAddr a);
  // pmd_free_tlb: the PMD table was unhooked from the PGD. Under PAE this
  // needs a CR3 reload on every CPU with mm loaded (need_flush_all).
  void pmd_free_tlb(Page* table, VirtAddr a);

  // tlb_flush_mmu: invalidate, then free. Called when the batch is full and
  // by finish().
  void flush();
  // tlb_finish_mmu.
  void finish();

 private:
  static constexpr uint32_t kBatchMax = 256;
  // Invalidate by INVLPG up to this many pages; beyond, one full flush.
  static constexpr uint32_t kMaxInvlpgPages = 32;

  void track(VirtAddr a);
  void maybe_flush();

  MmStruct* mm_;
  bool fullmm_;
  bool need_flush_all_ = false;  // a PGD entry changed
  uint32_t start_ = 0xFFFFFFFFu;
  uint32_t end_ = 0;
  // User pages to drop after the flush. An array, not a list through
  // Page::lru as for tables: a page mapped in several places (a page-cache
  // page, a COW-shared one) can sit in several gathers, or twice in one,
  // while a table belongs to one mm and is unhooked once.
  Page* pages_[kBatchMax];
  uint32_t nr_pages_ = 0;
  PageList tables_;
  uint32_t batched_ = 0;
  bool finished_ = false;
};

}  // namespace mm
