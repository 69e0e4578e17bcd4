#include "formats/cpu_tables.h"

#include <cstring>

namespace formats {
namespace {

// Tables longer than this are refused (a real MADT for 256 CPUs is ~2 KiB).
constexpr uint32_t kMaxTableLen = 64 * 1024;
constexpr uint32_t kSdtHeaderLen = 36;
constexpr const char* kNoRsdp = "no ACPI RSDP";
constexpr const char* kNoMpPointer = "no MP floating pointer";

class Reader {
 public:
  Reader(PhysRead read, void* ctx) : read_(read), ctx_(ctx) {}

  bool bytes(uint64_t pa, void* dst, uint32_t len) const {
    if (pa + len < pa) return false;
    return read_(ctx_, pa, dst, len);
  }
  bool u8(uint64_t pa, uint8_t* v) const { return bytes(pa, v, 1); }
  bool u16(uint64_t pa, uint16_t* v) const { return bytes(pa, v, 2); }
  bool u32(uint64_t pa, uint32_t* v) const { return bytes(pa, v, 4); }
  bool u64(uint64_t pa, uint64_t* v) const { return bytes(pa, v, 8); }

  // The byte sum of [pa, pa + len) is 0 mod 256 (every table's checksum rule).
  bool sums_to_zero(uint64_t pa, uint32_t len) const {
    uint8_t chunk[64];
    uint8_t sum = 0;
    for (uint32_t off = 0; off < len;) {
      const uint32_t n = len - off < sizeof(chunk) ? len - off : sizeof(chunk);
      if (!bytes(pa + off, chunk, n)) return false;
      for (uint32_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + chunk[i]);
      off += n;
    }
    return sum == 0;
  }

  // The first 16-byte aligned address in [start, end) holding `sig`
  // (sig_len bytes) whose first check_len bytes sum to zero; 0 if none.
  uint64_t scan(uint64_t start, uint64_t end, const char* sig, uint32_t sig_len, uint32_t check_len) const {
    for (uint64_t pa = start; pa + check_len <= end; pa += 16) {
      char buf[8];
      if (!bytes(pa, buf, sig_len) || std::memcmp(buf, sig, sig_len) != 0) continue;
      if (sums_to_zero(pa, check_len)) return pa;
    }
    return 0;
  }

