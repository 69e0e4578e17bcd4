// The TLB model on synthetic access streams (docs/tlb-model.md).
#include "tlb_model.h"

#include <gtest/gtest.h>

#include <vector>

namespace mmlab::tlb {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kUser = 0x08048000;    // a user address
constexpr uint64_t kKernel = 0xC0100000;  // a kernel (global) address

// A small model whose sets are easy to fill: 2-way L1s of 4 sets, a 4-way
// STLB of 4 sets, a 2-entry PDE cache.
Config small() {
  Config c;
  c.itlb = {8, 2};
  c.dtlb = {8, 2};
  c.stlb = {16, 4};
  c.pde_cache = 2;
  return c;
}

TEST(SetAssocTlb, SetIndexIsTheLowBitsOfTheTag) {
  SetAssocTlb t(Geometry{64, 4});  // 16 sets
  EXPECT_EQ(t.set_of(0), 0u);
  EXPECT_EQ(t.set_of(5), 5u);
  EXPECT_EQ(t.set_of(16 + 5), 5u);
  EXPECT_EQ(t.set_of(0xC0100 + 3), (0xC0100u + 3) % 16);
  t.insert(5, false);
  t.insert(21, false);
  EXPECT_EQ(t.contents(5), (std::vector<uint64_t>{21, 5}));
  for (uint32_t s = 0; s < 16; ++s)
    if (s != 5) EXPECT_TRUE(t.contents(s).empty()) << s;
}

TEST(SetAssocTlb, EvictsTheLeastRecentlyUsedOfTheSet) {
  SetAssocTlb t(Geometry{8, 4});  // 2 sets: even tags in set 0
  for (uint64_t tag : {0, 2, 4, 6}) t.insert(tag, false);
  EXPECT_EQ(t.contents(0), (std::vector<uint64_t>{6, 4, 2, 0}));
  EXPECT_TRUE(t.lookup(0));  // 0 becomes the most recent; 2 is now the least
  EXPECT_EQ(t.contents(0), (std::vector<uint64_t>{0, 6, 4, 2}));
  t.insert(8, false);
  EXPECT_EQ(t.contents(0), (std::vector<uint64_t>{8, 0, 6, 4}));
  EXPECT_FALSE(t.lookup(2));
  EXPECT_TRUE(t.lookup(4));
  t.insert(10, false);  // evicts 6, not 4 (just used)
  EXPECT_EQ(t.contents(0), (std::vector<uint64_t>{10, 4, 8, 0}));
  // The other set is untouched by all this.
  EXPECT_TRUE(t.contents(1).empty());
  t.insert(1, false);
  EXPECT_EQ(t.size(), 5u);
}

TEST(SetAssocTlb, FlushNonGlobalKeepsTheGlobalOnesInTheirOrder) {
  SetAssocTlb t(Geometry{4, 4});
  t.insert(1, true);
  t.insert(2, false);
  t.insert(3, true);
  t.insert(4, false);
  t.flush_nonglobal();
  EXPECT_EQ(t.contents(0), (std::vector<uint64_t>{3, 1}));
  t.insert(5, false);
  t.insert(6, false);
  t.insert(7, false);  // the set is full again: 1 is the least recently used
  EXPECT_EQ(t.contents(0), (std::vector<uint64_t>{7, 6, 5, 3}));
  t.flush_all();
  EXPECT_EQ(t.size(), 0u);
}

TEST(TlbModel, FirstTouchWalksThenHits) {
  TlbModel m(small());
  m.load(kUser);
  m.load(kUser + 8);  // same page
  const Stats s = m.stats();
  EXPECT_EQ(s.dtlb_loads, 2u);
  EXPECT_EQ(s.dtlb_load_misses, 1u);
  EXPECT_EQ(s.stlb_accesses, 1u);
  EXPECT_EQ(s.stlb_misses, 1u);
  EXPECT_EQ(s.walk_refs, 2u);  // PDE + PTE; the PDPTE is a register
  EXPECT_EQ(s.pde_cache_hits, 0u);
}

TEST(TlbModel, StlbHitAfterAnL1Miss) {
  TlbModel m(small());
  // Three pages in one dTLB set (4 sets: a stride of 4 pages): the third
  // evicts the first from the 2-way L1, but the 4-way STLB keeps it.
  for (uint64_t i = 0; i < 3; ++i) m.load(kUser + i * 4 * kPage);
  m.load(kUser);
  const Stats s = m.stats();
  EXPECT_EQ(s.dtlb_load_misses, 4u);
  EXPECT_EQ(s.stlb_accesses, 4u);
  EXPECT_EQ(s.stlb_misses, 3u);          // the fourth access hit the STLB: no walk
  EXPECT_EQ(s.walk_refs, 2u + 1u + 1u);  // one PDE read, then the PDE cache holds it (all in one 2 MiB region)
  // And the STLB refilled the L1: the next access hits.
  m.load(kUser);
  EXPECT_EQ(m.stats().dtlb_load_misses, 4u);
}

TEST(TlbModel, InstructionAndDataTlbsShareTheStlb) {
  TlbModel m(small());
  m.fetch(kUser);
  m.load(kUser);  // a dTLB miss, an STLB hit
  m.store(kUser + 4);
  const Stats s = m.stats();
  EXPECT_EQ(s.itlb_accesses, 1u);
  EXPECT_EQ(s.itlb_misses, 1u);
  EXPECT_EQ(s.dtlb_load_misses, 1u);
  EXPECT_EQ(s.dtlb_stores, 1u);
  EXPECT_EQ(s.dtlb_store_misses, 0u);
  EXPECT_EQ(s.stlb_accesses, 2u);
  EXPECT_EQ(s.stlb_misses, 1u);
}

TEST(TlbModel, WalkReferencesWithAndWithoutPdeCacheHits) {
  TlbModel m(small());
  m.load(kUser);               // miss: PDE + PTE
  m.load(kUser + kPage);       // same 2 MiB: PDE cached, PTE only
  m.load(kUser + (2u << 20));  // next 2 MiB: PDE + PTE
  m.load(kUser + (4u << 20));  // a third PDE: the 2-entry PDE cache drops the first
  m.load(kUser + 2 * kPage);   // first region again: PDE + PTE
  Stats s = m.stats();
  EXPECT_EQ(s.stlb_misses, 5u);
  EXPECT_EQ(s.pde_cache_hits, 1u);
  EXPECT_EQ(s.walk_refs, 2u + 1 + 2 + 2 + 2);

  Config none = small();
  none.pde_cache = 0;
  TlbModel n(none);
  for (uint64_t i = 0; i < 3; ++i) n.load(kUser + i * kPage);
  s = n.stats();
  EXPECT_EQ(s.pde_cache_hits, 0u);
  EXPECT_EQ(s.walk_refs, 6u);  // without a PDE cache every walk reads the PDE
}

TEST(TlbModel, Cr3WriteFlushesNonGlobalEntriesAndThePdeCache) {
  TlbModel m(small());
  m.load(kUser);
  m.fetch(kUser);
  m.cr3_write();
  EXPECT_EQ(m.dtlb().size(), 0u);
  EXPECT_EQ(m.itlb().size(), 0u);
  EXPECT_EQ(m.stlb().size(), 0u);
  m.load(kUser);  // walks again, PDE included (the PDE cache went too)
  const Stats s = m.stats();
  EXPECT_EQ(s.dtlb_load_misses, 2u);
  EXPECT_EQ(s.stlb_misses, 2u);
  EXPECT_EQ(s.walk_refs, 4u);
}

TEST(TlbModel, GlobalKernelTranslationsSurviveCr3Writes) {
  TlbModel m(small());
  m.load(kKernel);
  m.fetch(kKernel);
  m.load(kUser);
  m.cr3_write();
  EXPECT_EQ(m.dtlb().size(), 1u);
  EXPECT_EQ(m.stlb().size(), 1u);
  m.load(kKernel);
  m.fetch(kKernel);
  Stats s = m.stats();
  EXPECT_EQ(s.dtlb_load_misses, 2u);  // the first two loads only
  EXPECT_EQ(s.itlb_misses, 1u);
  // Just below the split is a user page.
  m.load(kGlobalBase - kPage);
  m.cr3_write();
  m.load(kGlobalBase - kPage);
  EXPECT_EQ(m.stats().dtlb_load_misses, 4u);

  // global=none: nothing survives.
  Config none = small();
  none.kernel_global = false;
  TlbModel n(none);
  n.load(kKernel);
  n.cr3_write();
  n.load(kKernel);
  s = n.stats();
  EXPECT_EQ(s.dtlb_load_misses, 2u);
  EXPECT_EQ(s.stlb_misses, 2u);
}

TEST(TlbModel, Cr4WriteFlushesEverythingGlobalsToo) {
  TlbModel m(small());
  m.load(kKernel);
  m.fetch(kKernel);
  m.cr4_write();
  EXPECT_EQ(m.dtlb().size() + m.itlb().size() + m.stlb().size(), 0u);
  m.load(kKernel);
  EXPECT_EQ(m.stats().walk_refs, 4u);  // the PDE cache went too
}

TEST(TlbModel, InvlpgDropsThePdeCacheAndNoTlbEntry) {
  TlbModel m(small());
  m.load(kUser);
  m.load(kKernel);
  m.invlpg();  // the address is unknown to the model: the TLBs keep both
  EXPECT_EQ(m.dtlb().size(), 2u);
  EXPECT_EQ(m.stlb().size(), 2u);
  m.load(kUser);
  m.load(kKernel);
  EXPECT_EQ(m.stats().dtlb_load_misses, 2u);
  // But the next walk reads the PDE again, though its region was cached.
  m.load(kUser + kPage);
  const Stats s = m.stats();
  EXPECT_EQ(s.stlb_misses, 3u);
  EXPECT_EQ(s.pde_cache_hits, 0u);
  EXPECT_EQ(s.walk_refs, 6u);
}

TEST(TlbModel, AnAccessAcrossAPageBoundaryTouchesBothPages) {
  TlbModel m(small());
  m.load(kUser + kPage - 2, 4);
  m.store(kUser + kPage - 4, 4);  // ends exactly at the boundary: one page
  const Stats s = m.stats();
  EXPECT_EQ(s.dtlb_loads, 2u);
  EXPECT_EQ(s.dtlb_load_misses, 2u);
  EXPECT_EQ(s.dtlb_stores, 1u);
  EXPECT_EQ(s.dtlb_store_misses, 0u);
}

TEST(TlbModel, SkylakeDefaults) {
  const Config c;
  EXPECT_EQ(c.itlb.entries, 128u);
  EXPECT_EQ(c.itlb.ways, 8u);
  EXPECT_EQ(c.dtlb.entries, 64u);
  EXPECT_EQ(c.dtlb.ways, 4u);
  EXPECT_EQ(c.stlb.entries, 1536u);
  EXPECT_EQ(c.stlb.ways, 12u);
  EXPECT_EQ(c.stlb.sets(), 128u);
  EXPECT_EQ(validate(c), "");
  // 13 pages in one STLB set overflow its 12 ways, though the STLB has 1536 entries.
  TlbModel m(c);
  for (uint64_t i = 0; i < 13; ++i) m.load(kUser + i * 128 * kPage);
  m.load(kUser);
  EXPECT_EQ(m.stats().stlb_misses, 14u);
}

TEST(Geometry, ValidationSaysWhatIsWrong) {
  EXPECT_EQ(validate(Geometry{64, 4}, "dtlb"), "");
  EXPECT_EQ(validate(Geometry{1536, 12}, "stlb"), "");
  EXPECT_EQ(validate(Geometry{16, 16}, "itlb"), "");  // fully associative
  EXPECT_NE(validate(Geometry{0, 4}, "dtlb").find("at least 1"), std::string::npos);
  EXPECT_NE(validate(Geometry{64, 0}, "dtlb").find("at least 1"), std::string::npos);
  EXPECT_NE(validate(Geometry{64, 5}, "dtlb").find("multiple of the ways"), std::string::npos);
  EXPECT_NE(validate(Geometry{96, 4}, "dtlb").find("power of two"), std::string::npos);  // 24 sets
  EXPECT_NE(validate(Geometry{128, 128}, "dtlb").find("at most 64 ways"), std::string::npos);
  EXPECT_NE(validate(Geometry{1u << 20, 4}, "stlb").find("at most 65536 entries"), std::string::npos);
  EXPECT_EQ(validate(Geometry{96, 4}, "dtlb").rfind("dtlb 96:4", 0), 0u);  // names what it checked
  Config c;
  c.pde_cache = 1000;
  EXPECT_NE(validate(c).find("pde 1000"), std::string::npos);
  c.pde_cache = 0;
  EXPECT_EQ(validate(c), "");
}

}  // namespace
}  // namespace mmlab::tlb
