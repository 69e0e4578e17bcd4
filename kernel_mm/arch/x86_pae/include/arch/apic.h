// The local APIC in xAPIC mode (SDM Vol. 3A chapter 11): memory-mapped
// registers, 16 bytes apart, at the base the firmware tables give (the
// kernel maps it uncached; kernel/src/smp.cc).
#pragma once

#include <cstdint>

namespace x86 {

// Vectors the local APIC delivers (above the legacy PIC's 32-47).
inline constexpr uint32_t kTimerVector = 0xEF;     // an AP's local APIC timer (time slices)
inline constexpr uint32_t kIpiCallVector = 0xF0;   // run this CPU's mailbox (smp.cc)
inline constexpr uint32_t kReschedVector = 0xF1;   // look at the run queues (a task was queued here)
inline constexpr uint32_t kSpuriousVector = 0xFF;  // §11.9: no EOI for it

class LocalApic {
 public:
  // Registers (offsets from the base, Table 11-1).
  static constexpr uint32_t kId = 0x20, kVersion = 0x30, kTpr = 0x80, kEoi = 0xB0, kSvr = 0xF0, kEsr = 0x280;
  static constexpr uint32_t kIcrLow = 0x300, kIcrHigh = 0x310, kLvtTimer = 0x320, kLvtLint0 = 0x350, kLvtLint1 = 0x360,
                            kLvtError = 0x370;
  // ICR fields (§11.6.1).
  static constexpr uint32_t kDeliveryFixed = 0 << 8, kDeliveryInit = 5 << 8, kDeliveryStartup = 6 << 8;
  static constexpr uint32_t kLevelAssert = 1 << 14, kTriggerLevel = 1 << 15, kDeliveryPending = 1 << 12;
  static constexpr uint32_t kLvtMasked = 1 << 16, kSvrEnable = 1 << 8;
  // The timer (§11.5.4): counts down from the initial count at the bus
  // clock divided by the divide configuration; periodic mode reloads.
  static constexpr uint32_t kTimerInitial = 0x380, kTimerCurrent = 0x390, kTimerDivide = 0x3E0;
  static constexpr uint32_t kTimerPeriodic = 1 << 17, kTimerDivideBy16 = 0x3;

  void set_base(uintptr_t va) { base_ = va; }
  bool mapped() const { return base_ != 0; }

  uint32_t read(uint32_t reg) const { return *reinterpret_cast<volatile uint32_t*>(base_ + reg); }
  void write(uint32_t reg, uint32_t v) const { *reinterpret_cast<volatile uint32_t*>(base_ + reg) = v; }

  uint32_t id() const { return read(kId) >> 24; }
  void eoi() const { write(kEoi, 0); }

  // Software-enables this CPU's APIC: spurious vector, task priority 0 (take
  // every vector), LVT error masked. `bsp`: keep LINT0/LINT1 as the firmware
  // set them (virtual-wire: the 8259's interrupts arrive through LINT0);
  // an AP masks LINT0 so that PIC interrupts reach the BSP only.
  void enable(bool bsp) const {
    write(kSvr, kSvrEnable | kSpuriousVector);
    write(kTpr, 0);
    write(kLvtError, kLvtMasked);
    if (!bsp) write(kLvtLint0, kLvtMasked);
    write(kEsr, 0);  // the error status register is cleared by a write (§11.5.3)
  }

  // Periodic interrupts at `vector` every `count` timer ticks (divide by 16).
  void start_timer(uint32_t vector, uint32_t count) const {
    write(kTimerDivide, kTimerDivideBy16);
    write(kLvtTimer, kTimerPeriodic | vector);
    write(kTimerInitial, count);
  }
  void stop_timer() const {
    write(kLvtTimer, kLvtMasked);
    write(kTimerInitial, 0);
  }

  // Sends an interprocessor interrupt and waits until the APIC has taken
  // it (delivery status idle). Interrupts must be off: an interrupt
  // handler's IPI between the two ICR writes would change the destination.
  void send_ipi(uint32_t apic_id, uint32_t low) const {
    write(kIcrHigh, apic_id << 24);
    write(kIcrLow, low);
    while (read(kIcrLow) & kDeliveryPending) asm volatile("pause");
  }

 private:
  uintptr_t base_ = 0;
};

inline LocalApic lapic;

}  // namespace x86
