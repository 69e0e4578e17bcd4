// A simulated machine with an mm System on it: what tests and benchmarks
// build for each toggle combination.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "mm/mmap.h"
#include "mm/system.h"
#include "sim/machine.h"

namespace sim {

struct HarnessOptions {
  uint32_t frames = 16384;  // 64 MiB of simulated physical memory
  uint32_t cpus = 4;
  // Frames below this are reserved (physical address 0 stays invalid).
  uint32_t first_free_pfn = 256;
};

class Harness {
 public:
  explicit Harness(const mm::Toggles& toggles, const HarnessOptions& opts = {});
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  Machine& machine() { return *machine_; }
  mm::System& sys() { return *sys_; }
  Cpu& cpu(uint32_t i) { return machine_->cpu(i); }

  // Frames in use per kind right after boot (the kernel's own tables).
  uint32_t baseline(mm::PageKind k) const { return baseline_[static_cast<uint32_t>(k)]; }
  // Frames in use now, per kind (read as CPU 0: call it between steps).
  uint32_t in_use(mm::PageKind k) const;
  // Dynamic split ptls alive now.
  uint32_t live_ptls() const;

 private:
  std::unique_ptr<Machine> machine_;
  std::unique_ptr<mm::System> sys_;
  std::vector<mm::Page> meta_;
  uint32_t baseline_[mm::kNumPageKinds] = {};
};

// A forked or exec'd process as tests drive it: an mm loaded on some CPUs.
// Loads the mm on `cpu` (switch_mm from whatever that CPU had).
void load_on(Harness& h, uint32_t cpu, mm::MmStruct* mm);
// The mm each simulated CPU has in CR3 (nullptr: the kernel's init_mm).
mm::MmStruct* loaded(Harness& h, uint32_t cpu);
// Switches every CPU that runs `mm` back to init_mm.
void unload_everywhere(Harness& h, mm::MmStruct* mm);

}  // namespace sim
