// The firmware-table parser of lib/formats (ACPI MADT, MP table) on arbitrary
// bytes. The input is the physical memory from 0xE0000 (the BIOS area the
// RSDP and the MP floating pointer are searched in) on; every other
// address reads as absent, so a pointer the parser follows lands in the
// input or is refused. It always ends, and what it reports is consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "formats/cpu_tables.h"

namespace {

struct Memory {
  const uint8_t* data;
  size_t size;
  uint64_t reads;
};
constexpr uint64_t kBase = 0xE0000;

bool read(void* ctx, uint64_t pa, void* dst, uint32_t len) {
  auto* m = static_cast<Memory*>(ctx);
  if (++m->reads > 10'000'000) abort();  // the parser must not read without end
  if (pa < kBase || pa - kBase > m->size || len > m->size - (pa - kBase)) return false;
  std::memcpy(dst, m->data + (pa - kBase), len);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  Memory m{data, size, 0};
  formats::CpuTopology t;
  const char* err = formats::find_cpus(read, &m, &t);
  if (err && (t.count != 0 || err[0] == 0)) abort();
  if (!err && (t.count == 0 || t.count > formats::kMaxCpuEntries)) abort();
  for (uint32_t i = 0; i < t.count; ++i)
    for (uint32_t j = 0; j < i; ++j)
      if (t.apic_ids[i] == t.apic_ids[j]) abort();  // each CPU once
  return 0;
}
