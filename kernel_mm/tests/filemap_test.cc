// File mappings and the page cache: shared frames, private copies on
// write, VMA split and merge with file offsets, SIGBUS past the end, fork,
// failure injection, and every frame back once the cache is dropped.
#include "mm/filemap.h"

#include <gtest/gtest.h>

#include <vector>

#include "test_util.h"

namespace {

constexpr uint32_t P = mm::kPageSize;
constexpr uint32_t kR = mm::kVmRead;
using mmtest::kRW;
constexpr uint32_t kRX = mm::kVmRead | mm::kVmExec;

// A file of `pages` pages plus `tail` bytes whose every 32-bit word says
// where it is: word i holds 0xF11E0000 + i.
std::vector<uint8_t> make_file(uint32_t pages, uint32_t tail) {
  std::vector<uint8_t> bytes(pages * P + tail);
  for (uint32_t i = 0; i + 4 <= bytes.size(); i += 4) {
    const uint32_t w = 0xF11E0000u + i / 4;
    __builtin_memcpy(&bytes[i], &w, 4);
  }
  return bytes;
}
uint32_t word_at(uint32_t file_offset) { return 0xF11E0000u + file_offset / 4; }

class FileMapTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  FileMapTest() : h_(mm::Toggles::from_index(GetParam())), file_(make_file(8, 100)) {
    sim::OnCpu on(h_.machine(), 0);
    cache_.init(&h_.sys(), file_.data(), static_cast<uint32_t>(file_.size()));
  }
  ~FileMapTest() override {
    {
      sim::OnCpu on(h_.machine(), 0);
      cache_.drop();
    }
    mmtest::expect_no_leaks(h_);
  }
  mm::MmStruct* process(uint32_t cpu) {
    mm::MmStruct* m = mmtest::new_mm(h_);
    sim::load_on(h_, cpu, m);
    return m;
  }
  mm::Status map(mm::MmStruct* m, uint32_t va, uint32_t len, uint32_t prot, uint32_t pgoff, bool shared = false) {
    sim::OnCpu on(h_.machine(), 0);
    mm::VirtAddr out;
    return mm::do_mmap(m,
                       mm::MmapRequest{.addr = mm::VirtAddr(va),
                                       .len = len,
                                       .prot = prot,
                                       .fixed = true,
                                       .shared = shared,
                                       .file = &cache_,
                                       .pgoff = pgoff},
                       &out);
  }
  uint32_t read(uint32_t cpu, mm::MmStruct* m, uint32_t va) {
    uint32_t v = 0;
    EXPECT_EQ(mmtest::touch(h_, cpu, m, va, false, 0, &v), mmtest::TouchResult::kOk) << std::hex << va;
    return v;
  }
  mm::PhysAddr phys(uint32_t cpu, uint32_t va) {
    const sim::Translation t = h_.cpu(cpu).probe(mm::VirtAddr(va), sim::Access::kRead);
    EXPECT_TRUE(t.ok) << std::hex << va;
    return mm::PhysAddr(t.pa.value() & ~uint64_t{P - 1});
  }
  mm::PhysAddr cached_phys(uint32_t index) {
    sim::OnCpu on(h_.machine(), 0);
    mm::Page* p;
    EXPECT_EQ(cache_.read_page(index, &p), mm::Status::kOk);
    const mm::PhysAddr pa = h_.sys().pages.page_to_phys(p);
    mm::put_page(h_.sys().pages, p);
    return pa;
  }
  uint64_t counter(mm::Counter c) { return h_.sys().counters.get(c); }
  uint32_t cached() {
    sim::OnCpu on(h_.machine(), 0);
    return cache_.cached();
  }

  sim::Harness h_;
  std::vector<uint8_t> file_;
  mm::FileCache cache_;
};

