#include "mm/page_alloc.h"

namespace mm {

void PageAllocator::init(Counters* counters, Page* meta, uint32_t first_pfn, uint32_t nr_frames) {
  counters_ = counters;
  meta_ = meta;
  first_pfn_ = first_pfn;
  nr_frames_ = nr_frames;
  lock_.init(counters, LockClass::kPageAlloc);
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
}

// Decides whether the allocation now being made fails on purpose.
bool PageAllocator::should_fail() {
  ++fail_seq_;
  if (fail_.fail_at && fail_seq_ == fail_.fail_at) return true;
  if (fail_.fail_every && fail_seq_ % fail_.fail_every == 0) return true;
  if (fail_.percent) {
    // xorshift32: reproducible from the seed, no libc.
    fail_rng_ ^= fail_rng_ << 13;
    fail_rng_ ^= fail_rng_ >> 17;
    fail_rng_ ^= fail_rng_ << 5;
    if (fail_rng_ % 100 < fail_.percent) return true;
  }
  return false;
}

Page* PageAllocator::alloc(PageKind kind) {
  MM_ASSERT(kind != PageKind::kFree && kind != PageKind::kReserved);
  Page* p;
  {
    SpinGuard g(lock_);
    if (should_fail()) {
      counters_->add(Counter::kAllocFailInjected);
      return nullptr;
    }
    p = free_list_.pop_front();
    if (!p) return nullptr;
    MM_ASSERT(p->kind == PageKind::kFree);
    p->kind = kind;
    ++kind_count_[static_cast<uint32_t>(kind)];
  }
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
  SpinGuard g(lock_);
  --kind_count_[static_cast<uint32_t>(p->kind)];
  p->kind = PageKind::kFree;
  p->refcount.store(0, std::memory_order_relaxed);
  // LIFO: a freed frame is the next one handed out, so a use after free
  // (a stale translation to it) shows up as soon as possible in tests.
  free_list_.push_front(p);
}

uint32_t PageAllocator::in_use(PageKind k) const {
  SpinGuard g(lock_);
  return kind_count_[static_cast<uint32_t>(k)];
}

uint32_t PageAllocator::nr_free() const {
  SpinGuard g(lock_);
  return free_list_.size();
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
