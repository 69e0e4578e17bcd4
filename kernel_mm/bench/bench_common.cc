#include "bench_common.h"

#include <cstdio>
#include <cstdlib>

#include "mm/memory.h"

namespace mmbench {

mm::Toggles make_toggles(std::initializer_list<ToggleSetting> settings) {
  mm::Toggles t;
  for (const ToggleSetting& s : settings) t.set(s.id, s.value);
  return t;
}

std::string toggles_label(const mm::Toggles& t) {
  char buf[256];
  t.format(buf, sizeof(buf));
  return buf;
}

std::string toggle_part(mm::ToggleId id, uint8_t value) {
  const mm::ToggleSpec& spec = mm::kToggleSpecs[static_cast<uint32_t>(id)];
  std::string key = spec.key;
  if (key.rfind("mm.", 0) == 0) key.erase(0, 3);
  return key + "=" + spec.values[value & 1u];
}

void per_op(benchmark::State& state, const std::string& name, double value, double ops) {
  state.counters[name] = ops > 0 ? value / ops : 0.0;
}

void lock_per_op(benchmark::State& state, const CounterAccum& acc, mm::LockClass cls, const std::string& suffix,
                 double ops) {
  const std::string base = mm::lock_class_name(cls);
  per_op(state, base + "_acquire_" + suffix, static_cast<double>(acc.lock(cls, mm::LockStat::kAcquire)), ops);
  per_op(state, base + "_contended_" + suffix, static_cast<double>(acc.lock(cls, mm::LockStat::kContended)), ops);
  per_op(state, base + "_wait_cycles_" + suffix, static_cast<double>(acc.lock(cls, mm::LockStat::kWaitCycles)), ops);
}

uint32_t frames_in_use(sim::Harness& h) {
  uint32_t n = 0;
  for (uint32_t k = 0; k < mm::kNumPageKinds; ++k) {
    const auto kind = static_cast<mm::PageKind>(k);
    if (kind != mm::PageKind::kFree && kind != mm::PageKind::kReserved) n += h.in_use(kind);
  }
  return n;
}

uint32_t pgd_pmd_bytes(const mm::MmUsage& u) { return u.pgd_bytes + u.pmd_tables * mm::kPageSize; }

mm::MmStruct* new_process(sim::Harness& h) {
  mm::MmStruct* m = mm::mm_alloc(h.sys());
  if (!m) {
    std::fprintf(stderr, "mm_bench: mm_alloc failed (simulated memory exhausted)\n");
    std::abort();
  }
  mm::mm_publish(m);
  return m;
}

bool map_fixed(mm::MmStruct* m, uint32_t start, uint32_t pages, uint32_t prot) {
  mm::VirtAddr out;
  return mm::do_mmap(
             m, mm::MmapRequest{.addr = mm::VirtAddr(start), .len = pages * mm::kPageSize, .prot = prot, .fixed = true},
             &out) == mm::Status::kOk;
}

bool touch(mm::MmStruct* m, uint32_t start, uint32_t pages, bool write) {
  for (uint32_t i = 0; i < pages; ++i)
    if (mm::handle_mm_fault(m, mm::VirtAddr(start + i * mm::kPageSize), mm::FaultFlags{.write = write}) !=
        mm::Status::kOk)
      return false;
  return true;
}

void exit_process(sim::Harness& h, mm::MmStruct* m) {
  sim::unload_everywhere(h, m);
  mm::mmput(m);
}

}  // namespace mmbench
