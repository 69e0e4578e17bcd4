// The other CPUs: application-processor bring-up (INIT, then STARTUP, on
// the trampoline) and cross-CPU calls through an IPI mailbox, which is
// what arch::flush_tlb_others, arch::cpu_relax and arch::num_cpus (mmu.h)
// are built on. The kernel finds the CPUs (firmware tables) and decides
// what an AP does once it is online (kernel/src/smp.cc).
#pragma once

#include <cstdint>

#include "mm/mm_struct.h"

namespace x86 {

// What every AP needs to join the kernel.
struct ApBoot {
  mm::MmStruct* init_mm = nullptr;  // the kernel's address space: each AP loads its PGD
  bool nx = false;                  // set EFER.NXE before loading it
  bool pge = false;                 // set CR4.PGE after
  uint64_t tsc_hz = 0;              // the bring-up waits are timed by the TSC
  // The AP's life once online (the scheduler's idle loop); never returns.
  void (*main)(uint32_t cpu) = nullptr;
};

// On the boot CPU, once the kernel's page tables are live and the local
// APIC is mapped and enabled: copies the trampoline to kApTrampoline.
void ap_boot_init(const ApBoot& boot);
// Starts CPU number `cpu` (the next one: CPUs online so far) at local APIC
// `apic_id` with INIT, then STARTUP up to twice (SDM Vol. 3A §9.4.4.1), and
// waits up to a second for it to come online: false if it did not. One AP
// at a time: the trampoline's slots hold one AP's stack and number.
bool start_ap(uint32_t cpu, uint32_t apic_id);
// The boot CPU's local APIC id (CPU 0); the APs' are set by start_ap.
void set_boot_apic_id(uint32_t apic_id);

// A fixed interrupt at `vector` to CPU `cpu` (interrupts off).
void send_ipi(uint32_t cpu, uint32_t vector);
// Runs the cross-CPU calls other CPUs left for this one: the IPI handler,
// and every spin-wait through arch::cpu_relax (the kernel spins with
// interrupts off, so a CPU waiting on a lock still answers a TLB shootdown).
void run_cross_cpu_calls();
// The kIpiCallVector handler.
void cross_cpu_call_interrupt();

}  // namespace x86
