#include "guest.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "bochs.h"
#include "formats/cpio.h"
#include "formats/cpio_writer.h"
#include "tlb_plugin.h"
#include "util.h"

namespace mmlab {

using nlohmann::json;

GuestPaths paths_from_build() {
  auto env_or = [](const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : fallback;
  };
  const std::string build = MMLAB_BUILD_DIR;
  GuestPaths p;
  p.mmlab_kernel = env_or("MMLAB_KERNEL", build + "/kernel/mmlab-kernel.elf");
  p.linux_kernel = env_or("MMLAB_LINUX", build + "/third_party/linux-pae/vmlinuz");
  p.linux_version = base_name(p.linux_kernel) == "vmlinuz"
                        ? p.linux_kernel.substr(0, p.linux_kernel.size() - 7) + "version"
                        : p.linux_kernel + ".version";
  p.initrd = env_or("MMLAB_WORKLOAD_INITRD", build + "/workloads/initrd.cpio");
  p.test_initrd = env_or("MMLAB_TEST_INITRD", build + "/workloads/test-initrd.cpio");
  p.tlb_plugin = env_or("MMLAB_TLB_PLUGIN", build + "/lib/libmmlab_tlb.so");
  return p;
}

std::vector<std::string> initrd_workloads(const std::string& initrd) {
  std::vector<std::string> out;
  const auto data = read_file(initrd);
  if (!data) return out;
  formats::CpioReader r(reinterpret_cast<const uint8_t*>(data->data()), static_cast<uint32_t>(data->size()));
  formats::CpioEntry e;
  while (r.next(&e)) {
    const std::string name(e.name, e.name_len);
    if (name.rfind("bin/", 0) == 0 && formats::cpio_is_reg(e.mode) && name != "bin/sh" && name != "bin/busybox")
      out.push_back(name.substr(4));
  }
  return out;
}

std::vector<std::string> initrd_files(const std::string& initrd) {
  std::vector<std::string> out;
  const auto data = read_file(initrd);
  if (!data) return out;
  formats::CpioReader r(reinterpret_cast<const uint8_t*>(data->data()), static_cast<uint32_t>(data->size()));
  formats::CpioEntry e;
  while (r.next(&e))
    if (formats::cpio_is_reg(e.mode)) out.push_back("/" + std::string(e.name, e.name_len));
  return out;
}

bool write_initrd_with(const std::string& base, const std::vector<ExtraFile>& files, const std::string& out) {
  auto archive = read_file(base);
  if (!archive) return false;
  // The base ends with its trailer; pad to 512 as cpio does, then a second archive.
  while (archive->size() % 512) *archive += '\0';
  uint32_t ino = 900001;
  std::set<std::string> dirs;
  for (const ExtraFile& f : files) {
    auto data = read_file(f.host);
    if (!data) return false;
    if (f.guest.empty() || f.guest[0] != '/' || f.guest.back() == '/') {
      errno = EINVAL;
      return false;
    }
    const std::string name = f.guest.substr(1);
    for (size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1))
      if (dirs.insert(name.substr(0, slash)).second)
        formats::cpio_append(&*archive, name.substr(0, slash), 0040755, "", ino++);
    formats::cpio_append(&*archive, name, 0100755, *data, ino++);
  }
  formats::cpio_append_trailer(&*archive);
  while (archive->size() % 512) *archive += '\0';
  return write_file_atomic(out, *archive);
}

namespace {

// One word of the kernel command line: both kernels split at whitespace and
// group with double quotes (no escapes), so a word with spaces is quoted and
// one with a quote cannot be carried.
std::string cmdline_word(const std::string& w) {
  if (w.find('"') != std::string::npos)
    throw std::invalid_argument(fmt::format("the kernel command line cannot carry a double quote: {}", w));
  if (w.empty() || w.find_first_of(" \t\n\r") != std::string::npos) return "\"" + w + "\"";
  return w;
}

}  // namespace

