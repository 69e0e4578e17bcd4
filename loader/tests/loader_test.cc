// The loader's parts on fixed inputs: matrix errors with positions,
// expansion, records into cell outcomes, the appended initrd, result sets.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "formats/cpio.h"
#include "formats/cpio_writer.h"
#include "guest.h"
#include "host_counters.h"
#include "matrix.h"
#include "matrix_test_util.h"
#include "result_set.h"
#include "util.h"

namespace {

using mmlab::Cell;
using mmlab::Matrix;
using mmlab::MatrixError;
using nlohmann::json;

using mmlab_test::error_of;
using mmlab_test::kKnown;
using mmlab_test::kMinimal;
using mmlab_test::parse;

TEST(Matrix, ErrorsNameTheFileLineAndKey) {
  EXPECT_EQ(
      error_of(std::string("name = \"x\"\nbogus = 1\n") + kMinimal),
      "m.toml:2: unknown key 'bogus' (expected one of: name, kernel, emulator, accel, deterministic, repetitions, "
      "vcpus, memory_mb, timeout_s, seed, kernel_args, toggles, workload, exclude, include, tlb_model, "
      "tlb_geometry)");
  EXPECT_EQ(error_of(std::string("[toggles]\n\"mm.ptlock\" = [\"split\", \"spilt\"]\n") + kMinimal),
            "m.toml:2: toggles: unknown value 'spilt' for mm.ptlock (expected split or mm)");
  EXPECT_NE(error_of(std::string("[toggles]\n\"mm.ptlok\" = [\"split\"]\n") + kMinimal)
                .find("m.toml:2: toggles: unknown toggle 'mm.ptlok'"),
            std::string::npos);
  EXPECT_EQ(error_of(std::string("vcpus = [1, 32]\n") + kMinimal), "m.toml:1: vcpus: 32 is out of range 1..16");
  EXPECT_EQ(error_of(std::string("repetitions = \"3\"\n") + kMinimal), "m.toml:1: repetitions: expected an integer");
  EXPECT_EQ(error_of(std::string("accel = \"xen\"\n") + kMinimal),
            "m.toml:1: accel: unknown value 'xen' (expected auto, kvm or tcg)");
  EXPECT_EQ(error_of("name = \"x\"\n"), "m.toml: no [[workload]]: a matrix needs at least one");
  EXPECT_NE(error_of("name = \"x\n").find("m.toml:1: malformed TOML"), std::string::npos);
  EXPECT_NE(error_of("[[workload]]\nname = \"ls\"\n").find("m.toml:2: workload.name: 'ls' is not a workload"),
            std::string::npos);
  EXPECT_EQ(error_of("[[workload]]\nname = \"lat_proc\"\nbinary = \"/x\"\n").substr(0, 13), "m.toml:3: wor");
  EXPECT_EQ(error_of("[[workload]]\nargs = [\"x\"]\n"), "m.toml:1: workload: give exactly one of name or binary");
  EXPECT_EQ(error_of(std::string("kernel_args = [\"mm.ptlock=mm\"]\n") + kMinimal),
            "m.toml:1: kernel_args: 'mm.ptlock=mm' is a toggle: sweep it in [toggles]");
  EXPECT_EQ(error_of(std::string("[[exclude]]\nvcpus = 2\ncolour = \"red\"\n") + kMinimal),
            "m.toml:3: exclude: unknown key 'colour' (expected a toggle, kernel, vcpus, workload or args)");
  EXPECT_EQ(error_of(std::string("deterministic = true\naccel = \"kvm\"\n") + kMinimal),
            "m.toml:2: deterministic = true needs TCG (-icount): accel cannot be kvm");
}

TEST(Matrix, TheTlbModelAndItsGeometry) {
  const Matrix m = parse(std::string("tlb_model = true\n[tlb_geometry]\nstlb = \"512:4\"\npde = 0\n"
                                     "global = \"none\"\n") +
                         kMinimal);
  EXPECT_TRUE(m.tlb_model);
  EXPECT_EQ(m.tlb_model_line, 1u);
  // In toml++'s order (by key): the plugin takes them in any order.
  EXPECT_EQ(m.tlb_geometry, (std::vector<std::string>{"global=none", "pde=0", "stlb=512:4"}));
  EXPECT_FALSE(parse(kMinimal).tlb_model);
  // The plugin's own parser, at the key's line.
  EXPECT_EQ(error_of(std::string("tlb_model = true\n[tlb_geometry]\ndtlb = \"96:4\"\n") + kMinimal),
            "m.toml:3: tlb_geometry: dtlb 96:4: 24 sets; the sets (entries / ways) must be a power of two "
            "(docs/tlb-model.md)");
  EXPECT_NE(error_of(std::string("[tlb_geometry]\nitlb = \"64\"\n") + kMinimal)
                .find("m.toml:2: tlb_geometry: itlb=64: expected ENTRIES:WAYS"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("[tlb_geometry]\nstlb = \"512:4\"\nl2 = \"1:1\"\n") + kMinimal)
                .find("m.toml:3: tlb_geometry: unknown key 'l2'"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("[tlb_geometry]\npde = \"8\"\n") + kMinimal)
                .find("m.toml:2: tlb_geometry.pde: expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("tlb_geometry = 3\n") + kMinimal).find("m.toml:1: tlb_geometry: expected a"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("accel = \"kvm\"\ntlb_model = true\n") + kMinimal)
                .find("m.toml:2: tlb_model = true needs TCG"),
            std::string::npos);
}