TEST_P(FileMapTest, ReadsShareTheCachedFrameAcrossProcesses) {
  mm::MmStruct* a = process(0);
  mm::MmStruct* b = process(1);
  // Two processes map file pages 2..5 at different addresses.
  ASSERT_EQ(map(a, 0x08048000, 4 * P, kRX, 2), mm::Status::kOk);
  ASSERT_EQ(map(b, 0x10000000, 4 * P, kR, 2), mm::Status::kOk);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(read(0, a, 0x08048000 + i * P + 8), word_at((2 + i) * P + 8));
    EXPECT_EQ(read(1, b, 0x10000000 + i * P + 8), word_at((2 + i) * P + 8));
    EXPECT_EQ(phys(0, 0x08048000 + i * P), phys(1, 0x10000000 + i * P)) << "page " << i << " not shared";
    EXPECT_EQ(phys(0, 0x08048000 + i * P), cached_phys(2 + i));
  }
  EXPECT_EQ(cached(), 4u);
  EXPECT_EQ(counter(mm::Counter::kPageCacheFill), 4u);
  EXPECT_EQ(counter(mm::Counter::kFaultFile), 8u);
  // A read-only mapping refuses writes; no copy was made.
  EXPECT_EQ(mmtest::touch(h_, 1, b, 0x10000000, true, 1), mmtest::TouchResult::kSegv);
  EXPECT_EQ(h_.in_use(mm::PageKind::kUser), h_.baseline(mm::PageKind::kUser));
  mmtest::exit_mm(h_, a);
  mmtest::exit_mm(h_, b);
  // The cache keeps its pages after the last unmap: the next exec finds them.
  EXPECT_EQ(cached(), 4u);
}

TEST_P(FileMapTest, PrivateWritesCopyAndLeaveTheFileAlone) {
  mm::MmStruct* a = process(0);
  mm::MmStruct* b = process(1);
  ASSERT_EQ(map(a, 0x20000000, 2 * P, kRW, 0), mm::Status::kOk);
  ASSERT_EQ(map(b, 0x20000000, 2 * P, kR, 0), mm::Status::kOk);
  // Page 0: write first (do_cow_fault); page 1: read, then write (do_wp_page).
  ASSERT_EQ(mmtest::touch(h_, 0, a, 0x20000010, true, 0xAAAA), mmtest::TouchResult::kOk);
  EXPECT_EQ(counter(mm::Counter::kFaultFileCow), 1u);
  EXPECT_EQ(read(0, a, P + 0x20000010), word_at(P + 0x10));
  ASSERT_EQ(mmtest::touch(h_, 0, a, P + 0x20000010, true, 0xBBBB), mmtest::TouchResult::kOk);
  EXPECT_EQ(counter(mm::Counter::kFaultCowCopy), 1u);
  EXPECT_EQ(counter(mm::Counter::kFaultCowReuse), 0u) << "a page-cache page was written in place";
  EXPECT_EQ(read(0, a, 0x20000010), 0xAAAAu);
  EXPECT_EQ(read(0, a, P + 0x20000010), 0xBBBBu);
  // The other process and the file see the original bytes.
  EXPECT_EQ(read(1, b, 0x20000010), word_at(0x10));
  EXPECT_EQ(read(1, b, P + 0x20000010), word_at(P + 0x10));
  EXPECT_NE(phys(0, P + 0x20000000), phys(1, P + 0x20000000));
  EXPECT_EQ(phys(1, P + 0x20000000), cached_phys(1));
  EXPECT_EQ(h_.in_use(mm::PageKind::kUser), h_.baseline(mm::PageKind::kUser) + 2);
  mmtest::exit_mm(h_, a);
  mmtest::exit_mm(h_, b);
}

TEST_P(FileMapTest, TheTailOfTheLastPageIsZeroAndBeyondItIsSigbus) {
  mm::MmStruct* a = process(0);
  // The file has 8 pages and 100 bytes: page 8 is partly file.
  ASSERT_EQ(map(a, 0x30000000, 3 * P, kR, 7), mm::Status::kOk);
  EXPECT_EQ(read(0, a, 0x30000000 + P + 96), word_at(8 * P + 96));
  EXPECT_EQ(read(0, a, 0x30000000 + P + 100), 0u);
  EXPECT_EQ(read(0, a, 0x30000000 + 2 * P - 4), 0u);
  EXPECT_EQ(mmtest::touch(h_, 0, a, 0x30000000 + 2 * P, false), mmtest::TouchResult::kBus);
  EXPECT_EQ(counter(mm::Counter::kFaultSigbus), 1u);
  mmtest::exit_mm(h_, a);
}

