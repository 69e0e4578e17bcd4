#include "mm/kmem_cache.h"

namespace mm {

void KmemCache::init(const char* name, uint32_t size, uint32_t align, PageKind kind, PageAllocator* pages,
                     Counters* counters) {
  MM_ASSERT(align && (align & (align - 1)) == 0);
  if (size < sizeof(void*)) size = sizeof(void*);  // a free object holds the next-free link
  size_ = (size + align - 1) & ~(align - 1);
  MM_ASSERT(size_ <= kPageSize);
  name_ = name;
  per_page_ = kPageSize / size_;
  kind_ = kind;
  pages_ = pages;
  lock_.init(counters, LockClass::kKmemCache);
}

void* KmemCache::alloc() {
  SpinGuard g(lock_);
  Page* slab = partial_.front();
  if (!slab) {
    // Allocating a frame under our lock is fine: the page allocator never
    // calls back into a cache.
    slab = pages_->alloc(kind_);
    if (!slab) return nullptr;
    slab->slab_cache = this;
    char* base = static_cast<char*>(pages_->page_address(slab));
    void* head = nullptr;
    for (uint32_t i = per_page_; i-- > 0;) {
      void* obj = base + i * size_;
      *static_cast<void**>(obj) = head;
      head = obj;
    }
    slab->slab_free = head;
    partial_.push_front(slab);
    ++slabs_;
  }
  void* obj = slab->slab_free;
  slab->slab_free = *static_cast<void**>(obj);
  if (++slab->slab_inuse == per_page_) partial_.remove(slab);
  ++live_;
  __builtin_memset(obj, 0, size_);
  return obj;
}

void KmemCache::free(void* obj) {
  Page* slab = pages_->virt_to_page(obj);
  SpinGuard g(lock_);
  // Under the lock: other CPUs change slab_inuse of this slab concurrently.
  MM_ASSERT(slab->slab_cache == this && slab->slab_inuse > 0);
  if (slab->slab_inuse == per_page_) partial_.push_front(slab);
  *static_cast<void**>(obj) = slab->slab_free;
  slab->slab_free = obj;
  --live_;
  if (--slab->slab_inuse == 0) {
    partial_.remove(slab);
    --slabs_;
    slab->slab_cache = nullptr;
    pages_->free(slab);
  }
}

uint32_t KmemCache::live_objects() const {
  SpinGuard g(lock_);
  return live_;
}

uint32_t KmemCache::slab_pages() const {
  SpinGuard g(lock_);
  return slabs_;
}

}  // namespace mm
