// Bochs, the second x86 (loader/src/bochs.h), on fixed inputs: the verdict
// read from the exit record, what a Bochs boot refuses, the files it writes,
// and the emulator in matrices, cell keys and the boot-test list.
#include "bochs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "boot_tests.h"
#include "matrix.h"
#include "util.h"

namespace {

using mmlab::Emulator;
using mmlab::VmSpec;

constexpr const char* kPass = R"({"v":1,"type":"exit","verdict":"pass","code":16})";
constexpr const char* kFail = R"({"v":1,"type":"exit","verdict":"fail","code":17})";
constexpr const char* kLeak = R"({"v":1,"type":"leak","init_status":0})";

TEST(BochsVerdict, TheLastExitRecordDecidesAndNoRecordNeverPasses) {
  using mmlab::bochs_exit_status;
  // Bochs leaves through its shutdown port with status 1 whatever the verdict.
  EXPECT_EQ(bochs_exit_status(1, std::string(kLeak) + "\n" + kPass + "\n"), 33);
  EXPECT_EQ(bochs_exit_status(1, std::string(kLeak) + "\n" + kFail + "\n"), 35);
  EXPECT_EQ(bochs_exit_status(1, std::string(kPass) + "\n" + kFail + "\n"), 35);  // a panic while exiting
  // No verdict: Bochs's own status, never 33 or 35 (a pass or a fail it did not say).
  EXPECT_EQ(bochs_exit_status(1, kLeak), 1);
  EXPECT_EQ(bochs_exit_status(0, ""), 0);
  EXPECT_EQ(bochs_exit_status(33, ""), 1);
  EXPECT_EQ(bochs_exit_status(35, "not json \"exit\"\n"), 1);
  EXPECT_EQ(bochs_exit_status(1, R"({"v":1,"type":"exit","verdict":"maybe"})"), 1);
  // Killed at the deadline: a timeout, whatever it wrote.
  EXPECT_EQ(bochs_exit_status(-1, kPass), -1);
  // QEMU's status is its own.
  VmSpec q;
  EXPECT_EQ(mmlab::verdict_exit_status(q, 33, kFail), 33);
  VmSpec b{.emulator = Emulator::kBochs};
  EXPECT_EQ(mmlab::verdict_exit_status(b, 1, kFail), 35);
}

TEST(BochsSpec, RefusesWhatBochsCannotDo) {
  auto refused = [](VmSpec s) {
    s.emulator = Emulator::kBochs;
    try {
      mmlab::check_spec(s);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(refused(VmSpec{}), "");
  EXPECT_EQ(refused(VmSpec{.vcpus = 8}), "");
  EXPECT_NE(refused(VmSpec{.kernel = mmlab::Kernel::kLinuxPae}).find("mmlab kernel only"), std::string::npos);
  EXPECT_NE(refused(VmSpec{.kvm = true}).find("KVM"), std::string::npos);
  EXPECT_NE(refused(VmSpec{.icount = true}).find("-icount"), std::string::npos);
  EXPECT_NE(refused(VmSpec{.vcpus = 9}).find("at most 8"), std::string::npos);
  EXPECT_NE(refused(VmSpec{.sockets = 2}).find("socket"), std::string::npos);
  EXPECT_NE(refused(VmSpec{.acpi = false}).find("ACPI"), std::string::npos);
  EXPECT_NE(refused(VmSpec{.debug_exit = false}).find("exit record"), std::string::npos);
  EXPECT_NE(refused(VmSpec{.tlb_model = true}).find("plugin"), std::string::npos);
  EXPECT_NE(refused(VmSpec{.init_args = {"it's"}}).find("GRUB would rewrite"), std::string::npos);
  EXPECT_NE(refused(VmSpec{.kernel_args = {"a\\b"}}).find("GRUB would rewrite"), std::string::npos);
  EXPECT_EQ(refused(VmSpec{.init_args = {"-c", "/tests/t_fork && /hello"}}), "");  // spaces: GRUB quotes them
}

TEST(BochsPrepare, WritesTheIsoTheGrubCfgAndTheBochsrc) {
  const std::string dir = "/tmp/mmlab-bochs-test-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  struct Remove {
    std::string path;
    ~Remove() { std::filesystem::remove_all(path); }
  } remove{dir};
  ASSERT_TRUE(mmlab::write_file_atomic(dir + "/k.elf", "not really a kernel"));
  ASSERT_TRUE(mmlab::write_file_atomic(dir + "/i.cpio", "not really an initrd"));
  VmSpec s{.emulator = Emulator::kBochs, .vcpus = 2, .memory_mb = 512};
  s.toggles = {{"mm.pmd_prealloc", "off"}};
  s.kernel_args = {"mm.fail_alloc=40"};
  s.init_args = {"/bin/sh", "-c", "/tests/t_fork && $HOME"};
  s.kernel_image = dir + "/k.elf";
  s.initrd = dir + "/i.cpio";
  s.console_path = dir + "/console.log";
  s.records_path = dir + "/records.jsonl";
  const auto argv = mmlab::bochs_prepare(s, dir);
  EXPECT_EQ(argv, (std::vector<std::string>{"bochs", "-q", "-f", dir + "/bochsrc", "-rc", dir + "/debugger.rc"}));
  EXPECT_EQ(mmlab::read_file(dir + "/debugger.rc").value_or(""), "c\n");
  EXPECT_TRUE(std::filesystem::exists(dir + "/mmlab.iso"));
  const std::string cfg = mmlab::read_file(dir + "/iso/boot/grub/grub.cfg").value_or("");
  EXPECT_NE(cfg.find("multiboot /boot/kernel.elf 'mm.pmd_prealloc=off' 'init=/init' 'mm.fail_alloc=40' '--' "
                     "'/bin/sh' '-c' '/tests/t_fork && $HOME'\n"),
            std::string::npos)
      << cfg;
  EXPECT_NE(cfg.find("module /boot/initrd.cpio"), std::string::npos) << cfg;
  const std::string rc = mmlab::read_file(dir + "/bochsrc").value_or("");
  for (const std::string& line :
       {std::string("megs: 512\n"), std::string("count=2,"),
        "com1: enabled=1, mode=file, dev=" + dir + "/console.log\n",
        "com2: enabled=1, mode=file, dev=" + dir + "/records.jsonl\n",
        "ata0-master: type=cdrom, path=" + dir + "/mmlab.iso", std::string("clock: sync=none"),
        std::string("display_library: rfb, options=\"timeout=0\"")})
    EXPECT_NE(rc.find(line), std::string::npos) << line << "\n" << rc;
  mmlab::bochs_cleanup(dir);
  EXPECT_FALSE(std::filesystem::exists(dir + "/mmlab.iso"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/iso"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/bochsrc"));
}

TEST(BochsMatrix, TheEmulatorIsPartOfTheCellAndRefusedWhereItCannotRun) {
  const std::vector<std::string> known = {"lat_proc"};
  auto parse = [&](const std::string& text) { return mmlab::parse_matrix_text(text, "m.toml", known); };
  const std::string workload = "[[workload]]\nname = \"lat_proc\"\nargs = [\"exec\"]\n";
  const auto q = mmlab::expand(parse(workload));
  const auto b = mmlab::expand(parse("emulator = \"bochs\"\n" + workload));
  ASSERT_EQ(q.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].emulator, Emulator::kBochs);
  EXPECT_EQ(b[0].key(), "emulator=bochs " + q[0].key());  // QEMU keys stay as they were
  EXPECT_EQ(q[0].key().find("emulator"), std::string::npos);
  auto error = [&](const std::string& text) {
    try {
      parse(text + workload);
    } catch (const mmlab::MatrixError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error("emulator = \"vbox\"\n").find("m.toml:1: emulator: unknown value 'vbox'"), std::string::npos);
  EXPECT_NE(error("emulator = \"bochs\"\nkernel = [\"mmlab\", \"linux-pae\"]\n").find("mmlab kernel only"),
            std::string::npos);
  EXPECT_NE(error("emulator = \"bochs\"\naccel = \"kvm\"\n").find("accel cannot be kvm"), std::string::npos);
  EXPECT_NE(error("emulator = \"bochs\"\ndeterministic = true\n").find("-icount"), std::string::npos);
  EXPECT_NE(error("emulator = \"bochs\"\nvcpus = [16]\n").find("at most 8"), std::string::npos);
}

TEST(BochsBootTestList, TheEmulatorKey) {
  const std::string path = "/tmp/mmlab-bochs-list-" + std::to_string(::getpid()) + ".toml";
  struct Remove {
    std::string path;
    ~Remove() { std::remove(path.c_str()); }
  } remove{path};
  const mmlab::GuestPaths p{.mmlab_kernel = "K", .initrd = "W", .test_initrd = "T"};
  ASSERT_TRUE(
      mmlab::write_file_atomic(path, "[a]\nemulator = \"bochs\"\ncases = { vcpus = [1, 2] }\n[b]\ninit = \"/x\"\n"));
  const auto tests = mmlab::read_boot_tests(path, p);
  ASSERT_EQ(tests.size(), 3u);
  EXPECT_EQ(tests[0].boots[0].spec.emulator, Emulator::kBochs);
  EXPECT_EQ(tests[1].boots[0].spec.emulator, Emulator::kBochs);
  EXPECT_EQ(tests[2].boots[0].spec.emulator, Emulator::kQemu);
  EXPECT_EQ(mmlab::boot_test_json(tests[0])["boots"][0]["emulator"], "bochs");
  for (const auto& [text, says] : std::vector<std::pair<std::string, std::string>>{
           {"[a]\nemulator = \"vbox\"\n", "emulator: 'vbox' is neither qemu nor bochs"},
           {"[a]\nemulator = \"bochs\"\nkernel = \"linux-pae\"\n", "mmlab kernel only"},
           {"[a]\nemulator = \"bochs\"\ndeterministic = true\n", "-icount"}}) {
    ASSERT_TRUE(mmlab::write_file_atomic(path, text));
    try {
      mmlab::read_boot_tests(path, p);
      ADD_FAILURE() << text;
    } catch (const mmlab::MatrixError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  }
}

}  // namespace