TEST(Matrix, BinariesMustBeStaticI386) {
  EXPECT_EQ(error_of(std::string("[[workload]]\nbinary = \"") + MMLAB_TEST_STATIC_BIN + "\"\n"), "");
  EXPECT_NE(
      error_of(std::string("[[workload]]\nbinary = \"") + MMLAB_TEST_DYNAMIC_BIN + "\"\n").find("dynamically linked"),
      std::string::npos);
  EXPECT_NE(error_of("[[workload]]\nbinary = \"/etc/passwd\"\n").find("not an ELF file"), std::string::npos);
  EXPECT_NE(error_of("[[workload]]\nbinary = \"/bin/true\"\n").find("not a 32-bit i386 ELF file"), std::string::npos);
  EXPECT_NE(error_of("[[workload]]\nbinary = \"/no/such\"\n").find("cannot read it"), std::string::npos);
}

TEST(Matrix, ExpandsTheProductMinusExcludesPlusIncludes) {
  const Matrix m = parse(R"(
name = "x"
kernel = ["mmlab", "linux-pae"]
repetitions = 2
vcpus = [1, 2]
[toggles]
"mm.ptlock" = ["split", "mm"]
"mm.pmd_prealloc" = ["on", "off"]
[[workload]]
name = "lat_proc"
args = ["fork"]
[[workload]]
name = "page_fault"
[[exclude]]
"mm.ptlock" = "mm"
vcpus = 1
[[exclude]]
kernel = "linux-pae"
workload = "page_fault"
[[include]]
"mm.ptlock_alloc" = "dynamic"
workload = "page_fault"
vcpus = 4
)");
  const std::vector<Cell> cells = mmlab::expand(m);
  // mmlab: 4 toggle combinations x 2 workloads x 2 vCPU counts x 2 reps = 32, minus ptlock=mm at 1 vCPU
  // (2 prealloc x 2 workloads x 2 reps = 8) = 24; Linux: toggles do not multiply: 1 workload left x 2 x 2 = 4;
  // the include: 2 reps of page_fault at 4 vCPUs with dynamic ptls.
  EXPECT_EQ(cells.size(), 24u + 4u + 2u);
  std::set<std::string> keys;
  for (const Cell& c : cells) {
    EXPECT_TRUE(keys.insert(c.key()).second) << "duplicate " << c.key();
    if (c.kernel == mmlab::Kernel::kLinuxPae) {
      EXPECT_TRUE(c.toggles.empty());
      EXPECT_EQ(c.workload.name, "lat_proc");
    } else {
      EXPECT_EQ(c.toggles.size(), 6u);
      EXPECT_FALSE(c.toggles.at("mm.ptlock") == "mm" && c.vcpus == 1) << c.key();
    }
  }
  EXPECT_EQ(std::count_if(cells.begin(), cells.end(),
                          [](const Cell& c) { return c.vcpus == 4 && c.toggles.at("mm.ptlock_alloc") == "dynamic"; }),
            2);
  // The same matrix expands to the same keys in the same order.
  const std::vector<Cell> again = mmlab::expand(m);
  for (size_t i = 0; i < cells.size(); ++i) EXPECT_EQ(cells[i].key(), again[i].key());
}

