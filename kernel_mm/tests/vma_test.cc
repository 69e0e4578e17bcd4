// The VMA list: split on munmap of a middle range, merge of neighbours,
// mprotect splits and re-merges, placement, and argument checking.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "test_util.h"

namespace {

constexpr uint32_t kR = mm::kVmRead;
using mmtest::kRW;
constexpr uint32_t P = mm::kPageSize;

struct V {
  uint32_t start, end, flags;
  bool operator==(const V&) const = default;
};
std::ostream& operator<<(std::ostream& os, const V& v) {
  return os << std::hex << "[" << v.start << "," << v.end << ") " << v.flags << std::dec;
}

std::vector<V> vmas(mm::MmStruct* m) {
  std::vector<V> out;
  mm::ReadGuard g(m->mmap_lock);
  for (const mm::Vma* v = m->vmas.front(); v; v = mm::VmaList::next(v))
    out.push_back(V{v->start.value(), v->end.value(), v->flags});
  return out;
}

class VmaTest : public ::testing::Test {
 protected:
  VmaTest() : h_(mm::Toggles{}), on_(h_.machine(), 0) { m_ = mmtest::new_mm(h_); }
  ~VmaTest() override {
    mm::mmput(m_);
    mmtest::expect_no_leaks(h_);
  }
  mm::Status mmap_at(uint32_t va, uint32_t len, uint32_t prot, bool fixed = true, uint32_t* got = nullptr) {
    mm::VirtAddr out;
    const mm::Status s =
        mm::do_mmap(m_, mm::MmapRequest{.addr = mm::VirtAddr(va), .len = len, .prot = prot, .fixed = fixed}, &out);
    if (got) *got = out.value();
    return s;
  }
  sim::Harness h_;
  sim::OnCpu on_;
  mm::MmStruct* m_;
};

TEST_F(VmaTest, MunmapOfAMiddleRangeSplitsAndRemappingMerges) {
  ASSERT_EQ(mmap_at(0x10000000, 10 * P, kRW), mm::Status::kOk);
  EXPECT_EQ(vmas(m_), (std::vector<V>{{0x10000000, 0x1000A000, kRW}}));
  ASSERT_EQ(mm::do_munmap(m_, mm::VirtAddr(0x10004000), 2 * P), mm::Status::kOk);
  EXPECT_EQ(vmas(m_), (std::vector<V>{{0x10000000, 0x10004000, kRW}, {0x10006000, 0x1000A000, kRW}}));
  // Filling the hole with the same flags merges all three back into one.
  ASSERT_EQ(mmap_at(0x10004000, 2 * P, kRW), mm::Status::kOk);
  EXPECT_EQ(vmas(m_), (std::vector<V>{{0x10000000, 0x1000A000, kRW}}));
  // Other flags do not merge.
  ASSERT_EQ(mmap_at(0x1000A000, P, kR), mm::Status::kOk);
  EXPECT_EQ(vmas(m_).size(), 2u);
  // munmap across VMAs and holes, trimming both ends.
  ASSERT_EQ(mm::do_munmap(m_, mm::VirtAddr(0x10009000), 0x3000), mm::Status::kOk);
  EXPECT_EQ(vmas(m_), (std::vector<V>{{0x10000000, 0x10009000, kRW}}));
  // munmap of nothing is fine.
  EXPECT_EQ(mm::do_munmap(m_, mm::VirtAddr(0x20000000), P), mm::Status::kOk);
}

TEST_F(VmaTest, MprotectSplitsAndRemerges) {
  ASSERT_EQ(mmap_at(0x10000000, 8 * P, kRW), mm::Status::kOk);
  ASSERT_EQ(mm::do_mprotect(m_, mm::VirtAddr(0x10002000), 3 * P, kR), mm::Status::kOk);
  EXPECT_EQ(vmas(m_), (std::vector<V>{
                          {0x10000000, 0x10002000, kRW}, {0x10002000, 0x10005000, kR}, {0x10005000, 0x10008000, kRW}}));
  ASSERT_EQ(mm::do_mprotect(m_, mm::VirtAddr(0x10002000), 3 * P, kRW), mm::Status::kOk);
  EXPECT_EQ(vmas(m_), (std::vector<V>{{0x10000000, 0x10008000, kRW}}));
  // A hole in the range: ENOMEM, nothing changed.
  ASSERT_EQ(mm::do_munmap(m_, mm::VirtAddr(0x10004000), P), mm::Status::kOk);
  EXPECT_EQ(mm::do_mprotect(m_, mm::VirtAddr(0x10002000), 4 * P, kR), mm::Status::kNoMem);
  EXPECT_EQ(vmas(m_), (std::vector<V>{{0x10000000, 0x10004000, kRW}, {0x10005000, 0x10008000, kRW}}));
}

TEST_F(VmaTest, FixedMappingReplacesWhatIsThere) {
  ASSERT_EQ(mmap_at(0x10000000, 4 * P, kRW), mm::Status::kOk);
  ASSERT_EQ(mmap_at(0x10001000, 2 * P, kR), mm::Status::kOk);
  EXPECT_EQ(vmas(m_), (std::vector<V>{
                          {0x10000000, 0x10001000, kRW}, {0x10001000, 0x10003000, kR}, {0x10003000, 0x10004000, kRW}}));
}

TEST_F(VmaTest, PlacementUsesTheHintThenTheMmapBase) {
  uint32_t got = 0;
  ASSERT_EQ(mmap_at(0, 3 * P, kRW, false, &got), mm::Status::kOk);
  EXPECT_EQ(got, 0x40000000u) << "first fit from mmap_base";
  ASSERT_EQ(mmap_at(0, P, kR, false, &got), mm::Status::kOk);
  EXPECT_EQ(got, 0x40003000u);
  ASSERT_EQ(mmap_at(0x20000000, P, kR, false, &got), mm::Status::kOk);
  EXPECT_EQ(got, 0x20000000u) << "a free hint is taken";
  ASSERT_EQ(mmap_at(0x40000000, P, kR, false, &got), mm::Status::kOk);
  EXPECT_NE(got, 0x40000000u) << "an occupied hint is not";
  ASSERT_EQ(mmap_at(0xBFFFF000, P, kR, false, &got), mm::Status::kOk);
  EXPECT_EQ(got, 0xBFFFF000u) << "the last user page";
}

TEST_F(VmaTest, BadArgumentsAreRejectedAndChangeNothing) {
  EXPECT_EQ(mmap_at(0x10000800, P, kRW), mm::Status::kInvalid) << "unaligned fixed address";
  EXPECT_EQ(mmap_at(0x10000000, 0, kRW), mm::Status::kInvalid) << "zero length";
  EXPECT_EQ(mmap_at(0xBFFFF000, 2 * P, kRW), mm::Status::kInvalid) << "crosses into the kernel";
  EXPECT_EQ(mmap_at(0xC0000000, P, kRW), mm::Status::kInvalid) << "kernel address";
  EXPECT_EQ(mmap_at(0x10000000, 0xFFFFF001u, kRW), mm::Status::kInvalid) << "length wraps";
  EXPECT_EQ(mmap_at(0x10000000, P, 0x80), mm::Status::kInvalid) << "unknown prot bit";
  EXPECT_EQ(mm::do_munmap(m_, mm::VirtAddr(0x10000001), P), mm::Status::kInvalid);
  EXPECT_EQ(mm::do_munmap(m_, mm::VirtAddr(0xBFFFF000), 0x2000), mm::Status::kInvalid);
  EXPECT_EQ(mm::do_mprotect(m_, mm::VirtAddr(0x10000000), 0, kR), mm::Status::kInvalid);
  EXPECT_TRUE(vmas(m_).empty());
}

TEST_F(VmaTest, FaultsOutsideOrAgainstTheVmaAreRefused) {
  ASSERT_EQ(mmap_at(0x10000000, P, kR), mm::Status::kOk);
  EXPECT_EQ(mm::handle_mm_fault(m_, mm::VirtAddr(0x10001000), {}), mm::Status::kBadAddress);
  EXPECT_EQ(mm::handle_mm_fault(m_, mm::VirtAddr(0x10000000), mm::FaultFlags{.write = true}), mm::Status::kAccess);
  EXPECT_EQ(mm::handle_mm_fault(m_, mm::VirtAddr(0x10000000), mm::FaultFlags{.exec = true}), mm::Status::kAccess);
  EXPECT_EQ(mm::handle_mm_fault(m_, mm::VirtAddr(0xC0001000), {}), mm::Status::kBadAddress) << "kernel address";
  EXPECT_EQ(mm::handle_mm_fault(m_, mm::VirtAddr(0x10000000), {}), mm::Status::kOk);
  EXPECT_EQ(h_.sys().counters.get(mm::Counter::kFaultBad), 4u);
}

}  // namespace
