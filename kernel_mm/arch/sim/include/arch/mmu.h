// The arch interface (mm/arch.h) for hosted builds: the simulated MMU.
#pragma once

#include <x86intrin.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "sim/machine.h"

namespace sim {
void flush_tlb_others(uint32_t cpus, const mm::FlushRequest& req);
void cpu_relax();
}  // namespace sim

namespace arch {

inline uint32_t this_cpu() { return sim::current_cpu().id(); }
inline uint32_t num_cpus() { return sim::current_machine().nr_cpus(); }
inline void write_cr3(mm::PhysAddr pgd) { sim::current_cpu().write_cr3(pgd); }
inline mm::PhysAddr read_cr3() { return sim::current_cpu().read_cr3(); }
inline void invlpg(mm::VirtAddr va) { sim::current_cpu().invlpg(va); }
inline void flush_tlb_others(uint32_t cpus, const mm::FlushRequest& req) { sim::flush_tlb_others(cpus, req); }
inline void* phys_to_virt(mm::PhysAddr pa) { return sim::current_machine().phys_to_virt(pa); }
inline mm::PhysAddr virt_to_phys(const void* p) { return sim::current_machine().virt_to_phys(p); }
inline void zero_frame(mm::PhysAddr pa) { std::memset(phys_to_virt(pa), 0, mm::kPageSize); }
inline void copy_frame(mm::PhysAddr dst, mm::PhysAddr src) {
  std::memcpy(phys_to_virt(dst), phys_to_virt(src), mm::kPageSize);
}
inline uint64_t entry_read(const uint64_t* p) {
  return std::atomic_ref<uint64_t>(*const_cast<uint64_t*>(p)).load(std::memory_order_acquire);
}
inline void entry_write(uint64_t* p, uint64_t v) { std::atomic_ref<uint64_t>(*p).store(v, std::memory_order_release); }
inline uint64_t entry_xchg(uint64_t* p, uint64_t v) { return std::atomic_ref<uint64_t>(*p).exchange(v); }
#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer does not model standalone fences (GCC refuses them): a
// seq_cst read-modify-write of one shared word is a full barrier on x86 and
// visible to TSan. It orders slightly more than a fence does; the orderings
// the mm core argues for (pgd_init_late, switch_mm) hold either way.
inline std::atomic<uint32_t> tsan_fence_word{0};
inline void smp_mb() { tsan_fence_word.fetch_add(0, std::memory_order_seq_cst); }
#else
inline void smp_mb() { std::atomic_thread_fence(std::memory_order_seq_cst); }
#endif
inline void cpu_relax() { sim::cpu_relax(); }
inline uint64_t cycles() { return __rdtsc(); }
inline void counter_add(uint64_t* slot, uint64_t n) {
  std::atomic_ref<uint64_t>(*slot).fetch_add(n, std::memory_order_relaxed);
}
inline uint64_t counter_read(const uint64_t* slot) {
  return std::atomic_ref<uint64_t>(*const_cast<uint64_t*>(slot)).load(std::memory_order_relaxed);
}

}  // namespace arch
