// The kernel's side of the other CPUs (smp.cc): finding and starting them,
// and the local APIC timer and resched IPI the scheduler uses. Starting an
// AP and cross-CPU calls are the arch's (arch/smp.h).
#pragma once

#include <cstdint>

#include "formats/cpu_tables.h"

namespace kern {

struct SmpConfig {
  bool nx = false;            // set EFER.NXE on each AP before it loads the kernel's tables
  bool pge = false;           // set CR4.PGE on each AP
  uint64_t lowmem_bytes = 0;  // physical memory the direct map reaches
};

// What bring-up found and did, for the boot record.
struct SmpState {
  formats::CpuTopology topology;
  const char* tables_error = nullptr;  // why no firmware table could be used (then one CPU)
  const char* start_error = nullptr;   // why bring-up stopped early (an AP that never came online)
  uint32_t online = 1;
  uint32_t boot_apic_id = 0;
  uint64_t bringup_ns = 0;      // TSC time for all APs, tables to the last one online
  uint64_t lapic_timer_hz = 0;  // the local APIC timer's count rate (divide by 16)
};

// On the boot CPU, once the kernel's page tables are live and the TSC is
// calibrated: finds the CPUs, enables the local APIC, and starts every AP
// (at most x86::kMaxCpus CPUs in all; x86::start_ap). Each AP loads its own
// descriptors and the kernel's page tables, enables its APIC and waits for
// sched_start() to run tasks (sched_ap_main). Without usable tables the kernel runs on one CPU and
// says why.
void smp_init(const SmpConfig& config);
const SmpState& smp_state();

// A resched IPI: `cpu` looks at the run queues (a task was queued for it,
// or it must stop). No-op for this CPU.
void smp_kick(uint32_t cpu);
void smp_kick_all();  // every other online CPU
// This AP's local APIC timer at kHz (time slices); stopping it (parking).
void smp_start_local_timer();
void smp_stop_local_timer();
void smp_timer_interrupt();    // kTimerVector
void smp_resched_interrupt();  // kReschedVector

}  // namespace kern
