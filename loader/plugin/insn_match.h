// Which instructions the TLB-model plugin counts, told from their bytes at
// translation time (docs/tlb-model.md). IA-32 encodings (Intel SDM Vol. 2):
//   MOV to CR3   0F 22 /r, ModRM.reg = 3 (the mod bits are ignored: always a
//                register operand); legacy prefixes may come first. With a
//                LOCK prefix it names CR11 instead (AMD's CR8 alias), which
//                does not exist: not counted.
//   MOV to CR4   0F 22 /r, ModRM.reg = 4.
//   INVLPG m     0F 01 /7 with a memory operand (ModRM.mod != 3; mod = 3 is
//                RDTSCP, SWAPGS and others).
//   the marker   exactly the bytes of workloads/include/mmlab_marker.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmlab::tlb {

enum class InsnKind : uint8_t { kOther, kCr3Write, kCr4Write, kInvlpg, kMarker };

// The kind of the instruction whose `len` bytes are `bytes`.
InsnKind classify(const uint8_t* bytes, size_t len);

const char* insn_kind_name(InsnKind k);

}  // namespace mmlab::tlb
