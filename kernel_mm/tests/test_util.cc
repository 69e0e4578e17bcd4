#include "test_util.h"

#include <thread>

#include "mm/pgtable.h"
#include "mm/tlb.h"

namespace mmtest {

std::string toggle_name(const mm::Toggles& t) {
  std::string s;
  for (uint32_t i = 0; i < mm::kNumToggles; ++i) {
    if (i) s += "_";
    const auto id = static_cast<mm::ToggleId>(i);
    if (id == mm::ToggleId::kPmdPrealloc) s += "prealloc";
    s += t.value_name(id);
  }
  return s;
}

std::string toggle_param_name(const ::testing::TestParamInfo<uint32_t>& info) {
  return toggle_name(mm::Toggles::from_index(info.param));
}

TouchResult touch(sim::Harness& h, uint32_t cpu, mm::MmStruct* mm, uint32_t va, bool write, uint32_t value,
                  uint32_t* read_out, int attempts) {
  EXPECT_EQ(sim::loaded(h, cpu), mm) << "touch on a CPU that does not run this mm";
  sim::OnCpu on(h.machine(), cpu);
  sim::Cpu& c = h.cpu(cpu);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt >= 3) std::this_thread::yield();  // let a racing installer finish
    // One access, atomic with respect to shootdowns, as an instruction is.
    uint32_t got = 0;
    if (write ? c.write32(mm::VirtAddr(va), value) : c.read32(mm::VirtAddr(va), &got)) {
      if (read_out) *read_out = got;
      return TouchResult::kOk;
    }
    switch (mm::handle_mm_fault(mm, mm::VirtAddr(va), mm::FaultFlags{.write = write})) {
      case mm::Status::kOk:
        break;
      case mm::Status::kNoMem:
        return TouchResult::kNoMem;
      case mm::Status::kBus:
        return TouchResult::kBus;
      default:
        return TouchResult::kSegv;
    }
  }
  return TouchResult::kStuck;
}

mm::MmStruct* new_mm(sim::Harness& h) {
  sim::OnCpu on(h.machine(), 0);
  mm::MmStruct* m = mm::mm_alloc(h.sys());
  if (m) mm::mm_publish(m);
  return m;
}

void map_fixed(sim::Harness& h, mm::MmStruct* mm, uint32_t va, uint32_t len, uint32_t prot) {
  sim::OnCpu on(h.machine(), 0);
  mm::VirtAddr out;
  ASSERT_EQ(mm::do_mmap(mm, mm::MmapRequest{.addr = mm::VirtAddr(va), .len = len, .prot = prot, .fixed = true}, &out),
            mm::Status::kOk);
  ASSERT_EQ(out.value(), va);
}

void exit_mm(sim::Harness& h, mm::MmStruct* mm) {
  sim::unload_everywhere(h, mm);
  sim::OnCpu on(h.machine(), 0);
  mm::mmput(mm);
}

void expect_no_leaks(sim::Harness& h) {
  sim::OnCpu on(h.machine(), 0);
  mm::System& sys = h.sys();
  // Page caches must have been dropped (FileCache::drop) by now.
  for (mm::PageKind k : {mm::PageKind::kUser, mm::PageKind::kPteTable, mm::PageKind::kPmdTable, mm::PageKind::kPgd,
                         mm::PageKind::kPageCache})
    EXPECT_EQ(h.in_use(k), h.baseline(k)) << "frames of kind " << mm::page_kind_name(k) << " leaked";
  // Kernel frames: the boot tables plus the kernel PTE tables created since
  // (kept for the life of the system, as in Linux).
  const mm::CounterSnapshot c = sys.counters.snapshot();
  EXPECT_EQ(h.in_use(mm::PageKind::kKernel), h.baseline(mm::PageKind::kKernel) + c[mm::Counter::kKernelPteTable])
      << "kernel frames leaked (slabs, vmalloc pages)";
  EXPECT_EQ(c[mm::Counter::kPtlCtor], c[mm::Counter::kPtlDtor]) << "ptl ctor without dtor";
  EXPECT_EQ(c[mm::Counter::kPtlDynAlloc], c[mm::Counter::kPtlDynFree]) << "dynamic ptl leaked";
  EXPECT_EQ(c[mm::Counter::kPtlLeak], 0u) << "a table page was freed with its ptl still constructed";
  EXPECT_EQ(c[mm::Counter::kPgdAlloc], c[mm::Counter::kPgdFree]) << "PGD leaked";
  EXPECT_EQ(sys.ptl_cache.live_objects(), 0u);
  EXPECT_EQ(sys.shmem_cache.live_objects(), 0u) << "a shared-memory object outlived its mappings";
  EXPECT_EQ(sys.mm_cache.live_objects(), 0u);
  EXPECT_EQ(sys.vma_cache.live_objects(), 0u);
  EXPECT_EQ(sys.pgd_cache.live_objects(), 0u);
  {
    mm::SpinGuard g(sys.pgd_lock);
    EXPECT_TRUE(sys.pgd_list.empty()) << "pgd_list not empty";
  }
  {
    mm::ReadGuard g(sys.tasklist_lock);
    EXPECT_TRUE(sys.tasks.empty()) << "task list not empty";
  }
}

Cr3Audit::Cr3Audit(sim::Harness& harness)
    : h(harness),
      machine_before(harness.machine().total_cr3_writes()),
      counters_before(harness.sys().counters.snapshot()) {}

void Cr3Audit::expect_balanced() const {
  const mm::CounterSnapshot d = h.sys().counters.snapshot() - counters_before;
  const uint64_t counted = d[mm::Counter::kCr3Switch] + d[mm::Counter::kCr3ReloadPdpte] + d[mm::Counter::kTlbFlushAll];
  EXPECT_EQ(h.machine().total_cr3_writes() - machine_before, counted)
      << "CR3 writes the CPUs saw differ from those the mm core counted";
}

}  // namespace mmtest
