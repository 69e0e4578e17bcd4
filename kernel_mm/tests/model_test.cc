// The reference model: random, seeded sequences of mmap, partial munmap,
// mprotect, reads and writes, fork, exit, exec-like replacement, scheduling
// and kernel mappings, under every toggle combination. After every step,
// every simulated CPU must translate every address exactly as the model
// says: no stale entry, no missing mapping, COW isolation between processes.
//
// Reproduce a failure with the seed printed in its trace:
//   MMLAB_MODEL_SEED=<seed> MMLAB_MODEL_STEPS=<n> build/kernel_mm/tests/mm_tests --gtest_filter='Model*<name>*'
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "mm/pgtable.h"
#include "mm/tlb.h"
#include "mm/vmalloc.h"
#include "test_util.h"

namespace {

using mmtest::touch;
using mmtest::TouchResult;

constexpr uint32_t kCpus = 4;
constexpr uint32_t kMaxProcs = 5;

struct ModelPage {
  uint32_t value;
  uint32_t object;  // content identity: shared between processes until a write
};

struct Proc {
  mm::MmStruct* mm = nullptr;
  std::map<uint32_t, uint32_t> vmas;    // start -> end; every VMA is private, anonymous
  std::map<uint32_t, uint32_t> prot;    // start -> prot of that VMA
  std::map<uint32_t, ModelPage> pages;  // populated pages by address
  std::set<uint32_t> probes;            // every page ever mapped: where stale entries would hide
};

uint64_t env_or(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 0) : dflt;
}

class Model {
 public:
  Model(uint32_t combo, uint64_t seed)
      : h_(mm::Toggles::from_index(combo), sim::HarnessOptions{.frames = 8192, .cpus = kCpus}), rng_(seed) {}

