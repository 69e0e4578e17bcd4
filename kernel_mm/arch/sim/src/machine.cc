// The simulated PAE MMU: walker, TLB, PDPTE registers, PDE cache.
#include "sim/machine.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "mm/arch.h"
#include "mm/entry.h"

namespace mm {
[[noreturn]] void assert_fail(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "mm assertion failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}
}  // namespace mm

namespace sim {
namespace {

thread_local Cpu* tl_cpu = nullptr;
thread_local Machine* tl_machine = nullptr;

[[noreturn]] void die(const char* msg, uint64_t a = 0, uint64_t b = 0) {
  std::fprintf(stderr, "sim: ");
  std::fprintf(stderr, msg, static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
  std::fprintf(stderr, "\n");
  std::abort();
}

namespace bits = mm::pte_bits;

}  // namespace

Machine::Machine(uint32_t frames, uint32_t cpus)
    : frames_(frames),
      mem_(static_cast<uint8_t*>(std::aligned_alloc(mm::kPageSize, size_t{frames} * mm::kPageSize))),
      owner_(mem_, std::free) {
  if (!mem_) die("cannot allocate %llu frames of simulated memory", frames);
  if (cpus == 0 || cpus > mm::kMaxCpus) die("cpus must be 1..%llu, got %llu", mm::kMaxCpus, cpus);
  std::memset(mem_, 0, size_t{frames} * mm::kPageSize);
  for (uint32_t i = 0; i < cpus; ++i) cpus_.push_back(std::make_unique<Cpu>(this, i));
}

void* Machine::phys_to_virt(PhysAddr pa) {
  if (pa.value() >= uint64_t{frames_} * mm::kPageSize) die("phys_to_virt(%#llx) beyond memory", pa.value());
  return mem_ + pa.value();
}

PhysAddr Machine::virt_to_phys(const void* p) const {
  auto off = static_cast<const uint8_t*>(p) - mem_;
  if (off < 0 || static_cast<uint64_t>(off) >= uint64_t{frames_} * mm::kPageSize)
    die("virt_to_phys: pointer outside simulated memory");
  return PhysAddr(static_cast<uint64_t>(off));
}

uint64_t Machine::read_phys64(PhysAddr pa) {
  return std::atomic_ref<uint64_t>(*static_cast<uint64_t*>(phys_to_virt(pa))).load(std::memory_order_acquire);
}
uint32_t Machine::read_phys32(PhysAddr pa) {
  return std::atomic_ref<uint32_t>(*static_cast<uint32_t*>(phys_to_virt(pa))).load(std::memory_order_relaxed);
}
void Machine::write_phys32(PhysAddr pa, uint32_t v) {
  std::atomic_ref<uint32_t>(*static_cast<uint32_t*>(phys_to_virt(pa))).store(v, std::memory_order_relaxed);
}

uint64_t Machine::total_cr3_writes() {
  uint64_t n = 0;
  for (auto& c : cpus_) n += c->cr3_writes();
  return n;
}

void Cpu::write_cr3(PhysAddr pgd) {
  std::lock_guard<std::mutex> g(mu_);
  // PAE CR3: bits 31:5 locate the 32-byte PDPT (SDM §4.4.1).
  if (pgd.value() & 31) die("CR3 %#llx: PDPT not 32-byte aligned", pgd.value());
  if (pgd.value() >= (1ull << 32)) die("CR3 %#llx: PDPT above 4 GiB", pgd.value());
  ++cr3_writes_;
  cr3_ = pgd;
  for (uint32_t i = 0; i < 4; ++i) {
    uint64_t e = machine_->read_phys64(pgd + i * 8);
    if (!mm::PgdEntry::from_raw(e).pdpte_valid()) die("#GP: PDPTE %llu = %#llx has reserved bits set", i, e);
    pdpte_[i] = e;
  }
  // Non-global translations and every paging-structure-cache entry go.
  for (auto it = tlb_.begin(); it != tlb_.end();) it = it->second.global ? std::next(it) : tlb_.erase(it);
  pde_cache_.clear();
}

PhysAddr Cpu::read_cr3() {
  std::lock_guard<std::mutex> g(mu_);
  return cr3_;
}

void Cpu::invlpg(VirtAddr va) {
  std::lock_guard<std::mutex> g(mu_);
  ++invlpgs_;
  tlb_.erase(va.value() >> mm::kPageShift);
  // INVLPG invalidates all paging-structure-cache entries (SDM §4.10.4.1).
  pde_cache_.clear();
}

uint64_t Cpu::cr3_writes() {
  std::lock_guard<std::mutex> g(mu_);
  return cr3_writes_;
}
uint64_t Cpu::invlpgs() {
  std::lock_guard<std::mutex> g(mu_);
  return invlpgs_;
}
size_t Cpu::tlb_size() {
  std::lock_guard<std::mutex> g(mu_);
  return tlb_.size();
}

// Walks from the PDPTE registers. Returns false on a not-present level.
bool Cpu::walk(VirtAddr va, TlbEntry* out, bool fill_caches) {
  const uint64_t pdpte = pdpte_[va.pgd_index()];
  if (!(pdpte & bits::kPresent)) return false;
  const uint32_t pde_key = va.value() >> mm::kPmdShift;
  uint64_t pde;
  if (auto it = pde_cache_.find(pde_key); it != pde_cache_.end()) {
    pde = it->second;
  } else {
    pde = machine_->read_phys64(PhysAddr((pdpte & bits::kAddrMask) + va.pmd_index() * 8ull));
    if (!(pde & bits::kPresent)) return false;
    if (fill_caches && !(pde & bits::kLarge)) pde_cache_[pde_key] = pde;
  }
  uint64_t leaf;
  uint64_t frame;
  if (pde & bits::kLarge) {
    leaf = pde;
    frame = (pde & bits::kAddrMask & ~uint64_t{mm::kPmdSize - 1}) + (va.value() & (mm::kPmdSize - 1) & ~0xFFFu);
  } else {
    leaf = machine_->read_phys64(PhysAddr((pde & bits::kAddrMask) + va.pte_index() * 8ull));
    if (!(leaf & bits::kPresent)) return false;
    frame = leaf & bits::kAddrMask;
  }
  const bool large = pde & bits::kLarge;
  out->frame = frame;
  out->write = (large || (pde & bits::kWrite)) && (leaf & bits::kWrite);
  out->user = (large || (pde & bits::kUser)) && (leaf & bits::kUser);
  out->exec = !(pde & bits::kNx) && !(leaf & bits::kNx);
  out->global = leaf & bits::kGlobal;
  return true;
}

Translation Cpu::translate(VirtAddr va, Access kind, bool user) {
  std::lock_guard<std::mutex> g(mu_);
  return translate_locked(va, kind, user, true);
}

Translation Cpu::probe(VirtAddr va, Access kind, bool user) {
  std::lock_guard<std::mutex> g(mu_);
  return translate_locked(va, kind, user, false);
}

Translation Cpu::translate_locked(VirtAddr va, Access kind, bool user, bool side_effects) {
  const uint32_t vpn = va.value() >> mm::kPageShift;
  auto allowed = [&](const TlbEntry& e) {
    if (user && !e.user) return false;
    if (kind == Access::kWrite && !e.write) return false;  // CR0.WP=1: ring 0 too
    if (kind == Access::kExec && !e.exec) return false;
    return true;
  };
  auto fault = [&](bool protection) {
    if (side_effects) {
      tlb_.erase(vpn);
      pde_cache_.erase(va.value() >> mm::kPmdShift);
    }
    return Translation{.ok = false, .pa = PhysAddr(), .protection = protection, .from_tlb = false};
  };
  if (auto it = tlb_.find(vpn); it != tlb_.end()) {
    if (!allowed(it->second)) return fault(true);
    return Translation{
        .ok = true, .pa = PhysAddr(it->second.frame + va.page_offset()), .protection = false, .from_tlb = true};
  }
  TlbEntry e{};
  if (!walk(va, &e, side_effects)) return fault(false);
  if (!allowed(e)) return fault(true);
  if (side_effects) tlb_[vpn] = e;
  return Translation{.ok = true, .pa = PhysAddr(e.frame + va.page_offset()), .protection = false, .from_tlb = false};
}

bool Cpu::read32(VirtAddr va, uint32_t* out, bool user) {
  std::lock_guard<std::mutex> g(mu_);
  Translation t = translate_locked(va, Access::kRead, user, true);
  if (!t.ok) return false;
  *out = machine_->read_phys32(t.pa);
  return true;
}

bool Cpu::write32(VirtAddr va, uint32_t value, bool user) {
  std::lock_guard<std::mutex> g(mu_);
  Translation t = translate_locked(va, Access::kWrite, user, true);
  if (!t.ok) return false;
  machine_->write_phys32(t.pa, value);
  return true;
}

OnCpu::OnCpu(Machine& m, uint32_t cpu) : saved_cpu_(tl_cpu), saved_machine_(tl_machine) {
  tl_machine = &m;
  tl_cpu = &m.cpu(cpu);
}

OnCpu::~OnCpu() {
  tl_cpu = saved_cpu_;
  tl_machine = saved_machine_;
}

Cpu& current_cpu() {
  if (!tl_cpu) die("this thread is not on a simulated CPU (bind it with sim::OnCpu)");
  return *tl_cpu;
}

Machine& current_machine() {
  if (!tl_machine) die("this thread is not on a simulated CPU (bind it with sim::OnCpu)");
  return *tl_machine;
}

// The IPI: the initiator runs the flush as each target CPU and waits, which
// is what a synchronous shootdown guarantees on hardware.
void flush_tlb_others(uint32_t cpus, const mm::FlushRequest& req) {
  Machine& m = current_machine();
  const uint32_t self = current_cpu().id();
  for (uint32_t c = 0; c < m.nr_cpus(); ++c) {
    if (c == self || !((cpus >> c) & 1u)) continue;
    OnCpu on(m, c);
    mm::flush_tlb_func(req);
  }
}

void cpu_relax() {
  thread_local uint32_t spins = 0;
  _mm_pause();
  // Host threads outnumber host cores in the tests: let the holder run.
  if ((++spins & 63) == 0) std::this_thread::yield();
}

}  // namespace sim
