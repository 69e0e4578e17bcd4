// Which CPUs the machine has, from the firmware's tables: the ACPI MADT
// (ACPI 6.5 §5.2.12), or, where there is no ACPI, the Intel MultiProcessor
// Specification 1.4 table (chapter 4). QEMU's SeaBIOS writes both.
//
//   ACPI  "RSD PTR " (RSDP, 16-byte aligned in the first KiB of the EBDA or
//         in 0xE0000-0xFFFFF; checksum over 20 bytes, over `length` too from
//         revision 2) -> RSDT (32-bit pointers) or XSDT (64-bit) -> "APIC":
//         36-byte header, local APIC address (+36), flags (+40), entries from
//         +44: type, length, body. Type 0: processor local APIC (uid, APIC
//         id, flags: bit 0 enabled, bit 1 online capable); type 5: local
//         APIC address override (64-bit address at +4); type 9: processor
//         local x2APIC (32-bit APIC id at +4, flags at +8).
//   MP    "_MP_" floating pointer (16 bytes, same places plus 0x9FC00) ->
//         "PCMP" configuration table: 44-byte header (entry count at +34,
//         local APIC address at +36), processor entries (type 0, 20 bytes:
//         APIC id, version, flags: bit 0 enabled, bit 1 bootstrap), other
//         entries 8 bytes.
//
// Untrusted input: every pointer, length and checksum is checked, and the
// parser reads physical memory only through the caller's `read`, which may
// refuse a range. An error is a static string naming the problem.
#pragma once

#include <cstdint>

namespace formats {

inline constexpr uint32_t kMaxCpuEntries = 32;

struct CpuTopology {
  uint32_t apic_ids[kMaxCpuEntries] = {};  // enabled CPUs, in table order
  uint32_t count = 0;                      // entries in apic_ids
  uint32_t disabled = 0;                   // CPUs the table lists as not enabled (never started)
  uint32_t dropped = 0;                    // enabled CPUs beyond kMaxCpuEntries
  uint64_t lapic_phys = 0xFEE00000;        // the local APIC's MMIO base
  const char* source = "none";             // "acpi-madt" or "mp-table"
};

// Copies [pa, pa + len) of physical memory to dst; false if it cannot.
using PhysRead = bool (*)(void* ctx, uint64_t pa, void* dst, uint32_t len);

// Fills `out` from the MADT, or from the MP table when there is no usable
// MADT. nullptr on success; otherwise why neither table could be used
// (`out` then holds nothing).
const char* find_cpus(PhysRead read, void* ctx, CpuTopology* out);

}  // namespace formats