  void run(uint32_t steps) {
    spawn_initial();
    mmtest::Cr3Audit audit(h_);
    for (step_ = 0; step_ < steps && !::testing::Test::HasFatalFailure(); ++step_) {
      op_ = one_step();
      ++ops_[op_.substr(0, op_.find(' '))];
      check_all();
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "first failure after step " << step_ << " (" << op_ << ")";
        return;
      }
    }
    audit.expect_balanced();
    teardown();
    // The run must have exercised what it claims to: a sequence that never
    // forked, unmapped or checked a translation proves nothing.
    for (const char* op : {"mmap", "munmap", "mprotect", "read", "write", "fork", "exit", "exec", "vmalloc", "vfree"})
      EXPECT_GE(ops_[op], steps / 100) << "op '" << op << "' ran " << ops_[op] << " times";
    EXPECT_GE(checks_, uint64_t{steps} * 20) << "translations checked";
    if (std::getenv("MMLAB_MODEL_VERBOSE")) {
      std::string s;
      for (auto& [op, n] : ops_) s += " " + op + "=" + std::to_string(n);
      std::printf("ops:%s checks=%llu\n", s.c_str(), static_cast<unsigned long long>(checks_));
    }
  }

 private:
  uint32_t rand(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }

  // Addresses cluster in a few zones, one or more per user GiB, so VMAs
  // touch, split, merge, share PTE tables and spread over all three PMDs.
  uint32_t random_page() {
    static constexpr uint32_t kZones[] = {0x08048000, 0x0804C000, 0x3FFF0000, 0x40000000,
                                          0x40200000, 0x7FFFC000, 0x90000000, 0xBFFF0000};
    const uint32_t base = kZones[rand(std::size(kZones))];
    return base + rand(16) * mm::kPageSize;
  }

  std::string procs_summary() {
    std::string s;
    for (auto& [id, p] : procs_)
      s += " p" + std::to_string(id) + "(" + std::to_string(p.vmas.size()) + "vmas," + std::to_string(p.pages.size()) +
           "pg)";
    return s;
  }

  void spawn_initial() {
    Proc p;
    p.mm = mmtest::new_mm(h_);
    ASSERT_NE(p.mm, nullptr);
    const uint32_t id = next_id_++;
    procs_[id] = p;
    sim::load_on(h_, 0, p.mm);
    cpu_proc_[0] = id;
  }

  // ---- model operations ----------------------------------------------------

  void model_unmap(Proc& p, uint32_t start, uint32_t end) {
    std::map<uint32_t, uint32_t> nv, np;
    for (auto [s, e] : p.vmas) {
      const uint32_t pr = p.prot[s];
      if (e <= start || s >= end) {
        nv[s] = e;
        np[s] = pr;
        continue;
      }
      if (s < start) nv[s] = start, np[s] = pr;
      if (e > end) nv[end] = e, np[end] = pr;
    }
    p.vmas = nv;
    p.prot = np;
    for (auto it = p.pages.lower_bound(start); it != p.pages.end() && it->first < end;) it = p.pages.erase(it);
  }

  const uint32_t* vma_prot(Proc& p, uint32_t va) {
    auto it = p.vmas.upper_bound(va);
    if (it == p.vmas.begin()) return nullptr;
    --it;
    if (va >= it->second) return nullptr;
    return &p.prot[it->first];
  }

  // How many processes hold each content object, recomputed per check.
  void count_objects() {
    object_refs_.clear();
    for (auto& [id, q] : procs_)
      for (auto& [va, pg] : q.pages) ++object_refs_[pg.object];
  }

  uint32_t cpu_of(uint32_t id) {
    std::vector<uint32_t> cpus;
    for (uint32_t c = 0; c < kCpus; ++c)
      if (cpu_proc_.count(c) && cpu_proc_[c] == id) cpus.push_back(c);
    if (cpus.empty()) {
      const uint32_t c = rand(kCpus);
      schedule(c, id);
      return c;
    }
    return cpus[rand(cpus.size())];
  }

  void schedule(uint32_t cpu, uint32_t id) {
    sim::load_on(h_, cpu, procs_[id].mm);
    cpu_proc_[cpu] = id;
  }

  uint32_t random_proc() {
    auto it = procs_.begin();
    std::advance(it, rand(procs_.size()));
    return it->first;
  }

  std::string one_step() {
    const uint32_t id = random_proc();
    Proc& p = procs_[id];
    sim::OnCpu on(h_.machine(), cpu_of(id));
    const uint32_t r = rand(100);
    if (r < 14) {  // mmap fixed, replacing whatever was there
      const uint32_t va = random_page();
      const uint32_t len = (1 + rand(6)) * mm::kPageSize;
      if (uint64_t{va} + len > mm::kTaskSize) return "skip";
      static constexpr uint32_t kProts[] = {mm::kVmRead, mm::kVmRead | mm::kVmWrite, mm::kVmRead | mm::kVmExec,
                                            mm::kVmRead | mm::kVmWrite};
      const uint32_t prot = kProts[rand(4)];
      mm::VirtAddr out;
      EXPECT_EQ(
          mm::do_mmap(p.mm, mm::MmapRequest{.addr = mm::VirtAddr(va), .len = len, .prot = prot, .fixed = true}, &out),
          mm::Status::kOk);
      model_unmap(p, va, va + len);
      p.vmas[va] = va + len;
      p.prot[va] = prot;
      for (uint32_t a = va; a < va + len; a += mm::kPageSize) p.probes.insert(a), all_probes_.insert(a);
      return "mmap " + hex(va) + "+" + std::to_string(len / mm::kPageSize);
    }
    if (r < 24) {  // munmap part of what is there
      const uint32_t va = random_page();
      const uint32_t len = (1 + rand(4)) * mm::kPageSize;
      if (uint64_t{va} + len > mm::kTaskSize) return "skip";
      EXPECT_EQ(mm::do_munmap(p.mm, mm::VirtAddr(va), len), mm::Status::kOk);
      model_unmap(p, va, va + len);
      return "munmap " + hex(va) + "+" + std::to_string(len / mm::kPageSize);
    }
    if (r < 30) {  // mprotect inside one VMA
      if (p.vmas.empty()) return "skip";
      auto it = p.vmas.begin();
      std::advance(it, rand(p.vmas.size()));
      const uint32_t pages = (it->second - it->first) / mm::kPageSize;
      const uint32_t first = rand(pages), n = 1 + rand(pages - first);
      const uint32_t start = it->first + first * mm::kPageSize, end = start + n * mm::kPageSize;
      static constexpr uint32_t kProts[] = {mm::kVmRead, mm::kVmRead | mm::kVmWrite, mm::kVmRead | mm::kVmExec};
      const uint32_t prot = kProts[rand(3)];
      EXPECT_EQ(mm::do_mprotect(p.mm, mm::VirtAddr(start), end - start, prot), mm::Status::kOk);
      const uint32_t vs = it->first, ve = it->second, old = p.prot[vs];
      p.vmas.erase(vs);
      p.prot.erase(vs);
      if (vs < start) p.vmas[vs] = start, p.prot[vs] = old;
      p.vmas[start] = end, p.prot[start] = prot;
      if (end < ve) p.vmas[end] = ve, p.prot[end] = old;
      return "mprotect " + hex(start) + "+" + std::to_string(n) + " " + std::to_string(prot);
    }
    if (r < 62) {  // a user read or write from a CPU running p
      const uint32_t va = random_page();
      const bool write = rand(2);
      const uint32_t cpu = cpu_of(id);
      const uint32_t* prot = vma_prot(p, va);
      const uint32_t value = (step_ << 8) | id;
      uint32_t got = 0;
      const TouchResult res = touch(h_, cpu, p.mm, va, write, value, &got);
      const bool allowed = prot && (!write || (*prot & mm::kVmWrite));
      EXPECT_EQ(res, allowed ? TouchResult::kOk : TouchResult::kSegv)
          << (write ? "write " : "read ") << hex(va) << " on cpu " << cpu;
      if (res == TouchResult::kOk && allowed) {
        if (write) {
          p.pages[va] = ModelPage{value, next_object_++};
        } else {
          auto pg = p.pages.find(va);
          if (pg == p.pages.end()) {
            EXPECT_EQ(got, 0u) << "demand-zero page not zero at " << hex(va);
            p.pages[va] = ModelPage{0, next_object_++};
          } else {
            EXPECT_EQ(got, pg->second.value) << "read " << hex(va);
          }
        }
      }
      return std::string(write ? "write " : "read ") + hex(va) + " cpu " + std::to_string(cpu);
    }
    if (r < 70) {  // fork
      if (procs_.size() >= kMaxProcs) return "skip";
      mm::MmStruct* child = mm::dup_mm(p.mm);
      EXPECT_NE(child, nullptr);
      if (!child) return "fork failed";
      mm::mm_publish(child);
      Proc c = p;
      c.mm = child;
      const uint32_t cid = next_id_++;
      procs_[cid] = c;
      schedule(rand(kCpus), cid);
      return "fork p" + std::to_string(id) + " -> p" + std::to_string(cid);
    }
    if (r < 75) {  // exit
      if (procs_.size() <= 1) return "skip";
      for (uint32_t c = 0; c < kCpus; ++c)
        if (cpu_proc_.count(c) && cpu_proc_[c] == id) cpu_proc_.erase(c);
      sim::unload_everywhere(h_, p.mm);
      mm::mmput(p.mm);
      procs_.erase(id);
      return "exit p" + std::to_string(id);
    }
    if (r < 80) {  // exec-like: a new, empty mm replaces p's on its CPUs
      mm::MmStruct* fresh = mm::mm_alloc(h_.sys());
      EXPECT_NE(fresh, nullptr);
      if (!fresh) return "exec failed";
      mm::mm_publish(fresh);
      mm::MmStruct* old = p.mm;
      for (uint32_t c = 0; c < kCpus; ++c)
        if (cpu_proc_.count(c) && cpu_proc_[c] == id) sim::load_on(h_, c, fresh);
      p.mm = fresh;
      p.vmas.clear();
      p.prot.clear();
      p.pages.clear();
      mm::mmput(old);
      return "exec p" + std::to_string(id);
    }
    if (r < 88) {  // schedule some process on some CPU
      const uint32_t c = rand(kCpus);
      schedule(c, random_proc());
      return "schedule cpu " + std::to_string(c);
    }
    if (r < 95) {  // kernel mapping: vmalloc and stamp it
      if (kmaps_.size() >= 24) return "skip";
      const uint32_t n = 1 + rand(3);
      mm::VirtAddr va;
      EXPECT_EQ(mm::vmalloc(h_.sys(), n, &va), mm::Status::kOk);
      for (uint32_t i = 0; i < n; ++i) {
        const uint32_t a = va.value() + i * mm::kPageSize;
        const sim::Translation t = h_.cpu(arch::this_cpu()).translate(mm::VirtAddr(a), sim::Access::kWrite, false);
        EXPECT_TRUE(t.ok) << "fresh kernel mapping not reachable at " << hex(a);
        if (!t.ok) return "vmalloc unreachable";
        const uint32_t stamp = 0xC0DE0000u | (step_ & 0xFFFF);
        h_.machine().write_phys32(t.pa, stamp);
        kmaps_[a] = stamp;
        kprobes_.insert(a);
      }
      kmap_len_[va.value()] = n;
      return "vmalloc " + hex(va.value()) + "+" + std::to_string(n);
    }
    // vfree
    if (kmap_len_.empty()) return "skip";
    auto it = kmap_len_.begin();
    std::advance(it, rand(kmap_len_.size()));
    mm::vfree(h_.sys(), mm::VirtAddr(it->first), it->second);
    for (uint32_t i = 0; i < it->second; ++i) kmaps_.erase(it->first + i * mm::kPageSize);
    const std::string what = "vfree " + hex(it->first);
    kmap_len_.erase(it);
    return what;
  }

  // ---- the check after every step -------------------------------------------

  void check_all() {
    count_objects();
    for (uint32_t c = 0; c < kCpus; ++c) {
      if (!cpu_proc_.count(c)) {
        // On init_mm (never scheduled, or its process exited): no user
        // address of any process, live or dead, may translate.
        EXPECT_EQ(sim::loaded(h_, c), nullptr);
        for (uint32_t va : all_probes_) {
          ++checks_;
          EXPECT_FALSE(h_.cpu(c).probe(mm::VirtAddr(va), sim::Access::kRead).ok)
              << "cpu " << c << " on init_mm translates user page " << hex(va);
        }
        continue;
      }
      const uint32_t id = cpu_proc_[c];
      Proc& p = procs_[id];
      ASSERT_EQ(sim::loaded(h_, c), p.mm);
      sim::Cpu& cpu = h_.cpu(c);
      for (uint32_t va : p.probes) check_page(cpu, p, va);
      // Kernel mappings: the same in every address space.
      for (uint32_t va : kprobes_) {
        EXPECT_FALSE(cpu.probe(mm::VirtAddr(va), sim::Access::kRead, true).ok) << "kernel page user-readable";
        const sim::Translation t = cpu.probe(mm::VirtAddr(va), sim::Access::kRead, false);
        cpu.translate(mm::VirtAddr(va), sim::Access::kRead, false);  // leave it cached
        auto it = kmaps_.find(va);
        if (it == kmaps_.end()) {
          EXPECT_FALSE(t.ok) << "cpu " << c << ": stale kernel translation at " << hex(va);
        } else {
          EXPECT_TRUE(t.ok) << "cpu " << c << " (p" << id << "): kernel mapping missing at " << hex(va)
                            << " (missed sync?)";
          if (t.ok) EXPECT_EQ(h_.machine().read_phys32(t.pa), it->second) << hex(va);
        }
      }
    }
    // Every published mm has every kernel PMD entry.
    sim::OnCpu on(h_.machine(), 0);
    for (auto& [id, p] : procs_) EXPECT_EQ(mm::kernel_pmd_missing(h_.sys(), p.mm), 0u) << "p" << id;
  }

  // Every look is a side-effect-free probe of the TLB and caches as the
  // last operation left them (a real access that faults would drop the
  // entry it hit, SDM §4.10.4.1, and hide the stale state we look for).
  // One real read at the end leaves the translation cached, as on a CPU
  // that just touched the page, so the next operation must flush it.
  void check_page(sim::Cpu& cpu, Proc& p, uint32_t va) {
    ++checks_;
    const mm::VirtAddr a(va);
    const uint32_t* prot = vma_prot(p, va);
    auto pg = p.pages.find(va);
    if (pg == p.pages.end()) {
      // Unmapped, or mapped but never touched: nothing may translate.
      EXPECT_FALSE(cpu.probe(a, sim::Access::kRead).ok)
          << "cpu " << cpu.id() << ": " << (prot ? "untouched" : "unmapped") << " page " << hex(va)
          << " translates (stale entry)";
      return;
    }
    ASSERT_TRUE(prot);
    const sim::Translation rd = cpu.probe(a, sim::Access::kRead);
    EXPECT_TRUE(rd.ok) << "cpu " << cpu.id() << ": populated page " << hex(va) << " does not translate";
    if (rd.ok) EXPECT_EQ(h_.machine().read_phys32(rd.pa), pg->second.value) << "cpu " << cpu.id() << " at " << hex(va);
    if (!(*prot & mm::kVmExec)) EXPECT_FALSE(cpu.probe(a, sim::Access::kExec).ok) << "exec allowed on NX " << hex(va);
    if (!(*prot & mm::kVmWrite) || object_refs_[pg->second.object] > 1) {
      EXPECT_FALSE(cpu.probe(a, sim::Access::kWrite).ok)
          << "cpu " << cpu.id() << ": write allowed at " << hex(va)
          << (*prot & mm::kVmWrite ? " to a page shared after fork (COW broken)" : " on a read-only VMA");
    }
    cpu.translate(a, sim::Access::kRead);
  }

  void teardown() {
    for (auto& [id, p] : procs_) {
      sim::unload_everywhere(h_, p.mm);
      sim::OnCpu on(h_.machine(), 0);
      mm::mmput(p.mm);
    }
    procs_.clear();
    {
      sim::OnCpu on(h_.machine(), 0);
      for (auto [va, n] : kmap_len_) mm::vfree(h_.sys(), mm::VirtAddr(va), n);
    }
    mmtest::expect_no_leaks(h_);
  }

  static std::string hex(uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "%#x", v);
    return b;
  }

  sim::Harness h_;
  std::mt19937_64 rng_;
  std::map<uint32_t, Proc> procs_;
  std::map<uint32_t, uint32_t> cpu_proc_;  // cpu -> proc id
  std::map<uint32_t, uint32_t> kmaps_;     // kernel page -> stamp
  std::map<uint32_t, uint32_t> kmap_len_;  // vmalloc start -> pages
  std::set<uint32_t> kprobes_;
  std::set<uint32_t> all_probes_;  // user pages any process ever mapped
  std::map<uint32_t, uint32_t> object_refs_;
  std::map<std::string, uint32_t> ops_;
  uint64_t checks_ = 0;
  uint32_t next_id_ = 1;
  uint32_t next_object_ = 1;
  uint32_t step_ = 0;
  std::string op_;
};

class ModelTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(ModelTest, RandomSequencesMatchTheModel) {
  const uint32_t combo = GetParam();
  const uint64_t seeds = env_or("MMLAB_MODEL_SEEDS", 3);
  const uint32_t steps = static_cast<uint32_t>(env_or("MMLAB_MODEL_STEPS", 1000));
  for (uint64_t i = 0; i < seeds; ++i) {
    const uint64_t seed = env_or("MMLAB_MODEL_SEED", 0x6D6D6C6162ull ^ (uint64_t{combo} << 16) ^ i);
    SCOPED_TRACE("MMLAB_MODEL_SEED=" + std::to_string(seed) + " MMLAB_MODEL_STEPS=" + std::to_string(steps));
    Model(combo, seed).run(steps);
    if (HasFailure() || std::getenv("MMLAB_MODEL_SEED")) break;
  }
}

INSTANTIATE_TEST_SUITE_P(AllToggles, ModelTest, ::testing::Range(0u, mm::kNumToggleCombinations),
                         mmtest::toggle_param_name);

}  // namespace
