// Time (time.cc): timer ticks, the TSC clock, and the wall clock from the
// CMOS RTC.
#pragma once

#include <cstdint>

namespace kern {

inline constexpr uint32_t kHz = 1000;  // timer interrupts per second

extern volatile uint64_t jiffies;
extern uint64_t tsc_hz;
extern uint64_t boot_tsc;
uint64_t tsc_to_ns(uint64_t cycles);
uint64_t time_ns();               // since boot_tsc
extern uint64_t realtime_base_s;  // wall-clock seconds at boot_tsc (CMOS RTC)
// Reads the CMOS RTC into realtime_base_s (once, at boot).
void rtc_read();

}  // namespace kern