TEST_P(FileMapTest, SplitAndMergeKeepEachPageAtItsFileOffset) {
  mm::MmStruct* a = process(0);
  ASSERT_EQ(map(a, 0x40000000, 6 * P, kR, 1), mm::Status::kOk);
  {
    sim::OnCpu on(h_.machine(), 0);
    // mprotect the middle, then unmap another page: three VMAs, two holes.
    ASSERT_EQ(mm::do_mprotect(a, mm::VirtAddr(0x40000000 + 2 * P), 2 * P, kRX), mm::Status::kOk);
    ASSERT_EQ(mm::do_munmap(a, mm::VirtAddr(0x40000000 + 5 * P), P), mm::Status::kOk);
  }
  for (uint32_t i = 0; i < 5; ++i) EXPECT_EQ(read(0, a, 0x40000000 + i * P), word_at((1 + i) * P)) << i;
  {
    sim::OnCpu on(h_.machine(), 0);
    ASSERT_EQ(mm::do_mprotect(a, mm::VirtAddr(0x40000000 + 2 * P), 2 * P, kR), mm::Status::kOk);
    EXPECT_EQ(mm::mm_usage(a).vmas, 1u) << "contiguous file pages with the same flags merge back";
  }
  // Mapping the next file page right after merges; a non-contiguous one does not.
  ASSERT_EQ(map(a, 0x40000000 + 5 * P, P, kR, 6), mm::Status::kOk);
  ASSERT_EQ(map(a, 0x40000000 + 6 * P, P, kR, 0), mm::Status::kOk);
  {
    sim::OnCpu on(h_.machine(), 0);
    EXPECT_EQ(mm::mm_usage(a).vmas, 2u);
  }
  EXPECT_EQ(read(0, a, 0x40000000 + 5 * P), word_at(6 * P));
  EXPECT_EQ(read(0, a, 0x40000000 + 6 * P), word_at(0));
  mmtest::exit_mm(h_, a);
}

TEST_P(FileMapTest, SharedFileMappingsNeverBecomeWritable) {
  mm::MmStruct* a = process(0);
  EXPECT_EQ(map(a, 0x50000000, P, kRW, 0, true), mm::Status::kAccess);
  ASSERT_EQ(map(a, 0x50000000, 2 * P, kR, 0, true), mm::Status::kOk);
  EXPECT_EQ(read(0, a, 0x50000000 + P), word_at(P));
  EXPECT_EQ(phys(0, 0x50000000 + P), cached_phys(1));
  {
    sim::OnCpu on(h_.machine(), 0);
    EXPECT_EQ(mm::do_mprotect(a, mm::VirtAddr(0x50000000), P, kRW), mm::Status::kAccess);
  }
  mmtest::exit_mm(h_, a);
}

TEST_P(FileMapTest, ForkSharesCachedAndPrivatePagesCorrectly) {
  mm::MmStruct* parent = process(0);
  ASSERT_EQ(map(parent, 0x60000000, 3 * P, kRW, 4), mm::Status::kOk);
  EXPECT_EQ(read(0, parent, 0x60000000), word_at(4 * P));                                           // cached page
  ASSERT_EQ(mmtest::touch(h_, 0, parent, 0x60000000 + P, true, 0x1234), mmtest::TouchResult::kOk);  // private
  mm::MmStruct* child;
  {
    sim::OnCpu on(h_.machine(), 0);
    child = mm::dup_mm(parent);
    ASSERT_NE(child, nullptr);
    mm::mm_publish(child);
  }
  sim::load_on(h_, 1, child);
  EXPECT_EQ(read(1, child, 0x60000000), word_at(4 * P));
  EXPECT_EQ(phys(1, 0x60000000), cached_phys(4));
  EXPECT_EQ(read(1, child, 0x60000000 + P), 0x1234u);
  EXPECT_EQ(read(1, child, 0x60000000 + 2 * P), word_at(6 * P));  // never touched before the fork
  // The child's writes stay its own.
  ASSERT_EQ(mmtest::touch(h_, 1, child, 0x60000000, true, 0x5678), mmtest::TouchResult::kOk);
  ASSERT_EQ(mmtest::touch(h_, 1, child, 0x60000000 + P, true, 0x9ABC), mmtest::TouchResult::kOk);
  EXPECT_EQ(read(0, parent, 0x60000000), word_at(4 * P));
  EXPECT_EQ(read(0, parent, 0x60000000 + P), 0x1234u);
  mmtest::exit_mm(h_, child);
  mmtest::exit_mm(h_, parent);
}

