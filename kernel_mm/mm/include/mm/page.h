// Per-frame metadata (Linux's struct page, cut to what the mm core needs).
#pragma once

#include <atomic>
#include <cstdint>

#include "mm/list.h"
#include "mm/spinlock.h"
#include "mm/types.h"

namespace mm {

class KmemCache;

// What a frame is used for; the allocator keeps an exact count of each.
enum class PageKind : uint8_t {
  kFree,
  kReserved,   // never handed to the allocator (holes, the kernel image)
  kUser,       // anonymous user page
  kPteTable,   // user PTE table
  kPmdTable,   // user PMD table (also the per-PGD kernel PMD copy when unshared)
  kPgd,        // a page-sized PGD, or a slab page of 32-byte PGDs
  kKernel,     // kernel data: slabs, the reference kernel PMD, kernel PTE tables, vmalloc pages
  kPageCache,  // a file page held by the page cache (filemap.h), and the cache's index frames
  kCount
};
inline constexpr uint32_t kNumPageKinds = static_cast<uint32_t>(PageKind::kCount);
const char* page_kind_name(PageKind k);

struct Page {
  // References: one per PTE that maps a user page, plus transient ones.
  std::atomic<int32_t> refcount{0};
  PageKind kind = PageKind::kReserved;
  // Set between ptlock_init() and ptlock_free() of a table page.
  bool ptl_live = false;
  // Objects in use when this is a slab page.
  uint16_t slab_inuse = 0;
  // Free list, slab partial list, or an mmu_gather batch: one at a time.
  Link<Page> lru;
  // The split page-table lock while ptl_live: &ptl_inline, or a lock from
  // the ptl cache with mm.ptlock_alloc=dynamic.
  SpinLock* ptl = nullptr;
  SpinLock ptl_inline;
  // Slab bookkeeping.
  void* slab_free = nullptr;
  KmemCache* slab_cache = nullptr;
};

using PageList = IntrusiveList<Page, &Page::lru>;

}  // namespace mm
