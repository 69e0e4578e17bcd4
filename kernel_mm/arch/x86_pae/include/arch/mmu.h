// The arch interface (mm/arch.h) on a real i386 CPU with PAE paging.
//
// The out-of-line functions are in src/: smp.cc (CPUs online, IPIs for
// remote flushes, cpu_relax) and mm_hooks.cc (frame zeroing and copying,
// mm::assert_fail). The rest is here, inline; this_cpu reads the task
// register (x86.h). No x87/SSE: a kernel does not save FPU state, so 64-bit
// entries are read and written with lock cmpxchg8b.
#pragma once

#include <cstdint>

#include "arch/x86.h"

namespace arch {

inline uint32_t this_cpu() { return x86::this_cpu(); }
uint32_t num_cpus();
void flush_tlb_others(uint32_t cpus, const mm::FlushRequest& req);
void zero_frame(mm::PhysAddr pa);
void copy_frame(mm::PhysAddr dst, mm::PhysAddr src);

// Lowmem is direct-mapped at PAGE_OFFSET; table frames always come from it.
inline void* phys_to_virt(mm::PhysAddr pa) {
  return reinterpret_cast<void*>(static_cast<uintptr_t>(pa.value()) + mm::kPageOffset);
}
inline mm::PhysAddr virt_to_phys(const void* p) {
  return mm::PhysAddr(reinterpret_cast<uintptr_t>(p) - mm::kPageOffset);
}

inline void write_cr3(mm::PhysAddr pgd) {
  // Under PAE this also loads the four PDPTE registers (SDM §4.4.1).
  asm volatile("movl %0, %%cr3" : : "r"(static_cast<uint32_t>(pgd.value())) : "memory");
}
inline mm::PhysAddr read_cr3() {
  uint32_t v;
  asm volatile("movl %%cr3, %0" : "=r"(v));
  return mm::PhysAddr(v);
}
inline void invlpg(mm::VirtAddr va) { asm volatile("invlpg (%0)" : : "r"(va.value()) : "memory"); }

inline uint64_t cmpxchg64(uint64_t* p, uint64_t old, uint64_t val) {
  uint64_t prev;
  asm volatile("lock; cmpxchg8b %1"
               : "=A"(prev), "+m"(*p)
               : "b"(static_cast<uint32_t>(val)), "c"(static_cast<uint32_t>(val >> 32)), "0"(old)
               : "memory");
  return prev;
}
// An atomic 64-bit read: compare with 0 and "store" 0 only if it was 0.
inline uint64_t entry_read(const uint64_t* p) { return cmpxchg64(const_cast<uint64_t*>(p), 0, 0); }
// The bits a paging entry may carry on this CPU (Linux's
// __supported_pte_mask). Without NX the XD bit is reserved (a page fault
// with RSVD set), so the kernel clears it here at boot and every entry
// written drops it: the mm core stays the same on both kinds of CPU.
inline uint64_t supported_pte_mask = ~uint64_t{0};

inline uint64_t entry_xchg(uint64_t* p, uint64_t v) {
  v &= supported_pte_mask;
  uint64_t cur = entry_read(p);
  for (uint64_t prev; (prev = cmpxchg64(p, cur, v)) != cur;) cur = prev;
  return cur;
}
inline void entry_write(uint64_t* p, uint64_t v) { entry_xchg(p, v); }

inline void smp_mb() { asm volatile("lock; addl $0, 0(%%esp)" : : : "memory", "cc"); }
// A spin-wait step: pause, and run the cross-CPU calls (TLB shootdowns)
// waiting for this CPU, since the kernel spins with interrupts off.
void cpu_relax();
inline uint64_t cycles() {
  uint64_t t;
  asm volatile("rdtsc" : "=A"(t));
  return t;
}

// Per-CPU slots are written only by their CPU. add/adc on memory is safe
// against interrupts on that CPU; the caller keeps preemption off.
inline void counter_add(uint64_t* slot, uint64_t n) {
  uint32_t* w = reinterpret_cast<uint32_t*>(slot);
  asm volatile("addl %2, %0\n\tadcl %3, %1"
               : "+m"(w[0]), "+m"(w[1])
               : "ri"(static_cast<uint32_t>(n)), "ri"(static_cast<uint32_t>(n >> 32))
               : "cc");
}
inline uint64_t counter_read(const uint64_t* slot) {
  const volatile uint32_t* w = reinterpret_cast<const volatile uint32_t*>(slot);
  for (;;) {
    const uint32_t hi = w[1];
    const uint32_t lo = w[0];
    if (w[1] == hi) return (uint64_t{hi} << 32) | lo;
  }
}

}  // namespace arch
