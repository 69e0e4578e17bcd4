#include "tlb_model.h"

#include <algorithm>
#include <string>

namespace mmlab::tlb {

namespace {

bool power_of_two(uint32_t v) { return v && !(v & (v - 1)); }

}  // namespace

std::string validate(const Geometry& g, const std::string& name) {
  const std::string got = name + " " + std::to_string(g.entries) + ":" + std::to_string(g.ways);
  if (g.entries == 0 || g.ways == 0) return got + ": entries and ways must be at least 1";
  if (g.entries > kMaxEntries) return got + ": at most " + std::to_string(kMaxEntries) + " entries";
  if (g.ways > kMaxWays) return got + ": at most " + std::to_string(kMaxWays) + " ways";
  if (g.entries % g.ways) return got + ": the entries must be a multiple of the ways";
  if (!power_of_two(g.sets()))
    return got + ": " + std::to_string(g.sets()) + " sets; the sets (entries / ways) must be a power of two";
  return "";
}

std::string validate(const Config& c) {
  for (const auto& [g, name] : {std::pair{&c.itlb, "itlb"}, {&c.dtlb, "dtlb"}, {&c.stlb, "stlb"}})
    if (std::string why = validate(*g, name); !why.empty()) return why;
  if (c.pde_cache > kMaxPdeCache)
    return "pde " + std::to_string(c.pde_cache) + ": at most " + std::to_string(kMaxPdeCache) + " entries";
  return "";
}

SetAssocTlb::SetAssocTlb(Geometry g)
    : assoc_(g.ways), sets_(g.sets()), ways_(static_cast<size_t>(g.entries)), used_(g.sets(), 0) {}

bool SetAssocTlb::lookup(uint64_t tag) {
  const uint32_t set = set_of(tag);
  Way* w = set_ways(set);
  const uint32_t n = used_[set];
  for (uint32_t i = 0; i < n; ++i) {
    if (w[i].tag != tag) continue;
    const Way hit = w[i];
    std::copy_backward(w, w + i, w + i + 1);  // the ones more recent than it move down one
    w[0] = hit;
    return true;
  }
  return false;
}

void SetAssocTlb::insert(uint64_t tag, bool global) {
  const uint32_t set = set_of(tag);
  Way* w = set_ways(set);
  uint32_t& n = used_[set];
  if (n < assoc_) ++n;  // else the least recently used (w[n - 1]) falls off the end
  std::copy_backward(w, w + n - 1, w + n);
  w[0] = Way{tag, global};
}

void SetAssocTlb::flush_nonglobal() {
  for (uint32_t set = 0; set < sets_; ++set) {
    Way* w = set_ways(set);
    // Keeps the global ones in their LRU order, at the front.
    used_[set] =
        static_cast<uint32_t>(std::stable_partition(w, w + used_[set], [](const Way& x) { return x.global; }) - w);
  }
}

void SetAssocTlb::flush_all() { std::fill(used_.begin(), used_.end(), 0); }

std::vector<uint64_t> SetAssocTlb::contents(uint32_t set) const {
  std::vector<uint64_t> out;
  for (uint32_t i = 0; i < used_.at(set); ++i) out.push_back(ways_[static_cast<size_t>(set) * assoc_ + i].tag);
  return out;
}

uint32_t SetAssocTlb::size() const {
  uint32_t n = 0;
  for (uint32_t u : used_) n += u;
  return n;
}

TlbModel::TlbModel(const Config& c)
    : config_(c),
      itlb_(c.itlb),
      dtlb_(c.dtlb),
      stlb_(c.stlb),
      pde_(Geometry{std::max(c.pde_cache, 1u), std::max(c.pde_cache, 1u)}) {}

void TlbModel::translate(SetAssocTlb& l1, uint64_t& last, uint64_t vpn, Count& misses) {
  last = vpn;
  if (l1.lookup(vpn)) return;
  misses.add();
  stlb_accesses_.add();
  const bool g = global(vpn);
  if (!stlb_.lookup(vpn)) {
    stlb_misses_.add();
    walk(vpn);
    stlb_.insert(vpn, g);
  }
  l1.insert(vpn, g);
}

void TlbModel::walk(uint64_t vpn) {
  // The PDPTE: a register (no reference). The PDE: a reference unless cached.
  // The PTE: always a reference (the TLBs are what cache it).
  uint64_t refs = 1;
  const uint64_t pde_tag = vpn >> (kPdeShift - kPageShift);
  if (config_.pde_cache && pde_.lookup(pde_tag)) {
    pde_cache_hits_.add();
  } else {
    ++refs;
    if (config_.pde_cache) pde_.insert(pde_tag, false);
  }
  walk_refs_.add(refs);
}

void TlbModel::flush(bool globals_too) {
  itlb_last_ = dtlb_last_ = kNoPage;
  for (SetAssocTlb* t : {&itlb_, &dtlb_, &stlb_}) globals_too ? t->flush_all() : t->flush_nonglobal();
  pde_.flush_all();  // the paging-structure caches know no global entries
}

void TlbModel::cr3_write() { flush(false); }

void TlbModel::invlpg() { pde_.flush_all(); }

void TlbModel::cr4_write() { flush(true); }

Stats TlbModel::stats() const {
  Stats s;
#define MMLAB_X(name) s.name = name##_.get();
  MMLAB_TLB_MODEL_COUNTS(MMLAB_X)
#undef MMLAB_X
  return s;
}

}  // namespace mmlab::tlb
