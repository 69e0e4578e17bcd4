// The two channels to the host: the console (COM1, for people) and the
// record channel (COM2, JSON lines for the loader; docs/records.md), and
// the way out of QEMU.
#pragma once

#include <cstdint>

#include "arch/x86.h"

namespace kern {

void serial_init();
// Boot (init_kernel_locks): console_lock and record_lock get their class.
// Each is a leaf: nothing is taken while either is held.
void console_init_locks();
// One write at a time reaches the console (console_lock); a panic writes
// past the lock.
void console_write(const char* s, uint32_t n);
[[gnu::format(printf, 1, 2)]] void kprintf(const char* fmt, ...);

// The record schema version: bumped whenever a record changes shape.
inline constexpr uint32_t kRecordSchema = 1;

// One JSON object, built in a fixed buffer and written as one line:
//   Record r("boot"); r.num("cpus", 1); r.begin("mem"); ...; r.end(); r.emit();
// "v" (the schema) and "type" come first. Keys are trusted literals;
// string values are escaped. The buffer is shared: a Record holds
// record_lock from construction to emit() (or its end), so build it without
// taking other locks (a panic builds its record past the lock).
class Record {
 public:
  explicit Record(const char* type);
  ~Record();
  Record(const Record&) = delete;
  Record& operator=(const Record&) = delete;
  void str(const char* key, const char* value);
  void str_n(const char* key, const char* value, uint32_t n);
  void num(const char* key, uint64_t value);
  void snum(const char* key, int64_t value);
  void boolean(const char* key, bool value);
  void begin(const char* key);  // a nested object
  void end();
  void emit();  // writes the line on the record channel

 private:
  void key(const char* k);
  void raw(const char* s);
  void raw_n(const char* s, uint32_t n);
  void escaped(const char* s, uint32_t n);
  // One buffer for all records (kernel stacks are small); records are
  // built and emitted without sleeping, one at a time.
  static constexpr uint32_t kMax = 16384;
  static char buf_[kMax];
  uint32_t len_ = 0;
  bool first_ = true;
  bool overflow_ = false;
  bool locked_ = false;
};

// isa-debug-exit (iobase 0xf4): QEMU exits with status (code << 1) | 1.
inline constexpr uint8_t kExitSuccess = 0x10;  // QEMU exit status 33
inline constexpr uint8_t kExitFailure = 0x11;  // QEMU exit status 35
// Writes the `exit` record (the verdict), then leaves QEMU through
// isa-debug-exit; without that device, Bochs through its shutdown port,
// else powers off through the PIIX4 ACPI port, and failing that halts.
[[noreturn]] void machine_exit(uint8_t code);

// Prints the message (and the registers when `frame` is set) on the
// console, writes a `panic` record and exits with kExitFailure.
[[noreturn, gnu::format(printf, 2, 3)]] void panic_frame(const x86::TrapFrame* frame, const char* fmt, ...);
#define panic(...) ::kern::panic_frame(nullptr, __VA_ARGS__)

}  // namespace kern
