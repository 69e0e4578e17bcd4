// Application processors and cross-CPU calls.
//
// Bring-up: the CPUs come from the firmware tables (cpu_tables.h), read
// through the direct map or, above lowmem, through ioremap. The local
// APIC's registers are ioremapped uncached. Each AP in table order is
// started with INIT, then STARTUP up to twice (SDM Vol. 3A §9.4.4.1), on the
// trampoline (trampoline.S) copied to kApTrampoline, one AP at a time: the
// trampoline's slots hold one AP's stack and number, so the boot CPU waits
// for each AP to say it is online before starting the next. An AP that
// never comes online stops the bring-up there (a late AP writing a reused
// slot would be worse than fewer CPUs), and the boot record says so.
//
// Cross-CPU calls (TLB shootdowns: arch::flush_tlb_others): a mailbox per
// (target, source) pair holds the source's request; a pending word per
// target says which sources wrote. The source fills each target's slot,
// sets its bit, sends kIpiCallVector, and spins until every slot is empty
// again. While it spins it runs its own pending calls, and so does every
// other spin-wait (arch::cpu_relax): the kernel runs with interrupts off,
// and two CPUs shooting each other down, or one waiting for a lock the
// other holds while that one waits for a flush, would otherwise deadlock.
#include "kernel/smp.h"

#include <atomic>

#include "arch/apic.h"
#include "kernel/console.h"
#include "kernel/klib.h"
#include "kernel/task.h"
#include "mm/tlb.h"
#include "mm/vmalloc.h"

extern "C" char ap_trampoline[], ap_trampoline_end[];
extern "C" char boot_pdpt[];  // boot.S: the boot stub's PDPT (physical address)

namespace kern {

static_assert(x86::kMaxCpus == mm::kMaxCpus);
static_assert(x86::kMaxCpus <= formats::kMaxCpuEntries);

extern "C" [[noreturn]] void ap_entry(uint32_t cpu);

namespace {

constexpr uint32_t kApStackSize = 16384;
alignas(16) uint8_t ap_stacks[x86::kMaxCpus][kApStackSize];

SmpConfig config;
SmpState state;
uint32_t apic_id_of[x86::kMaxCpus];
std::atomic<uint32_t> online_count{1};

// mailbox[target][source]: the source's request, nullptr when done.
std::atomic<const mm::FlushRequest*> mailbox[x86::kMaxCpus][x86::kMaxCpus];
std::atomic<uint32_t> pending[x86::kMaxCpus];  // per target: a bit per source with a request

// The trampoline's slots, the last four words before ap_trampoline_end.
struct TrampolineSlots {
  uint32_t cr3, stack, entry, cpu;
};
TrampolineSlots* trampoline_slots() {
  const uint32_t size = static_cast<uint32_t>(ap_trampoline_end - ap_trampoline);
  return reinterpret_cast<TrampolineSlots*>(x86::kApTrampoline + size - sizeof(TrampolineSlots) + mm::kPageOffset);
}

// Firmware tables: the direct map below lowmem, a one-page ioremap window
// above it (moved as the parser reads; it reads a few bytes at a time).
struct PhysWindow {
  uint64_t page = ~uint64_t{0};
  mm::VirtAddr va;
  bool mapped = false;

