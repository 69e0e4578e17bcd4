#include "sim/harness.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

#include "mm/tlb.h"

namespace sim {
namespace {

// Which mm each CPU of each machine has loaded (the scheduler's view).
std::mutex g_loaded_mu;
std::map<std::pair<Machine*, uint32_t>, mm::MmStruct*> g_loaded;

}  // namespace

Harness::Harness(const mm::Toggles& toggles, const HarnessOptions& opts)
    : machine_(std::make_unique<Machine>(opts.frames, opts.cpus)),
      sys_(std::make_unique<mm::System>()),
      meta_(opts.frames) {
  OnCpu on(*machine_, 0);
  mm::SystemConfig cfg;
  cfg.toggles = toggles;
  // A wide vmalloc area: many kernel PMD entries can be created per test.
  cfg.layout.vmalloc_start = 0xC8000000u;
  sys_->init(cfg, meta_.data(), 0, opts.frames);
  sys_->pages.add_free_range(opts.first_free_pfn, opts.frames - opts.first_free_pfn);
  if (sys_->init_kernel_tables() != mm::Status::kOk) {
    std::fprintf(stderr, "harness: cannot build kernel tables\n");
    std::abort();
  }
  // Every CPU starts on init_mm, as after boot.
  for (uint32_t c = 0; c < opts.cpus; ++c) {
    OnCpu oc(*machine_, c);
    machine_->cpu(c).write_cr3(sys_->init_mm.pgd_phys);
  }
  for (uint32_t k = 0; k < mm::kNumPageKinds; ++k) baseline_[k] = sys_->pages.in_use(static_cast<mm::PageKind>(k));
}

Harness::~Harness() {
  std::lock_guard<std::mutex> g(g_loaded_mu);
  for (auto it = g_loaded.begin(); it != g_loaded.end();)
    it = it->first.first == machine_.get() ? g_loaded.erase(it) : std::next(it);
}

uint32_t Harness::in_use(mm::PageKind k) const {
  OnCpu on(*machine_, 0);
  return sys_->pages.in_use(k);
}

uint32_t Harness::live_ptls() const {
  OnCpu on(*machine_, 0);
  return sys_->ptl_cache.live_objects();
}

void load_on(Harness& h, uint32_t cpu, mm::MmStruct* mm) {
  mm::MmStruct* prev = loaded(h, cpu);
  {
    OnCpu on(h.machine(), cpu);
    mm::switch_mm(prev ? prev : &h.sys().init_mm, mm ? mm : &h.sys().init_mm);
  }
  std::lock_guard<std::mutex> g(g_loaded_mu);
  g_loaded[{&h.machine(), cpu}] = mm;
}

mm::MmStruct* loaded(Harness& h, uint32_t cpu) {
  std::lock_guard<std::mutex> g(g_loaded_mu);
  auto it = g_loaded.find({&h.machine(), cpu});
  return it == g_loaded.end() ? nullptr : it->second;
}

void unload_everywhere(Harness& h, mm::MmStruct* mm) {
  for (uint32_t c = 0; c < h.machine().nr_cpus(); ++c)
    if (loaded(h, c) == mm) load_on(h, c, nullptr);
}

}  // namespace sim
