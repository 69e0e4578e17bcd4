// find_cpus on hand-built firmware tables in a fake physical memory: the
// ACPI MADT through an RSDT and through an XSDT, the MP table, the fallback
// from a broken MADT to the MP table, and the rejections. The real tables
// (QEMU's SeaBIOS) are read by the boot tests (cpus online = -smp N).
#include "formats/cpu_tables.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

using formats::CpuTopology;
using formats::find_cpus;

// 2 MiB of physical memory; reads outside it are refused, so a parser that
// follows a bad pointer gets an error instead of reading host memory.
class Phys {
 public:
  Phys() : mem_(2u << 20, 0) {}

  static bool read(void* ctx, uint64_t pa, void* dst, uint32_t len) {
    auto* self = static_cast<Phys*>(ctx);
    ++self->reads;
    if (pa > self->mem_.size() || len > self->mem_.size() - pa) return false;
    std::memcpy(dst, self->mem_.data() + pa, len);
    return true;
  }

  void put(uint64_t pa, const std::vector<uint8_t>& bytes) {
    std::memcpy(mem_.data() + pa, bytes.data(), bytes.size());
  }
  void u8(uint64_t pa, uint8_t v) { mem_[pa] = v; }
  void u16(uint64_t pa, uint16_t v) { std::memcpy(mem_.data() + pa, &v, 2); }
  void u32(uint64_t pa, uint32_t v) { std::memcpy(mem_.data() + pa, &v, 4); }
  void u64(uint64_t pa, uint64_t v) { std::memcpy(mem_.data() + pa, &v, 8); }
  void str(uint64_t pa, const char* s) { std::memcpy(mem_.data() + pa, s, std::strlen(s)); }
  // Sets the byte at checksum_at so that [pa, pa + len) sums to zero.
  void fix_checksum(uint64_t pa, uint32_t len, uint64_t checksum_at) {
    mem_[checksum_at] = 0;
    uint8_t sum = 0;
    for (uint32_t i = 0; i < len; ++i) sum = static_cast<uint8_t>(sum + mem_[pa + i]);
    mem_[checksum_at] = static_cast<uint8_t>(-sum);
  }

  uint64_t reads = 0;

 private:
  std::vector<uint8_t> mem_;
};

constexpr uint64_t kRsdp = 0xF5A40, kRoot = 0x100000, kMadt = 0x100400, kMpFp = 0xF5B00, kMpCfg = 0xF5C00;

struct MadtEntry {
  uint8_t type;
  uint32_t apic_id;
  bool enabled;
};

// An SDT header at pa: signature, length, revision 1.
void sdt_header(Phys& p, uint64_t pa, const char* sig, uint32_t len) {
  p.str(pa, sig);
  p.u32(pa + 4, len);
  p.u8(pa + 8, 1);
  p.str(pa + 10, "MMLAB ");
}

uint32_t write_madt(Phys& p, const std::vector<MadtEntry>& cpus, uint64_t lapic_override = 0) {
  uint32_t off = 44;
  for (const MadtEntry& e : cpus) {
    if (e.type == 0) {
      p.u8(kMadt + off, 0);
      p.u8(kMadt + off + 1, 8);
      p.u8(kMadt + off + 2, static_cast<uint8_t>(off));  // processor uid
      p.u8(kMadt + off + 3, static_cast<uint8_t>(e.apic_id));
      p.u32(kMadt + off + 4, e.enabled ? 1 : 0);
      off += 8;
    } else {
      p.u8(kMadt + off, 9);
      p.u8(kMadt + off + 1, 16);
      p.u32(kMadt + off + 4, e.apic_id);
      p.u32(kMadt + off + 8, e.enabled ? 1 : 0);
      p.u32(kMadt + off + 12, off);
      off += 16;
    }
  }
  // An I/O APIC entry (type 1) that the parser steps over.
  p.put(kMadt + off, {1, 12, 0, 0, 0, 0, 0xC0, 0xFE, 0, 0, 0, 0});
  off += 12;
  if (lapic_override) {
    p.u8(kMadt + off, 5);
    p.u8(kMadt + off + 1, 12);
    p.u64(kMadt + off + 4, lapic_override);
    off += 12;
  }
  sdt_header(p, kMadt, "APIC", off);
  p.u32(kMadt + 36, 0xFEE00000);
  p.u32(kMadt + 40, 1);  // PCAT_COMPAT
  p.fix_checksum(kMadt, off, kMadt + 9);
  return off;
}