TEST(Matrix, DeterministicConfigurationsRunOnceAndASampleTwice) {
  const Matrix m = parse(R"(
repetitions = 3
[toggles]
"mm.pmd_prealloc" = ["on", "off"]
"mm.pgd_init" = ["locked", "lockless"]
"mm.ptlock" = ["split", "mm"]
[[workload]]
name = "lat_proc"
args = ["fork"]
[[workload]]
name = "exec_layout"
)");
  const std::vector<Cell> all = mmlab::expand(m);
  ASSERT_EQ(all.size(), 8u * 2 * 3);
  std::vector<std::string> verified;
  const std::vector<Cell> run = mmlab::once_per_configuration(all, 8, &verified);
  // 16 configurations: each once, the 1st, 2nd and 9th (every 8th, and at least two) twice.
  EXPECT_EQ(run.size(), 16u + 3);
  EXPECT_EQ(verified.size(), 3u);
  std::set<std::string> configs;
  for (const Cell& c : run) {
    EXPECT_LE(c.rep, 1u);
    if (c.rep == 1) EXPECT_NE(std::find(verified.begin(), verified.end(), c.config_key()), verified.end());
    configs.insert(c.config_key());
  }
  EXPECT_EQ(configs.size(), 16u);
  EXPECT_EQ(all[0].config_key() + " rep=0", all[0].key());
  // One repetition: nothing to check.
  verified.clear();
  const Matrix one = parse("[[workload]]\nname = \"lat_proc\"\n");
  EXPECT_EQ(mmlab::once_per_configuration(mmlab::expand(one), 8, &verified).size(), 1u);
  EXPECT_TRUE(verified.empty());
}

TEST(Matrix, ShuffleIsSeededAndKeepsEveryCell) {
  const Matrix m = parse(std::string("repetitions = 5\n[toggles]\n\"mm.ptlock\" = [\"split\", \"mm\"]\n") + kMinimal);
  std::vector<Cell> a = mmlab::expand(m), b = a, c = a;
  mmlab::shuffle_cells(&a, 7);
  mmlab::shuffle_cells(&b, 7);
  mmlab::shuffle_cells(&c, 8);
  auto keys = [](const std::vector<Cell>& v) {
    std::vector<std::string> k;
    for (const Cell& x : v) k.push_back(x.key());
    return k;
  };
  EXPECT_EQ(keys(a), keys(b));
  EXPECT_NE(keys(a), keys(c));
  auto sorted = [&](std::vector<Cell> v) {
    auto k = keys(v);
    std::sort(k.begin(), k.end());
    return k;
  };
  EXPECT_EQ(sorted(a), sorted(c));
}

