// The single launcher's parts on fixed inputs: the QEMU command, the records
// reader, the boot-test list and its checks, the toggle table.
#include "boot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "boot_tests.h"
#include "guest.h"
#include "matrix.h"
#include "toggle_table.h"
#include "util.h"

namespace {

using mmlab::BootExpect;
using mmlab::BootResult;
using mmlab::BootTest;
using mmlab::VmSpec;
using nlohmann::json;

std::string arg_after(const std::vector<std::string>& argv, const std::string& flag) {
  const auto it = std::find(argv.begin(), argv.end(), flag);
  return it == argv.end() || it + 1 == argv.end() ? "" : *(it + 1);
}
bool has(const std::vector<std::string>& argv, const std::string& word) {
  return std::find(argv.begin(), argv.end(), word) != argv.end();
}

TEST(QemuArgv, KernelWordsInitAndQuotedArguments) {
  VmSpec s{.init = "/bin/sh", .init_args = {"-c", "/tests/t_fork && /hello"}};
  s.toggles = {{"mm.ptlock", "mm"}};
  s.kernel_args = {"mm.fail_alloc=40"};
  s.kernel_image = "k.elf";
  s.initrd = "i.cpio";
  s.console_path = "c.log";
  s.records_path = "r.jsonl";
  const auto a = mmlab::qemu_argv(s);
  EXPECT_EQ(arg_after(a, "-append"), "mm.ptlock=mm init=/bin/sh mm.fail_alloc=40 -- -c \"/tests/t_fork && /hello\"");
  EXPECT_EQ(arg_after(a, "-machine"), "pc");
  EXPECT_EQ(arg_after(a, "-cpu"), "max");
  EXPECT_EQ(arg_after(a, "-smp"), "1");
  EXPECT_TRUE(has(a, "isa-debug-exit,iobase=0xf4,iosize=0x04"));
  EXPECT_EQ(arg_after(a, "-serial"), "file:c.log");
  // No arguments for init: no "--" at all.
  s.init_args.clear();
  EXPECT_EQ(arg_after(mmlab::qemu_argv(s), "-append"), "mm.ptlock=mm init=/bin/sh mm.fail_alloc=40");
  // A double quote cannot be carried by either kernel's command line.
  s.init_args = {"say \"hi\""};
  EXPECT_THROW(mmlab::qemu_argv(s), std::invalid_argument);
}

TEST(QemuArgv, TopologyFirmwareCpuAndExitDevice) {
  VmSpec s{.vcpus = 4, .sockets = 4, .acpi = false, .cpu = "qemu32", .debug_exit = false};
  const auto a = mmlab::qemu_argv(s);
  EXPECT_EQ(arg_after(a, "-smp"), "4,sockets=4,cores=1,threads=1");
  EXPECT_EQ(arg_after(a, "-machine"), "pc,acpi=off");
  EXPECT_EQ(arg_after(a, "-cpu"), "qemu32");
  EXPECT_EQ(arg_after(a, "-accel"), "tcg,thread=multi");  // several vCPUs in parallel
  EXPECT_FALSE(has(a, "-device"));
  s.sockets = 3;
  EXPECT_THROW(mmlab::qemu_argv(s), std::invalid_argument);  // 4 vCPUs do not divide into 3 sockets
  // -icount: one TCG thread, whatever the vCPU count.
  VmSpec d{.icount = true, .vcpus = 4};
  const auto b = mmlab::qemu_argv(d);
  EXPECT_EQ(arg_after(b, "-accel"), "tcg");
  EXPECT_EQ(arg_after(b, "-icount"), "shift=0,sleep=off");
  // Nothing of the host reaches a deterministic guest: no RDRAND/RDSEED, an RTC on virtual time.
  EXPECT_EQ(arg_after(b, "-cpu"), "max,-rdrand,-rdseed");
  EXPECT_EQ(arg_after(b, "-rtc"), "base=2000-01-01T00:00:00,clock=vm");
  // Linux: its own command line, /init always.
  VmSpec l{.kernel = mmlab::Kernel::kLinuxPae, .init_args = {"lat_proc", "-n", "3", "fork"}};
  EXPECT_EQ(arg_after(mmlab::qemu_argv(l), "-append"),
            "console=ttyS0 rdinit=/init quiet panic=-1 cryptomgr.notests noisapnp -- lat_proc -n 3 fork");
}

TEST(Records, OneReaderForBothKernels) {
  const std::string mmlab_text =
      "{\"v\":1,\"type\":\"boot\",\"kernel\":\"mmlab\"}\n"
      "not json\n"
      "{\"v\":2,\"type\":\"boot\"}\n"
      "\n"
      "{\"v\":1,\"type\":\"leak\",\"leak_free\":true}\n";
  const auto m = mmlab::read_records(mmlab::Kernel::kMmlab, "console is ignored", mmlab_text);
  ASSERT_EQ(m.records.size(), 2u);
  EXPECT_EQ(m.records[1]["type"], "leak");
  EXPECT_EQ(m.malformed, 2u);
  EXPECT_NE(m.malformed_examples[0].find("not json"), std::string::npos);
  const std::string console =
      "init: on Linux\r\nMMLAB-COUNTERS {\"label\":\"before:0:x\",\"vmstat\":{\"pgfault\":1}}\r\n"
      "MMLAB-RESULT {\"workload\":\"x\"}\r\n[ 1.0] MMLAB-RESULT {\"not\":\"at the start\"}\nMMLAB-COUNTERS {broken\n";
  const auto l = mmlab::read_records(mmlab::Kernel::kLinuxPae, console, "records are ignored");
  ASSERT_EQ(l.records.size(), 2u);
  EXPECT_EQ(l.records[0]["type"], "counters");
  EXPECT_EQ(l.records[0]["vmstat"]["pgfault"], 1);
  EXPECT_EQ(l.records[1]["line"], "{\"workload\":\"x\"}");  // verbatim, without the carriage return
  EXPECT_EQ(l.malformed, 1u);
}

TEST(ToggleTable, OneTableForKernelLoaderAndReport) {
  const json t = mmlab::toggle_table_json();
  ASSERT_EQ(t.size(), mm::kNumToggles);
  for (const json& row : t) {
    EXPECT_EQ(row["default"], row["values"][0]);
    EXPECT_FALSE(row["title"].get<std::string>().empty());
    EXPECT_FALSE(row["question"].get<std::string>().empty());
    EXPECT_NE(mmlab::find_toggle(row["key"]), nullptr);
  }
  // Combination i: bit k picks the second value of toggle k, as the kernel numbers them.
  const auto all_second = mmlab::toggle_combination(mm::kNumToggleCombinations - 1);
  for (const json& row : t) EXPECT_EQ(all_second.at(row["key"]), row["values"][1]);
  EXPECT_EQ(mmlab::toggle_combination(0), mmlab::default_toggles());
  EXPECT_EQ(mmlab::toggle_combination(1).at(t[0]["key"]), t[0]["values"][1]);
  EXPECT_EQ(mmlab::toggle_combination(1).at(t[1]["key"]), t[1]["values"][0]);
}

// A list in a temporary file, read against made-up paths.
std::vector<BootTest> read_list(const std::string& text) {
  const std::string path = "/tmp/mmlab-list-" + std::to_string(::getpid()) + ".toml";
  EXPECT_TRUE(mmlab::write_file_atomic(path, text));
  mmlab::GuestPaths p{.mmlab_kernel = "K", .linux_kernel = "L", .initrd = "W", .test_initrd = "T", .tlb_plugin = "P"};
  struct Remove {
    std::string path;
    ~Remove() { std::remove(path.c_str()); }
  } remove{path};
  return mmlab::read_boot_tests(path, p);
}
std::string list_error(const std::string& text) {
  try {
    read_list(text);
  } catch (const mmlab::MatrixError& e) {
    const std::string what = e.what();
    return what.substr(what.find(".toml") + 5);
  }
  return "";
}

TEST(BootTestList, ExpandsCasesBootsCombinationsAndRepeats) {
  const auto tests = read_list(R"(
[plain]
init = "/hello"

[threads]
init = "/tests/t_threads"
cases = { "mm.ptlock" = ["split", "mm"], vcpus = [2, 4] }
check = "smp:f"

[bad]
status = "failure"
clean = false
cases = [{ name = "key", kernel_args = ["mm.bogus=1"], panic = "mm.bogus" }, { name = "none" }]

[sweep]
initrd = "workloads"
args = "sysfuzz -s {seed} -w {vcpus}"
kernel_args = ["mm.fail_alloc_seed={index}"]
combinations = [4, 9]
per_case = 4
cases = { vcpus = [1, 2] }

[pair]
boots = { "mm.free_pgtables" = ["vma", "full"] }
repeat = 2
)");
  std::vector<std::string> names;
  for (const BootTest& t : tests) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bad.key", "bad.none", "pair", "plain", "sweep.1.0", "sweep.1.1",
                                             "sweep.2.0", "sweep.2.1", "threads.split.2", "threads.split.4",
                                             "threads.mm.2", "threads.mm.4"}));
  const BootTest& plain = tests[3];
  ASSERT_EQ(plain.boots.size(), 1u);
  EXPECT_EQ(plain.boots[0].spec.init, "/hello");
  EXPECT_EQ(plain.boots[0].spec.initrd, "T");
  EXPECT_EQ(plain.boots[0].spec.kernel_image, "K");
  EXPECT_TRUE(plain.boots[0].expect.clean);
  EXPECT_EQ(plain.boots[0].expect.init_status, (std::vector<int64_t>{0}));
  const BootTest& bad = tests[0];
  EXPECT_EQ(bad.boots[0].spec.kernel_args, (std::vector<std::string>{"mm.bogus=1"}));
  EXPECT_EQ(bad.boots[0].expect.panic, "mm.bogus");
  EXPECT_TRUE(bad.boots[0].expect.init_status.empty());
  const BootTest& sweep = tests[6];  // sweep.2.0: combinations 4..7 on 2 vCPUs
  ASSERT_EQ(sweep.boots.size(), 4u);
  EXPECT_EQ(sweep.boots[1].combination, 5);
  EXPECT_EQ(sweep.boots[1].spec.toggles, mmlab::toggle_combination(5));
  EXPECT_EQ(sweep.boots[1].spec.init_args, (std::vector<std::string>{"sysfuzz", "-s", "6", "-w", "2"}));
  EXPECT_EQ(sweep.boots[1].spec.kernel_args, (std::vector<std::string>{"mm.fail_alloc_seed=5"}));
  EXPECT_EQ(sweep.boots[1].spec.initrd, "W");
  EXPECT_EQ(tests[7].boots.size(), 2u);  // sweep.2.1: 8 and 9
  const BootTest& pair = tests[2];
  ASSERT_EQ(pair.boots.size(), 4u);
  EXPECT_EQ(pair.boots[0].label, "mm.free_pgtables=vma, boot 1 of 2");
  EXPECT_EQ(pair.boots[3].spec.toggles.at("mm.free_pgtables"), "full");
  EXPECT_EQ(tests[8].check, "smp:f");
  EXPECT_EQ(tests[8].boots[0].spec.vcpus, 2u);
  EXPECT_EQ(tests[8].boots[0].spec.toggles.at("mm.ptlock"), "split");
}

