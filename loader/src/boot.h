// One boot outside a matrix: `mmlab boot`, the boot tests (boot_tests.h) and
// the KVM probe. QEMU is started here or by the matrix runner (runner.h),
// both with qemu_argv (guest.h): no other program starts it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "guest.h"

namespace mmlab {

// What one boot amounted to.
struct BootResult {
  // success: the guest left through isa-debug-exit saying pass (QEMU exit 33;
  // under Bochs: its exit record says pass);
  // failure: it said fail (35); timeout: killed at the deadline; poweroff:
  // QEMU exited 0 without isa-debug-exit (the guest powered off: a VM
  // without the device); crash: anything else (QEMU would not start, the
  // guest reset, an unknown exit status).
  std::string status = "crash";
  // -1 when killed at the deadline. Under Bochs, which has no isa-debug-exit,
  // the status QEMU would have given: 33 or 35 from the guest's exit record
  // (bochs_exit_status); Bochs's own is emulator_exit.
  int qemu_exit = -1;
  std::string emulator = "qemu";  // qemu | bochs
  int emulator_exit = -1;         // the emulator's own exit status (-1: killed)
  double seconds = 0;
  std::vector<std::string> command;
  std::string console;      // empty when the console went to the terminal
  std::string qemu_stderr;  // QEMU's own messages
  GuestRecords records;
};

// Boots `spec` (its console_path and records_path are filled in here: files
// in a private temporary directory, removed afterwards, or the console on
// this process's terminal when `console_on_terminal`) and waits at most
// `deadline_s` seconds. Throws std::runtime_error if QEMU cannot be started.
BootResult boot_once(VmSpec spec, double deadline_s, bool console_on_terminal);

// The loader's own record for a finished boot (docs/records.md, "vm"): it
// follows the boot's guest records in `mmlab boot --json`.
nlohmann::json vm_record(const VmSpec& spec, const BootResult& r);

// The lines starting with `prefix` in `console` ("PASS", "FAIL").
size_t count_lines_starting(const std::string& console, const std::string& prefix);

}  // namespace mmlab
