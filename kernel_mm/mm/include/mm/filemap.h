// The page cache: a file's pages in frames that every mapping of the file
// shares (Linux's address_space, cut to read-only files).
//
// A page is read in on its first use and stays until drop(), so all
// processes that map a file, and every exec of a binary, see its text at
// the same physical addresses. That is what Linux's page cache gives and
// what an emulator's translation cache (QEMU TCG looks translated code up
// by physical address) needs: a kernel that copied the text into fresh
// frames on every exec would pay for retranslating it every time.
//
// The same object, with no file behind it, is anonymous shared memory
// (MAP_SHARED|MAP_ANONYMOUS, Linux's shmem_zero_setup): zero-filled pages
// that every process sharing the mapping sees, also pages first touched
// after a fork. Such a cache belongs to the VMAs that map it and goes away
// with the last one (shmem_create, FileCache::put).
#pragma once

#include <atomic>
#include <cstdint>

#include "mm/annotations.h"
#include "mm/page.h"
#include "mm/spinlock.h"
#include "mm/types.h"

namespace mm {

struct System;

class FileCache {
 public:
  FileCache() = default;
  FileCache(const FileCache&) = delete;
  FileCache& operator=(const FileCache&) = delete;

  // `data`/`size`: the file's bytes, readable through a kernel pointer for
  // as long as the cache lives (the initrd, in the lowmem direct map).
  void init(System* sys, const uint8_t* data, uint32_t size);
  // Anonymous shared memory of `size` bytes, all zero at first.
  void init_anonymous(System* sys, uint32_t size);

  // Anonymous: writable through shared mappings, and owned by its VMAs.
  bool anonymous() const { return anonymous_; }
  // A VMA starts or stops mapping this cache. For an anonymous cache the
  // last put drops its pages and frees it (from sys->shmem_cache); a file's
  // cache lives as long as its file, so for it these do nothing.
  void get();
  void put();

  uint32_t size() const { return size_; }
  uint32_t nr_pages() const { return page_align_up(size_) / kPageSize; }

  // *out: the frame caching page `index` of the file, read in on first use
  // (the part past the end of the file reads as zeros), with a reference
  // taken for the caller, who drops it with put_page. kInvalid when index
  // is at or past the end of the file (SIGBUS for a fault), kNoMem when a
  // frame could not be had (nothing changed then). Takes lock_; the copy
  // runs outside it (allocate, fill, then recheck, as __pte_alloc does).
  [[nodiscard]] Status read_page(uint32_t index, Page** out) MM_EXCL(lock_);

  // Drops the cache's own references and frees its index frames. Pages
  // still mapped live on until their last unmap; a later read_page reads
  // the file in again. Called at shutdown, before the leak check.
  void drop() MM_EXCL(lock_);

  // Pages read in and still held by the cache.
  uint32_t cached() const MM_EXCL(lock_);

 private:
  // The index: a root frame of kSlots leaf frames, each kSlots page
  // pointers (1024 x 1024 pages on i386: any file below 4 GiB).
  static constexpr uint32_t kSlots = kPageSize / sizeof(Page*);
  struct Leaf {
    Page* pages[kSlots];
  };
  struct Root {
    Leaf* leaves[kSlots];
  };
  static_assert(sizeof(Leaf) == kPageSize && sizeof(Root) == kPageSize);

  Page** slot(uint32_t index) MM_REQ(lock_);

  System* sys_ = nullptr;
  const uint8_t* data_ = nullptr;  // nullptr: anonymous, pages start zeroed
  uint32_t size_ = 0;
  bool anonymous_ = false;
  std::atomic<int32_t> users_{0};  // VMAs mapping an anonymous cache

  // lock_ guards the index and the count; a cached page never moves or
  // changes until drop().
  mutable SpinLock lock_;
  Root* root_ MM_GUARDED(lock_) = nullptr;
  uint32_t cached_ MM_GUARDED(lock_) = 0;
};

// A new anonymous shared-memory object of `size` bytes with no users yet,
// or nullptr when no memory is left for it.
[[nodiscard]] FileCache* shmem_create(System& sys, uint32_t size);

}  // namespace mm
