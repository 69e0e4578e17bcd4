// The TLB model of the TLB-model plugin (docs/tlb-model.md): one x86 core's
// L1 iTLB, L1 dTLB, shared second-level TLB (STLB) and PAE PDE cache, fed
// with the linear addresses of instruction fetches and data accesses, and
// told of CR3 writes, CR4 writes and INVLPGs. Plain C++: it knows nothing of
// QEMU, so the unit tests drive it with synthetic access streams.
//
// Every page is taken to be 4 KiB. The TLBs are set-associative with true
// LRU within a set, indexed by the low bits of the virtual page number. The
// hierarchy is non-inclusive: an L1 miss looks up the STLB; an STLB hit fills
// the L1, an STLB miss walks the tables and fills both. A walk under PAE
// costs the PTE reference, plus the PDE reference unless the PDE cache holds
// the entry for VA bits 31:21; the PDPTE is one of the four registers loaded
// at the CR3 write (Intel SDM Vol. 3A §4.4.1), so it costs none.
//
// The counts are relaxed atomics written by the model's owner only (one vCPU
// thread), so another thread may read a snapshot while the owner runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace mmlab::tlb {

inline constexpr uint32_t kPageShift = 12;           // 4 KiB pages, always
inline constexpr uint32_t kPdeShift = 21;            // a PAE PDE maps 2 MiB: the PDE cache's key is VA >> 21
inline constexpr uint64_t kGlobalBase = 0xC0000000;  // the kernel half of a 3G/1G split

// A set-associative TLB: `entries` entries in `entries / ways` sets.
struct Geometry {
  uint32_t entries = 0;
  uint32_t ways = 0;
  uint32_t sets() const { return ways ? entries / ways : 0; }
};

// The defaults are Intel Skylake (client) 4 KiB-page TLBs: Intel 64 and
// IA-32 Architectures Optimization Reference Manual, 248966-045 (Feb 2022),
// Table 2-15 "TLB Parameters of the Skylake Microarchitecture". Intel
// publishes no size for the paging-structure caches; 32 PDE-cache entries is
// our assumption (docs/tlb-model.md).
struct Config {
  Geometry itlb{128, 8};
  Geometry dtlb{64, 4};
  Geometry stlb{1536, 12};
  uint32_t pde_cache = 32;    // fully associative, LRU; 0: none (every walk reads the PDE)
  bool kernel_global = true;  // a translation of VA >= kGlobalBase is global (survives CR3 writes)
};

// Limits of a valid geometry (generous; they keep the model's arrays small).
inline constexpr uint32_t kMaxEntries = 65536, kMaxWays = 64, kMaxPdeCache = 256;

// Empty when `g` can be modelled; else why not, naming it as `name`.
std::string validate(const Geometry& g, const std::string& name);
// The same for a whole configuration.
std::string validate(const Config& c);

// A counter one thread writes and any thread may read.
class Count {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// X(name): the model's counts, in output order.
#define MMLAB_TLB_MODEL_COUNTS(X) \
  X(itlb_accesses)                \
  X(itlb_misses)                  \
  X(dtlb_loads)                   \
  X(dtlb_load_misses)             \
  X(dtlb_stores)                  \
  X(dtlb_store_misses)            \
  X(stlb_accesses)                \
  X(stlb_misses)                  \
  X(pde_cache_hits)               \
  X(walk_refs)

struct Stats {
#define MMLAB_X(name) uint64_t name = 0;
  MMLAB_TLB_MODEL_COUNTS(MMLAB_X)
#undef MMLAB_X
};

// One set-associative TLB with true LRU. Tags are virtual page numbers (or,
// for the PDE cache, VA >> 21); each entry remembers whether it is global.
class SetAssocTlb {
 public:
  explicit SetAssocTlb(Geometry g);  // g must be valid

  // Whether `tag` is held; a hit makes it the most recently used of its set.
  bool lookup(uint64_t tag);
  // Puts `tag` (absent) in its set as the most recently used, evicting the
  // least recently used when the set is full.
  void insert(uint64_t tag, bool global);
  // Drops every entry that is not global / every entry.
  void flush_nonglobal();
  void flush_all();

