#include "boot_cmd.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "bochs.h"
#include "boot.h"
#include "boot_tests.h"
#include "runner.h"
#include "tlb_plugin.h"
#include "toggle_table.h"
#include "util.h"

namespace mmlab {

using nlohmann::json;

namespace {

constexpr int kExitGuestFailed = 1, kExitTimeout = 3, kExitCrash = 4;

// Where --json output goes: stdout or a file.
class JsonOut {
 public:
  explicit JsonOut(const BootOptions& o) {
    if (!o.json_file.empty()) {
      file_.open(o.json_file, std::ios::trunc);
      if (!file_) throw std::runtime_error(fmt::format("--json-file {}: cannot write it", o.json_file));
    }
    on_ = o.json || !o.json_file.empty();
  }
  bool on() const { return on_; }
  void line(const json& j) {
    const std::string s = json_line(j) + "\n";
    if (file_.is_open())
      file_ << s << std::flush;
    else
      std::fwrite(s.data(), 1, s.size(), stdout), std::fflush(stdout);
  }

 private:
  bool on_ = false;
  std::ofstream file_;
};

int exit_status(const BootResult& r) {
  if (r.status == "success" || r.status == "poweroff") return 0;
  if (r.status == "failure") return kExitGuestFailed;
  if (r.status == "timeout") return kExitTimeout;
  return kExitCrash;
}

// The spec `mmlab boot` describes with its options.
VmSpec spec_from_options(const BootOptions& o, const GuestPaths& paths, std::string* scratch_initrd) {
  VmSpec s{.emulator = parse_emulator(o.emulator).value_or(Emulator::kQemu),
           .vcpus = o.vcpus,
           .sockets = o.sockets,
           .acpi = !o.no_acpi,
           .cpu = o.cpu,
           .debug_exit = !o.no_debug_exit,
           .memory_mb = o.memory_mb};
  if (o.kernel == "linux-pae") {
    s.kernel = Kernel::kLinuxPae;
    if (!o.toggles.empty()) throw std::runtime_error("--toggle applies to the mmlab kernel only");
    if (o.init != "/init") throw std::runtime_error("--init: Linux always runs /init (rdinit=/init)");
  } else if (o.kernel != "mmlab") {
    throw std::runtime_error(fmt::format("--kernel: unknown kernel '{}' (expected mmlab or linux-pae)", o.kernel));
  }
  for (const std::string& t : o.toggles) {
    // The mm core's own parser, so the message is the one the kernel would print.
    mm::Toggles parsed;
    char err[256];
    if (!parsed.parse(t.c_str(), static_cast<uint32_t>(t.size()), err, sizeof(err)))
      throw std::runtime_error(fmt::format("--toggle {}: {} (a bad toggle on purpose goes in --kernel-arg)", t, err));
    s.toggles[t.substr(0, t.find('='))] = t.substr(t.find('=') + 1);
  }
  s.tlb_model = o.tlb_model;
  s.tlb_plugin = paths.tlb_plugin;
  s.tlb_args = tlb_geometry_words(o.tlb_geometry);
  if (s.tlb_model && !std::filesystem::exists(s.tlb_plugin))
    throw std::runtime_error(s.tlb_plugin + " is missing: run `make build` first");
  s.kernel_args = o.kernel_args;
  s.init = o.init;
  s.init_args = o.init_args;
  s.kernel_image = !o.kernel_image.empty()      ? o.kernel_image
                   : s.kernel == Kernel::kMmlab ? paths.mmlab_kernel
                                                : paths.linux_kernel;
  s.initrd = o.initrd == "tests" ? paths.test_initrd : o.initrd == "workloads" ? paths.initrd : o.initrd;
  for (const std::string& p : {s.kernel_image, s.initrd})
    if (!std::filesystem::exists(p)) throw std::runtime_error(p + " is missing: run `make build` first");
  if (!o.add.empty()) {
    std::vector<ExtraFile> files;
    for (const std::string& a : o.add) {
      const size_t eq = a.find('=');
      if (eq == std::string::npos || a[0] != '/')
        throw std::runtime_error(fmt::format("--add {}: expected GUEST_PATH=HOST_FILE, e.g. /bin/prog=./prog", a));
      files.push_back({a.substr(0, eq), a.substr(eq + 1)});
    }
    if (!write_initrd_with(s.initrd, files, *scratch_initrd))
      throw std::runtime_error(fmt::format("--add: cannot write {}: {}", *scratch_initrd, std::strerror(errno)));
    s.initrd = *scratch_initrd;
  }
  return s;
}

int boot_one(const BootOptions& o) {
  const GuestPaths paths = paths_from_build();
  std::string scratch =
      fmt::format("{}/mmlab-initrd-{}.cpio", std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp", ::getpid());
  VmSpec s = spec_from_options(o, paths, &scratch);
  s.icount = o.deterministic;
  if (s.emulator == Emulator::kBochs) {
    if (o.accel == "kvm") throw std::runtime_error("--emulator bochs: Bochs is an emulator of its own, no KVM");
    try {
      check_bochs_spec(s);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(fmt::format("--emulator bochs: {}", e.what()));
    }
  }
  Accel accel = parse_accel(o.accel).value_or(Accel::kAuto);
  if (s.emulator == Emulator::kBochs) accel = Accel::kTcg;  // no KVM probe: Bochs runs no accel
  if (o.tlb_model && accel == Accel::kKvm)
    throw std::runtime_error(
        "--tlb-model with --accel kvm: the TLB model is a QEMU TCG plugin; under KVM the guest runs on the host "
        "CPU and no plugin sees its instructions (use --accel tcg, or --deterministic)");
  if (o.tlb_model) accel = Accel::kTcg;  // auto: the model needs TCG
  const AccelChoice a = choose_accel(accel, o.deterministic, paths, 3.0);
  s.kvm = a.kvm;
  JsonOut out(o);
  if (!out.on() && s.emulator == Emulator::kBochs)
    fmt::print(stderr, "mmlab: emulator bochs ({})\n", bochs_version());
  else if (!out.on())
    fmt::print(stderr, "mmlab: accel {}: {}\n", a.kvm ? "kvm" : "tcg", a.reason);
  // Linux's records are console lines: to print them (--records, the TLB
  // model's pairing) the console is captured and shown when the boot ends.
  const bool console_after = !out.on() && s.kernel == Kernel::kLinuxPae && (o.records || o.tlb_model);
  const BootResult r = boot_once(s, o.timeout_s, !out.on() && !console_after);
  if (console_after) fmt::print("{}", r.console);
  if (!o.add.empty()) std::filesystem::remove(scratch);
  if (out.on()) {
    for (const json& rec : r.records.records) out.line(rec);
    json vm = vm_record(s, r);
    vm["accel_why"] = s.emulator == Emulator::kBochs ? "Bochs: no accel" : a.reason;
    out.line(vm);
  } else {
    if (o.records)
      for (const json& rec : r.records.records) fmt::print("{}\n", json_line(rec));
    if (s.tlb_model) fmt::print("{}", tlb_pairing_table(r.records));
    for (const std::string& m : r.records.malformed_examples) fmt::print(stderr, "mmlab: malformed record: {}\n", m);
    if (s.emulator == Emulator::kBochs)
      fmt::print(stderr, "mmlab: {} (Bochs exit {}, verdict {}) in {:.2f} s\n", r.status, r.emulator_exit,
                 r.qemu_exit == 33   ? "pass"
                 : r.qemu_exit == 35 ? "fail"
                                     : "none: no exit record",
                 r.seconds);
    else
      fmt::print(stderr, "mmlab: {} (QEMU exit {}) in {:.2f} s\n", r.status, r.qemu_exit, r.seconds);
  }
  return exit_status(r);
}

int boot_test(const BootOptions& o) {
  const GuestPaths paths = paths_from_build();
  const std::string list = o.test_list.empty() ? default_boot_test_list() : o.test_list;
  const std::vector<BootTest> tests = read_boot_tests(list, paths);
  const auto it = std::find_if(tests.begin(), tests.end(), [&](const BootTest& t) { return t.name == o.test; });
  if (it == tests.end())
    throw std::runtime_error(fmt::format("--test {}: no such case in {} (mmlab tests lists them)", o.test, list));
  const AccelChoice a = choose_accel(parse_accel(o.accel).value_or(Accel::kTcg), false, paths, 3.0);
  JsonOut out(o);
  int failed = 0;
  for (size_t i = 0; i < it->boots.size(); ++i) {
    const TestBoot& b = it->boots[i];
    VmSpec s = b.spec;
    // --emulator runs the case's boots under the other x86 (the mutation check: QEMU against Bochs).
    if (!o.emulator.empty()) {
      s.emulator = *parse_emulator(o.emulator);
      try {
        check_spec(s);
      } catch (const std::invalid_argument& e) {
        throw std::runtime_error(fmt::format("--emulator {} for boot.{}: {}", o.emulator, it->name, e.what()));
      }
    }
    s.kvm = a.kvm && !s.icount && !s.tlb_model && s.emulator == Emulator::kQemu;
    const BootResult r = boot_once(s, b.timeout_s, false);
    const std::vector<std::string> problems = unmet(b.expect, r);
    const std::string what =
        fmt::format("boot.{} [{}/{}]{}", it->name, i + 1, it->boots.size(), b.label.empty() ? "" : " " + b.label);
    if (out.on()) {
      for (const json& rec : r.records.records) out.line(rec);
      json vm = vm_record(s, r);
      vm["test"] = it->name;
      vm["boot"] = i;
      vm["label"] = b.label;
      vm["unmet"] = problems;
      out.line(vm);
    }
    if (problems.empty()) {
      fmt::print(stderr, "mmlab: {}: ok ({:.1f} s)\n", what, r.seconds);
      continue;
    }
    ++failed;
    fmt::print(stderr, "mmlab: {}: FAILED ({:.1f} s)\n", what, r.seconds);
    for (const std::string& p : problems) fmt::print(stderr, "  - {}\n", p);
    fmt::print(stderr, "  command: {}\n  --- console (tail) ---\n{}\n", join(r.command, " "),
               console_tail(r.console, 40));
    if (!r.qemu_stderr.empty()) fmt::print(stderr, "  --- qemu ---\n{}\n", r.qemu_stderr);
  }
  return failed ? kExitGuestFailed : 0;
}

// A CMake bracket argument, safe for any text.
std::string bracket(const std::string& s) { return "[==[" + s + "]==]"; }

}  // namespace

void add_boot_options(CLI::App* b, BootOptions* o) {
  b->add_option("--emulator", o->emulator,
                "qemu (default) or bochs: the stricter x86 for correctness (mmlab kernel; docs/testing.md)")
      ->check(CLI::IsMember({"qemu", "bochs"}));
  b->add_option("--kernel", o->kernel, "mmlab or linux-pae")->check(CLI::IsMember({"mmlab", "linux-pae"}));
  b->add_option("--kernel-image", o->kernel_image, "a kernel image other than the build's");
  b->add_option("--initrd", o->initrd, "tests (default: the workloads plus /tests), workloads, or a path");
  b->add_option("--add", o->add, "GUEST=HOST: add a host file to the initrd, e.g. /bin/prog=./prog (repeatable)")
      ->allow_extra_args(false);
  b->add_option("--toggle", o->toggles, "KEY=VALUE, checked against the toggle table (repeatable)")
      ->allow_extra_args(false);
  b->add_option("--kernel-arg", o->kernel_args, "a kernel command-line word, passed unchecked (repeatable)")
      ->allow_extra_args(false);
  b->add_option("--init", o->init, "mmlab: the program run as PID 1 (default /init)");
  b->add_option("--vcpus", o->vcpus)->check(CLI::Range(1u, 16u));
  b->add_option("--sockets", o->sockets, "spread the vCPUs over this many sockets")->check(CLI::Range(1u, 16u));
  b->add_flag("--no-acpi", o->no_acpi, "no ACPI tables: the kernel finds the CPUs in the MP table");
  b->add_option("--cpu", o->cpu, "QEMU CPU model (default host under KVM, max under TCG)");
  b->add_flag("--no-debug-exit", o->no_debug_exit, "no isa-debug-exit device: the guest powers off at the end");
  b->add_option("--memory", o->memory_mb, "MiB")->check(CLI::Range(64u, 2048u));
  b->add_option("--accel", o->accel, "auto (default), kvm or tcg")->check(CLI::IsMember({"auto", "kvm", "tcg"}));
  b->add_flag("--deterministic", o->deterministic, "TCG with -icount shift=0: time counts guest instructions");
  b->add_option("--timeout", o->timeout_s, "seconds before QEMU is killed (default 600)")->check(CLI::Range(1, 86400));
  b->add_flag("--json", o->json, "records and the loader's vm record as JSON lines on stdout, console included");
  b->add_option("--json-file", o->json_file, "the same into a file");
  b->add_flag("--records", o->records, "print the guest's records after the console");
  b->add_option("--test", o->test, "run the boot-test case NAME (mmlab tests lists them) and check it");
  b->add_option("--tests", o->test_list, "the boot-test list (default kernel_mm/kernel/tests/boot_tests.toml)");
  auto* tlb = b->add_flag("--tlb-model", o->tlb_model,
                          "load the TLB-model plugin (TCG only): host-counted CR3 writes, INVLPGs and a modelled "
                          "TLB per counters record (docs/tlb-model.md)");
  b->add_option("--tlb-geometry", o->tlb_geometry,
                "the model's geometry and start, e.g. itlb=128:8,dtlb=64:4,stlb=1536:12,pde=32,global=kernel,"
                "start=marker (repeatable)")
      ->allow_extra_args(false)
      ->needs(tlb);
  b->add_option("args", o->init_args, "init's arguments (after --); for /init: PROGRAM ARGS [:: PROGRAM ARGS]...");
}

int cmd_boot(const BootOptions& o) {
  if (o.test.empty()) return boot_one(o);
  const BootOptions plain;
  if (o.kernel != plain.kernel || !o.kernel_image.empty() || o.initrd != plain.initrd || !o.add.empty() ||
      !o.toggles.empty() || !o.kernel_args.empty() || o.init != plain.init || !o.init_args.empty() ||
      o.vcpus != plain.vcpus || o.sockets || o.memory_mb != plain.memory_mb || o.no_acpi || o.no_debug_exit ||
      !o.cpu.empty() || o.deterministic || o.records || o.tlb_model || !o.tlb_geometry.empty())
    throw std::runtime_error(
        "--test takes the boot from the list: only --json, --json-file, --tests, --accel and --emulator "
        "go with it");
  return boot_test(o);
}

int cmd_tests(const std::string& list_path, bool as_json, const std::string& ctest_file, const std::string& python) {
  const std::string list = list_path.empty() ? default_boot_test_list() : list_path;
  const std::vector<BootTest> tests = read_boot_tests(list, paths_from_build());
  if (as_json) {
    json all = json::array();
    for (const BootTest& t : tests) all.push_back(boot_test_json(t));
    fmt::print("{}\n", json_text(all, 1));
    return 0;
  }
  if (!ctest_file.empty()) {
    // Read by ctest (TEST_INCLUDE_FILES): one test per case. A case with a
    // Python check runs its pytest file; the others run mmlab alone.
    const std::string self = std::filesystem::read_symlink("/proc/self/exe");
    const std::string dir = std::string(MMLAB_SOURCE_DIR) + "/kernel_mm/kernel/tests";
    std::string out = "# Written by `mmlab tests --ctest` from " + list + "\n";
    for (const BootTest& t : tests) {
      uint32_t timeout = 30;
      for (const TestBoot& b : t.boots) timeout += b.timeout_s + 5;
      // ctest starts the costliest first (until it has measured costs, as on a fresh clone), so the long cases do
      // not end the run on one core. Rough seconds a boot: 1, times the vCPUs under -icount (they take turns),
      // twice with the TLB model; a Linux boot 5, a Bochs boot 12.
      double cost = 0;
      for (const TestBoot& b : t.boots) {
        double c = b.spec.icount ? b.spec.vcpus : 1.0;
        if (b.spec.tlb_model) c *= 2;
        if (b.spec.kernel == Kernel::kLinuxPae) c = 5;
        if (b.spec.emulator == Emulator::kBochs) c = 12;
        cost += c;
      }
      std::string cmd;
      if (t.check.empty()) {
        cmd = fmt::format("{} boot --test {} --tests {}", bracket(self), bracket(t.name), bracket(list));
      } else {
        const std::string subject = t.check.substr(0, t.check.find(':'));
        cmd = fmt::format("{} -m pytest -q -p no:cacheprovider {}", bracket(python),
                          bracket(fmt::format("{}/test_{}.py::test_case[{}]", dir, subject, t.name)));
      }
      out += fmt::format("add_test({} {})\n", bracket("boot." + t.name), cmd);
      out += fmt::format("set_tests_properties({} PROPERTIES LABELS boot TIMEOUT {} COST {:.0f} ENVIRONMENT {})\n",
                         bracket("boot." + t.name), timeout, cost,
                         bracket(fmt::format("MMLAB_BIN={};MMLAB_BOOT_TESTS={}", self, list)));
    }
    if (!write_file_atomic(ctest_file, out))
      throw std::runtime_error(fmt::format("cannot write {}: {}", ctest_file, std::strerror(errno)));
    return 0;
  }
  for (const BootTest& t : tests) {
    fmt::print("{:<40} {} boot(s){}\n", t.name, t.boots.size(), t.check.empty() ? "" : ", check " + t.check);
  }
  fmt::print(stderr, "mmlab: {} cases in {}\n", tests.size(), list);
  return 0;
}

int cmd_toggles(bool as_json) {
  const json table = toggle_table_json();
  if (as_json) {
    fmt::print("{}\n", json_text(table, 1));
    return 0;
  }
  for (const json& t : table)
    fmt::print("{:<18} {:<28} {}\n", t["key"].get<std::string>(),
               fmt::format("{} (default) | {}", t["values"][0].get<std::string>(), t["values"][1].get<std::string>()),
               t["title"].get<std::string>());
  return 0;
}

}  // namespace mmlab
