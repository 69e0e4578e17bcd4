// Time: the TSC, calibrated against the PIT at boot (no TCG-only
// assumption: under KVM the TSC runs at the host's rate), and the wall
// clock read once from the CMOS RTC.
#include "arch/x86.h"
#include "kernel/clock.h"

namespace kern {

uint64_t tsc_hz = 0;
uint64_t boot_tsc = 0;
uint64_t realtime_base_s = 0;

uint64_t tsc_to_ns(uint64_t cycles) {
  // Split so that nothing overflows: t % tsc_hz * 10^9 < 2^64 for any TSC rate below 18 GHz.
  return cycles / tsc_hz * 1000000000ull + cycles % tsc_hz * 1000000000ull / tsc_hz;
}

uint64_t time_ns() { return tsc_to_ns(x86::rdtsc() - boot_tsc); }

namespace {

uint8_t cmos(uint8_t reg) {
  x86::outb(0x70, reg);
  return x86::inb(0x71);
}

uint32_t bcd(uint8_t v, bool binary) { return binary ? v : (v >> 4) * 10 + (v & 0xF); }

// Days from 1970-01-01 to y-m-d (proleptic Gregorian).
uint64_t days_from_civil(uint32_t y, uint32_t m, uint32_t d) {
  y -= m <= 2;
  const uint32_t era = y / 400;
  const uint32_t yoe = y - era * 400;
  const uint32_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const uint32_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return uint64_t{era} * 146097 + doe - 719468;
}

}  // namespace

void rtc_read() {
  for (uint32_t spin = 0; spin < 1000000 && (cmos(0x0A) & 0x80); ++spin) {  // update in progress
  }
  const bool binary = cmos(0x0B) & 0x04;
  const uint32_t sec = bcd(cmos(0x00), binary), min = bcd(cmos(0x02), binary);
  const uint32_t hour = bcd(cmos(0x04) & 0x7F, binary), day = bcd(cmos(0x07), binary);
  const uint32_t mon = bcd(cmos(0x08), binary), year = 2000 + bcd(cmos(0x09), binary);
  if (mon < 1 || mon > 12 || day < 1 || day > 31) return;
  realtime_base_s = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
}

}  // namespace kern
