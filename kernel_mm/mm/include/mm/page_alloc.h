// The page-frame allocator: a free list over a contiguous metadata array,
// exact per-kind accounting, and injectable failure.
#pragma once

#include <cstdint>

#include "mm/annotations.h"
#include "mm/arch.h"
#include "mm/counters.h"
#include "mm/page.h"
#include "mm/spinlock.h"
#include "mm/types.h"

namespace mm {

// Which allocations fail on purpose. Counting starts when the policy is set;
// a zero field is off. Several may be on at once.
struct FailPolicy {
  uint32_t fail_at = 0;     // the fail_at-th allocation fails (once)
  uint32_t fail_every = 0;  // every fail_every-th allocation fails
  uint32_t seed = 0;        // with one_in: fail pseudo-randomly, reproducibly from seed
  uint32_t one_in = 0;      // each allocation fails with probability 1/one_in
};

// Frames are handed out from per-CPU lists (Linux's pcp lists) refilled
// from and drained to one global free list in batches, so the fault path's
// allocations do not all meet on one lock. Per-kind accounting is kept per
// CPU too and summed on read: exact whenever the system is quiescent.
class PageAllocator {
 public:
  // Manages frames [first_pfn, first_pfn + nr_frames) whose metadata is
  // `meta[0..nr_frames)`. All start reserved; add_free_range hands frames over.
  void init(Counters* counters, Page* meta, uint32_t first_pfn, uint32_t nr_frames);
  void add_free_range(uint32_t pfn, uint32_t count) MM_EXCL(lock_);

  // A zeroed frame of `kind` with refcount 1, or nullptr (out of memory or
  // an injected failure). Never sleeps.
  [[nodiscard]] Page* alloc(PageKind kind) MM_EXCL(lock_);
  // Returns a frame to this CPU's list. Its refcount must have dropped to 0
  // (or be 1 for tables and slabs, which are not reference counted).
  void free(Page* page) MM_EXCL(lock_);

  void set_fail_policy(const FailPolicy& p) MM_EXCL(lock_);

  uint32_t in_use(PageKind k) const MM_EXCL(lock_);
  uint32_t nr_free() const MM_EXCL(lock_);
  uint32_t nr_frames() const { return nr_frames_; }

  Page* pfn_to_page(uint32_t pfn) const {
    MM_ASSERT(pfn - first_pfn_ < nr_frames_);
    return &meta_[pfn - first_pfn_];
  }
  bool pfn_valid(uint32_t pfn) const { return pfn - first_pfn_ < nr_frames_; }
  uint32_t page_to_pfn(const Page* p) const { return first_pfn_ + static_cast<uint32_t>(p - meta_); }
  PhysAddr page_to_phys(const Page* p) const { return PhysAddr::from_pfn(page_to_pfn(p)); }
  void* page_address(const Page* p) const { return arch::phys_to_virt(page_to_phys(p)); }
  Page* virt_to_page(const void* v) const { return pfn_to_page(arch::virt_to_phys(v).pfn()); }

 private:
  // Frames moved between a CPU's list and the global list at a time, and
  // the most a CPU keeps before it gives a batch back.
  static constexpr uint32_t kPcpBatch = 16;
  static constexpr uint32_t kPcpHigh = 64;

  struct alignas(64) PerCpu {
    // lock guards this CPU's list and counts. Other CPUs take it only to
    // drain the list when the global list runs dry, and to read the counts.
    mutable SpinLock lock;
    PageList list MM_GUARDED(lock);
    uint32_t count MM_GUARDED(lock) = 0;
    // Frames allocated minus freed on this CPU, per kind.
    int32_t kind_delta[kNumPageKinds] MM_GUARDED(lock) = {};
  };

  Page* take_local(PerCpu& pcp, PageKind kind) MM_EXCL(lock_);
  bool refill(PerCpu& pcp) MM_EXCL(lock_);
  void drain_all() MM_EXCL(lock_);
  bool should_fail() MM_REQ(lock_);

  Counters* counters_ = nullptr;
  Page* meta_ = nullptr;
  uint32_t first_pfn_ = 0;
  uint32_t nr_frames_ = 0;
  PerCpu pcp_[kMaxCpus];

  // lock_ guards the global free list and the fail state.
  mutable SpinLock lock_;
  PageList free_list_ MM_GUARDED(lock_);
  std::atomic<bool> fail_active_{false};
  FailPolicy fail_ MM_GUARDED(lock_);
  uint32_t fail_seq_ MM_GUARDED(lock_) = 0;
  uint32_t fail_rng_ MM_GUARDED(lock_) = 0;
};

// Reference counting of user pages: the last put frees the frame.
inline void get_page(Page* p) { p->refcount.fetch_add(1, std::memory_order_relaxed); }
void put_page(PageAllocator& pages, Page* p);

}  // namespace mm