// RSDP revision 0 -> RSDT holding a FACP-like table then the MADT, or
// revision 2 -> XSDT.
void write_acpi(Phys& p, bool xsdt) {
  constexpr uint64_t kOther = 0x100200;
  sdt_header(p, kOther, "FACP", 36);
  p.fix_checksum(kOther, 36, kOther + 9);
  const uint32_t esz = xsdt ? 8 : 4;
  const uint32_t len = 36 + 2 * esz;
  sdt_header(p, kRoot, xsdt ? "XSDT" : "RSDT", len);
  if (xsdt) {
    p.u64(kRoot + 36, kOther);
    p.u64(kRoot + 44, kMadt);
  } else {
    p.u32(kRoot + 36, kOther);
    p.u32(kRoot + 40, kMadt);
  }
  p.fix_checksum(kRoot, len, kRoot + 9);
  p.str(kRsdp, "RSD PTR ");
  p.str(kRsdp + 9, "MMLAB ");
  p.u8(kRsdp + 15, xsdt ? 2 : 0);
  p.u32(kRsdp + 16, xsdt ? 0 : kRoot);
  p.fix_checksum(kRsdp, 20, kRsdp + 8);
  if (xsdt) {
    p.u32(kRsdp + 20, 36);
    p.u64(kRsdp + 24, kRoot);
    p.fix_checksum(kRsdp, 36, kRsdp + 32);
  }
}

void write_mp(Phys& p, const std::vector<std::pair<uint8_t, bool>>& cpus) {
  uint32_t off = 44;
  for (const auto& [id, enabled] : cpus) {
    p.u8(kMpCfg + off, 0);
    p.u8(kMpCfg + off + 1, id);
    p.u8(kMpCfg + off + 2, 0x14);
    p.u8(kMpCfg + off + 3, static_cast<uint8_t>((enabled ? 1 : 0) | (off == 44 ? 2 : 0)));
    off += 20;
  }
  p.put(kMpCfg + off, {1, 0, 'I', 'S', 'A', ' ', ' ', ' '});  // a bus entry
  off += 8;
  p.str(kMpCfg, "PCMP");
  p.u16(kMpCfg + 4, static_cast<uint16_t>(off));
  p.u8(kMpCfg + 6, 4);
  p.u16(kMpCfg + 34, static_cast<uint16_t>(cpus.size() + 1));
  p.u32(kMpCfg + 36, 0xFEE00000);
  p.fix_checksum(kMpCfg, off, kMpCfg + 7);
  p.str(kMpFp, "_MP_");
  p.u32(kMpFp + 4, kMpCfg);
  p.u8(kMpFp + 8, 1);
  p.u8(kMpFp + 9, 4);
  p.fix_checksum(kMpFp, 16, kMpFp + 10);
}

std::vector<uint32_t> ids(const CpuTopology& t) { return {t.apic_ids, t.apic_ids + t.count}; }

TEST(CpuTables, MadtThroughTheRsdt) {
  Phys p;
  write_madt(p, {{0, 0, true}, {0, 1, true}, {0, 2, false}, {0, 3, true}});
  write_acpi(p, false);
  CpuTopology t;
  ASSERT_EQ(find_cpus(Phys::read, &p, &t), nullptr);
  EXPECT_STREQ(t.source, "acpi-madt");
  EXPECT_EQ(ids(t), (std::vector<uint32_t>{0, 1, 3}));
  EXPECT_EQ(t.disabled, 1u);
  EXPECT_EQ(t.dropped, 0u);
  EXPECT_EQ(t.lapic_phys, 0xFEE00000u);
}

TEST(CpuTables, MadtThroughTheXsdtWithX2apicEntriesAndAnAddressOverride) {
  Phys p;
  write_madt(p, {{0, 0, true}, {9, 0, true}, {9, 300, true}, {9, 7, false}}, 0xFED00000);
  write_acpi(p, true);
  CpuTopology t;
  ASSERT_EQ(find_cpus(Phys::read, &p, &t), nullptr);
  EXPECT_EQ(ids(t), (std::vector<uint32_t>{0, 300})) << "APIC id 0 is listed twice and counted once";
  EXPECT_EQ(t.disabled, 1u);
  EXPECT_EQ(t.lapic_phys, 0xFED00000u);
}

TEST(CpuTables, RsdpInTheEbda) {
  Phys p;
  write_madt(p, {{0, 0, true}, {0, 1, true}});
  write_acpi(p, false);
  // Move the RSDP from the BIOS area to the EBDA at 0x9FC00 (segment 0x9FC0).
  std::vector<uint8_t> rsdp(20);
  Phys::read(&p, kRsdp, rsdp.data(), 20);
  p.put(kRsdp, std::vector<uint8_t>(20, 0));
  p.put(0x9FC10, rsdp);
  p.u16(0x40E, 0x9FC0);
  CpuTopology t;
  ASSERT_EQ(find_cpus(Phys::read, &p, &t), nullptr);
  EXPECT_EQ(t.count, 2u);
}