  uint32_t set_of(uint64_t tag) const { return static_cast<uint32_t>(tag & (sets_ - 1)); }
  // A set's tags, most recently used first (tests).
  std::vector<uint64_t> contents(uint32_t set) const;
  uint32_t size() const;  // valid entries in all sets

 private:
  struct Way {
    uint64_t tag;
    bool global;
  };
  Way* set_ways(uint32_t set) { return &ways_[static_cast<size_t>(set) * assoc_]; }
  uint32_t assoc_, sets_;
  std::vector<Way> ways_;       // set by set, each set most recently used first
  std::vector<uint32_t> used_;  // valid entries per set (they are the first ones)
};

class TlbModel {
 public:
  explicit TlbModel(const Config& c);  // c must be valid (validate)

  // An instruction fetch from the page of `va`.
  void fetch(uint64_t va) { access(itlb_, itlb_last_, va >> kPageShift, itlb_accesses_, itlb_misses_); }
  // A data access of `size` bytes at `va` (each 4 KiB page it touches counts once).
  void load(uint64_t va, uint32_t size = 1) { data(va, size, dtlb_loads_, dtlb_load_misses_); }
  void store(uint64_t va, uint32_t size = 1) { data(va, size, dtlb_stores_, dtlb_store_misses_); }

  // MOV to CR3: drops every non-global TLB entry and the whole PDE cache
  // (SDM Vol. 3A §4.10.4.1; no PCIDs under PAE).
  void cr3_write();
  // INVLPG of an address the model does not know (QEMU's plugin API cannot
  // read registers): drops the whole PDE cache, as INVLPG drops every
  // paging-structure-cache entry (SDM §4.10.4.1), and no TLB entry. Each
  // INVLPG therefore bounds the misses the model leaves out.
  void invlpg();
  // MOV to CR4: taken as a change of CR4.PGE, which drops every TLB entry,
  // global ones too, and the PDE cache (SDM §4.10.4.1).
  void cr4_write();

  Stats stats() const;
  const Config& config() const { return config_; }
  // The TLBs themselves (tests).
  const SetAssocTlb& itlb() const { return itlb_; }
  const SetAssocTlb& dtlb() const { return dtlb_; }
  const SetAssocTlb& stlb() const { return stlb_; }

 private:
  // One translation through L1 `l1`; counts the access and the misses.
  // `last`: the page l1 translated last, which is its most recently used
  // entry, so a repeat is a hit that changes nothing (the common case, made
  // cheap: inline, here, as the plugin calls these once per guest access);
  // a flush forgets it.
  void access(SetAssocTlb& l1, uint64_t& last, uint64_t vpn, Count& accesses, Count& misses) {
    accesses.add();
    if (vpn != last) translate(l1, last, vpn, misses);
  }
  void data(uint64_t va, uint32_t size, Count& accesses, Count& misses) {
    const uint64_t first = va >> kPageShift, last = (va + (size ? size - 1 : 0)) >> kPageShift;
    for (uint64_t vpn = first; vpn <= last; ++vpn) access(dtlb_, dtlb_last_, vpn, accesses, misses);
  }
  // The rest of a translation, for a page that is not l1's last.
  void translate(SetAssocTlb& l1, uint64_t& last, uint64_t vpn, Count& misses);
  void walk(uint64_t vpn);
  // Drops every TLB entry (or every non-global one) and the PDE cache.
  void flush(bool globals_too);
  bool global(uint64_t vpn) const { return config_.kernel_global && (vpn << kPageShift) >= kGlobalBase; }

  Config config_;
  SetAssocTlb itlb_, dtlb_, stlb_;
  SetAssocTlb pde_;  // unused when config_.pde_cache == 0
  static constexpr uint64_t kNoPage = ~uint64_t{0};
  uint64_t itlb_last_ = kNoPage, dtlb_last_ = kNoPage;
#define MMLAB_X(name) Count name##_;
  MMLAB_TLB_MODEL_COUNTS(MMLAB_X)
#undef MMLAB_X
};

}  // namespace mmlab::tlb