  void close() {
    if (mapped) mm::iounmap(*sys, va, mm::kPageSize);
    mapped = false;
  }
  ~PhysWindow() { close(); }
};

bool read_phys(void* ctx, uint64_t pa, void* dst, uint32_t len) {
  auto* w = static_cast<PhysWindow*>(ctx);
  auto* out = static_cast<uint8_t*>(dst);
  while (len) {
    const uint64_t page = pa & ~uint64_t{mm::kPageSize - 1};
    const uint32_t off = static_cast<uint32_t>(pa - page);
    const uint32_t n = len < mm::kPageSize - off ? len : mm::kPageSize - off;
    if (pa >= (uint64_t{1} << 32)) return false;
    if (page + mm::kPageSize <= config.lowmem_bytes) {
      memcpy(out, arch::phys_to_virt(mm::PhysAddr(pa)), n);
    } else {
      if (w->page != page) {
        w->close();
        if (mm::ioremap(*sys, mm::PhysAddr(page), mm::kPageSize, &w->va) != mm::Status::kOk) return false;
        w->mapped = true;
        w->page = page;
      }
      memcpy(out, reinterpret_cast<const uint8_t*>(w->va.value()) + off, n);
    }
    out += n;
    pa += n;
    len -= n;
  }
  return true;
}

void delay_us(uint64_t us) {
  const uint64_t end = x86::rdtsc() + tsc_hz * us / 1000000;
  while (x86::rdtsc() < end) asm volatile("pause");
}

// INIT, then STARTUP until the AP is online (at most twice, 200 us apart).
// The 10 ms wait after INIT is for real hardware; a hypervisor (CPUID.1:
// ECX bit 31) does not need it, as Linux's init_udelay decides.
bool start_ap(uint32_t cpu, uint32_t apic_id) {
  TrampolineSlots* slots = trampoline_slots();
  slots->cr3 = reinterpret_cast<uint32_t>(boot_pdpt);
  slots->stack = reinterpret_cast<uint32_t>(&ap_stacks[cpu][kApStackSize]);
  slots->entry = reinterpret_cast<uint32_t>(&ap_entry);
  slots->cpu = cpu;
  arch::smp_mb();
  const bool hypervisor = x86::cpuid(1).ecx & (1u << 31);
  const uint32_t before = online_count.load(std::memory_order_acquire);
  using A = x86::LocalApic;
  x86::lapic.send_ipi(apic_id, A::kDeliveryInit | A::kLevelAssert | A::kTriggerLevel);
  x86::lapic.send_ipi(apic_id, A::kDeliveryInit | A::kTriggerLevel);  // de-assert (needed before the P4)
  delay_us(hypervisor ? 10 : 10000);
  for (int i = 0; i < 2 && online_count.load(std::memory_order_acquire) == before; ++i) {
    x86::lapic.send_ipi(apic_id, A::kDeliveryStartup | (x86::kApTrampoline >> 12));
    delay_us(200);
  }
  const uint64_t deadline = x86::rdtsc() + tsc_hz;  // one second
  while (online_count.load(std::memory_order_acquire) == before) {
    if (x86::rdtsc() > deadline) return false;
    asm volatile("pause");
  }
  return true;
}

// The local APIC timer's rate, counted against the TSC over 10 ms (its
// input clock is the bus clock, which CPUID does not always give).
void calibrate_local_timer() {
  using A = x86::LocalApic;
  x86::lapic.write(A::kTimerDivide, A::kTimerDivideBy16);
  x86::lapic.write(A::kLvtTimer, A::kLvtMasked);
  x86::lapic.write(A::kTimerInitial, 0xFFFFFFFFu);
  delay_us(10000);
  const uint32_t left = x86::lapic.read(A::kTimerCurrent);
  x86::lapic.write(A::kTimerInitial, 0);
  state.lapic_timer_hz = (0xFFFFFFFFull - left) * 100;
}

void send_to(uint32_t cpu, uint32_t vector) {
  x86::lapic.send_ipi(apic_id_of[cpu], x86::LocalApic::kDeliveryFixed | vector);
}

}  // namespace

const SmpState& smp_state() { return state; }

void smp_kick(uint32_t cpu) {
  if (cpu != arch::this_cpu()) send_to(cpu, x86::kReschedVector);
}

void smp_kick_all() {
  const uint32_t n = online_count.load(std::memory_order_acquire);
  for (uint32_t c = 0; c < n; ++c) smp_kick(c);
}

void smp_start_local_timer() {
  if (arch::this_cpu() == 0) return;  // CPU 0 has the PIT
  const uint64_t count = state.lapic_timer_hz / kHz;
  if (count)
    x86::lapic.start_timer(x86::kTimerVector, static_cast<uint32_t>(count < 0xFFFFFFFFu ? count : 0xFFFFFFFFu));
}

void smp_stop_local_timer() {
  if (arch::this_cpu() != 0) x86::lapic.stop_timer();
}

void smp_timer_interrupt() {
  x86::lapic.eoi();
  local_timer_tick();
}

void smp_resched_interrupt() { x86::lapic.eoi(); }

void smp_init(const SmpConfig& c) {
  config = c;
  const uint64_t t0 = x86::rdtsc();
  {
    PhysWindow window;
    state.tables_error = formats::find_cpus(read_phys, &window, &state.topology);
  }
  if (state.tables_error) {
    kprintf("mmlab: one CPU: %s\n", state.tables_error);
    return;
  }
  mm::VirtAddr apic_va;
  if (mm::ioremap(*sys, mm::PhysAddr(state.topology.lapic_phys), mm::kPageSize, &apic_va) != mm::Status::kOk)
    panic("out of memory mapping the local APIC");
  x86::lapic.set_base(apic_va.value());
  x86::lapic.enable(true);
  state.boot_apic_id = x86::lapic.id();
  apic_id_of[0] = state.boot_apic_id;
  // Only APs use the local APIC timer (CPU 0 keeps the PIT): 10 ms of boot
  // saved when there is no AP.
  if (state.topology.count > 1) calibrate_local_timer();

  memcpy(arch::phys_to_virt(mm::PhysAddr(x86::kApTrampoline)), ap_trampoline,
         static_cast<uint32_t>(ap_trampoline_end - ap_trampoline));
  for (uint32_t i = 0; i < state.topology.count; ++i) {
    const uint32_t apic_id = state.topology.apic_ids[i];
    if (apic_id == state.boot_apic_id) continue;
    const uint32_t cpu = online_count.load(std::memory_order_relaxed);
    if (cpu == x86::kMaxCpus) {
      state.start_error = "more CPUs than the kernel supports (x86::kMaxCpus)";
      break;
    }
    if (apic_id > 0xFF) {
      state.start_error = "an x2APIC id above 255: xAPIC mode cannot address it";
      break;
    }
    apic_id_of[cpu] = apic_id;
    if (!start_ap(cpu, apic_id)) {
      state.start_error = "an AP did not come online within one second";
      kprintf("mmlab: CPU with APIC id %u did not come online; bring-up stops at %u CPUs\n", apic_id, cpu);
      break;
    }
  }
  state.online = online_count.load(std::memory_order_acquire);
  state.bringup_ns = tsc_to_ns(x86::rdtsc() - t0);
  kprintf("mmlab: %u of %u CPUs online (%s), in %llu us\n", state.online, state.topology.count, state.topology.source,
          static_cast<unsigned long long>(state.bringup_ns / 1000));
}

void smp_poll_calls() {
  const uint32_t me = arch::this_cpu();
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

void smp_ipi_interrupt() {
  x86::lapic.eoi();
  smp_poll_calls();
}

// An AP, from the trampoline: on the boot stub's tables, with a stack.
extern "C" [[noreturn]] void ap_entry(uint32_t cpu) {
  x86::load_cpu_descriptors(cpu);
  if (config.nx) x86::wrmsr(x86::kMsrEfer, x86::rdmsr(x86::kMsrEfer) | x86::kEferNxe);
  sys->init_mm.cpumask.set(cpu);
  arch::smp_mb();
  arch::write_cr3(sys->init_mm.pgd_phys);
  if (config.pge) x86::write_cr4(x86::read_cr4() | x86::kCr4Pge);
  x86::fpu_init();
  x86::lapic.enable(false);
  online_count.fetch_add(1, std::memory_order_release);
  sched_ap_main(cpu);
}

}  // namespace kern

// The arch hooks of mm/arch.h that need the kernel (arch/x86_pae/include/arch/mmu.h).
namespace arch {

uint32_t num_cpus() { return kern::online_count.load(std::memory_order_acquire); }

void cpu_relax() {
  asm volatile("pause" : : : "memory");
  kern::smp_poll_calls();
}

void flush_tlb_others(uint32_t cpus, const mm::FlushRequest& req) {
  const uint32_t me = this_cpu();
  cpus &= ~(1u << me);
  for (uint32_t m = cpus; m;) {
    const uint32_t c = static_cast<uint32_t>(__builtin_ctz(m));
    m &= m - 1;
    MM_ASSERT(!kern::mailbox[c][me].load(std::memory_order_relaxed));
    kern::mailbox[c][me].store(&req, std::memory_order_release);
    kern::pending[c].fetch_or(1u << me, std::memory_order_release);
    kern::send_to(c, x86::kIpiCallVector);
  }
  for (uint32_t m = cpus; m;) {
    const uint32_t c = static_cast<uint32_t>(__builtin_ctz(m));
    m &= m - 1;
    while (kern::mailbox[c][me].load(std::memory_order_acquire)) {
      asm volatile("pause" : : : "memory");
      kern::smp_poll_calls();
    }
  }
}

}  // namespace arch
