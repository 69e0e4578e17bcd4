// Application processors and cross-CPU calls (arch/smp.h).
//
// Bring-up: each AP is started with INIT, then STARTUP up to twice (SDM
// Vol. 3A §9.4.4.1), on the trampoline (trampoline.S) copied to
// kApTrampoline, one AP at a time: the trampoline's slots hold one AP's
// stack and number, so the boot CPU waits for each AP to say it is online
// before starting the next.
//
// Cross-CPU calls (TLB shootdowns: arch::flush_tlb_others): a mailbox per
// (target, source) pair holds the source's request; a pending word per
// target says which sources wrote. The source fills each target's slot,
// sets its bit, sends kIpiCallVector, and spins until every slot is empty
// again. While it spins it runs its own pending calls, and so does every
// other spin-wait (arch::cpu_relax): the kernel runs with interrupts off,
// and two CPUs shooting each other down, or one waiting for a lock the
// other holds while that one waits for a flush, would otherwise deadlock.
#include "arch/smp.h"

#include <atomic>
#include <cstring>

#include "arch/apic.h"
#include "mm/arch.h"
#include "mm/system.h"

extern "C" char ap_trampoline[], ap_trampoline_end[];
extern "C" char boot_pdpt[];  // boot.S: the boot stub's PDPT (physical address)

namespace x86 {

static_assert(kMaxCpus == mm::kMaxCpus);

extern "C" [[noreturn]] void ap_entry(uint32_t cpu);

namespace {

constexpr uint32_t kApStackSize = 16384;
alignas(16) uint8_t ap_stacks[kMaxCpus][kApStackSize];

ApBoot boot;
uint32_t apic_id_of[kMaxCpus];
std::atomic<uint32_t> online_count{1};

// mailbox[target][source]: the source's request, nullptr when done.
std::atomic<const mm::FlushRequest*> mailbox[kMaxCpus][kMaxCpus];
std::atomic<uint32_t> pending[kMaxCpus];  // per target: a bit per source with a request

// The trampoline's slots, the last four words before ap_trampoline_end.
struct TrampolineSlots {
  uint32_t cr3, stack, entry, cpu;
};
TrampolineSlots* trampoline_slots() {
  const uint32_t size = static_cast<uint32_t>(ap_trampoline_end - ap_trampoline);
  return reinterpret_cast<TrampolineSlots*>(kApTrampoline + size - sizeof(TrampolineSlots) + mm::kPageOffset);
}

}  // namespace

void ap_boot_init(const ApBoot& b) {
  boot = b;
  std::memcpy(arch::phys_to_virt(mm::PhysAddr(kApTrampoline)), ap_trampoline,
              static_cast<uint32_t>(ap_trampoline_end - ap_trampoline));
}

void set_boot_apic_id(uint32_t apic_id) { apic_id_of[0] = apic_id; }

// The 10 ms wait after INIT is for real hardware; a hypervisor (CPUID.1:
// ECX bit 31) does not need it, as Linux's init_udelay decides.
bool start_ap(uint32_t cpu, uint32_t apic_id) {
  apic_id_of[cpu] = apic_id;
  TrampolineSlots* slots = trampoline_slots();
  slots->cr3 = reinterpret_cast<uint32_t>(boot_pdpt);
  slots->stack = reinterpret_cast<uint32_t>(&ap_stacks[cpu][kApStackSize]);
  slots->entry = reinterpret_cast<uint32_t>(&ap_entry);
  slots->cpu = cpu;
  arch::smp_mb();
  const bool hypervisor = cpuid(1).ecx & (1u << 31);
  const uint32_t before = online_count.load(std::memory_order_acquire);
  using A = LocalApic;
  lapic.send_ipi(apic_id, A::kDeliveryInit | A::kLevelAssert | A::kTriggerLevel);
  lapic.send_ipi(apic_id, A::kDeliveryInit | A::kTriggerLevel);  // de-assert (needed before the P4)
  delay_us(boot.tsc_hz, hypervisor ? 10 : 10000);
  for (int i = 0; i < 2 && online_count.load(std::memory_order_acquire) == before; ++i) {
    lapic.send_ipi(apic_id, A::kDeliveryStartup | (kApTrampoline >> 12));
    delay_us(boot.tsc_hz, 200);
  }
  const uint64_t deadline = rdtsc() + boot.tsc_hz;  // one second
  while (online_count.load(std::memory_order_acquire) == before) {
    if (rdtsc() > deadline) return false;
    asm volatile("pause");
  }
  return true;
}

// An AP, from the trampoline: on the boot stub's tables, with a stack.
extern "C" [[noreturn]] void ap_entry(uint32_t cpu) {
  load_cpu_descriptors(cpu);
  if (boot.nx) wrmsr(kMsrEfer, rdmsr(kMsrEfer) | kEferNxe);
  boot.init_mm->cpumask.set(cpu);
  arch::smp_mb();
  arch::write_cr3(boot.init_mm->pgd_phys);
  // The trampoline's load (the boot stub's tables) and this one: every CR3
  // load is counted (docs/tlb-model.md).
  boot.init_mm->sys->counters.add(mm::Counter::kCr3Boot, 2);
  if (boot.pge) write_cr4(read_cr4() | kCr4Pge);
  fpu_init();
  lapic.enable(false);
  online_count.fetch_add(1, std::memory_order_release);
  boot.main(cpu);
  __builtin_unreachable();
}

void send_ipi(uint32_t cpu, uint32_t vector) { lapic.send_ipi(apic_id_of[cpu], LocalApic::kDeliveryFixed | vector); }

void run_cross_cpu_calls() {
  const uint32_t me = this_cpu();
  uint32_t sources = pending[me].exchange(0, std::memory_order_acquire);
  while (sources) {
    const uint32_t s = static_cast<uint32_t>(__builtin_ctz(sources));
    sources &= sources - 1;
    const mm::FlushRequest* req = mailbox[me][s].load(std::memory_order_acquire);
    if (!req) continue;
    mm::flush_tlb_func(*req);
    mailbox[me][s].store(nullptr, std::memory_order_release);
  }
}

void cross_cpu_call_interrupt() {
  lapic.eoi();
  run_cross_cpu_calls();
}

}  // namespace x86

// The arch hooks of mm/arch.h that need other CPUs (mmu.h).
namespace arch {

uint32_t num_cpus() { return x86::online_count.load(std::memory_order_acquire); }

void cpu_relax() {
  asm volatile("pause" : : : "memory");
  x86::run_cross_cpu_calls();
}

void flush_tlb_others(uint32_t cpus, const mm::FlushRequest& req) {
  const uint32_t me = this_cpu();
  cpus &= ~(1u << me);
  for (uint32_t m = cpus; m;) {
    const uint32_t c = static_cast<uint32_t>(__builtin_ctz(m));
    m &= m - 1;
    MM_ASSERT(!x86::mailbox[c][me].load(std::memory_order_relaxed));
    x86::mailbox[c][me].store(&req, std::memory_order_release);
    x86::pending[c].fetch_or(1u << me, std::memory_order_release);
    x86::send_ipi(c, x86::kIpiCallVector);
  }
  for (uint32_t m = cpus; m;) {
    const uint32_t c = static_cast<uint32_t>(__builtin_ctz(m));
    m &= m - 1;
    while (x86::mailbox[c][me].load(std::memory_order_acquire)) {
      asm volatile("pause" : : : "memory");
      x86::run_cross_cpu_calls();
    }
  }
}

}  // namespace arch
