// mmlab: the lab's command line (docs/loader.md).
//
//   mmlab run MATRIX.toml [-o DIR] [--accel auto|kvm|tcg] [--deterministic] [-j N] [--resume] [--shard I/N] [--quiet]
//   mmlab list MATRIX.toml
//   mmlab doctor
//   mmlab boot [--kernel mmlab|linux-pae] [--toggle K=V]... [--workload 'NAME ARGS'] [--accel ...] [--vcpus N]
//   mmlab merge OUT DIR... [--force]                 (shards or hosts into one result set)
//   mmlab report DIR | mmlab compare DIR_A DIR_B      (the analysis, analysis/)
//
// Exit codes: 0 all cells ok, 1 some not ok (or interrupted), 2 usage errors.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "guest.h"
#include "host_counters.h"
#include "matrix.h"
#include "merge.h"
#include "runner.h"
#include "util.h"

namespace mmlab {
namespace {

constexpr int kExitUsage = 2;

std::string command_line(int argc, char** argv) {
  std::vector<std::string> a(argv, argv + argc);
  return join(a, " ");
}

std::optional<Accel> parse_accel(const std::string& s) {
  if (s.empty()) return std::nullopt;
  if (s == "auto") return Accel::kAuto;
  if (s == "kvm") return Accel::kKvm;
  return Accel::kTcg;
}

int cmd_list(const std::string& path) {
  const GuestPaths paths = paths_from_build();
  const Matrix m = parse_matrix_file(path, initrd_workloads(paths.initrd));
  const std::vector<Cell> cells = expand(m);
  for (const Cell& c : cells) fmt::print("c{:05} {}\n", c.index, c.key());
  fmt::print(stderr, "mmlab: {} cells\n", cells.size());
  return 0;
}

int cmd_doctor() {
  const GuestPaths paths = paths_from_build();
  auto line = [](bool yes, const std::string& what, const std::string& detail) {
    fmt::print("{:<4} {:<36} {}\n", yes ? "yes" : "no", what, detail);
  };
  const auto qv = capture({"qemu-system-i386", "--version"});
  line(qv.has_value(), "qemu-system-i386", qv ? trim(qv->substr(0, qv->find('\n'))) : "not found on PATH");
  for (const auto& [what, p] : {std::pair{"mmlab kernel", paths.mmlab_kernel},
                                {"workload initrd", paths.initrd},
                                {"Linux PAE kernel (the anchor)", paths.linux_kernel}})
    line(std::filesystem::exists(p), what, std::filesystem::exists(p) ? p : p + " missing: make build");
  const AccelChoice kvm = choose_accel(Accel::kAuto, false, paths, 3.0);
  line(kvm.kvm, "KVM for a 32-bit PAE guest", kvm.reason);
  const nlohmann::json caps = host_capabilities();
  const std::pair<const char*, const char*> names[] = {
      {"perf_software_events", "perf_event software events"},
      {"perf_cycles_guest", "perf_event cycles, guest only"},
      {"perf_cycles_host", "perf_event cycles, host only"},
      {"perf_instructions_guest", "perf_event instructions, guest only"},
      {"kvm_exit_tracepoint", "kvm:kvm_exit tracepoint"},
      {"papi", "PAPI hardware counters"}};
  for (const auto& [key, what] : names)
    line(caps[key]["available"].get<bool>(), what, caps[key]["detail"].get<std::string>());
  fmt::print("     {:<36} {} CPUs\n", "host", ::sysconf(_SC_NPROCESSORS_ONLN));
  return 0;
}

int cmd_boot(const std::string& kernel, const std::vector<std::string>& toggles, const std::string& workload,
             const std::string& accel, uint32_t vcpus, uint32_t memory, bool deterministic) {
  const GuestPaths paths = paths_from_build();
  VmSpec s{.vcpus = vcpus, .memory_mb = memory};
  if (kernel == "linux-pae") {
    s.kernel = Kernel::kLinuxPae;
    if (!toggles.empty()) throw std::runtime_error("--toggle applies to the mmlab kernel only");
  } else if (kernel != "mmlab") {
    throw std::runtime_error(fmt::format("--kernel: unknown kernel '{}' (expected mmlab or linux-pae)", kernel));
  }
  for (const std::string& t : toggles) {
    const size_t eq = t.find('=');
    if (eq == std::string::npos) throw std::runtime_error(fmt::format("--toggle {}: expected KEY=VALUE", t));
    // The kernel checks keys and values; an unknown one stops its boot with a message naming it.
    s.toggles[t.substr(0, eq)] = t.substr(eq + 1);
  }
  const AccelChoice a = choose_accel(parse_accel(accel).value_or(Accel::kAuto), deterministic, paths, 3.0);
  s.kvm = a.kvm;
  s.icount = deterministic;
  fmt::print(stderr, "mmlab: accel {}: {}\n", a.kvm ? "kvm" : "tcg", a.reason);
  std::istringstream words(workload);
  for (std::string w; words >> w;) s.init_args.push_back(w);
  s.kernel_image = s.kernel == Kernel::kMmlab ? paths.mmlab_kernel : paths.linux_kernel;
  s.initrd = paths.initrd;
  s.console_path = "stdio";
  const std::string records = fmt::format("/tmp/mmlab-boot-{}.jsonl", ::getpid());
  s.records_path = records;
  const pid_t pid = spawn(qemu_argv(s), "", {}, nullptr);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  fmt::print(stderr, "mmlab: QEMU exited {} ({}); records in {}\n", code,
             code == 33   ? "success"
             : code == 35 ? "failure"
                          : "not through isa-debug-exit",
             records);
  return code == 33 ? 0 : 1;
}

int cmd_analysis(const std::vector<std::string>& args) {
  const std::string root = MMLAB_SOURCE_DIR;
  if (!std::filesystem::exists(root + "/analysis/__main__.py"))
    throw std::runtime_error("the analysis (analysis/) is not in this tree yet");
  std::vector<std::string> argv = {"/usr/bin/python3", "-m", "analysis"};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(root.c_str()) != 0) ::_exit(127);
    std::vector<char*> a;
    for (std::string& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace
}  // namespace mmlab

int main(int argc, char** argv) {
  using namespace mmlab;
  CLI::App app{"mmlab: a performance lab for x86 PAE page-table design"};
  app.require_subcommand(1);

  RunOptions run;
  std::string accel, shard;
  auto* r = app.add_subcommand("run", "run a matrix: every cell a fresh VM; a result set in DIR");
  r->add_option("matrix", run.matrix_path, "the matrix file (docs/matrix.md)")->required()->check(CLI::ExistingFile);
  r->add_option("-o,--out", run.out_dir, "result set directory (default results/NAME-DATE)");
  r->add_option("--accel", accel, "auto, kvm or tcg (default: the matrix's)")
      ->check(CLI::IsMember({"auto", "kvm", "tcg"}));
  r->add_flag("--deterministic", run.deterministic, "TCG with -icount shift=0: time counts guest instructions");
  r->add_option("-j,--jobs", run.jobs, "VMs at once (default: one per host CPU)")->check(CLI::Range(1u, 1024u));
  r->add_flag("--resume", run.resume, "finish the result set in DIR: run only the cells it lacks");
  r->add_option("--shard", shard, "I/N: run the I-th of N disjoint slices of the cells");
  r->add_flag("--quiet", run.quiet, "no progress lines (errors and the summary still print)");

  std::string list_path;
  auto* l = app.add_subcommand("list", "print the cells a matrix expands to");
  l->add_option("matrix", list_path, "the matrix file")->required()->check(CLI::ExistingFile);

  app.add_subcommand("doctor", "what this host can do: KVM for a PAE guest, perf events, PAPI, QEMU");

  std::string boot_kernel = "mmlab", boot_workload, boot_accel;
  std::vector<std::string> boot_toggles;
  uint32_t boot_vcpus = 1, boot_memory = 256;
  bool boot_det = false;
  auto* b = app.add_subcommand("boot", "one interactive boot, console on the terminal");
  b->add_option("--kernel", boot_kernel, "mmlab or linux-pae");
  b->add_option("--toggle", boot_toggles, "KEY=VALUE, repeatable (mmlab)");
  b->add_option("--workload", boot_workload, "what /init runs, e.g. 'lat_proc -n 20 exec'");
  b->add_option("--accel", boot_accel)->check(CLI::IsMember({"auto", "kvm", "tcg"}));
  b->add_option("--vcpus", boot_vcpus)->check(CLI::Range(1u, 16u));
  b->add_option("--memory", boot_memory, "MiB")->check(CLI::Range(64u, 2048u));
  b->add_flag("--deterministic", boot_det);

  std::string merge_out;
  std::vector<std::string> merge_in;
  bool merge_force = false;
  auto* mg = app.add_subcommand("merge", "result sets of several shards or hosts into one (every cell once)");
  mg->add_option("out", merge_out, "the merged result set (a new directory)")->required();
  mg->add_option("dirs", merge_in, "the result sets to merge")->required()->expected(1, -1);
  mg->add_flag("--force", merge_force, "merge sets from different kernel builds, initrds, matrices or accels");

  std::vector<std::string> report_args, compare_args;
  auto* rep = app.add_subcommand("report", "report.html and summary.md for a result set (analysis/)");
  rep->add_option("dir", report_args)->required()->expected(1);
  auto* cmp = app.add_subcommand("compare", "two result sets side by side (analysis/)");
  cmp->add_option("dirs", compare_args)->required()->expected(2);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  try {
    if (*r) {
      const std::string text = read_file(run.matrix_path).value_or("");
      const GuestPaths paths = paths_from_build();
      const Matrix m = parse_matrix_text(text, run.matrix_path, initrd_workloads(paths.initrd));
      run.accel = parse_accel(accel);
      if (!shard.empty()) {
        unsigned i = 0, n = 0;
        char slash = 0;
        std::istringstream in(shard);
        if (!(in >> i >> slash >> n) || slash != '/' || n == 0 || i >= n || !in.eof()) {
          fmt::print(stderr, "mmlab: --shard {}: expected I/N with 0 <= I < N\n", shard);
          return kExitUsage;
        }
        run.shard_index = i;
        run.shard_count = n;
      }
      if (run.out_dir.empty())
        run.out_dir = fmt::format("{}/results/{}-{}", MMLAB_SOURCE_DIR, m.name.empty() ? "run" : m.name, now_iso8601());
      run.command_line = command_line(argc, argv);
      return run_matrix(m, text, run);
    }
    if (*l) return cmd_list(list_path);
    if (*mg) {
      const size_t n = merge_result_sets(merge_out, merge_in, merge_force);
      fmt::print(stderr, "mmlab: merged {} cells from {} result sets into {}\n", n, merge_in.size(), merge_out);
      return 0;
    }
    if (app.got_subcommand("doctor")) return cmd_doctor();
    if (*b) return cmd_boot(boot_kernel, boot_toggles, boot_workload, boot_accel, boot_vcpus, boot_memory, boot_det);
    if (*rep) return cmd_analysis({"report", report_args[0]});
    if (*cmp) return cmd_analysis({"compare", compare_args[0], compare_args[1]});
  } catch (const MatrixError& e) {
    fmt::print(stderr, "mmlab: {}\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mmlab: {}\n", e.what());
    return kExitUsage;
  }
  return 0;
}
