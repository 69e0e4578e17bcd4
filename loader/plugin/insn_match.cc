#include "insn_match.h"

#include <cstring>

#include "mmlab_marker.h"

namespace mmlab::tlb {

namespace {

constexpr uint8_t kMarker[] = {MMLAB_MARKER_BYTES};
static_assert(sizeof(kMarker) == MMLAB_MARKER_LEN);

constexpr uint8_t kLock = 0xF0;

// The legacy prefixes (SDM Vol. 2 §2.1.1): lock and repeat, segment
// overrides, operand and address size. IA-32 has no REX.
bool legacy_prefix(uint8_t b) {
  switch (b) {
    case 0xF0:
    case 0xF2:
    case 0xF3:
    case 0x2E:
    case 0x36:
    case 0x3E:
    case 0x26:
    case 0x64:
    case 0x65:
    case 0x66:
    case 0x67:
      return true;
    default:
      return false;
  }
}

}  // namespace

InsnKind classify(const uint8_t* bytes, size_t len) {
  if (!bytes) return InsnKind::kOther;
  if (len == sizeof(kMarker) && std::memcmp(bytes, kMarker, sizeof(kMarker)) == 0) return InsnKind::kMarker;
  size_t i = 0;
  bool lock = false;
  for (; i < len && legacy_prefix(bytes[i]); ++i) lock |= bytes[i] == kLock;
  if (i + 2 >= len || bytes[i] != 0x0F) return InsnKind::kOther;
  const uint8_t op = bytes[i + 1], modrm = bytes[i + 2];
  const uint8_t mod = modrm >> 6, reg = (modrm >> 3) & 7;
  if (op == 0x22 && !lock) {
    if (reg == 3) return InsnKind::kCr3Write;
    if (reg == 4) return InsnKind::kCr4Write;
  }
  if (op == 0x01 && reg == 7 && mod != 3) return InsnKind::kInvlpg;
  return InsnKind::kOther;
}

const char* insn_kind_name(InsnKind k) {
  switch (k) {
    case InsnKind::kCr3Write:
      return "cr3_write";
    case InsnKind::kCr4Write:
      return "cr4_write";
    case InsnKind::kInvlpg:
      return "invlpg";
    case InsnKind::kMarker:
      return "marker";
    case InsnKind::kOther:
      break;
  }
  return "other";
}

}  // namespace mmlab::tlb