std::vector<std::string> qemu_argv(const VmSpec& s) {
  std::vector<std::string> a = {"qemu-system-i386", "-machine",  s.acpi ? "pc" : "pc,acpi=off", "-display", "none",
                                "-nodefaults",      "-no-reboot"};
  if (s.kvm) {
    a.insert(a.end(), {"-accel", "kvm", "-cpu", s.cpu.empty() ? "host" : s.cpu});
  } else {
    // -icount needs one TCG thread (QEMU: "No MTTCG when icount is enabled"):
    // the vCPUs then take turns, which is what makes the run repeatable.
    std::string cpu = s.cpu.empty() ? "max" : s.cpu;
    // Deterministic runs see nothing of the host: RDRAND and RDSEED would
    // hand the guest host entropy (Linux then forks differently every run),
    // and the RTC follows virtual time from a fixed date instead of the
    // host's clock.
    if (s.icount) cpu += ",-rdrand,-rdseed";
    a.insert(a.end(), {"-accel", s.vcpus > 1 && !s.icount ? "tcg,thread=multi" : "tcg", "-cpu", cpu});
    // sleep=off: when the guest idles, virtual time jumps to the next timer
    // deadline instead of following the host's clock.
    if (s.icount) a.insert(a.end(), {"-icount", "shift=0,sleep=off", "-rtc", "base=2000-01-01T00:00:00,clock=vm"});
  }
  std::string smp = std::to_string(s.vcpus);
  if (s.sockets) {
    if (s.vcpus % s.sockets)
      throw std::invalid_argument(fmt::format("{} vCPUs do not divide into {} sockets", s.vcpus, s.sockets));
    smp += fmt::format(",sockets={},cores={},threads=1", s.sockets, s.vcpus / s.sockets);
  }
  a.insert(a.end(), {"-smp", smp, "-m", std::to_string(s.memory_mb)});
  a.insert(a.end(), {"-serial", s.console_path == "stdio" ? "stdio" : "file:" + s.console_path});
  a.insert(a.end(), {"-serial", "file:" + s.records_path});
  if (s.tlb_model) {
    if (s.kvm)
      throw std::invalid_argument(
          "the TLB model is a TCG plugin: under KVM the guest runs on the host CPU and no plugin sees it "
          "(use --accel tcg or --deterministic)");
    // QEMU's option syntax: KEY=VALUE after the file, comma-separated; a comma in a value is doubled.
    auto opt = [](const std::string& v) {
      std::string o;
      for (char c : v) o += c == ',' ? std::string(",,") : std::string(1, c);
      return o;
    };
    std::string plugin = opt(s.tlb_plugin) + ",out=" + opt(s.tlb_out_path);
    for (const std::string& w : s.tlb_args) plugin += "," + opt(w);
    a.insert(a.end(), {"-plugin", plugin});
  }
  if (s.debug_exit) a.insert(a.end(), {"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"});
  std::vector<std::string> words = kernel_cmdline_words(s);
  for (std::string& w : words) w = cmdline_word(w);
  a.insert(a.end(), {"-kernel", s.kernel_image, "-initrd", s.initrd, "-append", join(words, " ")});
  return a;
}

std::vector<std::string> kernel_cmdline_words(const VmSpec& s) {
  std::vector<std::string> words;
  if (s.kernel == Kernel::kLinuxPae) {
    // docs/linux-anchor.md: console on COM1, /init from the initrd, quiet,
    // and a panic reboots (= QEMU exits with -no-reboot) instead of hanging.
    // No crypto self-tests and no ISA PnP probe: 3.5 of Debian's 4.6 billion
    // boot instructions, and neither runs again once /init has started.
    words = {"console=ttyS0", "rdinit=/init", "quiet", "panic=-1", "cryptomgr.notests", "noisapnp"};
  } else {
    for (const auto& [k, v] : s.toggles) words.push_back(k + "=" + v);
    words.push_back("init=" + s.init);
  }
  words.insert(words.end(), s.kernel_args.begin(), s.kernel_args.end());
  if (!s.init_args.empty()) words.push_back("--");
  for (const std::string& w : s.init_args) words.push_back(w);
  return words;
}

std::vector<std::string> emulator_argv(const VmSpec& spec, const std::string& scratch_dir) {
  return spec.emulator == Emulator::kBochs ? bochs_prepare(spec, scratch_dir) : qemu_argv(spec);
}

void check_spec(const VmSpec& spec) {
  if (spec.emulator == Emulator::kBochs)
    check_bochs_spec(spec);
  else
    (void)qemu_argv(spec);
}