 private:
  PhysRead read_;
  void* ctx_;
};

// The EBDA's first KiB (its segment is the BIOS data area word at 0x40E),
// then the BIOS ROM area: where both specifications put their pointers.
uint64_t scan_bios_areas(const Reader& r, const char* sig, uint32_t sig_len, uint32_t check_len, bool base_mem_top) {
  uint16_t ebda_seg = 0;
  if (r.u16(0x40E, &ebda_seg) && ebda_seg) {
    const uint64_t ebda = uint64_t{ebda_seg} << 4;
    if (const uint64_t pa = r.scan(ebda, ebda + 1024, sig, sig_len, check_len)) return pa;
  }
  if (base_mem_top)
    if (const uint64_t pa = r.scan(0x9FC00, 0xA0000, sig, sig_len, check_len)) return pa;
  return r.scan(base_mem_top ? 0xF0000 : 0xE0000, 0x100000, sig, sig_len, check_len);
}

void add_cpu(CpuTopology* out, uint32_t apic_id, bool enabled) {
  if (!enabled) {
    ++out->disabled;
    return;
  }
  for (uint32_t i = 0; i < out->count; ++i)
    if (out->apic_ids[i] == apic_id) return;  // listed twice (a type 0 and a type 9 entry)
  if (out->count == kMaxCpuEntries) {
    ++out->dropped;
    return;
  }
  out->apic_ids[out->count++] = apic_id;
}

// A valid SDT at pa with signature sig: its length, or 0.
uint32_t sdt_length(const Reader& r, uint64_t pa, const char* sig) {
  char s[4];
  uint32_t len = 0;
  if (!r.bytes(pa, s, 4) || std::memcmp(s, sig, 4) != 0 || !r.u32(pa + 4, &len)) return 0;
  if (len < kSdtHeaderLen || len > kMaxTableLen || !r.sums_to_zero(pa, len)) return 0;
  return len;
}

const char* parse_madt(const Reader& r, uint64_t madt, uint32_t len, CpuTopology* out) {
  if (len < 44) return "the MADT is shorter than its fixed fields";
  uint32_t lapic = 0;
  if (!r.u32(madt + 36, &lapic)) return "the MADT cannot be read";
  out->lapic_phys = lapic;
  for (uint32_t off = 44; off < len;) {
    uint8_t type = 0, elen = 0;
    if (off + 2 > len || !r.u8(madt + off, &type) || !r.u8(madt + off + 1, &elen))
      return "a MADT entry header runs past the table";
    if (elen < 2 || off + elen > len) return "a MADT entry's length is out of bounds";
    if (type == 0 && elen >= 8) {
      uint8_t apic_id = 0;
      uint32_t flags = 0;
      if (!r.u8(madt + off + 3, &apic_id) || !r.u32(madt + off + 4, &flags)) return "the MADT cannot be read";
      add_cpu(out, apic_id, flags & 1);
    } else if (type == 5 && elen >= 12) {
      uint64_t a = 0;
      if (!r.u64(madt + off + 4, &a)) return "the MADT cannot be read";
      out->lapic_phys = a;
    } else if (type == 9 && elen >= 16) {
      uint32_t apic_id = 0, flags = 0;
      if (!r.u32(madt + off + 4, &apic_id) || !r.u32(madt + off + 8, &flags)) return "the MADT cannot be read";
      add_cpu(out, apic_id, flags & 1);
    }
    off += elen;
  }
  if (out->count == 0) return "the MADT lists no enabled CPU";
  out->source = "acpi-madt";
  return nullptr;
}

const char* from_acpi(const Reader& r, CpuTopology* out) {
  const uint64_t rsdp = scan_bios_areas(r, "RSD PTR ", 8, 20, false);
  if (!rsdp) return kNoRsdp;
  uint8_t rev = 0;
  uint32_t rsdt = 0;
  if (!r.u8(rsdp + 15, &rev) || !r.u32(rsdp + 16, &rsdt)) return "the RSDP cannot be read";
  uint64_t root = rsdt;
  uint32_t entry_size = 4;
  const char* root_sig = "RSDT";
  if (rev >= 2) {
    uint32_t rlen = 0;
    uint64_t xsdt = 0;
    if (r.u32(rsdp + 20, &rlen) && rlen >= 36 && rlen <= 64 && r.sums_to_zero(rsdp, rlen) && r.u64(rsdp + 24, &xsdt) &&
        xsdt) {
      root = xsdt;
      entry_size = 8;
      root_sig = "XSDT";
    }
  }
  const uint32_t root_len = sdt_length(r, root, root_sig);
  if (!root_len) return entry_size == 8 ? "the XSDT is missing or corrupt" : "the RSDT is missing or corrupt";
  for (uint32_t off = kSdtHeaderLen; off + entry_size <= root_len; off += entry_size) {
    uint64_t table = 0;
    if (entry_size == 8 ? !r.u64(root + off, &table) : !r.bytes(root + off, &table, 4)) continue;
    if (const uint32_t len = sdt_length(r, table, "APIC")) return parse_madt(r, table, len, out);
  }
  return "the ACPI tables have no valid MADT";
}

const char* from_mp(const Reader& r, CpuTopology* out) {
  const uint64_t fp = scan_bios_areas(r, "_MP_", 4, 16, true);
  if (!fp) return kNoMpPointer;
  uint32_t cfg = 0;
  uint8_t feature1 = 0;
  if (!r.u32(fp + 4, &cfg) || !r.u8(fp + 11, &feature1)) return "the MP floating pointer cannot be read";
  if (feature1 != 0 || cfg == 0) return "the MP table is a default configuration (no table): not supported";
  char sig[4];
  uint16_t len = 0, count = 0;
  uint32_t lapic = 0;
  if (!r.bytes(cfg, sig, 4) || std::memcmp(sig, "PCMP", 4) != 0 || !r.u16(cfg + 4, &len) || !r.u16(cfg + 34, &count) ||
      !r.u32(cfg + 36, &lapic))
    return "the MP configuration table is missing";
  if (len < 44 || !r.sums_to_zero(cfg, len)) return "the MP configuration table is corrupt";
  out->lapic_phys = lapic;
  uint32_t off = 44;
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t type = 0;
    if (off >= len || !r.u8(cfg + off, &type)) return "an MP table entry runs past the table";
    const uint32_t elen = type == 0 ? 20 : 8;
    if (type > 4) return "an MP table entry has an unknown type";
    if (off + elen > len) return "an MP table entry runs past the table";
    if (type == 0) {
      uint8_t apic_id = 0, flags = 0;
      if (!r.u8(cfg + off + 1, &apic_id) || !r.u8(cfg + off + 3, &flags)) return "the MP table cannot be read";
      add_cpu(out, apic_id, flags & 1);
    }
    off += elen;
  }
  if (out->count == 0) return "the MP table lists no enabled CPU";
  out->source = "mp-table";
  return nullptr;
}

}  // namespace

const char* find_cpus(PhysRead read, void* ctx, CpuTopology* out) {
  const Reader r(read, ctx);
  *out = CpuTopology{};
  const char* acpi_err = from_acpi(r, out);
  if (!acpi_err) return nullptr;
  *out = CpuTopology{};
  const char* mp_err = from_mp(r, out);
  if (!mp_err) return nullptr;
  *out = CpuTopology{};
  // The reason that says most: a table that is there but broken.
  if (acpi_err != kNoRsdp) return acpi_err;
  if (mp_err != kNoMpPointer) return mp_err;
  return "no ACPI RSDP and no MP floating pointer";
}

}  // namespace formats