// Records as the mmlab kernel writes them around one program.
std::string mmlab_records(const std::string& program, bool leak_free, int init_exit) {
  std::string r = R"({"v":1,"type":"boot","kernel":"mmlab","cpus":1})"
                  "\n";
  r += R"({"v":1,"type":"counters","label":"before:0:)" + program +
       R"(","mm":{"cr3_reload_pdpte":1,"pgd_lock.acquire":4},"kernel":{"forks":2}})"
       "\n";
  r += R"({"v":1,"type":"result","pid":3,"comm":"x","line":"{\"workload\":\"lat_proc\",\"median\":5}"})"
       "\n";
  r += R"({"v":1,"type":"counters","label":"after:0:)" + program +
       R"(","mm":{"cr3_reload_pdpte":4,"pgd_lock.acquire":10},"kernel":{"forks":5}})"
       "\n";
  r += R"({"v":1,"type":"result","pid":1,"comm":"init","line":"{\"workload\":\"init\",\"index\":0,\"status\":\")" +
       std::string(init_exit ? "failed" : "ok") + R"(\",\"exit_code\":)" + std::to_string(init_exit) +
       R"(,\"wait_status\":0}"})"
       "\n";
  r += std::string(R"({"v":1,"type":"leak","leak_free":)") + (leak_free ? "true" : "false") + R"(,"ok":true})" + "\n";
  return r;
}

TEST(Guest, AGoodRunIsOkWithCounterDeltas) {
  const auto g = mmlab::interpret_guest(mmlab::Kernel::kMmlab, 33, false, "", mmlab_records("lat_proc", true, 0),
                                        "lat_proc", true, 60);
  EXPECT_EQ(g.status, "ok") << g.reason;
  EXPECT_EQ(g.metrics["median"], 5);
  EXPECT_EQ(g.guest_counters["mm"]["cr3_reload_pdpte"], 3);
  EXPECT_EQ(g.guest_counters["mm"]["pgd_lock.acquire"], 6);
  EXPECT_EQ(g.guest_counters["kernel"]["forks"], 3);
  EXPECT_EQ(g.time_unit, "ns");
  EXPECT_EQ(mmlab::interpret_guest(mmlab::Kernel::kMmlab, 33, true, "", mmlab_records("lat_proc", true, 0), "lat_proc",
                                   true, 60)
                .time_unit,
            "guest_instructions");
}

TEST(Guest, EveryFailureHasItsStatusAndReason) {
  auto outcome = [](int exit, const std::string& records, const std::string& program = "lat_proc") {
    return mmlab::interpret_guest(mmlab::Kernel::kMmlab, exit, false, "", records, program, true, 60);
  };
  const std::string good = mmlab_records("lat_proc", true, 0);
  EXPECT_EQ(outcome(-1, good).status, "timeout");
  EXPECT_EQ(outcome(-1, good).reason, "killed at the 60 s deadline");
  const auto p = outcome(35, R"({"v":1,"type":"panic","message":"mmlab.debug=panic: a panic on purpose"})"
                             "\n");
  EXPECT_EQ(p.status, "panic");
  EXPECT_EQ(p.reason, "mmlab.debug=panic: a panic on purpose");
  const auto m = outcome(33, good + "{not json\n");
  EXPECT_EQ(m.status, "failed");
  EXPECT_NE(m.reason.find("1 malformed record(s)"), std::string::npos) << m.reason;
  EXPECT_EQ(outcome(35, mmlab_records("lat_proc", true, 2)).status, "failed");
  EXPECT_NE(outcome(35, mmlab_records("lat_proc", true, 2)).reason.find("lat_proc failed (exit code 2"),
            std::string::npos);
  EXPECT_NE(outcome(35, mmlab_records("lat_proc", false, 0)).reason.find("reports leaks"), std::string::npos);
  EXPECT_NE(outcome(1, good).reason.find("QEMU exited 1"), std::string::npos);
  EXPECT_NE(outcome(33, good, "page_fault").reason.find("no before/after counter snapshots for page_fault"),
            std::string::npos);
  EXPECT_NE(outcome(33, "").reason.find("/init reported no result"), std::string::npos);
}

