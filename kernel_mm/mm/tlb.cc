// switch_mm, TLB flushes and shootdowns, and the mmu_gather.
#include "mm/tlb.h"

#include "mm/pgtable.h"

namespace mm {

void flush_tlb_func(const FlushRequest& req) {
  switch (req.kind) {
    case FlushRequest::Kind::kPdpteReload:
    case FlushRequest::Kind::kAll:
      arch::write_cr3(arch::read_cr3());
      if (req.counters)
        req.counters->add(req.kind == FlushRequest::Kind::kAll ? Counter::kTlbFlushAll : Counter::kCr3ReloadPdpte);
      break;
    case FlushRequest::Kind::kRange:
    case FlushRequest::Kind::kKernelRange:
      for (uint32_t va = req.start.value(); va < req.end.value(); va += kPageSize) {
        arch::invlpg(VirtAddr(va));
        if (req.counters) req.counters->add(Counter::kTlbFlushPage);
        if (va + kPageSize < va) break;  // the last page of the address space
      }
      break;
  }
}

namespace {

void flush_cpus(uint32_t cpus, const FlushRequest& req) {
  const uint32_t self = 1u << arch::this_cpu();
  if (cpus & self) flush_tlb_func(req);
  const uint32_t others = cpus & ~self;
  if (others) {
    if (req.counters) req.counters->add(Counter::kTlbShootdownIpi, popcount32(others));
    arch::flush_tlb_others(others, req);
  }
}

}  // namespace

void switch_mm(MmStruct* prev, MmStruct* next) {
  if (prev == next) return;
  MM_ASSERT(next->kernel_ready.load(std::memory_order_acquire));
  const uint32_t cpu = arch::this_cpu();
  next->cpumask.set(cpu);
  // Pairs with the barrier before every cpumask read in a flush (see
  // pdpte_reload): either the flusher sees our bit, or our CR3 load below
  // sees the tables as the flusher left them.
  arch::smp_mb();
  arch::write_cr3(next->pgd_phys);
  next->sys->counters.add(Counter::kCr3Switch);
  // After the load: a flush aimed at prev that still reaches us is harmless.
  if (prev) prev->cpumask.clear(cpu);
}

void flush_tlb_mm_range(MmStruct* mm, const FlushRequest& req) {
  arch::smp_mb();  // table changes before the cpumask read (see switch_mm)
  const uint32_t cpus = mm->cpumask.load();
  if (cpus) flush_cpus(cpus, req);
}

void flush_tlb_page(MmStruct* mm, VirtAddr a) {
  flush_tlb_mm_range(mm, FlushRequest{.kind = FlushRequest::Kind::kRange,
                                      .start = a.page_down(),
                                      .end = a.page_down() + kPageSize,
                                      .counters = &mm->sys->counters});
}

void flush_tlb_kernel_range(System& sys, VirtAddr start, VirtAddr end) {
  const uint32_t n = arch::num_cpus();
  const uint32_t all = n >= 32 ? 0xFFFFFFFFu : (1u << n) - 1;
  flush_cpus(all, FlushRequest{
                      .kind = FlushRequest::Kind::kKernelRange, .start = start, .end = end, .counters = &sys.counters});
}

MmuGather::MmuGather(MmStruct* mm, bool fullmm) : mm_(mm), fullmm_(fullmm) {}

MmuGather::~MmuGather() { finish(); }

void MmuGather::track(VirtAddr a) {
  const uint32_t s = a.page_down().value();
  if (s < start_) start_ = s;
  if (s + kPageSize > end_) end_ = s + kPageSize;
}

void MmuGather::maybe_flush() {
  if (++batched_ >= kBatchMax) flush();
}

void MmuGather::remove_page(Page* page, VirtAddr a) {
  track(a);
  pages_[nr_pages_++] = page;  // batched_ counts it too, so flush() comes before the array is full
  maybe_flush();
}

void MmuGather::pte_free_tlb(Page* table, VirtAddr a) {
  // The range flush below uses INVLPG, which also drops every
  // paging-structure-cache entry (SDM §4.10.4.1), so the PDE cache cannot
  // keep pointing at this table once flush() has run.
  track(a);
  ptlock_free(*mm_->sys, table);
  tables_.push_back(table);
  mm_->sys->counters.add(Counter::kPteTableFree);
  maybe_flush();
}

void MmuGather::pmd_free_tlb(Page* table, VirtAddr a) {
  // A PGD entry was cleared: the PDPTE registers of every CPU running mm
  // still point at this table until CR3 is reloaded.
  track(a);
  need_flush_all_ = true;
  ptlock_free(*mm_->sys, table);
  tables_.push_back(table);
  mm_->sys->counters.add(Counter::kPmdTableFree);
  maybe_flush();
}

void MmuGather::flush() {
  System& sys = *mm_->sys;
  if (start_ < end_ || need_flush_all_) {
    FlushRequest req{.counters = &sys.counters};
    if (need_flush_all_) {
      req.kind = FlushRequest::Kind::kPdpteReload;
    } else if (fullmm_ || (end_ - start_) / kPageSize > kMaxInvlpgPages) {
      req.kind = FlushRequest::Kind::kAll;
    } else {
      req.kind = FlushRequest::Kind::kRange;
      req.start = VirtAddr(start_);
      req.end = VirtAddr(end_);
    }
    flush_tlb_mm_range(mm_, req);
    sys.counters.add(Counter::kGatherFlush);
  }
  // Only now can no CPU reach these pages or tables.
  for (uint32_t i = 0; i < nr_pages_; ++i) put_page(sys.pages, pages_[i]);
  nr_pages_ = 0;
  while (Page* t = tables_.pop_front()) sys.pages.free(t);
  start_ = 0xFFFFFFFFu;
  end_ = 0;
  need_flush_all_ = false;
  batched_ = 0;
}

void MmuGather::finish() {
  if (finished_) return;
  flush();
  finished_ = true;
}

}  // namespace mm