// One munmap drops cached pages that two PTEs of the same range map each
// (file pages 3, 4, 3, 4): the gather must hold a page twice, which a list
// through Page::lru cannot.
TEST_P(FileMapTest, OneGatherDropsPagesMappedTwice) {
  mm::MmStruct* a = process(0);
  ASSERT_EQ(map(a, 0x08000000, 2 * P, kR, 3), mm::Status::kOk);
  ASSERT_EQ(map(a, 0x08000000 + 3 * P, 2 * P, kR, 3), mm::Status::kOk);
  for (uint32_t i = 0; i < 2; ++i) {
    EXPECT_EQ(read(0, a, 0x08000000 + i * P), word_at((3 + i) * P));
    EXPECT_EQ(read(0, a, 0x08000000 + (3 + i) * P), word_at((3 + i) * P));
    EXPECT_EQ(phys(0, 0x08000000 + i * P), phys(0, 0x08000000 + (3 + i) * P));
  }
  {
    sim::OnCpu on(h_.machine(), 0);
    ASSERT_EQ(mm::do_munmap(a, mm::VirtAddr(0x08000000), 5 * P), mm::Status::kOk);
    cache_.drop();
    EXPECT_EQ(h_.in_use(mm::PageKind::kPageCache), 0u) << "a reference was lost or dropped twice";
  }
  mmtest::exit_mm(h_, a);
}

// MAP_SHARED|MAP_ANONYMOUS: a page first touched after the fork is still
// one page for both processes (a shmem object, not private zero pages),
// and the object goes away with the last mapping.
TEST_P(FileMapTest, SharedAnonymousMemoryIsOnePageAcrossFork) {
  mm::MmStruct* parent = process(0);
  {
    sim::OnCpu on(h_.machine(), 0);
    mm::VirtAddr out;
    ASSERT_EQ(
        mm::do_mmap(
            parent,
            mm::MmapRequest{.addr = mm::VirtAddr(0x40000000), .len = 4 * P, .prot = kRW, .fixed = true, .shared = true},
            &out),
        mm::Status::kOk);
    EXPECT_EQ(h_.sys().shmem_cache.live_objects(), 1u);
  }
  ASSERT_EQ(mmtest::touch(h_, 0, parent, 0x40000000, true, 0x1111), mmtest::TouchResult::kOk);  // before the fork
  mm::MmStruct* child;
  {
    sim::OnCpu on(h_.machine(), 0);
    child = mm::dup_mm(parent);
    ASSERT_NE(child, nullptr);
    mm::mm_publish(child);
  }
  sim::load_on(h_, 1, child);
  // Pages 1 and 2 are touched only after the fork, one by each side.
  ASSERT_EQ(mmtest::touch(h_, 1, child, 0x40000000 + P, true, 0x2222), mmtest::TouchResult::kOk);
  ASSERT_EQ(mmtest::touch(h_, 0, parent, 0x40000000 + 2 * P, true, 0x3333), mmtest::TouchResult::kOk);
  EXPECT_EQ(read(0, parent, 0x40000000 + P), 0x2222u);
  EXPECT_EQ(read(1, child, 0x40000000 + 2 * P), 0x3333u);
  EXPECT_EQ(read(1, child, 0x40000000), 0x1111u);
  ASSERT_EQ(mmtest::touch(h_, 1, child, 0x40000000, true, 0x4444), mmtest::TouchResult::kOk);
  EXPECT_EQ(read(0, parent, 0x40000000), 0x4444u) << "a shared write became a private copy";
  EXPECT_EQ(read(0, parent, 0x40000000 + 3 * P), 0u);
  EXPECT_EQ(phys(0, 0x40000000 + P), phys(1, 0x40000000 + P));
  EXPECT_EQ(h_.in_use(mm::PageKind::kUser), h_.baseline(mm::PageKind::kUser)) << "no private page was made";
  mmtest::exit_mm(h_, child);
  EXPECT_EQ(read(0, parent, 0x40000000 + P), 0x2222u);
  {
    // A partial munmap keeps the object; the last mapping frees it.
    sim::OnCpu on(h_.machine(), 0);
    ASSERT_EQ(mm::do_munmap(parent, mm::VirtAddr(0x40000000), P), mm::Status::kOk);
    EXPECT_EQ(h_.sys().shmem_cache.live_objects(), 1u);
  }
  mmtest::exit_mm(h_, parent);
  sim::OnCpu on(h_.machine(), 0);
  EXPECT_EQ(h_.sys().shmem_cache.live_objects(), 0u);
  EXPECT_EQ(h_.in_use(mm::PageKind::kPageCache), 0u);
}