int verdict_exit_status(const VmSpec& spec, int emulator_exit, const std::string& records_text) {
  return spec.emulator == Emulator::kBochs ? bochs_exit_status(emulator_exit, records_text) : emulator_exit;
}

std::string console_tail(const std::string& console, size_t n) {
  size_t pos = console.size();
  for (size_t lines = 0; pos > 0 && lines <= n;) {
    --pos;
    if (console[pos] == '\n' && pos + 1 < console.size()) ++lines;
  }
  return console.substr(pos == 0 ? 0 : pos + 1);
}

namespace {

constexpr const char* kResultPrefix = "MMLAB-RESULT ";
constexpr const char* kCountersPrefix = "MMLAB-COUNTERS ";

// Every numeric leaf of `after` minus the same leaf of `before`.
json delta(const json& before, const json& after) {
  json d = json::object();
  if (!before.is_object() || !after.is_object()) return d;
  for (auto it = after.begin(); it != after.end(); ++it) {
    if (!before.contains(it.key())) continue;
    const json& b = before[it.key()];
    if (it->is_number_integer() && b.is_number_integer())
      // Wrapping arithmetic: the counters are unsigned and a guest may send anything.
      d[it.key()] = static_cast<int64_t>(it->get<uint64_t>() - b.get<uint64_t>());
    else if (it->is_object())
      d[it.key()] = delta(b, *it);
  }
  return d;
}

}  // namespace

GuestRecords read_records(Kernel kernel, const std::string& console, const std::string& records_text) {
  GuestRecords out;
  auto bad = [&](const std::string& why, const std::string& line) {
    ++out.malformed;
    if (out.malformed_examples.size() < 3) out.malformed_examples.push_back(why + ": " + line.substr(0, 160));
  };
  if (kernel == Kernel::kMmlab) {
    std::istringstream in(records_text);
    for (std::string line; std::getline(in, line);) {
      if (trim(line).empty()) continue;
      json r = json::parse(line, nullptr, false);
      if (r.is_discarded() || !r.is_object() || int_of(r, "v", 0) != 1 || str_of(r, "type").empty()) {
        bad("not a schema-1 record", line);
        continue;
      }
      out.records.push_back(std::move(r));
    }
  } else {
    // Linux has no record channel: the records are the programs' console lines.
    std::istringstream in(console);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind(kResultPrefix, 0) == 0) {
        out.records.push_back(json{{"v", 1}, {"type", "result"}, {"line", line.substr(13)}});
      } else if (line.rfind(kCountersPrefix, 0) == 0) {
        json r = json::parse(line.substr(15), nullptr, false);
        if (r.is_discarded() || !r.is_object()) {
          bad("malformed MMLAB-COUNTERS line", line);
          continue;
        }
        r["v"] = 1;
        r["type"] = "counters";
        out.records.push_back(std::move(r));
      }
    }
  }
  return out;
}

