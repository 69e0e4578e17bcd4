// The one boundary between the mm core and the machine.
//
// The mm core includes this header and nothing of kernel_mm/arch directly.
// The build picks the implementation with the include path: the kernel build
// puts kernel_mm/arch/x86_pae/include first (real CR3, INVLPG, IPIs), the
// hosted build kernel_mm/arch/sim/include (a simulated PAE MMU). Every
// function is a plain inline or extern function: no virtual call on the
// fault path. The static_asserts at the bottom keep both implementations to
// the same signatures.
#pragma once

#include <cstdint>
#include <type_traits>

#include "mm/types.h"

namespace mm {

class Counters;

// A TLB flush to run on one CPU, locally or on behalf of another CPU (IPI).
struct FlushRequest {
  enum class Kind : uint8_t {
    kPdpteReload,  // a PGD entry changed: reload CR3 so the CPU re-reads the 4 PDPTEs
    kAll,          // flush every non-global translation (a CR3 reload)
    kRange,        // INVLPG each page of [start, end)
    kKernelRange,  // INVLPG each page of a global (kernel) range
  };
  Kind kind = Kind::kAll;
  VirtAddr start;
  VirtAddr end;
  Counters* counters = nullptr;  // where the CPU that runs it counts it
};

// Runs `req` on the calling CPU and counts it. The arch calls it on each
// target CPU of flush_tlb_others (from its IPI handler on hardware).
void flush_tlb_func(const FlushRequest& req);

}  // namespace mm

// The implementation chosen by the include path.
#include <arch/mmu.h>

namespace arch {
// What each implementation must provide (checked below):
//   uint32_t this_cpu();                      the running CPU, 0..kMaxCpus-1
//   uint32_t num_cpus();                      CPUs online
//   void write_cr3(mm::PhysAddr pgd);         load CR3: reloads the four PDPTE
//                                             registers, drops non-global TLB entries
//   mm::PhysAddr read_cr3();
//   void invlpg(mm::VirtAddr va);             drop one page (global too) and the
//                                             paging-structure caches
//   void flush_tlb_others(uint32_t cpus, const mm::FlushRequest&);
//                                             run mm::flush_tlb_func on each CPU in
//                                             `cpus` except this one; returns when done
//   void* phys_to_virt(mm::PhysAddr);         kernel-virtual address of a table frame
//   mm::PhysAddr virt_to_phys(const void*);
//   void zero_frame(mm::PhysAddr); void copy_frame(mm::PhysAddr dst, mm::PhysAddr src);
//   uint64_t entry_read(const uint64_t*);     64-bit paging entries, atomic with respect
//   void entry_write(uint64_t*, uint64_t);    to the MMU's walker and other CPUs
//   uint64_t entry_xchg(uint64_t*, uint64_t);
//   void smp_mb();                            full barrier
//   void cpu_relax(); uint64_t cycles();      spin-wait hint; a cycle clock (TSC)
//   void counter_add(uint64_t*, uint64_t);    add to this CPU's counter slot
//   uint64_t counter_read(const uint64_t*);   read any CPU's slot without tearing
static_assert(std::is_same_v<decltype(&this_cpu), uint32_t (*)()>);
static_assert(std::is_same_v<decltype(&num_cpus), uint32_t (*)()>);
static_assert(std::is_same_v<decltype(&write_cr3), void (*)(mm::PhysAddr)>);
static_assert(std::is_same_v<decltype(&read_cr3), mm::PhysAddr (*)()>);
static_assert(std::is_same_v<decltype(&invlpg), void (*)(mm::VirtAddr)>);
static_assert(std::is_same_v<decltype(&flush_tlb_others), void (*)(uint32_t, const mm::FlushRequest&)>);
static_assert(std::is_same_v<decltype(&phys_to_virt), void* (*)(mm::PhysAddr)>);
static_assert(std::is_same_v<decltype(&virt_to_phys), mm::PhysAddr (*)(const void*)>);
static_assert(std::is_same_v<decltype(&zero_frame), void (*)(mm::PhysAddr)>);
static_assert(std::is_same_v<decltype(&copy_frame), void (*)(mm::PhysAddr, mm::PhysAddr)>);
static_assert(std::is_same_v<decltype(&entry_read), uint64_t (*)(const uint64_t*)>);
static_assert(std::is_same_v<decltype(&entry_write), void (*)(uint64_t*, uint64_t)>);
static_assert(std::is_same_v<decltype(&entry_xchg), uint64_t (*)(uint64_t*, uint64_t)>);
static_assert(std::is_same_v<decltype(&smp_mb), void (*)()>);
static_assert(std::is_same_v<decltype(&cpu_relax), void (*)()>);
static_assert(std::is_same_v<decltype(&cycles), uint64_t (*)()>);
static_assert(std::is_same_v<decltype(&counter_add), void (*)(uint64_t*, uint64_t)>);
static_assert(std::is_same_v<decltype(&counter_read), uint64_t (*)(const uint64_t*)>);
}  // namespace arch
