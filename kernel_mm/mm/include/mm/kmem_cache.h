// Fixed-size object caches carved out of frames (a minimal slab), so the mm
// core needs no heap: VMAs, mm_structs, 32-byte PGDs and dynamic ptls come
// from here, and a slab frame goes back to the allocator when it empties.
#pragma once

#include <cstdint>
#include <new>
#include <utility>

#include "mm/annotations.h"
#include "mm/page.h"
#include "mm/page_alloc.h"
#include "mm/spinlock.h"

namespace mm {

class KmemCache {
 public:
  // Objects of `size` bytes aligned to `align` (a power of two), taken from
  // frames of `kind`.
  void init(const char* name, uint32_t size, uint32_t align, PageKind kind, PageAllocator* pages, Counters* counters);

  // nullptr when no frame can be had.
  [[nodiscard]] void* alloc() MM_EXCL(lock_);
  void free(void* obj) MM_EXCL(lock_);

  uint32_t live_objects() const MM_EXCL(lock_);
  uint32_t slab_pages() const MM_EXCL(lock_);
  const char* name() const { return name_; }
  uint32_t object_size() const { return size_; }

 private:
  const char* name_ = "";
  uint32_t size_ = 0;
  uint32_t per_page_ = 0;
  PageKind kind_ = PageKind::kKernel;
  PageAllocator* pages_ = nullptr;

  // lock_ guards the partial list, the slab pages' free lists and the counts.
  mutable SpinLock lock_;
  PageList partial_ MM_GUARDED(lock_);  // slabs with at least one free object
  uint32_t live_ MM_GUARDED(lock_) = 0;
  uint32_t slabs_ MM_GUARDED(lock_) = 0;
};

// A KmemCache of T with construction and destruction.
template <class T>
class TypedCache {
 public:
  void init(const char* name, PageKind kind, PageAllocator* pages, Counters* counters) {
    cache_.init(name, sizeof(T), alignof(T), kind, pages, counters);
  }
  template <class... Args>
  [[nodiscard]] T* create(Args&&... args) {
    void* mem = cache_.alloc();
    return mem ? new (mem) T(std::forward<Args>(args)...) : nullptr;
  }
  void destroy(T* obj) {
    obj->~T();
    cache_.free(obj);
  }
  uint32_t live_objects() const { return cache_.live_objects(); }

 private:
  KmemCache cache_;
};

}  // namespace mm