// Found by fuzz_records: a record whose fields have the wrong types (a
// numeric label, a string index, a non-boolean leak_free) must not throw.
TEST(Guest, FieldsOfTheWrongTypeAreNotFatal) {
  const std::string records = R"({"v":1,"type":"counters","label":5,"mm":{"x":1}})"
                              "\n"
                              R"({"v":1,"type":"result","line":7})"
                              "\n"
                              R"({"v":1,"type":"result","line":"{\"workload\":\"init\",\"index\":\"0\",\"status\":1}"})"
                              "\n"
                              R"({"v":1,"type":"leak","leak_free":"yes"})"
                              "\n"
                              R"({"v":1,"type":"panic","message":["x"]})"
                              "\n"
                              R"({"v":"1","type":2})"
                              "\n";
  mmlab::GuestOutcome g;
  EXPECT_NO_THROW(g = mmlab::interpret_guest(mmlab::Kernel::kMmlab, 33, false, "", records, "lat_proc", true, 60));
  EXPECT_EQ(g.status, "panic");
  EXPECT_EQ(g.reason, "kernel panic");
  EXPECT_NO_THROW(mmlab::interpret_guest(mmlab::Kernel::kLinuxPae, 33, false,
                                         "MMLAB-COUNTERS {\"label\":[1],\"vmstat\":{\"a\":-9223372036854775807}}\n", "",
                                         "lat_proc", true, 60));
}

TEST(Guest, LinuxRecordsComeFromTheConsole) {
  const std::string console =
      "init: on Linux\r\n"
      "MMLAB-COUNTERS {\"label\":\"before:0:lat_proc\",\"vmstat\":{\"pgfault\":100},\"self_stat\":{\"cminflt\":5}}\r\n"
      "MMLAB-RESULT {\"workload\":\"lat_proc\",\"median\":700}\r\n"
      "MMLAB-COUNTERS {\"label\":\"after:0:lat_proc\",\"vmstat\":{\"pgfault\":190},\"self_stat\":{\"cminflt\":80}}\r\n"
      "MMLAB-RESULT {\"workload\":\"init\",\"index\":0,\"status\":\"ok\",\"exit_code\":0}\r\n";
  const auto g = mmlab::interpret_guest(mmlab::Kernel::kLinuxPae, 33, false, console, "", "lat_proc", true, 60);
  EXPECT_EQ(g.status, "ok") << g.reason;
  EXPECT_EQ(g.guest_counters["vmstat"]["pgfault"], 90);
  EXPECT_EQ(g.guest_counters["self_stat"]["cminflt"], 75);
  EXPECT_EQ(g.metrics["median"], 700);
  EXPECT_TRUE(g.leak.is_null());
}

