#include "mm/page_alloc.h"

namespace mm {

void PageAllocator::init(Counters* counters, Page* meta, uint32_t first_pfn, uint32_t nr_frames) {
  counters_ = counters;
  meta_ = meta;
  first_pfn_ = first_pfn;
  nr_frames_ = nr_frames;
  lock_.init(counters, LockClass::kPageAlloc);
  for (PerCpu& pcp : pcp_) pcp.lock.init(counters, LockClass::kPcp);
  for (uint32_t i = 0; i < nr_frames; ++i) meta[i].kind = PageKind::kReserved;
}

void PageAllocator::add_free_range(uint32_t pfn, uint32_t count) {
  SpinGuard g(lock_);
  for (uint32_t i = 0; i < count; ++i) {
    Page* p = pfn_to_page(pfn + i);
    MM_ASSERT(p->kind == PageKind::kReserved);
    p->kind = PageKind::kFree;
    p->refcount.store(0, std::memory_order_relaxed);
    free_list_.push_back(p);
  }
}

void PageAllocator::set_fail_policy(const FailPolicy& p) {
  SpinGuard g(lock_);
  fail_ = p;
  fail_seq_ = 0;
  fail_rng_ = p.seed ? p.seed : 0x9E3779B9u;
  fail_active_.store(p.fail_at || p.fail_every || p.one_in, std::memory_order_relaxed);
}

// Decides whether the allocation now being made fails on purpose.
bool PageAllocator::should_fail() {
  ++fail_seq_;
  if (fail_.fail_at && fail_seq_ == fail_.fail_at) return true;
  if (fail_.fail_every && fail_seq_ % fail_.fail_every == 0) return true;
  if (fail_.one_in) {
    // xorshift32: reproducible from the seed, no libc.
    fail_rng_ ^= fail_rng_ << 13;
    fail_rng_ ^= fail_rng_ >> 17;
    fail_rng_ ^= fail_rng_ << 5;
    if (fail_rng_ % fail_.one_in == 0) return true;
  }
  return false;
}

Page* PageAllocator::take_local(PerCpu& pcp, PageKind kind) {
  SpinGuard g(pcp.lock);
  Page* p = pcp.list.pop_front();
  if (!p) return nullptr;
  --pcp.count;
  MM_ASSERT(p->kind == PageKind::kFree);
  p->kind = kind;
  ++pcp.kind_delta[static_cast<uint32_t>(kind)];
  return p;
}

// Moves a batch from the global list to `pcp`. False when the global list is empty.
bool PageAllocator::refill(PerCpu& pcp) {
  PageList batch;
  {
    SpinGuard g(lock_);
    for (uint32_t i = 0; i < kPcpBatch; ++i) {
      Page* p = free_list_.pop_front();
      if (!p) break;
      batch.push_back(p);
    }
  }
  if (batch.empty()) return false;
  SpinGuard g(pcp.lock);
  while (Page* p = batch.pop_front()) {
    pcp.list.push_back(p);
    ++pcp.count;
  }
  return true;
}

// The global list ran dry: take back what every CPU holds (Linux's
// drain_all_pages), so per-CPU caching never turns into a false OOM.
void PageAllocator::drain_all() {
  for (PerCpu& pcp : pcp_) {
    PageList batch;
    {
      SpinGuard g(pcp.lock);
      while (Page* p = pcp.list.pop_front()) batch.push_back(p);
      pcp.count = 0;
    }
    SpinGuard g(lock_);
    while (Page* p = batch.pop_front()) free_list_.push_back(p);
  }
}

Page* PageAllocator::alloc(PageKind kind) {
  MM_ASSERT(kind != PageKind::kFree && kind != PageKind::kReserved);
  if (fail_active_.load(std::memory_order_relaxed)) {
    SpinGuard g(lock_);
    if (should_fail()) {
      counters_->add(Counter::kAllocFailInjected);
      return nullptr;
    }
  }
  PerCpu& pcp = pcp_[arch::this_cpu()];
  Page* p = take_local(pcp, kind);
  if (!p && refill(pcp)) p = take_local(pcp, kind);
  if (!p) {
    drain_all();
    if (refill(pcp)) p = take_local(pcp, kind);
  }
  if (!p) return nullptr;
  p->refcount.store(1, std::memory_order_relaxed);
  p->ptl_live = false;
  p->ptl = nullptr;
  p->slab_inuse = 0;
  p->slab_free = nullptr;
  p->slab_cache = nullptr;
  arch::zero_frame(page_to_phys(p));
  counters_->add(Counter::kPageAlloc);
  return p;
}

void PageAllocator::free(Page* p) {
  MM_ASSERT(p->kind != PageKind::kFree && p->kind != PageKind::kReserved);
  MM_ASSERT(p->refcount.load(std::memory_order_relaxed) <= 1);
  if (p->ptl_live) counters_->add(Counter::kPtlLeak);
  counters_->add(Counter::kPageFree);
  PerCpu& pcp = pcp_[arch::this_cpu()];
  PageList spill;
  {
    SpinGuard g(pcp.lock);
    --pcp.kind_delta[static_cast<uint32_t>(p->kind)];
    p->kind = PageKind::kFree;
    p->refcount.store(0, std::memory_order_relaxed);
    // LIFO: a freed frame is the next one this CPU hands out, so a use
    // after free (a stale translation to it) shows up as soon as possible.
    pcp.list.push_front(p);
    if (++pcp.count > kPcpHigh) {
      // Give the coldest batch back.
      for (uint32_t i = 0; i < kPcpBatch; ++i) spill.push_back(pcp.list.pop_back());
      pcp.count -= kPcpBatch;
    }
  }
  if (!spill.empty()) {
    SpinGuard g(lock_);
    while (Page* q = spill.pop_front()) free_list_.push_front(q);
  }
}

uint32_t PageAllocator::in_use(PageKind k) const {
  int64_t total = 0;
  for (const PerCpu& pcp : pcp_) {
    SpinGuard g(pcp.lock);
    total += pcp.kind_delta[static_cast<uint32_t>(k)];
  }
  MM_ASSERT(total >= 0);
  return static_cast<uint32_t>(total);
}

uint32_t PageAllocator::nr_free() const {
  uint32_t total = 0;
  for (const PerCpu& pcp : pcp_) {
    SpinGuard g(pcp.lock);
    total += pcp.count;
  }
  SpinGuard g(lock_);
  return total + free_list_.size();
}

void put_page(PageAllocator& pages, Page* p) {
  const int32_t old = p->refcount.fetch_sub(1, std::memory_order_acq_rel);
  MM_ASSERT(old >= 1);
  if (old == 1) {
    p->refcount.store(1, std::memory_order_relaxed);  // free() expects 0 or 1
    pages.free(p);
  }
}

}  // namespace mm