// Every allocation of a file fault (index frames, the cache page, the
// private copy, the page tables) failing in turn: kNoMem, and nothing leaks.
TEST_P(FileMapTest, FaultsFailingAtEveryAllocationLeakNothing) {
  for (uint32_t fail_at = 1;; ++fail_at) {
    mm::FileCache cache;
    {
      sim::OnCpu on(h_.machine(), 0);
      cache.init(&h_.sys(), file_.data(), static_cast<uint32_t>(file_.size()));
    }
    mm::MmStruct* a = process(0);
    {
      sim::OnCpu on(h_.machine(), 0);
      mm::VirtAddr out;
      ASSERT_EQ(
          mm::do_mmap(a,
                      mm::MmapRequest{
                          .addr = mm::VirtAddr(0x70000000), .len = 2 * P, .prot = kRW, .fixed = true, .file = &cache},
                      &out),
          mm::Status::kOk);
      h_.sys().pages.set_fail_policy(mm::FailPolicy{.fail_at = fail_at});
    }
    const auto r1 = mmtest::touch(h_, 0, a, 0x70000000, false);
    const auto r2 = mmtest::touch(h_, 0, a, 0x70000000 + P, true, 7);
    {
      sim::OnCpu on(h_.machine(), 0);
      h_.sys().pages.set_fail_policy(mm::FailPolicy{});
    }
    const bool failed = r1 == mmtest::TouchResult::kNoMem || r2 == mmtest::TouchResult::kNoMem;
    EXPECT_TRUE((r1 == mmtest::TouchResult::kOk || r1 == mmtest::TouchResult::kNoMem) &&
                (r2 == mmtest::TouchResult::kOk || r2 == mmtest::TouchResult::kNoMem))
        << "fail_at " << fail_at;
    if (r1 == mmtest::TouchResult::kOk) EXPECT_EQ(read(0, a, 0x70000000), word_at(0));
    mmtest::exit_mm(h_, a);
    {
      sim::OnCpu on(h_.machine(), 0);
      cache.drop();
    }
    mmtest::expect_no_leaks(h_);
    if (!failed) break;  // every allocation has had its turn
    ASSERT_LT(fail_at, 64u);
  }
}

// Each toggle takes both values somewhere in these six combinations (as in
// failure_test.cc); the file paths do not depend on the others.
INSTANTIATE_TEST_SUITE_P(SomeToggles, FileMapTest, ::testing::Values(0u, 63u, 5u, 54u, 21u, 42u),
                         mmtest::toggle_param_name);

}  // namespace
