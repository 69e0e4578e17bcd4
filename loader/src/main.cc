// mmlab: the lab's command line (docs/loader.md). Each line below is one
// subcommand:
//
//   mmlab run MATRIX.toml [-o DIR] [--accel A] [--[no-]deterministic] [-j N] [--oversubscribe] [--resume] ...
//   mmlab list MATRIX.toml
//   mmlab doctor
//   mmlab boot [--kernel K] [--toggle K=V]... [--init PATH] [--vcpus N] [--json] ... [-- ARGS...]
//   mmlab boot --test NAME [--json]    (one case of the boot-test list, checked)
//   mmlab tests [--json | --ctest F]   (the boot-test list, expanded)
//   mmlab toggles [--json]             (the toggle table)
//   mmlab merge OUT DIR... [--force]   (shards or hosts into one result set)
//   mmlab report DIR
//   mmlab compare DIR_A DIR_B          (the analysis, analysis/)
//
// Exit codes: 0 all cells ok, 1 some not ok (or interrupted), 2 usage errors;
// `mmlab boot` also 3 (killed at its deadline) and 4 (QEMU ended otherwise).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "boot.h"
#include "boot_cmd.h"
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

int cmd_list(const std::string& path) {
  const GuestPaths paths = paths_from_build();
  const Matrix m = parse_matrix_file(path, initrd_workloads(paths.initrd));
  std::vector<Cell> cells = expand(m);
  std::vector<std::string> verified;
  if (m.deterministic && m.repetitions > 1) {
    cells = once_per_configuration(cells, kVerifyEvery, &verified);
    fmt::print(stderr, "mmlab: deterministic: each configuration once, {} of them twice to check\n", verified.size());
  }
  for (const Cell& c : cells) fmt::print("c{:05} {}\n", c.index, c.key());
  fmt::print(stderr, "mmlab: {} cells\n", cells.size());
  return 0;
}

// Whether QEMU loads the TLB-model plugin and its checkpoints pair with the
// counters records: one small TCG boot of /hello (about a second), the
// cheapest check that exercises the whole path (a QEMU without plugin
// support refuses -plugin; a plugin built against another API version is
// refused at load).
std::pair<bool, std::string> tlb_plugin_works(const GuestPaths& paths) {
  for (const std::string& p : {paths.tlb_plugin, paths.mmlab_kernel, paths.test_initrd})
    if (!std::filesystem::exists(p)) return {false, p + " missing: make build"};
  VmSpec s{.memory_mb = 64, .init = "/hello", .tlb_model = true};
  s.kernel_image = paths.mmlab_kernel;
  s.initrd = paths.test_initrd;
  s.tlb_plugin = paths.tlb_plugin;
  try {
    const BootResult r = boot_once(s, 30, false);
    for (const nlohmann::json& rec : r.records.records)
      if (str_of(rec, "type") == "tlb_model" && bool_of(rec, "paired", false) && r.status == "success")
        return {true, fmt::format("{}: a /hello boot paired {} checkpoint(s) with the counters records",
                                  paths.tlb_plugin, int_of(rec, "checkpoints", 0))};
    const std::string why = r.qemu_stderr.empty() ? "the boot ended " + r.status : r.qemu_stderr;
    return {false, why.substr(0, why.find('\n'))};
  } catch (const std::exception& e) {
    return {false, e.what()};
  }
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
  const auto [plugin_ok, plugin_why] = tlb_plugin_works(paths);
  line(plugin_ok, "TLB-model plugin under TCG", plugin_why);
  const nlohmann::json caps = host_capabilities();
  const std::pair<const char*, const char*> names[] = {
      {"perf_software_events", "perf_event software events"},
      {"perf_cycles_guest", "perf_event cycles, guest only"},
      {"perf_cycles_host", "perf_event cycles, host only"},
      {"perf_instructions_guest", "perf_event instructions, guest only"},
      {"perf_dtlb_misses_guest", "perf_event dTLB misses, guest only"},
      {"page_walk_events", "guest page walks (libpfm4 events)"},
      {"kvm_exit_tracepoint", "kvm:kvm_exit tracepoint"},
      {"papi", "PAPI hardware counters"}};
  for (const auto& [key, what] : names)
    line(caps[key]["available"].get<bool>(), what, caps[key]["detail"].get<std::string>());
  fmt::print("     {:<36} {} CPUs\n", "host", ::sysconf(_SC_NPROCESSORS_ONLN));
  return 0;
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
  bool det = false, no_det = false;
  r->add_flag("--deterministic", det, "TCG with -icount shift=0: time counts guest instructions");
  r->add_flag("--no-deterministic", no_det, "wall-clock time, whatever the matrix says")->excludes("--deterministic");
  r->add_option("-j,--jobs", run.jobs, "VMs at once (default: host CPUs / the largest vCPU count)")
      ->check(CLI::Range(1u, 1024u));
  r->add_flag("--oversubscribe", run.oversubscribe,
              "allow more wall-clock vCPUs than host CPUs at once (recorded; every figure says so)");
  r->add_flag("--resume", run.resume, "finish the result set in DIR: run only the cells it lacks");
  r->add_option("--shard", shard, "I/N: run the I-th of N disjoint slices of the cells");
  r->add_flag("--quiet", run.quiet, "no progress lines (errors and the summary still print)");

  std::string list_path;
  auto* l = app.add_subcommand("list", "print the cells a matrix expands to");
  l->add_option("matrix", list_path, "the matrix file")->required()->check(CLI::ExistingFile);

  app.add_subcommand("doctor", "what this host can do: KVM for a PAE guest, perf events, PAPI, QEMU");

  BootOptions boot;
  auto* b = app.add_subcommand("boot", "one boot: the console on the terminal, or records as JSON; or a boot test");
  add_boot_options(b, &boot);

  std::string tests_list, tests_ctest, tests_python = "/usr/bin/python3";
  bool tests_json = false;
  auto* ts = app.add_subcommand("tests", "the boot-test cases (kernel_mm/kernel/tests/boot_tests.toml)");
  ts->add_option("--list", tests_list, "another boot-test list");
  ts->add_flag("--json", tests_json, "the expanded cases as JSON");
  ts->add_option("--ctest", tests_ctest, "write a ctest include file with one test per case");
  ts->add_option("--python", tests_python, "the Python that runs the pytest checks (with --ctest)");

  bool toggles_json = false;
  auto* tg = app.add_subcommand("toggles", "the toggle table (kernel_mm/mm/include/mm/toggles.h)");
  tg->add_flag("--json", toggles_json, "as JSON");

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
      if (det || no_det) run.deterministic = det;
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
    if (*b) return cmd_boot(boot);
    if (*ts) return cmd_tests(tests_list, tests_json, tests_ctest, tests_python);
    if (*tg) return cmd_toggles(toggles_json);
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
