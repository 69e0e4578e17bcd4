// The page cache (see filemap.h).
#include "mm/filemap.h"

#include "mm/page_alloc.h"
#include "mm/system.h"

namespace mm {

void FileCache::init(System* sys, const uint8_t* data, uint32_t size) {
  sys_ = sys;
  data_ = data;
  size_ = size;
  lock_.init(&sys->counters, LockClass::kPageCache);
}

void FileCache::init_anonymous(System* sys, uint32_t size) {
  init(sys, nullptr, size);
  anonymous_ = true;
}

void FileCache::get() {
  if (anonymous_) users_.fetch_add(1, std::memory_order_relaxed);
}

void FileCache::put() {
  if (!anonymous_ || users_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  System& sys = *sys_;
  drop();
  sys.shmem_cache.destroy(this);
}

FileCache* shmem_create(System& sys, uint32_t size) {
  FileCache* c = sys.shmem_cache.create();
  if (c) c->init_anonymous(&sys, size);
  return c;
}

// The index slot of page `index`, creating the root and the leaf on the
// way; nullptr when an index frame cannot be had. Index frames are small
// and rare, so they are allocated under the lock (the allocator's locks
// nest inside it and never the other way round).
Page** FileCache::slot(uint32_t index) {
  PageAllocator& pages = sys_->pages;
  if (!root_) {
    Page* frame = pages.alloc(PageKind::kPageCache);
    if (!frame) return nullptr;
    root_ = static_cast<Root*>(pages.page_address(frame));
  }
  Leaf*& leaf = root_->leaves[index / kSlots];
  if (!leaf) {
    Page* frame = pages.alloc(PageKind::kPageCache);
    if (!frame) return nullptr;
    leaf = static_cast<Leaf*>(pages.page_address(frame));
  }
  return &leaf->pages[index % kSlots];
}

Status FileCache::read_page(uint32_t index, Page** out) {
  if (index >= nr_pages()) return Status::kInvalid;
  PageAllocator& pages = sys_->pages;
  {
    SpinGuard g(lock_);
    if (root_ && root_->leaves[index / kSlots]) {
      if (Page* p = root_->leaves[index / kSlots]->pages[index % kSlots]) {
        mm::get_page(p);
        *out = p;
        return Status::kOk;
      }
    }
  }
  // A miss: read the page in outside the lock. The allocator hands out
  // zeroed frames, so the part past the end of the file (and an anonymous
  // page) is already zero.
  Page* fresh = pages.alloc(PageKind::kPageCache);
  if (!fresh) return Status::kNoMem;
  if (data_) {
    const uint32_t off = index * kPageSize;
    const uint32_t n = size_ - off < kPageSize ? size_ - off : kPageSize;
    __builtin_memcpy(pages.page_address(fresh), data_ + off, n);
  }
  sys_->counters.add(Counter::kPageCacheFill);
  SpinGuard g(lock_);
  Page** s = slot(index);
  if (!s) {
    put_page(pages, fresh);
    return Status::kNoMem;
  }
  if (*s) {
    put_page(pages, fresh);  // another CPU read it in first: ours was a spare
  } else {
    *s = fresh;  // the cache's reference is the one alloc gave
    ++cached_;
  }
  mm::get_page(*s);
  *out = *s;
  return Status::kOk;
}

void FileCache::drop() {
  PageAllocator& pages = sys_->pages;
  SpinGuard g(lock_);
  if (!root_) return;
  for (Leaf* leaf : root_->leaves) {
    if (!leaf) continue;
    for (Page* p : leaf->pages)
      if (p) put_page(pages, p);
    pages.free(pages.virt_to_page(leaf));
  }
  pages.free(pages.virt_to_page(root_));
  root_ = nullptr;
  cached_ = 0;
}

uint32_t FileCache::cached() const {
  SpinGuard g(lock_);
  return cached_;
}

}  // namespace mm