TEST(BootTestList, ACaseMayChooseItsOwnCombinations) {
  const auto tests = read_list(R"(
[fuzz]
args = "sysfuzz -s {seed}"
combinations = "all"
per_case = 16
cases = [{ name = "1", vcpus = 1 }, { name = "4", vcpus = 4, combinations = "strength3" }]
)");
  std::vector<std::string> names;
  for (const BootTest& t : tests) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"fuzz.1.0", "fuzz.1.1", "fuzz.1.2", "fuzz.1.3", "fuzz.4"}));
  ASSERT_EQ(tests[4].boots.size(), 16u);
  std::set<int64_t> seen;
  for (const auto& b : tests[4].boots) {
    EXPECT_EQ(b.spec.vcpus, 4u);
    EXPECT_EQ(b.spec.toggles, mmlab::toggle_combination(static_cast<uint32_t>(b.combination)));
    seen.insert(b.combination);
  }
  EXPECT_EQ(seen.size(), 16u);
  EXPECT_EQ(list_error("[a]\ncombinations = \"some\"\n"), ":2: combinations: \"all\", \"strength3\" or [first, last]");
}

// "strength3": every three toggles take each of their 8 value combinations, twice, in the 16.
TEST(ToggleTable, Strength3CombinationsCoverEveryTripleOfToggles) {
  const std::vector<uint32_t> c = mmlab::strength3_combinations();
  ASSERT_EQ(c.size(), 16u);
  EXPECT_EQ(std::set<uint32_t>(c.begin(), c.end()).size(), 16u);
  for (uint32_t i = 0; i < mm::kNumToggles; ++i)
    for (uint32_t j = i + 1; j < mm::kNumToggles; ++j)
      for (uint32_t k = j + 1; k < mm::kNumToggles; ++k) {
        std::map<uint32_t, int> count;
        for (uint32_t x : c) ++count[(x >> i & 1) | (x >> j & 1) << 1 | (x >> k & 1) << 2];
        ASSERT_EQ(count.size(), 8u) << i << j << k;
        for (const auto& [values, n] : count) EXPECT_EQ(n, 2) << i << j << k << " values " << values;
      }
}