TEST(CpuTables, MpTableAlone) {
  Phys p;
  write_mp(p, {{0, true}, {1, true}, {2, true}, {5, false}});
  CpuTopology t;
  ASSERT_EQ(find_cpus(Phys::read, &p, &t), nullptr);
  EXPECT_STREQ(t.source, "mp-table");
  EXPECT_EQ(ids(t), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(t.disabled, 1u);
}

TEST(CpuTables, ABrokenMadtFallsBackToTheMpTable) {
  Phys p;
  write_madt(p, {{0, 0, true}, {0, 1, true}});
  write_acpi(p, false);
  write_mp(p, {{0, true}, {1, true}, {2, true}});
  p.u8(kMadt + 50, 0x77);  // the MADT's checksum no longer holds
  CpuTopology t;
  ASSERT_EQ(find_cpus(Phys::read, &p, &t), nullptr);
  EXPECT_STREQ(t.source, "mp-table");
  EXPECT_EQ(t.count, 3u);
}

TEST(CpuTables, MoreCpusThanSlotsAreCountedAsDropped) {
  Phys p;
  std::vector<MadtEntry> cpus;
  for (uint32_t i = 0; i < formats::kMaxCpuEntries + 5; ++i) cpus.push_back({0, i, true});
  write_madt(p, cpus);
  write_acpi(p, false);
  CpuTopology t;
  ASSERT_EQ(find_cpus(Phys::read, &p, &t), nullptr);
  EXPECT_EQ(t.count, formats::kMaxCpuEntries);
  EXPECT_EQ(t.dropped, 5u);
}

TEST(CpuTables, Rejections) {
  {
    Phys p;
    CpuTopology t;
    EXPECT_STREQ(find_cpus(Phys::read, &p, &t), "no ACPI RSDP and no MP floating pointer");
    EXPECT_EQ(t.count, 0u);
  }
  {
    Phys p;  // an entry of length 0 would loop forever if not refused
    const uint32_t len = write_madt(p, {{0, 0, true}});
    write_acpi(p, false);
    p.u8(kMadt + 45, 0);
    p.fix_checksum(kMadt, len, kMadt + 9);
    CpuTopology t;
    EXPECT_STREQ(find_cpus(Phys::read, &p, &t), "a MADT entry's length is out of bounds");
  }
  {
    Phys p;  // every CPU disabled
    write_madt(p, {{0, 0, false}});
    write_acpi(p, false);
    CpuTopology t;
    EXPECT_STREQ(find_cpus(Phys::read, &p, &t), "the MADT lists no enabled CPU");
  }
  {
    Phys p;  // the RSDT points outside memory
    write_madt(p, {{0, 0, true}});
    write_acpi(p, false);
    p.u32(kRsdp + 16, 0xFFFFFF00u);
    p.fix_checksum(kRsdp, 20, kRsdp + 8);
    CpuTopology t;
    EXPECT_STREQ(find_cpus(Phys::read, &p, &t), "the RSDT is missing or corrupt");
  }
  {
    Phys p;  // an MP table whose entry count runs past its length
    write_mp(p, {{0, true}});
    p.u16(kMpCfg + 34, 40);
    p.fix_checksum(kMpCfg, 44 + 20 + 8, kMpCfg + 7);
    CpuTopology t;
    EXPECT_STREQ(find_cpus(Phys::read, &p, &t), "an MP table entry runs past the table");
  }
  {
    Phys p;  // the default-configuration MP form (no table) is refused by name
    write_mp(p, {{0, true}});
    p.u8(kMpFp + 11, 5);
    p.fix_checksum(kMpFp, 16, kMpFp + 10);
    CpuTopology t;
    EXPECT_STREQ(find_cpus(Phys::read, &p, &t), "the MP table is a default configuration (no table): not supported");
  }
}

// Every single-byte corruption of the MADT, with no MP table to fall back
// on: an error or a topology, never a read outside memory or a hang.
TEST(CpuTables, EveryByteOfTheMadtCorrupted) {
  Phys base;
  const uint32_t len = write_madt(base, {{0, 0, true}, {0, 1, true}, {9, 2, true}}, 0xFEE00000);
  write_acpi(base, false);
  for (uint32_t i = 0; i < len; ++i) {
    for (const uint8_t v : {0x00, 0x01, 0x7F, 0xFF}) {
      Phys p = base;
      p.u8(kMadt + i, v);
      if (i != 9) p.fix_checksum(kMadt, len, kMadt + 9);
      CpuTopology t;
      const char* err = find_cpus(Phys::read, &p, &t);
      if (err) {
        EXPECT_EQ(t.count, 0u) << i;
      } else {
        EXPECT_GE(t.count, 1u) << i;
        EXPECT_LE(t.count, 3u) << i;
      }
      EXPECT_LT(p.reads, 100000u) << "byte " << i << " made the parser read without end";
    }
  }
}

}  // namespace
