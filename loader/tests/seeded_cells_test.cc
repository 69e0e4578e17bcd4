// Matrices for the reliability figures (docs/matrix.md, "Programs, initrds
// and placeholders", "Verdicts"): a seed per toggle combination, several
// programs in one boot, the test initrd, a workload's kernel arguments, and
// the kernel-survives verdict of a cell.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

#include "guest.h"
#include "matrix.h"
#include "matrix_test_util.h"

namespace {

using mmlab::Cell;
using mmlab::Matrix;
using mmlab::MatrixError;

using mmlab_test::error_of;
using mmlab_test::kKnown;
using mmlab_test::kMinimal;
using mmlab_test::parse;

const std::vector<std::string> kTestFiles = {"/init", "/bin/lat_proc", "/bin/page_fault", "/tests/t_fork",
                                             "/tests/t_exec"};

// The error message of parsing `text` with a test initrd, "" if it parses.
std::string error_with_tests(const std::string& text) {
  try {
    mmlab::parse_matrix_text(text, "m.toml", kKnown, kTestFiles);
  } catch (const MatrixError& e) {
    return e.what();
  }
  return "";
}

TEST(Matrix, SeedsFollowTheToggleCombinationAsTheKernelNumbersIt) {
  const std::string text = R"(
vcpus = [2]
[toggles]
"mm.pgd_init" = ["locked", "lockless"]
"mm.ptlock" = ["split", "mm"]
[[workload]]
name = "page_fault"
args = ["-i", "{index}", "-s", "{seed}", "-w", "{vcpus}"]
kernel_args = ["mm.fail_alloc=40", "mm.fail_alloc_seed={seed}"]
)";
  const std::vector<Cell> cells = mmlab::expand(parse(text));
  ASSERT_EQ(cells.size(), 4u);
  std::set<std::string> seeds, keys;
  for (const Cell& c : cells) {
    // pgd_init is toggle 1 and ptlock toggle 4: their second values set bits 1 and 4.
    const uint32_t index =
        (c.toggles.at("mm.pgd_init") == "lockless" ? 2u : 0u) | (c.toggles.at("mm.ptlock") == "mm" ? 16u : 0u);
    EXPECT_EQ(c.workload.args,
              (std::vector<std::string>{"-i", std::to_string(index), "-s", std::to_string(index + 1), "-w", "2"}));
    EXPECT_EQ(c.kernel_args,
              (std::vector<std::string>{"mm.fail_alloc=40", "mm.fail_alloc_seed=" + std::to_string(index + 1)}));
    EXPECT_NE(c.key().find(" kernel_arg=mm.fail_alloc_seed=" + std::to_string(index + 1)), std::string::npos);
    EXPECT_TRUE(c.seeded);
    seeds.insert(c.kernel_args[1]);
    keys.insert(c.key());
  }
  EXPECT_EQ(seeds.size(), 4u);
  EXPECT_EQ(keys.size(), 4u);
  // A matrix without kernel arguments keeps its keys as they were.
  EXPECT_EQ(mmlab::expand(parse(kMinimal))[0].key().find("kernel_arg"), std::string::npos);
  EXPECT_FALSE(mmlab::expand(parse(kMinimal))[0].seeded);
  EXPECT_FALSE(mmlab::expand(parse("[[workload]]\nname = \"page_fault\"\nargs = [\"-w\", \"{vcpus}\"]\n"))[0].seeded);
  // Rules match the file's words, before the placeholders are replaced.
  const std::vector<Cell> left = mmlab::expand(parse(text + "[[exclude]]\nargs = \"-i {index} -s {seed} -w {vcpus}\"\n"
                                                            "\"mm.ptlock\" = \"mm\"\n"));
  EXPECT_EQ(left.size(), 2u);
}

TEST(Matrix, SeveralProgramsInOneBootFromTheTestInitrd) {
  const Matrix m = mmlab::parse_matrix_text(R"(
[[workload]]
name = "fault_injection"
initrd = "tests"
programs = [["/tests/t_fork"], "/tests/t_exec", ["/bin/page_fault", "-s", "256"], ["lat_proc", "-n", "{seed}", "fork"]]
kernel_args = ["mm.fail_alloc=40", "mm.fail_alloc_seed={seed}"]
expect = "survive"
)",
                                            "m.toml", kKnown, kTestFiles);
  ASSERT_EQ(m.workloads.size(), 1u);
  const mmlab::Workload& w = m.workloads[0];
  EXPECT_TRUE(w.test_initrd);
  EXPECT_TRUE(w.survive);
  EXPECT_EQ(w.programs.size(), 4u);
  const std::vector<Cell> cells = mmlab::expand(m);
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0].workload.args,
            (std::vector<std::string>{"/tests/t_fork", "::", "/tests/t_exec", "::", "/bin/page_fault", "-s", "256",
                                      "::", "lat_proc", "-n", "1", "fork"}));
  EXPECT_EQ(cells[0].workload.programs[3][2], "1");
  EXPECT_NE(cells[0].key().find("workload=fault_injection arg=/tests/t_fork arg=:: "), std::string::npos);
  EXPECT_NE(cells[0].key().find(" initrd=tests kernel_arg=mm.fail_alloc=40 kernel_arg=mm.fail_alloc_seed=1 "),
            std::string::npos);
}

