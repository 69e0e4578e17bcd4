// One guest boot: the QEMU command for a cell, and what its console and
// records say once QEMU has exited (docs/records.md).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "matrix.h"

namespace mmlab {

// Where the guest's files are (build outputs; see paths_from_build()).
struct GuestPaths {
  std::string mmlab_kernel;   // build/kernel/mmlab-kernel.elf
  std::string linux_kernel;   // build/third_party/linux-pae/vmlinuz
  std::string linux_version;  // its version file
  std::string initrd;         // build/workloads/initrd.cpio
};
// The build's paths, each overridable by the environment (MMLAB_KERNEL,
// MMLAB_LINUX, MMLAB_INITRD), as scripts/mmboot.py does.
GuestPaths paths_from_build();

// The initrd's workloads: the programs under /bin (busybox's sh excluded).
std::vector<std::string> initrd_workloads(const std::string& initrd);

// An initrd holding `base` plus `binary` as /bin/NAME: a second newc
// archive appended to a copy of the first (both kernels read concatenated
// archives). Written to `out`; false with errno on failure.
bool write_initrd_with(const std::string& base, const std::string& binary, const std::string& out);

struct VmSpec {
  Kernel kernel = Kernel::kMmlab;
  bool kvm = false;     // else TCG
  bool icount = false;  // -icount shift=0,sleep=off (TCG only)
  uint32_t vcpus = 1;
  uint32_t memory_mb = 256;
  std::map<std::string, std::string> toggles;  // mmlab only
  std::vector<std::string> kernel_args;        // extra words before "--"
  std::vector<std::string> init_args;          // /init's arguments: the program and its arguments
  std::string kernel_image, initrd;
  std::string console_path;  // COM1; "stdio" for the terminal
  std::string records_path;  // COM2
};
std::vector<std::string> qemu_argv(const VmSpec& spec);

// What a finished (or killed) guest amounted to.
struct GuestOutcome {
  std::string status = "failed";  // ok | failed | timeout | panic
  std::string reason;             // why, when not ok
  nlohmann::json metrics;         // the workload's MMLAB-RESULT object, or null
  nlohmann::json init;            // /init's line for the program, or null
  nlohmann::json guest_counters;  // deltas across the run (mmlab: mm, kernel; Linux: vmstat, self_stat)
  nlohmann::json boot;            // mmlab's boot record, or null
  nlohmann::json leak;            // mmlab's leak record, or null
  nlohmann::json panic;           // the panic record, or null
  std::string time_unit = "ns";   // "guest_instructions" under -icount
  uint32_t malformed_records = 0;
  std::vector<std::string> malformed_examples;
};

// qemu_exit: QEMU's exit status, or -1 when the loader killed it at its
// deadline. `program`: the name /init ran (its snapshots are labelled
// before:0:NAME and after:0:NAME). `expect_result`: the program is one of
// the lab's workloads, which always print an MMLAB-RESULT line (a user's
// binary need not).
GuestOutcome interpret_guest(Kernel kernel, int qemu_exit, bool icount, const std::string& console,
                             const std::string& records, const std::string& program, bool expect_result,
                             uint32_t timeout_s);

// The last `n` lines of a console, for a failed cell's record.
std::string console_tail(const std::string& console, size_t n);

}  // namespace mmlab
