// Every mm counter, by name, in one place.
//
// Counters are per CPU (each CPU adds only to its own cache-line-aligned
// slot, through arch::counter_add) and summed when read, so counting costs
// no shared cache line on the fault path. A snapshot taken while CPUs run
// may be a few events behind; one taken at a quiescent point is exact.
#pragma once

#include <cstdint>

#include "mm/arch.h"
#include "mm/types.h"

namespace mm {

// X(identifier, "name", "what one count means")
#define MM_COUNTERS(X)                                                                     \
  X(kCr3Switch, "cr3_switch", "CR3 load by switch_mm")                                     \
  X(kCr3ReloadPdpte, "cr3_reload_pdpte", "CR3 reload forced by a PGD-entry change (PAE)")  \
  X(kTlbFlushAll, "tlb_flush_all", "full non-global flush (CR3 reload) for other reasons") \
  X(kCr3Boot, "cr3_boot", "CR3 load while a CPU comes up (boot stub, tables, trampoline)") \
  X(kTlbFlushPage, "tlb_flush_page", "INVLPG of one page")                                 \
  X(kTlbShootdownIpi, "tlb_shootdown_ipi", "remote CPU asked to flush")                    \
  X(kPgdAlloc, "pgd_alloc", "pgd_alloc succeeded")                                         \
  X(kPgdAllocFail, "pgd_alloc_fail", "pgd_alloc failed and mopped up")                     \
  X(kPgdFree, "pgd_free", "pgd_free")                                                      \
  X(kPgdInitLate, "pgd_init_late", "kernel part copied after publish (lockless)")          \
  X(kPmdPrealloc, "pmd_prealloc", "PMD preallocated by pgd_alloc")                         \
  X(kPmdMopUp, "pmd_mop_up", "PMD freed by pgd_free's mop-up")                             \
  X(kPmdInstall, "pmd_install", "PMD installed into a PGD on demand")                      \
  X(kPmdInstallLive, "pmd_install_live", "...of which into a PGD loaded on some CPU")      \
  X(kPmdTableFree, "pmd_table_free", "PMD table freed by free_pgtables")                   \
  X(kPteTableAlloc, "pte_table_alloc", "PTE table installed")                              \
  X(kPteTableFree, "pte_table_free", "PTE table freed by free_pgtables")                   \
  X(kPgtScanned, "pgtable_entries_scanned", "PGD/PMD entries examined by free_pgtables")   \
  X(kFaultAnon, "fault_anon", "demand-zero fault")                                         \
  X(kFaultCowCopy, "fault_cow_copy", "write fault that copied a shared page")              \
  X(kFaultCowReuse, "fault_cow_reuse", "write fault that reused an unshared page")         \
  X(kFaultSpurious, "fault_spurious", "fault on an already valid entry (stale TLB)")       \
  X(kFaultBad, "fault_segv", "fault the mm could not resolve")                             \
  X(kFaultOom, "fault_oom", "fault that failed to allocate")                               \
  X(kFaultFile, "fault_file", "fault that mapped a page-cache page")                       \
  X(kFaultFileCow, "fault_file_cow", "write fault that copied a page-cache page")          \
  X(kFaultSigbus, "fault_sigbus", "fault past the end of a mapped file")                   \
  X(kPageCacheFill, "page_cache_fill", "file page read into the page cache")               \
  X(kForkPtesCopied, "fork_ptes_copied", "PTE copied by copy_page_range")                  \
  X(kForkPtesWrprotected, "fork_ptes_wrprotected", "parent PTE made read-only for COW")    \
  X(kPtlCtor, "ptl_ctor", "page-table lock constructed")                                   \
  X(kPtlDtor, "ptl_dtor", "page-table lock destroyed")                                     \
  X(kPtlDynAlloc, "ptl_dyn_alloc", "split lock allocated (ptlock_alloc=dynamic)")          \
  X(kPtlDynFree, "ptl_dyn_free", "split lock freed (ptlock_alloc=dynamic)")                \
  X(kPtlLeak, "ptl_leak", "table page freed with its lock still constructed")              \
  X(kKernelPteTable, "kernel_pte_table", "kernel PTE table created at run time")           \
  X(kKernelSync, "kernel_sync", "kernel PMD entry propagated to a PGD")                    \
  X(kKernelSyncWalk, "kernel_sync_walk", "PGD visited by a kernel-mapping sync")           \
  X(kKernelMap, "kernel_map", "kernel page mapped (vmalloc area)")                         \
  X(kKernelUnmap, "kernel_unmap", "kernel page unmapped (vmalloc area)")                   \
  X(kPageAlloc, "page_alloc", "frame allocated")                                           \
  X(kPageFree, "page_free", "frame freed")                                                 \
  X(kAllocFailInjected, "alloc_fail_injected", "frame allocation failed on purpose")       \
  X(kGatherFlush, "gather_flush", "mmu_gather flush (tables/pages freed after it)")

// Lock classes; each gets acquire / contended / wait_cycles counters. The
// mm core's first, then the kernel's (kernel_mm/kernel, docs/kernel.md "The
// kernel's locks"), which count through the same Counters.
#define MM_LOCK_CLASSES(X)             \
  X(kPgdLock, "pgd_lock")              \
  X(kPageTableLock, "page_table_lock") \
  X(kSplitPtl, "split_ptl")            \
  X(kTasklist, "tasklist_lock")        \
  X(kMmapLock, "mmap_lock")            \
  X(kPageAlloc, "page_alloc_lock")     \
  X(kPcp, "pcp_lock")                  \
  X(kKmemCache, "kmem_cache_lock")     \
  X(kKernelPt, "kernel_pt_lock")       \
  X(kVmap, "vmap_lock")                \
  X(kPageCache, "page_cache_lock")     \
  X(kProcTree, "proctree_lock")        \
  X(kSiglock, "siglock")               \
  X(kAllocLock, "alloc_lock")          \
  X(kFileLock, "file_lock")            \
  X(kFPosLock, "f_pos_lock")           \
  X(kFutexBucket, "futex_bucket_lock") \
  X(kTimerLock, "timer_lock")          \
  X(kPiLock, "pi_lock")                \
  X(kRqLock, "rq_lock")                \
  X(kConsoleLock, "console_lock")      \
  X(kRecordLock, "record_lock")

enum class Counter : uint16_t {
#define MM_X(id, name, doc) id,
  MM_COUNTERS(MM_X)
#undef MM_X
      kCount
};

enum class LockClass : uint8_t {
#define MM_X(id, name) id,
  MM_LOCK_CLASSES(MM_X)
#undef MM_X
      kCount
};

inline constexpr uint32_t kNumPlainCounters = static_cast<uint32_t>(Counter::kCount);
inline constexpr uint32_t kNumLockClasses = static_cast<uint32_t>(LockClass::kCount);
inline constexpr uint32_t kLockStats = 3;  // acquire, contended, wait_cycles
inline constexpr uint32_t kNumCounters = kNumPlainCounters + kNumLockClasses * kLockStats;

enum class LockStat : uint8_t { kAcquire, kContended, kWaitCycles };

constexpr uint32_t counter_index(Counter c) { return static_cast<uint32_t>(c); }
constexpr uint32_t counter_index(LockClass cls, LockStat s) {
  return kNumPlainCounters + static_cast<uint32_t>(cls) * kLockStats + static_cast<uint32_t>(s);
}

// "cr3_switch", "pgd_lock.acquire", ... for index 0..kNumCounters-1. Writes
// into `buf` for lock counters; returns `buf` or a static string.
const char* counter_name(uint32_t index, char* buf, uint32_t len);
const char* lock_class_name(LockClass cls);

struct CounterSnapshot {
  uint64_t v[kNumCounters] = {};
  uint64_t operator[](Counter c) const { return v[counter_index(c)]; }
  uint64_t lock(LockClass cls, LockStat s) const { return v[counter_index(cls, s)]; }
  CounterSnapshot operator-(const CounterSnapshot& o) const {
    CounterSnapshot d;
    for (uint32_t i = 0; i < kNumCounters; ++i) d.v[i] = v[i] - o.v[i];
    return d;
  }
};

class Counters {
 public:
  void add(Counter c, uint64_t n = 1) { add_index(counter_index(c), n); }
  void add_lock(LockClass cls, LockStat s, uint64_t n) { add_index(counter_index(cls, s), n); }
  uint64_t get(Counter c) const { return sum(counter_index(c)); }
  CounterSnapshot snapshot() const {
    CounterSnapshot s;
    for (uint32_t i = 0; i < kNumCounters; ++i) s.v[i] = sum(i);
    return s;
  }

 private:
  void add_index(uint32_t i, uint64_t n) { arch::counter_add(&cpu_[arch::this_cpu()].v[i], n); }
  uint64_t sum(uint32_t i) const {
    uint64_t total = 0;
    for (const Slot& s : cpu_) total += arch::counter_read(&s.v[i]);
    return total;
  }
  struct alignas(64) Slot {
    uint64_t v[kNumCounters] = {};
  };
  Slot cpu_[kMaxCpus];
};

}  // namespace mm
