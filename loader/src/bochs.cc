#include "bochs.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "runner.h"
#include "util.h"

namespace mmlab {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Debian's Bochs 2.7 (bochsbios, vgabios).
constexpr const char* kBios = "/usr/share/bochs/BIOS-bochs-latest";
constexpr const char* kVgaBios = "/usr/share/vgabios/vgabios.bin";
// A CPU with PAE, NX and a local APIC, as the kernel wants (the default
// bx_generic has no NX).
constexpr const char* kDefaultCpu = "corei7_sandy_bridge_2600k";
// Guest instructions per emulated second: with `clock: sync=none` time
// follows the instruction count, whatever the host's load. 10 M keeps the
// BIOS's timed waits (its IDE probe) short: 35 M instructions to the boot
// sector against 310 M at 100 M ips; the kernel's 100 Hz tick then comes
// every 100 k instructions.
constexpr uint64_t kIps = 10000000;

// A file into the ISO tree: a hard link where the file system allows, else a copy.
void place(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_hard_link(from, to, ec);
  if (!ec) return;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot copy {} to {}: {}", from, to, ec.message()));
}

// A path the bochsrc can hold: its parser splits at commas and spaces.
std::string rc_path(const std::string& p) {
  if (p.find_first_of(", \t\n\"") != std::string::npos)
    throw std::invalid_argument(fmt::format("Bochs: the bochsrc cannot hold the path '{}' (comma or space)", p));
  return p;
}

}  // namespace

void check_bochs_spec(const VmSpec& s) {
  auto no = [](const std::string& what) {
    throw std::invalid_argument(fmt::format("Bochs: {} (docs/testing.md, \"Bochs\")", what));
  };
  if (s.kernel != Kernel::kMmlab) no("boots the mmlab kernel only");
  if (s.kvm) no("is an emulator of its own: no KVM (use --accel tcg or leave --accel out)");
  if (s.icount) no("--deterministic is QEMU's -icount; Bochs's clock already follows its instruction count");
  if (s.tlb_model) no("the TLB model is a QEMU TCG plugin");
  if (!s.debug_exit) no("has no isa-debug-exit either way: the verdict is the kernel's exit record");
  if (!s.acpi) no("its BIOS always writes the ACPI tables: no --no-acpi");
  if (s.sockets) no("no socket topology: Bochs's CPUs are single-core packages");
  if (s.vcpus > 8) no(fmt::format("{} vCPUs: this loader runs Bochs with at most 8", s.vcpus));
  // GRUB quotes a word with spaces as the kernel does, but escapes \, ' and "
  // with a backslash, which the kernel does not read.
  for (const std::string& w : kernel_cmdline_words(s))
    if (w.find_first_of("\\'\"") != std::string::npos || w.empty())
      no(fmt::format("GRUB would rewrite the kernel command-line word '{}' (empty, or a quote or backslash)", w));
}

