// One guest boot: the QEMU command for a cell, and what its console and
// records say once QEMU has exited (docs/records.md).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "matrix.h"

namespace mmlab {

// Where the guest's files are (build outputs; see paths_from_build()).
struct GuestPaths {
  std::string mmlab_kernel;   // build/kernel/mmlab-kernel.elf
  std::string linux_kernel;   // build/third_party/linux-pae/vmlinuz
  std::string linux_version;  // its version file
  std::string initrd;         // build/workloads/initrd.cpio: /init, busybox, the workloads
  std::string test_initrd;    // build/workloads/test-initrd.cpio: the same plus /tests/t_* and /data
  std::string tlb_plugin;     // build/lib/libmmlab_tlb.so: the TLB-model QEMU plugin (docs/tlb-model.md)
};
// The build's paths, each overridable by the environment (MMLAB_KERNEL,
// MMLAB_LINUX, MMLAB_WORKLOAD_INITRD, MMLAB_TEST_INITRD, MMLAB_TLB_PLUGIN).
GuestPaths paths_from_build();

// The initrd's workloads: the programs under /bin (busybox's sh excluded).
std::vector<std::string> initrd_workloads(const std::string& initrd);
// Every regular file of the initrd as the guest sees it ("/tests/t_fork", ...).
std::vector<std::string> initrd_files(const std::string& initrd);

// A file to add to an initrd: `host` becomes the guest's `guest` (an
// absolute path, mode 0755).
struct ExtraFile {
  std::string guest, host;
};
// An initrd holding `base` plus `files`: a second newc archive appended to a
// copy of the first (both kernels read concatenated archives; a later entry
// replaces an earlier one of the same name), with the directories above each
// file. Written to `out`; false with errno on failure.
bool write_initrd_with(const std::string& base, const std::vector<ExtraFile>& files, const std::string& out);

struct VmSpec {
  Emulator emulator = Emulator::kQemu;  // Bochs: bochs.h
  Kernel kernel = Kernel::kMmlab;
  bool kvm = false;     // else TCG
  bool icount = false;  // -icount shift=0,sleep=off (TCG only)
  uint32_t vcpus = 1;
  uint32_t sockets = 0;    // 0: QEMU's default topology; else vcpus/sockets cores per socket
  bool acpi = true;        // false: no ACPI tables (the CPUs come from the MP table)
  std::string cpu;         // "" : "host" under KVM, "max" under TCG
  bool debug_exit = true;  // isa-debug-exit at 0xf4: the guest's pass/fail becomes QEMU's exit status
  uint32_t memory_mb = 256;
  std::map<std::string, std::string> toggles;  // mmlab only
  std::vector<std::string> kernel_args;        // extra words before "--"
  std::string init = "/init";                  // mmlab's init= (Linux always runs /init)
  std::vector<std::string> init_args;          // init's arguments (for /init: programs and their arguments)
  std::string kernel_image, initrd;
  std::string console_path;  // COM1; "stdio" for the terminal
  std::string records_path;  // COM2
  // The TLB-model plugin (docs/tlb-model.md; TCG only): loaded when
  // `tlb_model`, with its geometry words (itlb=64:4, ...; checked by
  // tlb_geometry_words) and the file it writes (boot_once chooses it).
  bool tlb_model = false;
  std::string tlb_plugin;
  std::vector<std::string> tlb_args;
  std::string tlb_out_path;
};
// The QEMU command for `spec`. Throws std::invalid_argument for a word the
// kernel command line cannot carry (one holding a double quote; words with
// spaces are quoted), a topology QEMU would refuse, or the TLB model under
// KVM.
std::vector<std::string> qemu_argv(const VmSpec& spec);

// The kernel command line's words, unquoted: mmlab's toggles and init=, or
// Linux's fixed words, then kernel_args, then "--" and init's arguments.
std::vector<std::string> kernel_cmdline_words(const VmSpec& spec);

// The command that boots `spec` under its emulator: qemu_argv, or for Bochs
// bochs_prepare (bochs.h), which writes the boot's files into `scratch_dir`.
std::vector<std::string> emulator_argv(const VmSpec& spec, const std::string& scratch_dir);

// Checks a spec without booting it: std::invalid_argument as qemu_argv, or
// as check_bochs_spec for Bochs.
void check_spec(const VmSpec& spec);

// The emulator's exit status read as QEMU's: the same for QEMU; for Bochs
// bochs_exit_status (33 or 35 from the guest's exit record).
int verdict_exit_status(const VmSpec& spec, int emulator_exit, const std::string& records_text);

// The records of one boot (docs/records.md), the one reader of them on the
// host: mmlab's record channel (COM2, schema-1 JSON lines), or for Linux,
// which has none, the MMLAB-RESULT / MMLAB-COUNTERS lines its programs print
// on the console. Lines that are not records are counted, with examples.
struct GuestRecords {
  std::vector<nlohmann::json> records;
  uint32_t malformed = 0;
  std::vector<std::string> malformed_examples;  // the first three, with why
};
GuestRecords read_records(Kernel kernel, const std::string& console, const std::string& records_text);

// What /init was asked to run in one boot, and what counts as ok.
struct InitRun {
  std::vector<std::string> programs;  // the names /init runs, in order (their snapshots' labels)
  bool expect_result = true;          // the program is a lab workload: it prints an MMLAB-RESULT line
  bool survive = false;               // ok when the kernel survives, whatever the programs did
};

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
  nlohmann::json tlb_model;       // the TLB model's window (tlb_window in tlb_plugin.h), or null without it
  nlohmann::json init_all;        // /init's line for every program, in order (an array)
  nlohmann::json shutdown;        // mmlab: the counters at shutdown (mm, kernel, enosys), or null
  // mmlab: whether the kernel survived: no panic, no timeout, a leak record
  // that says nothing leaked (then survival is ""; else why not). Linux: null.
  nlohmann::json survived;
  std::string survival;
  std::string time_unit = "ns";  // "guest_instructions" under -icount
  uint32_t malformed_records = 0;
  std::vector<std::string> malformed_examples;
};

// qemu_exit: QEMU's exit status, or -1 when the loader killed it at its
// deadline. `run.programs`: the names /init ran (the snapshots are labelled
// before:I:NAME and after:I:NAME; guest_counters spans the first program's
// before to the last one's after). `expect_result`: the program is one of
// the lab's workloads, which always print an MMLAB-RESULT line (a user's
// binary need not; several programs have no one result). `survive`: the
// cell is ok when the kernel survived and /init reported every program,
// whatever their statuses. `tlb_output`: with the TLB model, what its plugin
// wrote (empty if nothing), paired with the records, and QEMU's own messages
// (why the plugin did not load); the model's state never decides the status.
GuestOutcome interpret_guest(Kernel kernel, int qemu_exit, bool icount, const std::string& console,
                             const std::string& records, const InitRun& run, uint32_t timeout_s,
                             const std::optional<std::string>& tlb_output = std::nullopt,
                             const std::string& qemu_log = "");
// One program, ok only if it succeeded.
inline GuestOutcome interpret_guest(Kernel kernel, int qemu_exit, bool icount, const std::string& console,
                                    const std::string& records, const std::string& program, bool expect_result,
                                    uint32_t timeout_s, const std::optional<std::string>& tlb_output = std::nullopt,
                                    const std::string& qemu_log = "") {
  return interpret_guest(kernel, qemu_exit, icount, console, records, InitRun{{program}, expect_result, false},
                         timeout_s, tlb_output, qemu_log);
}

// The last `n` lines of a console, for a failed cell's record.
std::string console_tail(const std::string& console, size_t n);

}  // namespace mmlab