TEST(BootTestList, ABootWithTheTlbModelLoadsThePluginAndExpectsPairedCheckpoints) {
  const auto tests = read_list("[model]\ninit = \"/hello\"\ndeterministic = true\ntlb_model = true\n[plain]\n");
  ASSERT_EQ(tests.size(), 2u);
  const mmlab::TestBoot& b = tests[0].boots.at(0);
  EXPECT_TRUE(b.spec.tlb_model);
  EXPECT_EQ(b.spec.tlb_plugin, "P");
  EXPECT_TRUE(b.expect.tlb_paired);
  EXPECT_EQ(mmlab::boot_test_json(tests[0])["boots"][0]["tlb_model"], true);
  EXPECT_FALSE(tests[1].boots.at(0).spec.tlb_model);
  EXPECT_FALSE(tests[1].boots.at(0).expect.tlb_paired);
}

TEST(BootTestList, ErrorsNameTheLine) {
  EXPECT_EQ(list_error("[a]\ncolour = \"red\"\n").substr(0, 23), ":2: unknown key 'colour");
  EXPECT_EQ(list_error("[a]\n\"mm.ptlok\" = \"mm\"\n").substr(0, 27), ":2: unknown toggle 'mm.ptlo");
  EXPECT_EQ(list_error("[a]\n\"mm.ptlock\" = \"sometimes\"\n"),
            ":2: unknown value 'sometimes' for mm.ptlock (expected split or mm)");
  EXPECT_EQ(list_error("[a]\nvcpus = 32\n"), ":2: vcpus: 32 is out of range 1..16");
  EXPECT_EQ(list_error("[a]\nstatus = \"fine\"\n").substr(0, 22), ":2: status: 'fine' is ");
  EXPECT_EQ(list_error("[a]\nargs = \"x -s {seed}\"\n"), ":1: a: {seed} needs combinations");
  EXPECT_EQ(list_error("[a]\nkernel = \"linux-pae\"\ninit = \"/hello\"\n").substr(0, 30),
            ":1: a: Linux always runs /init");
  EXPECT_EQ(list_error("[a]\nvcpus = 4\nsockets = 3\n"), ":1: a: 4 vCPUs do not divide into 3 sockets");
  EXPECT_EQ(list_error("[a]\ncheck = \"nocolon\"\n").substr(0, 30), ":2: check: 'nocolon' should be");
  EXPECT_EQ(list_error("[a]\ncases = [{ kernel_args = [] }]\n"), ":2: cases: each entry needs a name");
  EXPECT_EQ(list_error("[a]\nper_case = 2\n"), ":1: a: per_case needs combinations");
  EXPECT_EQ(list_error("[a\n").substr(0, 20), ":1: malformed TOML: ");
}