GuestOutcome interpret_guest(Kernel kernel, int qemu_exit, bool icount, const std::string& console,
                             const std::string& records_text, const InitRun& run, uint32_t timeout_s,
                             const std::optional<std::string>& tlb_output, const std::string& qemu_log) {
  GuestOutcome o;
  if (icount) o.time_unit = "guest_instructions";
  GuestRecords read = read_records(kernel, console, records_text);
  const std::vector<json>& records = read.records;
  o.malformed_records = read.malformed;
  o.malformed_examples = std::move(read.malformed_examples);
  auto bad = [&](const std::string& why, const std::string& line) {
    ++o.malformed_records;
    if (o.malformed_examples.size() < 3) o.malformed_examples.push_back(why + ": " + line.substr(0, 160));
  };
  const std::string first = run.programs.empty() ? "" : run.programs.front();
  const std::string last = run.programs.empty() ? "" : run.programs.back();
  const int64_t last_index = static_cast<int64_t>(run.programs.size()) - 1;
  const bool one = run.programs.size() == 1;
  if (tlb_output) {  // the same window as guest_counters: the first program's before to the last one's after
    pair_tlb_checkpoints(*tlb_output, &read);
    o.tlb_model = tlb_window(read, "before:0:" + first, fmt::format("after:{}:{}", last_index, last), qemu_log);
  }

  json before, after;
  o.init_all = json::array();
  for (const json& r : records) {
    const std::string type = str_of(r, "type");
    if (type == "boot") {
      o.boot = r;
    } else if (type == "leak") {
      o.leak = r;
    } else if (type == "panic") {
      o.panic = r;
    } else if (type == "counters") {
      const std::string label = str_of(r, "label");
      if (label == "before:0:" + first) before = r;
      if (label == fmt::format("after:{}:{}", last_index, last)) after = r;
      if (label == "shutdown" && kernel == Kernel::kMmlab) {
        o.shutdown = json::object();
        for (const char* part : {"mm", "kernel", "enosys"})
          if (r.contains(part)) o.shutdown[part] = r[part];
      }
    } else if (type == "result") {
      json line = json::parse(str_of(r, "line"), nullptr, false);
      if (line.is_discarded() || !line.is_object()) {
        bad("a result line that is not a JSON object", str_of(r, "line"));
        continue;
      }
      if (str_of(line, "workload") == "init") {
        if (int_of(line, "index", -1) == 0) o.init = line;
        o.init_all.push_back(line);
      } else if (one && (str_of(line, "workload") == first || o.metrics.is_null())) {
        o.metrics = line;  // several programs have no one result
      }
    }
  }
  if (!before.is_null() && !after.is_null()) {
    json d = json::object();
    for (const char* part : {"mm", "kernel", "cpus", "vmstat", "self_stat"})
      if (after.contains(part)) d[part] = delta(before[part], after[part]);
    o.guest_counters = d;
  }
  if (kernel == Kernel::kMmlab) {
    if (qemu_exit == -1)
      o.survival = fmt::format("killed at the {} s deadline", timeout_s);
    else if (!o.panic.is_null())
      o.survival = "panic: " + str_of(o.panic, "message", "kernel panic");
    else if (o.leak.is_null())
      o.survival = "no leak record (the kernel did not shut down cleanly)";
    else if (!bool_of(o.leak, "leak_free", false))
      o.survival = "the leak record reports leaks";
    o.survived = o.survival.empty();
  }

  auto fail = [&](const std::string& status, const std::string& why) {
    o.status = status;
    o.reason = why;
    return o;
  };
  if (qemu_exit == -1) return fail("timeout", fmt::format("killed at the {} s deadline", timeout_s));
  if (!o.panic.is_null()) return fail("panic", str_of(o.panic, "message", "kernel panic"));
  if (o.malformed_records)
    return fail("failed",
                fmt::format("{} malformed record(s), first: {}", o.malformed_records, o.malformed_examples[0]));
  if (qemu_exit != 33 && qemu_exit != 35)
    return fail("failed", fmt::format("QEMU exited {} (not through isa-debug-exit: it failed to start, or the guest "
                                      "reset or powered off unexpectedly)",
                                      qemu_exit));
  if (o.init.is_null()) return fail("failed", "/init reported no result for the program (was it started?)");
  if (o.init_all.size() < run.programs.size())
    return fail("failed", fmt::format("/init reported {} of {} programs", o.init_all.size(), run.programs.size()));
  if (!run.survive)
    for (const json& line : o.init_all)
      if (str_of(line, "status") != "ok")
        return fail("failed", fmt::format("{} {} (exit code {}, wait status {})",
                                          one ? first : str_of(line, "program", "?"), str_of(line, "status", "?"),
                                          int_of(line, "exit_code", -1), int_of(line, "wait_status", -1)));
  if (kernel == Kernel::kMmlab) {
    if (o.leak.is_null()) return fail("failed", "no leak record (the kernel did not shut down cleanly)");
    if (!bool_of(o.leak, "leak_free", false))
      return fail("failed", "the leak record reports leaks: " + json_line(o.leak));
  }
  if (qemu_exit != 33 && !run.survive) return fail("failed", "the guest reported failure (exit 35)");
  if ((before.is_null() || after.is_null()) && !run.survive)
    return fail("failed", fmt::format("no before/after counter snapshots for {}", one ? first : "the programs"));
  if (run.expect_result && one && o.metrics.is_null())
    return fail("failed", fmt::format("{} printed no MMLAB-RESULT line", first));
  o.status = "ok";
  return o;
}

}  // namespace mmlab
