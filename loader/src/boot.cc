#include "boot.h"

#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "runner.h"
#include "tlb_plugin.h"
#include "util.h"

namespace mmlab {

namespace {

// A private directory for one boot's files, removed with it.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/mmlab-boot-XXXXXX";
    if (!::mkdtemp(templ.data()))
      throw std::runtime_error(fmt::format("cannot make a temporary directory {}: {}", templ, std::strerror(errno)));
    path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string status_of(int qemu_exit, bool debug_exit) {
  if (qemu_exit == -1) return "timeout";
  if (debug_exit && qemu_exit == 33) return "success";
  if (debug_exit && qemu_exit == 35) return "failure";
  if (!debug_exit && qemu_exit == 0) return "poweroff";
  return "crash";
}

}  // namespace

BootResult boot_once(VmSpec spec, double deadline_s, bool console_on_terminal) {
  ScratchDir dir;
  spec.console_path = console_on_terminal ? "stdio" : dir.path() + "/console.log";
  spec.records_path = dir.path() + "/records.jsonl";
  if (spec.tlb_model) spec.tlb_out_path = dir.path() + "/tlb-model.jsonl";
  BootResult r;
  r.emulator = emulator_name(spec.emulator);
  r.command = emulator_argv(spec, dir.path());
  // With the console on the terminal, the emulator's messages go there too.
  const std::string log = console_on_terminal ? "" : dir.path() + "/qemu.log";
  const double start = monotonic_s();
  const pid_t pid = spawn(r.command, log, {}, nullptr);
  if (pid < 0) throw std::runtime_error(fmt::format("cannot start {}: {}", r.emulator, std::strerror(errno)));
  r.emulator_exit = wait_with_deadline(pid, deadline_s);
  r.seconds = monotonic_s() - start;
  const std::string records_text = read_file(spec.records_path).value_or("");
  r.qemu_exit = verdict_exit_status(spec, r.emulator_exit, records_text);
  r.status = status_of(r.qemu_exit, spec.debug_exit);
  if (!console_on_terminal) {
    r.console = read_file(spec.console_path).value_or("");
    r.qemu_stderr = trim(read_file(log).value_or(""));
    // Bochs's messages are many and in its log: keep the end of both.
    if (spec.emulator == Emulator::kBochs)
      r.qemu_stderr = console_tail(r.qemu_stderr, 20) + "\n--- bochs.log (tail) ---\n" +
                      console_tail(read_file(dir.path() + "/bochs.log").value_or(""), 20);
  }
  r.records = read_records(spec.kernel, r.console, records_text);
  if (spec.tlb_model) pair_tlb_checkpoints(read_file(spec.tlb_out_path).value_or(""), &r.records);
  return r;
}

nlohmann::json vm_record(const VmSpec& spec, const BootResult& r) {
  nlohmann::json j = {{"v", 1},
                      {"type", "vm"},
                      {"kernel", kernel_name(spec.kernel)},
                      {"status", r.status},
                      {"qemu_exit", r.qemu_exit},
                      {"seconds", r.seconds},
                      {"emulator", r.emulator},
                      {"emulator_exit", r.emulator_exit},
                      {"accel", spec.emulator == Emulator::kBochs ? "bochs"
                                : spec.kvm                        ? "kvm"
                                                                  : "tcg"},
                      {"deterministic", spec.icount},
                      {"vcpus", spec.vcpus},
                      {"tlb_model", spec.tlb_model},
                      {"command", r.command},
                      {"console", r.console},
                      {"malformed_records", r.records.malformed},
                      {"malformed_examples", r.records.malformed_examples}};
  if (!r.qemu_stderr.empty()) j["qemu_stderr"] = r.qemu_stderr;
  return j;
}

size_t count_lines_starting(const std::string& console, const std::string& prefix) {
  size_t n = 0;
  std::istringstream in(console);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) ++n;
  return n;
}

}  // namespace mmlab
