// The simulator must catch what hardware would: these tests make the
// mistakes on purpose (no CR3 reload, no INVLPG, a table freed before the
// flush) and check that the simulated CPU shows a stale translation.
#include <gtest/gtest.h>

#include "mm/pgtable.h"
#include "test_util.h"

namespace {

using mm::PhysAddr;
using mm::VirtAddr;

// A raw PAE hierarchy in simulated memory, built by hand.
struct RawTables {
  explicit RawTables(sim::Harness& h) : h(h) {
    pgd = alloc();
    pmd = alloc();
    pte = alloc();
    frame_a = alloc();
    frame_b = alloc();
  }
  PhysAddr alloc() {
    mm::Page* p = h.sys().pages.alloc(mm::PageKind::kKernel);
    return h.sys().pages.page_to_phys(p);
  }
  template <mm::Level L>
  void set(PhysAddr table, uint32_t idx, mm::Entry<L> e) {
    auto* base = static_cast<mm::Entry<L>*>(h.machine().phys_to_virt(table));
    mm::entry_set(&base[idx], e);
  }
  sim::Harness& h;
  PhysAddr pgd, pmd, pte, frame_a, frame_b;
};

const mm::PageProt kUserRw{.write = true, .user = true};

TEST(Sim, PdpteRegistersReloadOnlyAtCr3Write) {
  sim::Harness h(mm::Toggles{});
  sim::OnCpu on(h.machine(), 0);
  RawTables t(h);
  t.set<mm::Level::kPte>(t.pte, 0, mm::PteEntry::page(t.frame_a, kUserRw));
  t.set<mm::Level::kPmd>(t.pmd, 0, mm::PmdEntry::table(t.pte));
  h.cpu(0).write_cr3(t.pgd);  // PDPTE 1 not present yet
  const VirtAddr va(0x40000000);
  EXPECT_FALSE(h.cpu(0).translate(va, sim::Access::kRead).ok);
  t.set<mm::Level::kPgd>(t.pgd, 1, mm::PgdEntry::table(t.pmd));
  // In memory now, but the CPU still holds the PDPTE it loaded: stale.
  EXPECT_FALSE(h.cpu(0).translate(va, sim::Access::kRead).ok);
  h.cpu(0).invlpg(va);  // INVLPG does not reload PDPTEs either
  EXPECT_FALSE(h.cpu(0).translate(va, sim::Access::kRead).ok);
  h.cpu(0).write_cr3(h.cpu(0).read_cr3());
  const sim::Translation tr = h.cpu(0).translate(va, sim::Access::kRead);
  ASSERT_TRUE(tr.ok);
  EXPECT_EQ(tr.pa, t.frame_a);
}

TEST(Sim, TlbKeepsStaleTranslationUntilInvlpg) {
  sim::Harness h(mm::Toggles{});
  sim::OnCpu on(h.machine(), 0);
  RawTables t(h);
  t.set<mm::Level::kPte>(t.pte, 0, mm::PteEntry::page(t.frame_a, kUserRw));
  t.set<mm::Level::kPmd>(t.pmd, 0, mm::PmdEntry::table(t.pte));
  t.set<mm::Level::kPgd>(t.pgd, 0, mm::PgdEntry::table(t.pmd));
  h.cpu(0).write_cr3(t.pgd);
  const VirtAddr va(0x0);
  ASSERT_EQ(h.cpu(0).translate(va, sim::Access::kWrite).pa, t.frame_a);
  t.set<mm::Level::kPte>(t.pte, 0, mm::PteEntry::page(t.frame_b, mm::PageProt{.write = false}));
  // Stale: old frame, and still writable.
  const sim::Translation stale = h.cpu(0).translate(va, sim::Access::kWrite);
  EXPECT_TRUE(stale.ok && stale.from_tlb);
  EXPECT_EQ(stale.pa, t.frame_a);
  // Another CPU walks fresh.
  sim::OnCpu on1(h.machine(), 1);
  h.cpu(1).write_cr3(t.pgd);
  EXPECT_FALSE(h.cpu(1).translate(va, sim::Access::kWrite).ok);
  EXPECT_EQ(h.cpu(1).translate(va, sim::Access::kRead).pa, t.frame_b);
  h.cpu(0).invlpg(va);
  EXPECT_FALSE(h.cpu(0).translate(va, sim::Access::kWrite).ok);
}

TEST(Sim, PdeCacheOutlivesAFreedPteTableUntilFlushed) {
  sim::Harness h(mm::Toggles{});
  sim::OnCpu on(h.machine(), 0);
  RawTables t(h);
  const PhysAddr pte2 = t.alloc();
  t.set<mm::Level::kPte>(t.pte, 0, mm::PteEntry::page(t.frame_a, kUserRw));
  t.set<mm::Level::kPte>(pte2, 1, mm::PteEntry::page(t.frame_b, kUserRw));
  t.set<mm::Level::kPmd>(t.pmd, 0, mm::PmdEntry::table(t.pte));
  t.set<mm::Level::kPgd>(t.pgd, 0, mm::PgdEntry::table(t.pmd));
  h.cpu(0).write_cr3(t.pgd);
  ASSERT_TRUE(h.cpu(0).translate(VirtAddr(0x0), sim::Access::kRead).ok);  // caches the PDE
  // Point the PDE elsewhere; the old table "gets reused" with a mapping at index 1.
  t.set<mm::Level::kPmd>(t.pmd, 0, mm::PmdEntry());
  t.set<mm::Level::kPte>(t.pte, 1, mm::PteEntry::page(t.frame_b, kUserRw));
  // Page 1 was never in the TLB, but the cached PDE still leads to the old table.
  EXPECT_TRUE(h.cpu(0).translate(VirtAddr(0x1000), sim::Access::kRead).ok);
  h.cpu(0).invlpg(VirtAddr(0x1000));  // drops the paging-structure caches too
  h.cpu(0).invlpg(VirtAddr(0x0));
  EXPECT_FALSE(h.cpu(0).translate(VirtAddr(0x1000), sim::Access::kRead).ok);
}

TEST(Sim, GlobalEntriesSurviveCr3ReloadButNotInvlpg) {
  sim::Harness h(mm::Toggles{});
  sim::OnCpu on(h.machine(), 0);
  RawTables t(h);
  t.set<mm::Level::kPte>(t.pte, 0, mm::PteEntry::page(t.frame_a, mm::PageProt{.user = false, .global = true}));
  t.set<mm::Level::kPmd>(t.pmd, 0, mm::PmdEntry::table(t.pte));
  t.set<mm::Level::kPgd>(t.pgd, 3, mm::PgdEntry::table(t.pmd));
  h.cpu(0).write_cr3(t.pgd);
  const VirtAddr va(0xC0000000);
  // Ring 3 may not read it; that fault also drops the TLB entry (SDM §4.10.4.1).
  EXPECT_FALSE(h.cpu(0).translate(va, sim::Access::kRead, true).ok) << "supervisor page readable from ring 3";
  ASSERT_TRUE(h.cpu(0).translate(va, sim::Access::kRead, false).ok);
  t.set<mm::Level::kPte>(t.pte, 0, mm::PteEntry());
  h.cpu(0).write_cr3(t.pgd);
  EXPECT_TRUE(h.cpu(0).translate(va, sim::Access::kRead, false).ok) << "global entry must survive CR3 reload";
  h.cpu(0).invlpg(va);
  EXPECT_FALSE(h.cpu(0).translate(va, sim::Access::kRead, false).ok);
}

TEST(Sim, NxAndWriteProtectionAreEnforced) {
  sim::Harness h(mm::Toggles{});
  sim::OnCpu on(h.machine(), 0);
  RawTables t(h);
  t.set<mm::Level::kPte>(t.pte, 0, mm::PteEntry::page(t.frame_a, mm::PageProt{.write = false, .exec = false}));
  t.set<mm::Level::kPte>(t.pte, 1, mm::PteEntry::page(t.frame_b, mm::PageProt{.write = false, .exec = true}));
  t.set<mm::Level::kPmd>(t.pmd, 0, mm::PmdEntry::table(t.pte));
  t.set<mm::Level::kPgd>(t.pgd, 0, mm::PgdEntry::table(t.pmd));
  h.cpu(0).write_cr3(t.pgd);
  EXPECT_FALSE(h.cpu(0).translate(VirtAddr(0x0), sim::Access::kExec).ok);
  EXPECT_TRUE(h.cpu(0).translate(VirtAddr(0x1000), sim::Access::kExec).ok);
  const sim::Translation w = h.cpu(0).translate(VirtAddr(0x0), sim::Access::kWrite);
  EXPECT_FALSE(w.ok);
  EXPECT_TRUE(w.protection);
  EXPECT_FALSE(h.cpu(0).translate(VirtAddr(0x0), sim::Access::kWrite, false).ok) << "CR0.WP: ring 0 too";
}

TEST(Sim, ProbeLooksWithoutFillingOrEvicting) {
  sim::Harness h(mm::Toggles{});
  sim::OnCpu on(h.machine(), 0);
  RawTables t(h);
  t.set<mm::Level::kPte>(t.pte, 0, mm::PteEntry::page(t.frame_a, mm::PageProt{.write = false}));
  t.set<mm::Level::kPmd>(t.pmd, 0, mm::PmdEntry::table(t.pte));
  t.set<mm::Level::kPgd>(t.pgd, 0, mm::PgdEntry::table(t.pmd));
  h.cpu(0).write_cr3(t.pgd);
  EXPECT_TRUE(h.cpu(0).probe(VirtAddr(0), sim::Access::kRead).ok);
  EXPECT_EQ(h.cpu(0).tlb_size(), 0u) << "probe filled the TLB";
  ASSERT_TRUE(h.cpu(0).translate(VirtAddr(0), sim::Access::kRead).ok);
  EXPECT_EQ(h.cpu(0).tlb_size(), 1u);
  EXPECT_FALSE(h.cpu(0).probe(VirtAddr(0), sim::Access::kWrite).ok);
  EXPECT_EQ(h.cpu(0).tlb_size(), 1u) << "a faulting probe evicted the entry";
  EXPECT_FALSE(h.cpu(0).translate(VirtAddr(0), sim::Access::kWrite).ok);
  EXPECT_EQ(h.cpu(0).tlb_size(), 0u) << "a faulting access must evict (SDM 4.10.4.1)";
}

TEST(SimDeathTest, ReservedPdpteBitsFaultTheCr3Load) {
  sim::Harness h(mm::Toggles{});
  sim::OnCpu on(h.machine(), 0);
  RawTables t(h);
  t.set<mm::Level::kPgd>(t.pgd, 0, mm::PgdEntry::from_raw(t.pmd.value() | 0x3));  // P|RW: reserved in a PDPTE
  EXPECT_DEATH(h.cpu(0).write_cr3(t.pgd), "#GP: PDPTE 0");
}

}  // namespace