std::vector<std::string> bochs_prepare(const VmSpec& s, const std::string& dir) {
  check_bochs_spec(s);
  const std::string iso_dir = dir + "/iso", iso = dir + "/mmlab.iso";
  std::error_code ec;
  fs::create_directories(iso_dir + "/boot/grub", ec);
  if (ec) throw std::runtime_error(fmt::format("cannot make {}: {}", iso_dir, ec.message()));
  place(s.kernel_image, iso_dir + "/boot/kernel.elf");
  place(s.initrd, iso_dir + "/boot/initrd.cpio");
  // GRUB's multiboot command hands its words to the kernel as the command
  // line; single quotes keep GRUB's own parser off them ($, ;, spaces).
  std::string line = "multiboot /boot/kernel.elf";
  for (const std::string& w : kernel_cmdline_words(s)) line += " '" + w + "'";
  const std::string cfg =
      "set timeout=0\nset default=0\nmenuentry mmlab {\n  " + line + "\n  module /boot/initrd.cpio initrd\n  boot\n}\n";
  if (!write_file_atomic(iso_dir + "/boot/grub/grub.cfg", cfg))
    throw std::runtime_error(fmt::format("cannot write grub.cfg in {}: {}", iso_dir, std::strerror(errno)));
  const std::string log = dir + "/grub-mkrescue.log";
  const pid_t pid = spawn({"grub-mkrescue", "-o", iso, iso_dir}, log, {}, nullptr);
  if (pid < 0) throw std::runtime_error(fmt::format("cannot run grub-mkrescue: {}", std::strerror(errno)));
  const int rc = wait_with_deadline(pid, 300);
  if (rc != 0 || !fs::exists(iso))
    throw std::runtime_error(fmt::format("grub-mkrescue failed ({}): {}",
                                         rc == -1 ? "killed after 300 s" : fmt::format("exit {}", rc),
                                         trim(read_file(log).value_or(""))));

  const std::string console = s.console_path == "stdio" ? "/dev/stdout" : s.console_path;
  std::string rc_text;
  rc_text += fmt::format("megs: {}\n", s.memory_mb);
  rc_text += fmt::format("cpu: model={}, count={}, ips={}, reset_on_triple_fault=0\n",
                         s.cpu.empty() ? kDefaultCpu : s.cpu, s.vcpus, kIps);
  rc_text += fmt::format("romimage: file={}\nvgaromimage: file={}\n", kBios, kVgaBios);
  rc_text += fmt::format("ata0-master: type=cdrom, path={}, status=inserted\nboot: cdrom\n", rc_path(iso));
  rc_text += fmt::format("com1: enabled=1, mode=file, dev={}\n", rc_path(console));
  rc_text += fmt::format("com2: enabled=1, mode=file, dev={}\n", rc_path(s.records_path));
  // Debian's Bochs has no `nogui`: RFB (VNC), which with timeout=0 does not
  // wait for a viewer, is the one display in the bochs package itself.
  rc_text += "display_library: rfb, options=\"timeout=0\"\n";
  // No sound: with ALSA's default device missing (a server, a container)
  // Debian's Bochs aborts at start ("buffer overflow detected").
  rc_text += "speaker: enabled=0\nmouse: enabled=0\n";
  rc_text += "sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy\n";
  // Time follows the instruction count, from a fixed date, as under -icount.
  rc_text += "clock: sync=none, time0=946684800\n";
  // A triple fault or an emulator panic ends Bochs (no verdict: a crash).
  rc_text += "panic: action=fatal\nerror: action=report\ninfo: action=report\ndebug: action=ignore\n";
  rc_text += fmt::format("log: {}\n", rc_path(dir + "/bochs.log"));
  const std::string bochsrc = dir + "/bochsrc", commands = dir + "/debugger.rc";
  // Debian builds Bochs with its debugger, which stops at a prompt: `c` runs.
  if (!write_file_atomic(bochsrc, rc_text) || !write_file_atomic(commands, "c\n"))
    throw std::runtime_error(fmt::format("cannot write the bochsrc in {}: {}", dir, std::strerror(errno)));
  return {"bochs", "-q", "-f", bochsrc, "-rc", commands};
}

void bochs_cleanup(const std::string& dir) {
  std::error_code ec;
  fs::remove(dir + "/mmlab.iso", ec);
  fs::remove_all(dir + "/iso", ec);
}

int bochs_exit_status(int bochs_exit, const std::string& records_text) {
  if (bochs_exit == -1) return -1;
  std::string verdict;
  std::istringstream in(records_text);
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"exit\"") == std::string::npos) continue;
    const json r = json::parse(line, nullptr, false);
    if (!r.is_discarded() && r.is_object() && str_of(r, "type") == "exit") verdict = str_of(r, "verdict");
  }
  if (verdict == "pass") return 33;
  if (verdict == "fail") return 35;
  return bochs_exit == 33 || bochs_exit == 35 ? 1 : bochs_exit;
}

std::string bochs_version() {
  // `bochs --help` prints its banner on stderr: ask the shell to merge them.
  const auto out = capture({"sh", "-c", "bochs --help 2>&1"});
  if (!out) return "unknown";
  const size_t p = out->find("Bochs x86 Emulator");
  return p == std::string::npos ? "unknown" : trim(out->substr(p, out->find('\n', p) - p));
}

}  // namespace mmlab
