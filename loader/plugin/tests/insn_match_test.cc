// Telling CR3/CR4 writes, INVLPG and the window marker from their bytes (insn_match.h).
#include "insn_match.h"

#include <gtest/gtest.h>

#include <vector>

#include "mmlab_marker.h"

namespace mmlab::tlb {
namespace {

InsnKind kind(std::vector<uint8_t> b) { return classify(b.data(), b.size()); }

TEST(InsnMatch, MovToCr3FromEveryRegister) {
  for (uint8_t rm = 0; rm < 8; ++rm)
    EXPECT_EQ(kind({0x0F, 0x22, static_cast<uint8_t>(0xD8 | rm)}), InsnKind::kCr3Write);
  // The mod bits are ignored by the CPU: still a register operand.
  EXPECT_EQ(kind({0x0F, 0x22, 0x18}), InsnKind::kCr3Write);
  EXPECT_EQ(kind({0x0F, 0x22, 0x58}), InsnKind::kCr3Write);
}

TEST(InsnMatch, LegacyPrefixesAreSkipped) {
  EXPECT_EQ(kind({0x66, 0x0F, 0x22, 0xD8}), InsnKind::kCr3Write);
  EXPECT_EQ(kind({0x2E, 0x3E, 0x0F, 0x22, 0xD8}), InsnKind::kCr3Write);
  EXPECT_EQ(kind({0x67, 0x0F, 0x01, 0x38}), InsnKind::kInvlpg);
  EXPECT_EQ(kind({0x64, 0x0F, 0x01, 0x3B}), InsnKind::kInvlpg);
  // LOCK MOV CR names CR8 + reg on AMD: CR11 does not exist.
  EXPECT_EQ(kind({0xF0, 0x0F, 0x22, 0xD8}), InsnKind::kOther);
}

TEST(InsnMatch, OtherControlRegistersAndReadsAreNotCr3Writes) {
  EXPECT_EQ(kind({0x0F, 0x22, 0xE0}), InsnKind::kCr4Write);  // mov %eax, %cr4
  EXPECT_EQ(kind({0x0F, 0x22, 0xC0}), InsnKind::kOther);     // mov %eax, %cr0
  EXPECT_EQ(kind({0x0F, 0x22, 0xD0}), InsnKind::kOther);     // mov %eax, %cr2
  EXPECT_EQ(kind({0x0F, 0x20, 0xD8}), InsnKind::kOther);     // mov %cr3, %eax
  EXPECT_EQ(kind({0x0F, 0x23, 0xD8}), InsnKind::kOther);     // mov %eax, %dr3
}

TEST(InsnMatch, InvlpgNeedsAMemoryOperand) {
  EXPECT_EQ(kind({0x0F, 0x01, 0x38}), InsnKind::kInvlpg);                                // invlpg (%eax)
  EXPECT_EQ(kind({0x0F, 0x01, 0x7D, 0xF8}), InsnKind::kInvlpg);                          // invlpg -8(%ebp)
  EXPECT_EQ(kind({0x0F, 0x01, 0xBC, 0x24, 0x00, 0x10, 0x00, 0x00}), InsnKind::kInvlpg);  // invlpg 0x1000(%esp)
  EXPECT_EQ(kind({0x0F, 0x01, 0xF9}), InsnKind::kOther);  // rdtscp: 0F 01 /7 with mod = 3
  EXPECT_EQ(kind({0x0F, 0x01, 0xF8}), InsnKind::kOther);  // swapgs
  EXPECT_EQ(kind({0x0F, 0x01, 0x10}), InsnKind::kOther);  // lgdt (%eax): /2
  EXPECT_EQ(kind({0x0F, 0x01, 0x30}), InsnKind::kOther);  // lmsw: /6
}

TEST(InsnMatch, TheMarkerIsExactlyItsBytes) {
  const std::vector<uint8_t> marker = {MMLAB_MARKER_BYTES};
  ASSERT_EQ(marker.size(), 7u);
  EXPECT_EQ(kind(marker), InsnKind::kMarker);
  // Another displacement, or a prefix, is an ordinary NOP.
  std::vector<uint8_t> other = marker;
  other.back() ^= 1;
  EXPECT_EQ(kind(other), InsnKind::kOther);
  std::vector<uint8_t> prefixed = {0x66};
  prefixed.insert(prefixed.end(), marker.begin(), marker.end());
  EXPECT_EQ(kind(prefixed), InsnKind::kOther);
  EXPECT_EQ(kind({0x0F, 0x1F, 0x00}), InsnKind::kOther);  // nopl (%eax)
}

TEST(InsnMatch, ShortOrEmptyInputIsOther) {
  EXPECT_EQ(classify(nullptr, 3), InsnKind::kOther);
  EXPECT_EQ(kind({}), InsnKind::kOther);
  EXPECT_EQ(kind({0x0F}), InsnKind::kOther);
  EXPECT_EQ(kind({0x0F, 0x22}), InsnKind::kOther);
  EXPECT_EQ(kind({0x66, 0x66, 0x66}), InsnKind::kOther);
  EXPECT_EQ(kind({0x90}), InsnKind::kOther);
}

}  // namespace
}  // namespace mmlab::tlb