BootResult result(const std::string& status, const std::string& console, const std::string& records) {
  BootResult r;
  r.status = status;
  r.console = console;
  r.records = mmlab::read_records(mmlab::Kernel::kMmlab, "", records);
  return r;
}

const char* kCleanLeak =
    "{\"v\":1,\"type\":\"leak\",\"leak_free\":true,\"ok\":true,\"init_status\":0,\"frames\":{\"user\":0},"
    "\"objects\":{\"mm\":0},\"pgds\":0,\"ptls\":0,\"ptls_dynamic\":0,\"pgd_list\":0,\"task_list\":0}\n";

TEST(BootTestChecks, EachExpectationCanFail) {
  const std::string boot = "{\"v\":1,\"type\":\"boot\",\"toggles\":{\"mm.ptlock\":\"mm\"}}\n";
  const std::string counters = "{\"v\":1,\"type\":\"counters\",\"label\":\"shutdown\",\"kernel\":{\"forks\":20}}\n";
  BootExpect e{.init_status = {0}, .passes = 2, .console = {"hello"}, .not_console = {"oops"}};
  e.at_least = {{"kernel.forks", 20}};
  e.toggles = {{"mm.ptlock", "mm"}};
  EXPECT_EQ(mmlab::unmet(e, result("success", "hello\nPASS a\nPASS b\n", boot + counters + kCleanLeak)),
            std::vector<std::string>{});
  // Every way to miss.
  std::string leaky = kCleanLeak;
  leaky.replace(leaky.find("\"pgds\":0"), 8, "\"pgds\":1");
  e.toggles = {{"mm.ptlock", "split"}};
  e.at_least = {{"kernel.forks", 21}, {"kernel.nothing", 1}};
  const auto missed =
      mmlab::unmet(e, result("failure", "PASS a\nFAIL b\noops\n", boot + counters + leaky + "garbage\n"));
  const std::vector<std::string> starts = {"status failure",
                                           "1 malformed record",
                                           "the boot record says mm.ptlock=\"mm\"",
                                           "the last counters record has kernel.forks = 20",
                                           "the last counters record has kernel.nothing = (missing)",
                                           "the leak record reports leaks",
                                           "1 PASS and 1 FAIL lines",
                                           "the console lacks \"hello\"",
                                           "the console holds \"oops\""};
  ASSERT_EQ(missed.size(), starts.size()) << mmlab::join(missed, "\n");
  for (size_t i = 0; i < starts.size(); ++i) EXPECT_EQ(missed[i].substr(0, starts[i].size()), starts[i]) << missed[i];
  // A panic message, and init's status.
  BootExpect p{.status = "failure", .clean = false, .init_status = {256}, .panic = "mm.bogus"};
  EXPECT_EQ(mmlab::unmet(p, result("failure", "",
                                   "{\"v\":1,\"type\":\"panic\",\"message\":\"bad toggle mm.bogus\"}\n"
                                   "{\"v\":1,\"type\":\"leak\",\"init_status\":256}\n")),
            std::vector<std::string>{});
  EXPECT_EQ(mmlab::unmet(p, result("failure", "", "{\"v\":1,\"type\":\"panic\",\"message\":\"other\"}\n")).size(), 2u);
}

TEST(BootRecord, InvalidUtf8FromAGuestIsReplacedNotThrown) {
  BootResult r = result("success", std::string("bad \xff\xfe bytes"), "");
  const json vm = mmlab::vm_record(VmSpec{}, r);
  std::string line;
  ASSERT_NO_THROW(line = mmlab::json_line(vm));
  EXPECT_NE(line.find("bad \xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(vm["type"], "vm");
  EXPECT_EQ(mmlab::count_lines_starting("PASS a\n PASS b\nPASS", "PASS"), 2u);
}

}  // namespace