TEST(Matrix, WorkloadKeysAndKernelArgumentsAreChecked) {
  const std::string w = "[[workload]]\nname = \"fi\"\n";
  EXPECT_EQ(error_with_tests(w + "programs = [[\"lat_proc\"], [\"/tests/t_fork\"]]\n"),
            "m.toml:3: workload.programs: program 2 '/tests/t_fork' is not in the workloads initrd (initrd = \"tests\" "
            "has /tests/t_*)");
  EXPECT_EQ(error_with_tests(w + "initrd = \"tests\"\nprograms = [[\"/tests/t_fork\"], [\"t_fork\"]]\n"),
            "m.toml:4: workload.programs: program 2 't_fork' is not in the test initrd");
  EXPECT_EQ(error_with_tests(w + "initrd = \"test\"\n"),
            "m.toml:3: workload.initrd: unknown initrd 'test' (expected workloads or tests)");
  EXPECT_EQ(error_of(w + "initrd = \"tests\"\nprograms = [\"/tests/t_fork\"]\n"),
            "m.toml:3: workload.initrd: the test initrd lists no files (build/workloads/test-initrd.cpio: make build)");
  EXPECT_EQ(error_with_tests(w + "programs = [[\"lat_proc\", \"::\", \"page_fault\"]]\n"),
            "m.toml:3: workload.programs: '::' separates programs: give each its own list");
  EXPECT_EQ(error_with_tests(w + "programs = [[\"lat_proc\"]]\nargs = [\"-n\"]\n"),
            "m.toml:3: workload.programs: give each program's arguments in its list, with no binary or args");
  EXPECT_EQ(error_with_tests("[[workload]]\nprograms = [[\"lat_proc\"]]\n"),
            "m.toml:2: workload.programs: needs a name that labels the programs");
  EXPECT_EQ(error_with_tests(w + "programs = [[]]\n"), "m.toml:3: workload.programs: a program with no words");
  EXPECT_EQ(error_with_tests(w + "programs = []\n"),
            "m.toml:3: workload.programs: expected a list of programs, each a list of words");
  EXPECT_EQ(error_with_tests(w + "programs = [[\"lat_proc\"]]\nexpect = \"crash\"\n"),
            "m.toml:4: workload.expect: unknown value 'crash' (expected success or survive)");
  EXPECT_EQ(error_with_tests(std::string(kMinimal) + "kernel_args = [\"mm.fail_alloc=0\"]\n"),
            "m.toml:4: workload.kernel_args: 'mm.fail_alloc=0': mm.fail_alloc wants a number from 1 to 1000000000");
  EXPECT_EQ(error_of(std::string("kernel_args = [\"mm.fail_alloc_seed=x{seed}\"]\n") + kMinimal),
            "m.toml:1: kernel_args: 'mm.fail_alloc_seed=x{seed}': mm.fail_alloc_seed wants a number");
  EXPECT_EQ(error_of(std::string("kernel_args = [\"mm.ptlock=mm\"]\n") + kMinimal),
            "m.toml:1: kernel_args: 'mm.ptlock=mm' is a toggle: sweep it in [toggles]");
  EXPECT_NE(error_of(std::string("kernel_args = [\"mm.ptlok=mm\"]\n") + kMinimal)
                .find("m.toml:1: kernel_args: 'mm.ptlok=mm' is neither a toggle (mm.pmd_prealloc, "),
            std::string::npos);
  EXPECT_EQ(error_of(std::string("kernel_args = [\"mmlab.debug=pnic\"]\n") + kMinimal),
            "m.toml:1: kernel_args: 'mmlab.debug=pnic': unknown mmlab.* option (expected mmlab.debug=panic, hang or "
            "lock-inversion, or mmlab.lockdep=on or off)");
  EXPECT_EQ(error_of(std::string("kernel_args = [\"mm.fail_alloc=40\", \"mm.fail_alloc_seed={seed}\"]\n") + kMinimal),
            "");
  EXPECT_EQ(error_of("[[workload]]\nname = \"lat_proc\"\nargs = [\"-s\", \"{sed}\"]\n"),
            "m.toml:3: workload.args: unknown placeholder {sed} in '{sed}' (expected {index}, {seed} or {vcpus})");
  EXPECT_EQ(error_of("kernel = [\"mmlab\", \"linux-pae\"]\n[[workload]]\nname = \"lat_proc\"\nargs = [\"{seed}\"]\n"),
            "m.toml:4: '{seed}': {index} and {seed} number toggle combinations, and Linux cells have none: run them "
            "in a matrix of kernel = \"mmlab\"");
  EXPECT_EQ(error_of("kernel = [\"mmlab\", \"linux-pae\"]\n[[workload]]\nname = \"lat_proc\"\nargs = [\"{vcpus}\"]\n"),
            "");
  EXPECT_EQ(
      error_of(w + "bogus = 1\n"),
      "m.toml:3: workload: unknown key 'bogus' (expected name, binary, args, programs, initrd, kernel_args, expect)");
}

