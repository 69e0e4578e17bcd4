// The kernel's side of the other CPUs: finding them, starting them, and
// the local APIC's timer and resched IPI for the scheduler. How an AP is
// started and how CPUs call each other (the TLB-shootdown mailbox) is the
// arch's: arch/x86_pae/src/smp.cc.
//
// Bring-up: the CPUs come from the firmware tables (cpu_tables.h), read
// through the direct map or, above lowmem, through ioremap. The local
// APIC's registers are ioremapped uncached. Each AP in table order is
// started by x86::start_ap, one AP at a time. An AP that never comes
// online stops the bring-up there (a late AP writing a reused trampoline
// slot would be worse than fewer CPUs), and the boot record says so.
#include "kernel/smp.h"

#include "arch/apic.h"
#include "arch/smp.h"
#include "kernel/clock.h"
#include "kernel/console.h"
#include "kernel/klib.h"
#include "kernel/sched.h"
#include "kernel/system.h"
#include "mm/vmalloc.h"

namespace kern {

static_assert(x86::kMaxCpus <= formats::kMaxCpuEntries);

namespace {

SmpConfig config;
SmpState state;

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

// The local APIC timer's rate, counted against the TSC over 10 ms (its
// input clock is the bus clock, which CPUID does not always give).
void calibrate_local_timer() {
  using A = x86::LocalApic;
  x86::lapic.write(A::kTimerDivide, A::kTimerDivideBy16);
  x86::lapic.write(A::kLvtTimer, A::kLvtMasked);
  x86::lapic.write(A::kTimerInitial, 0xFFFFFFFFu);
  x86::delay_us(tsc_hz, 10000);
  const uint32_t left = x86::lapic.read(A::kTimerCurrent);
  x86::lapic.write(A::kTimerInitial, 0);
  state.lapic_timer_hz = (0xFFFFFFFFull - left) * 100;
}

}  // namespace

const SmpState& smp_state() { return state; }

void smp_kick(uint32_t cpu) {
  if (cpu != arch::this_cpu()) x86::send_ipi(cpu, x86::kReschedVector);
}

void smp_kick_all() {
  const uint32_t n = arch::num_cpus();
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
  x86::set_boot_apic_id(state.boot_apic_id);
  // Only APs use the local APIC timer (CPU 0 keeps the PIT): 10 ms of boot
  // saved when there is no AP.
  if (state.topology.count > 1) calibrate_local_timer();

  x86::ap_boot_init(x86::ApBoot{
      .init_mm = &sys->init_mm, .nx = config.nx, .pge = config.pge, .tsc_hz = tsc_hz, .main = sched_ap_main});
  for (uint32_t i = 0; i < state.topology.count; ++i) {
    const uint32_t apic_id = state.topology.apic_ids[i];
    if (apic_id == state.boot_apic_id) continue;
    const uint32_t cpu = arch::num_cpus();
    if (cpu == x86::kMaxCpus) {
      state.start_error = "more CPUs than the kernel supports (x86::kMaxCpus)";
      break;
    }
    if (apic_id > 0xFF) {
      state.start_error = "an x2APIC id above 255: xAPIC mode cannot address it";
      break;
    }
    if (!x86::start_ap(cpu, apic_id)) {
      state.start_error = "an AP did not come online within one second";
      kprintf("mmlab: CPU with APIC id %u did not come online; bring-up stops at %u CPUs\n", apic_id, cpu);
      break;
    }
  }
  state.online = arch::num_cpus();
  state.bringup_ns = tsc_to_ns(x86::rdtsc() - t0);
  kprintf("mmlab: %u of %u CPUs online (%s), in %llu us\n", state.online, state.topology.count, state.topology.source,
          static_cast<unsigned long long>(state.bringup_ns / 1000));
}

}  // namespace kern
