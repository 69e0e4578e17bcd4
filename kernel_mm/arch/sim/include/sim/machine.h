// A simulated PAE MMU for hosted builds.
//
// Physical memory is a host array. Each simulated CPU has CR3, the four
// PDPTE registers (loaded from memory only at a CR3 write, as PAE does:
// SDM Vol. 3A §4.4.1), a TLB, and a paging-structure cache of PDEs. Nothing
// is invalidated behind the mm core's back, so a missing CR3 reload leaves a
// stale PDPTE register, a missing INVLPG a stale translation, and a table
// freed before the flush a stale PDE-cache entry: a test sees each as a
// wrong translation, as it would on hardware.
//
// Not modelled: accessed/dirty bit updates (the mm core never reads them),
// PCIDs, caching attributes, TLB capacity (entries live until invalidated,
// which keeps a stale entry visible for as long as possible).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "mm/types.h"

namespace sim {

using mm::PhysAddr;
using mm::VirtAddr;

enum class Access : uint8_t { kRead, kWrite, kExec };

struct Translation {
  bool ok = false;
  PhysAddr pa;
  // When !ok: true if a present entry refused the access (protection), false
  // if some level was not present. Mirrors the P bit of the #PF error code.
  bool protection = false;
  bool from_tlb = false;
};

class Machine;

class Cpu {
 public:
  Cpu(Machine* m, uint32_t id) : machine_(m), id_(id) {}
  uint32_t id() const { return id_; }

  // Translates as the CPU would for an access of `kind` from ring 3
  // (`user`) or ring 0: the TLB first, else a walk from the PDPTE registers.
  // A fault invalidates the TLB and PDE-cache entries for `va` (SDM §4.10.4.1).
  Translation translate(VirtAddr va, Access kind, bool user = true);
  // What an access would do right now, without side effects: uses the TLB
  // and PDE cache as they are, but fills nothing and, on a fault, drops
  // nothing. Tests use it to look at stale state without disturbing it.
  Translation probe(VirtAddr va, Access kind, bool user = true);
  // Reads/writes 32 bits through the translation, as one instruction:
  // atomic with respect to a shootdown (an IPI lands between instructions,
  // and the initiator waits for it). False on a fault.
  bool read32(VirtAddr va, uint32_t* out, bool user = true);
  bool write32(VirtAddr va, uint32_t value, bool user = true);

  // The instructions the arch layer uses.
  void write_cr3(PhysAddr pgd);
  PhysAddr read_cr3();
  void invlpg(VirtAddr va);

  uint64_t cr3_writes();
  uint64_t invlpgs();
  size_t tlb_size();

 private:
  struct TlbEntry {
    uint64_t frame;  // physical address of the 4-KByte frame
    bool write, user, exec, global;
  };
  bool walk(VirtAddr va, TlbEntry* out, bool fill_caches);
  Translation translate_locked(VirtAddr va, Access kind, bool user, bool side_effects);

  Machine* machine_;
  uint32_t id_;
  // mu_ guards everything below: remote shootdowns run on other threads.
  std::mutex mu_;
  PhysAddr cr3_;
  uint64_t pdpte_[4] = {};
  std::unordered_map<uint32_t, TlbEntry> tlb_;        // by virtual page number
  std::unordered_map<uint32_t, uint64_t> pde_cache_;  // va >> 21 -> PTE table address
  uint64_t cr3_writes_ = 0;
  uint64_t invlpgs_ = 0;
};

class Machine {
 public:
  // `frames` frames of physical memory at physical address 0, `cpus` CPUs.
  Machine(uint32_t frames, uint32_t cpus);
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  uint32_t nr_cpus() const { return static_cast<uint32_t>(cpus_.size()); }
  Cpu& cpu(uint32_t i) { return *cpus_.at(i); }
  uint32_t nr_frames() const { return frames_; }

  void* phys_to_virt(PhysAddr pa);
  PhysAddr virt_to_phys(const void* p) const;
  uint64_t read_phys64(PhysAddr pa);
  uint32_t read_phys32(PhysAddr pa);
  void write_phys32(PhysAddr pa, uint32_t v);

  // Sum of CR3 writes over all CPUs: the "every CR3 reload counted" check.
  uint64_t total_cr3_writes();

 private:
  uint32_t frames_;
  uint8_t* mem_;
  std::unique_ptr<uint8_t, void (*)(void*)> owner_;
  std::vector<std::unique_ptr<Cpu>> cpus_;
};

// Binds the calling thread to a CPU for the scope: mm-core code called in it
// runs "on" that CPU (this_cpu, CR3, INVLPG, counters). Nests.
class OnCpu {
 public:
  OnCpu(Machine& m, uint32_t cpu);
  ~OnCpu();
  OnCpu(const OnCpu&) = delete;
  OnCpu& operator=(const OnCpu&) = delete;

 private:
  Cpu* saved_cpu_;
  Machine* saved_machine_;
};

Cpu& current_cpu();
Machine& current_machine();

}  // namespace sim