// /init's records for several programs: `statuses` one per program, the
// snapshots around each, the counters at shutdown and the leak record.
std::string programs_records(const std::vector<std::pair<std::string, std::string>>& statuses) {
  std::string r = R"({"v":1,"type":"boot","kernel":"mmlab","cpus":1})"
                  "\n";
  for (size_t i = 0; i < statuses.size(); ++i) {
    const auto& [name, status] = statuses[i];
    r += fmt::format(R"({{"v":1,"type":"counters","label":"before:{}:{}","mm":{{"alloc_fail_injected":{}}},)"
                     R"("kernel":{{"forks":{}}}}})"
                     "\n",
                     i, name, i, 10 * i);
    r += fmt::format(R"({{"v":1,"type":"counters","label":"after:{}:{}","mm":{{"alloc_fail_injected":{}}},)"
                     R"("kernel":{{"forks":{}}}}})"
                     "\n",
                     i, name, i + 1, 10 * i + 7);
    r += fmt::format(
        R"({{"v":1,"type":"result","pid":1,"line":"{{\"workload\":\"init\",\"index\":{},\"program\":\"/tests/{}\",)"
        R"(\"status\":\"{}\",\"exit_code\":-1,\"wait_status\":9}}"}})"
        "\n",
        i, name, status);
  }
  r += R"({"v":1,"type":"counters","label":"shutdown","mm":{"alloc_fail_injected":5},"kernel":{"init_oom_retries":2},)"
       R"("enosys":{"386":3}})"
       "\n";
  r += R"({"v":1,"type":"leak","leak_free":true})"
       "\n";
  return r;
}

TEST(Guest, SeveralProgramsAndTheSurviveVerdict) {
  const std::string records = programs_records({{"t_fork", "ok"}, {"t_exec", "signaled"}, {"t_sh", "not_started"}});
  const mmlab::InitRun run{{"t_fork", "t_exec", "t_sh"}, false, true};
  const auto g = mmlab::interpret_guest(mmlab::Kernel::kMmlab, 35, false, "", records, run, 60);
  EXPECT_EQ(g.status, "ok") << g.reason;
  EXPECT_EQ(g.survived, true);
  EXPECT_EQ(g.survival, "");
  ASSERT_EQ(g.init_all.size(), 3u);
  EXPECT_EQ(g.init_all[1]["status"], "signaled");
  EXPECT_EQ(g.guest_counters["kernel"]["forks"], 27);  // from before:0:t_fork to after:2:t_sh
  EXPECT_EQ(g.shutdown["kernel"]["init_oom_retries"], 2);
  EXPECT_EQ(g.shutdown["enosys"]["386"], 3);
  EXPECT_TRUE(g.metrics.is_null());
  // Expecting success, the first program that did not succeed fails the cell; the kernel still survived.
  mmlab::InitRun strict = run;
  strict.survive = false;
  const auto f = mmlab::interpret_guest(mmlab::Kernel::kMmlab, 35, false, "", records, strict, 60);
  EXPECT_EQ(f.status, "failed");
  EXPECT_EQ(f.reason, "/tests/t_exec signaled (exit code -1, wait status 9)");
  EXPECT_EQ(f.survived, true);
  // /init must report every program, even when only survival counts.
  const auto two = mmlab::interpret_guest(mmlab::Kernel::kMmlab, 35, false, "",
                                          programs_records({{"t_fork", "ok"}, {"t_exec", "failed"}}), run, 60);
  EXPECT_EQ(two.status, "failed");
  EXPECT_EQ(two.reason, "/init reported 2 of 3 programs");
  // Not surviving: a panic, a timeout, no leak record, a leak.
  const auto panic = mmlab::interpret_guest(mmlab::Kernel::kMmlab, 35, false, "",
                                            records + R"({"v":1,"type":"panic","message":"oops"})" + "\n", run, 60);
  EXPECT_EQ(panic.status, "panic");
  EXPECT_EQ(panic.survived, false);
  EXPECT_EQ(panic.survival, "panic: oops");
  const auto hang = mmlab::interpret_guest(mmlab::Kernel::kMmlab, -1, false, "", records, run, 60);
  EXPECT_EQ(hang.survived, false);
  EXPECT_EQ(hang.survival, "killed at the 60 s deadline");
  const std::string no_leak = records.substr(0, records.rfind("{\"v\":1,\"type\":\"leak\""));
  EXPECT_EQ(mmlab::interpret_guest(mmlab::Kernel::kMmlab, 35, false, "", no_leak, run, 60).survival,
            "no leak record (the kernel did not shut down cleanly)");
  std::string leaky = records;
  leaky.replace(leaky.rfind("true"), 4, "false");
  const auto leak = mmlab::interpret_guest(mmlab::Kernel::kMmlab, 35, false, "", leaky, run, 60);
  EXPECT_EQ(leak.survived, false);
  EXPECT_EQ(leak.status, "failed");
  // Linux has no verdict.
  EXPECT_TRUE(mmlab::interpret_guest(mmlab::Kernel::kLinuxPae, 33, false, "", "", run, 60).survived.is_null());
}

}  // namespace
