// `mmlab boot`, `mmlab tests` and `mmlab toggles` (docs/loader.md).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace mmlab {

struct BootOptions {
  // qemu or bochs (the mmlab kernel only; docs/testing.md); "": QEMU, or
  // with --test the list's choice (given, it overrides the list's).
  std::string emulator;
  std::string kernel = "mmlab";  // or linux-pae
  std::string kernel_image;      // default: the build's
  std::string initrd = "tests";  // tests, workloads or a path
  std::vector<std::string> add;  // GUEST=HOST files added to the initrd
  std::vector<std::string> toggles, kernel_args;
  std::string init = "/init";
  std::vector<std::string> init_args;
  uint32_t vcpus = 1, sockets = 0, memory_mb = 256;
  bool no_acpi = false, no_debug_exit = false;
  std::string cpu;
  std::string accel;  // "" : auto (tcg with --test)
  bool deterministic = false;
  double timeout_s = 600;
  bool json = false;
  std::string json_file;
  bool records = false;
  std::string test, test_list;
  bool tlb_model = false;                 // load the TLB-model plugin (TCG; docs/tlb-model.md)
  std::vector<std::string> tlb_geometry;  // its geometry: "itlb=64:4,stlb=512:4", ...
};

// Adds the options of `mmlab boot` to `cmd`.
void add_boot_options(CLI::App* cmd, BootOptions* o);

// Runs `mmlab boot`. Exit status: 0 when the guest passed (or, without
// isa-debug-exit, powered off; with --test: when every boot of the case met
// its expectations), 1 when it reported failure or an expectation failed,
// 3 on timeout, 4 when QEMU ended otherwise. Usage errors throw.
int cmd_boot(const BootOptions& o);

// `mmlab tests [--list FILE] [--json | --ctest FILE]`: the boot-test cases.
int cmd_tests(const std::string& list, bool json, const std::string& ctest_file, const std::string& python);

// `mmlab toggles [--json]`: the toggle table.
int cmd_toggles(bool json);

}  // namespace mmlab