TEST(Initrd, AUsersBinaryIsAppendedAsASecondArchive) {
  const std::string dir = std::filesystem::temp_directory_path() / ("mmlab-initrd-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  // A base archive with one file, as mkinitrd.py writes it.
  std::string base;
  formats::cpio_append(&base, "init", 0100755, "INIT", 1);
  formats::cpio_append_trailer(&base);
  ASSERT_TRUE(mmlab::write_file_atomic(dir + "/base.cpio", base));
  ASSERT_TRUE(mmlab::write_file_atomic(dir + "/myprog",
                                       "\x7f"
                                       "ELF-not-really"));
  ASSERT_TRUE(mmlab::write_initrd_with(
      dir + "/base.cpio", {{"/bin/myprog", dir + "/myprog"}, {"/data/deep/x", dir + "/myprog"}}, dir + "/out.cpio"));
  const std::string out = *mmlab::read_file(dir + "/out.cpio");
  formats::CpioReader r(reinterpret_cast<const uint8_t*>(out.data()), static_cast<uint32_t>(out.size()));
  formats::CpioEntry e;
  std::vector<std::string> names;
  std::string prog;
  while (r.next(&e)) {
    names.emplace_back(e.name, e.name_len);
    if (names.back() == "bin/myprog") prog.assign(reinterpret_cast<const char*>(e.data), e.size);
  }
  EXPECT_EQ(r.error(), nullptr);
  // The directories above each file come first, once each.
  EXPECT_EQ(names, (std::vector<std::string>{"init", "bin", "bin/myprog", "data", "data/deep", "data/deep/x"}));
  EXPECT_EQ(prog,
            "\x7f"
            "ELF-not-really");
  EXPECT_EQ(mmlab::initrd_workloads(dir + "/out.cpio"), (std::vector<std::string>{"myprog"}));
  // A guest path must be absolute and name a file.
  EXPECT_FALSE(mmlab::write_initrd_with(dir + "/base.cpio", {{"bin/rel", dir + "/myprog"}}, dir + "/bad.cpio"));
  EXPECT_FALSE(mmlab::write_initrd_with(dir + "/base.cpio", {{"/bin/", dir + "/myprog"}}, dir + "/bad.cpio"));
  EXPECT_FALSE(mmlab::write_initrd_with(dir + "/base.cpio", {{"/bin/x", dir + "/missing"}}, dir + "/bad.cpio"));
  std::filesystem::remove_all(dir);
}

// KVM exits by reason: the reason tables of both vendors and the
// tracepoint filter each counter gets. (This host's KVM cannot run a PAE
// guest, so the counters themselves have not run here.)
TEST(HostCounters, KvmExitReasonsPerVendorAndTheirFilters) {
  const auto& vmx = mmlab::kvm_exit_reasons(false);
  const auto& svm = mmlab::kvm_exit_reasons(true);
  auto code_of = [](const std::vector<mmlab::ExitReason>& v, const std::string& name) -> int64_t {
    for (const auto& r : v)
      if (name == r.name) return r.code;
    return -1;
  };
  EXPECT_EQ(code_of(vmx, "IO_INSTRUCTION"), 30);  // Intel SDM vol. 3, Appendix C
  EXPECT_EQ(code_of(vmx, "EPT_VIOLATION"), 48);
  EXPECT_EQ(code_of(vmx, "HLT"), 12);
  EXPECT_EQ(code_of(svm, "IOIO"), 0x7b);  // AMD APM vol. 2, Appendix C
  EXPECT_EQ(code_of(svm, "NPF"), 0x400);
  EXPECT_EQ(code_of(svm, "HLT"), 0x78);
  std::set<std::string> names;
  for (const auto& r : vmx) EXPECT_TRUE(names.insert(r.name).second) << r.name;
  EXPECT_EQ(mmlab::kvm_exit_filter(30), "exit_reason == 30");
  EXPECT_EQ(mmlab::kvm_exit_filter(0x400), "exit_reason == 1024");
}

TEST(ResultSet, RefusesAnExistingSetWithoutResumeAndSkipsAHalfLine) {
  const std::string dir = std::filesystem::temp_directory_path() / ("mmlab-rs-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    mmlab::ResultSet rs(dir, false);
    rs.append(json{{"key", "a"}, {"status", "ok"}});
    rs.append(json{{"key", "b"}, {"status", "failed"}});
  }
  // A killed writer's half line.
  {
    std::ofstream f(dir + "/cells.jsonl", std::ios::app);
    f << "{\"key\": \"c\", \"sta";
  }
  EXPECT_THROW(mmlab::ResultSet(dir, false), std::runtime_error);
  {
    mmlab::ResultSet rs(dir, true);
    EXPECT_EQ(rs.done(), (std::set<std::string>{"a", "b"}));
    EXPECT_EQ(rs.skipped_lines(), 1u);
    rs.append(json{{"key", "c"}, {"status", "ok"}});
  }
  uint32_t skipped = 0;
  const auto cells = mmlab::read_cells(dir + "/cells.jsonl", &skipped);
  ASSERT_EQ(cells.size(), 3u);  // the half line stays, skipped; the new record starts on a line of its own
  EXPECT_EQ(cells[2]["key"], "c");
  EXPECT_EQ(skipped, 1u);
  std::filesystem::remove_all(dir);
}

TEST(ResultSet, AnUnwritableDirectoryIsAClearError) {
  try {
    mmlab::ResultSet rs("/proc/mmlab-cannot-be-here", false);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/mmlab-cannot-be-here"), std::string::npos) << e.what();
  }
}

}  // namespace
