// The loader's side of the TLB-model plugin on fixed inputs: the -plugin
// argument, the geometry check, reading the plugin's lines and pairing its
// checkpoints with the counters records, and the boot-test expectation.
#include "tlb_plugin.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "boot_tests.h"
#include "guest.h"

namespace {

using mmlab::VmSpec;
using nlohmann::json;

std::string arg_after(const std::vector<std::string>& argv, const std::string& flag) {
  const auto it = std::find(argv.begin(), argv.end(), flag);
  return it == argv.end() || it + 1 == argv.end() ? "" : *(it + 1);
}

TEST(TlbPlugin, QemuLoadsItWithTheOutputFileAndGeometry) {
  VmSpec s{.tlb_model = true, .tlb_plugin = "/b/lib/libmmlab_tlb.so", .tlb_args = {"stlb=512:4", "pde=0"}};
  s.tlb_out_path = "/tmp/x,y/tlb.jsonl";  // QEMU's option syntax doubles a comma
  EXPECT_EQ(arg_after(mmlab::qemu_argv(s), "-plugin"),
            "/b/lib/libmmlab_tlb.so,out=/tmp/x,,y/tlb.jsonl,stlb=512:4,pde=0");
  s.tlb_model = false;
  EXPECT_EQ(arg_after(mmlab::qemu_argv(s), "-plugin"), "");
  // Under KVM no plugin sees the guest: refused.
  VmSpec k{.kvm = true, .tlb_model = true};
  try {
    mmlab::qemu_argv(k);
    ADD_FAILURE() << "the TLB model under KVM was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("TCG plugin"), std::string::npos) << e.what();
  }
}

TEST(TlbPlugin, GeometryIsCheckedBeforeQemuStarts) {
  EXPECT_EQ(mmlab::tlb_geometry_words({"itlb=64:4, stlb=512:4", "pde=8"}),
            (std::vector<std::string>{"itlb=64:4", "stlb=512:4", "pde=8"}));
  EXPECT_TRUE(mmlab::tlb_geometry_words({}).empty());
  auto message = [](std::vector<std::string> specs) {
    try {
      mmlab::tlb_geometry_words(specs);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message({"dtlb=96:4"}).find("--tlb-geometry: dtlb 96:4: 24 sets"), std::string::npos);
  EXPECT_NE(message({"out=/tmp/x"}).find("the loader chooses"), std::string::npos);
  EXPECT_NE(message({"stlb=lots"}).find("expected ENTRIES:WAYS"), std::string::npos);
  EXPECT_NE(message({"l2=1:1"}).find("unknown argument 'l2'"), std::string::npos);
}

const char* kPluginOutput =
    "{\"type\":\"header\",\"plugin\":\"mmlab_tlb\",\"version\":1}\n"
    "{\"type\":\"checkpoint\",\"index\":0,\"vcpu\":0,\"vcpus\":[{\"insns\":100,\"cr3_writes\":3,\"invlpg\":5},"
    "{\"insns\":10,\"cr3_writes\":2,\"invlpg\":0}]}\n"
    "{\"type\":\"checkpoint\",\"index\":1,\"vcpu\":1,\"vcpus\":[{\"insns\":300,\"cr3_writes\":9,\"invlpg\":7},"
    "{\"insns\":50,\"cr3_writes\":4,\"invlpg\":1}]}\n"
    "{\"type\":\"final\",\"checkpoints\":2,\"vcpus\":[{\"insns\":400,\"cr3_writes\":10,\"invlpg\":7},"
    "{\"insns\":60,\"cr3_writes\":4,\"invlpg\":1}]}\n"
    "{\"type\":\"checkp";  // a line cut short

std::string counters(const std::string& label, int cr3_switch, int cr3_boot, int invlpg) {
  return "{\"v\":1,\"type\":\"counters\",\"label\":\"" + label +
         "\",\"mm\":{\"cr3_switch\":" + std::to_string(cr3_switch) +
         ",\"cr3_reload_pdpte\":0,\"tlb_flush_all\":0,\"cr3_boot\":" + std::to_string(cr3_boot) +
         ",\"tlb_flush_page\":" + std::to_string(invlpg) + "}}\n";
}

TEST(TlbPlugin, CheckpointsPairWithCountersRecordsInOrder) {
  const mmlab::TlbOutput out = mmlab::read_tlb_output(kPluginOutput);
  EXPECT_EQ(out.header["plugin"], "mmlab_tlb");
  EXPECT_EQ(out.checkpoints.size(), 2u);
  EXPECT_EQ(out.final["checkpoints"], 2);
  EXPECT_EQ(out.malformed, 1u);

  mmlab::GuestRecords r =
      mmlab::read_records(mmlab::Kernel::kMmlab, "",
                          "{\"v\":1,\"type\":\"boot\"}\n" + counters("init", 1, 4, 5) + counters("shutdown", 9, 4, 8));
  mmlab::pair_tlb_checkpoints(kPluginOutput, &r);
  ASSERT_EQ(r.records.size(), 4u);
  const json& first = r.records[1]["host"];
  EXPECT_EQ(first["checkpoint"], 0);
  EXPECT_EQ(first["marker_vcpu"], 0);
  EXPECT_EQ(first["modelled"], true);
  EXPECT_EQ(first["total"]["cr3_writes"], 5u);
  EXPECT_EQ(first["total"]["insns"], 110u);
  EXPECT_EQ(first["vcpus"][1]["cr3_writes"], 2);
  EXPECT_EQ(r.records[2]["host"]["marker_vcpu"], 1);
  EXPECT_EQ(r.records[2]["host"]["total"]["invlpg"], 8u);
  const json& summary = r.records[3];
  EXPECT_EQ(summary["type"], "tlb_model");
  EXPECT_EQ(summary["paired"], true);
  EXPECT_EQ(summary["checkpoints"], 2u);
  EXPECT_EQ(summary["counters_records"], 2u);
  EXPECT_EQ(summary["final"]["total"]["insns"], 460u);
  EXPECT_EQ(summary["header"]["version"], 1);

  // The table: each window's host counts beside the guest's.
  const std::string table = mmlab::tlb_pairing_table(r);
  EXPECT_NE(table.find("5/5"), std::string::npos) << table;  // CR3 in the first window: 3 + 2 and 1 + 4
  EXPECT_NE(table.find("8/8"), std::string::npos) << table;  // then 13 - 5 and 8 + 0
  EXPECT_NE(table.find("3/3"), std::string::npos) << table;  // INVLPG in the second window
  EXPECT_NE(table.find("2 checkpoints for 2 counters records;"), std::string::npos) << table;

  // More counters records than checkpoints (a plugin that did not run to the end): not paired, said so.
  mmlab::GuestRecords more = mmlab::read_records(
      mmlab::Kernel::kMmlab, "", counters("a", 0, 0, 0) + counters("b", 0, 0, 0) + counters("c", 0, 0, 0));
  mmlab::pair_tlb_checkpoints(kPluginOutput, &more);
  EXPECT_FALSE(more.records[2].contains("host"));
  EXPECT_EQ(more.records[3]["paired"], false);
  EXPECT_NE(mmlab::tlb_pairing_table(more).find("NOT PAIRED"), std::string::npos);
  // No output at all (the plugin never loaded).
  mmlab::GuestRecords none = mmlab::read_records(mmlab::Kernel::kMmlab, "", counters("a", 0, 0, 0));
  mmlab::pair_tlb_checkpoints("", &none);
  EXPECT_EQ(none.records[1]["checkpoints"], 0u);
  EXPECT_TRUE(none.records[1]["header"].is_null());
}

TEST(TlbPlugin, ACellsWindowIsTheProgramsBeforeAndAfterRecords) {
  // Checkpoint 0 pairs with before:0:p, 1 with after:0:p: the window is their difference.
  mmlab::GuestRecords r =
      mmlab::read_records(mmlab::Kernel::kMmlab, "", counters("before:0:p", 1, 4, 5) + counters("after:0:p", 9, 4, 8));
  mmlab::pair_tlb_checkpoints(kPluginOutput, &r);
  const json w = mmlab::tlb_window(r, "before:0:p", "after:0:p", "");
  EXPECT_EQ(w["status"], "ok") << w.dump();
  EXPECT_EQ(w["modelled"], true);
  EXPECT_EQ(w["window"]["from"], "before:0:p");
  EXPECT_EQ(w["counts"]["insns"], 240u);     // (300 + 50) - (100 + 10)
  EXPECT_EQ(w["counts"]["cr3_writes"], 8u);  // 13 - 5
  EXPECT_EQ(w["counts"]["invlpg"], 3u);
  EXPECT_EQ(w["vcpus"].size(), 2u);
  EXPECT_EQ(w["vcpus"][1]["cr3_writes"], 2u);
  // Unavailable, with the reason, never zeros: no output, checkpoints that do not pair, no window.
  mmlab::GuestRecords none = mmlab::read_records(mmlab::Kernel::kMmlab, "", counters("before:0:p", 0, 0, 0));
  mmlab::pair_tlb_checkpoints("", &none);
  const json n = mmlab::tlb_window(none, "before:0:p", "after:0:p", "qemu-system-i386: Could not load plugin x.so\n");
  EXPECT_EQ(n["status"], "unavailable");
  EXPECT_FALSE(n.contains("counts"));
  EXPECT_NE(n["reason"].get<std::string>().find("did not load: qemu-system-i386: Could not load plugin x.so"),
            std::string::npos)
      << n.dump();
  mmlab::GuestRecords three =
      mmlab::read_records(mmlab::Kernel::kMmlab, "",
                          counters("before:0:p", 0, 0, 0) + counters("x", 0, 0, 0) + counters("after:0:p", 0, 0, 0));
  mmlab::pair_tlb_checkpoints(kPluginOutput, &three);
  EXPECT_NE(mmlab::tlb_window(three, "before:0:p", "after:0:p", "")["reason"].get<std::string>().find(
                "2 checkpoints for 3 counters records"),
            std::string::npos);
  EXPECT_NE(mmlab::tlb_window(r, "before:0:q", "after:0:q", "")["reason"].get<std::string>().find(
                "no before:0:q / after:0:q"),
            std::string::npos);
  EXPECT_EQ(mmlab::tlb_unavailable("why")["reason"], "why");
}

// start=marker (the default): the first checkpoint starts the model (its model counts are zero), so the window
// that ends there has none, and every later one has them.
const char* kMarkerStartOutput =
    "{\"type\":\"header\",\"plugin\":\"mmlab_tlb\",\"version\":1,\"start\":\"marker\"}\n"
    "{\"type\":\"checkpoint\",\"index\":0,\"vcpu\":0,\"model_starts\":true,\"vcpus\":[{\"insns\":100,"
    "\"cr3_writes\":3,\"invlpg\":5,\"stlb_misses\":0,\"walk_refs\":0}]}\n"
    "{\"type\":\"checkpoint\",\"index\":1,\"vcpu\":0,\"vcpus\":[{\"insns\":300,\"cr3_writes\":9,"
    "\"invlpg\":7,\"stlb_misses\":41,\"walk_refs\":53}]}\n";

TEST(TlbPlugin, TheModelStartsAtTheFirstMarker) {
  mmlab::GuestRecords r =
      mmlab::read_records(mmlab::Kernel::kMmlab, "", counters("init", 1, 2, 5) + counters("before:0:p", 7, 2, 7));
  mmlab::pair_tlb_checkpoints(kMarkerStartOutput, &r);
  EXPECT_EQ(r.records[0]["host"]["model_starts"], true);
  EXPECT_FALSE(r.records[1]["host"].contains("model_starts"));
  EXPECT_EQ(r.records[2]["header"]["start"], "marker");
  const std::string table = mmlab::tlb_pairing_table(r);
  // The first window (from QEMU's start): instructions, CR3 and INVLPG, no model counts; the second: all.
  EXPECT_NE(table.find("100         3/3           5/5         -         -         -          -"), std::string::npos)
      << table;
  EXPECT_NE(table.find("41         53"), std::string::npos) << table;
  const json w = mmlab::tlb_window(r, "init", "before:0:p", "");
  EXPECT_EQ(w["counts"]["stlb_misses"], 41u);
  // A window whose start has no model counts leaves them out rather than counting from zero.
  mmlab::GuestRecords old = r;
  old.records[0]["host"]["total"].erase("stlb_misses");
  EXPECT_FALSE(mmlab::tlb_window(old, "init", "before:0:p", "")["counts"].contains("stlb_misses"));
  EXPECT_EQ(mmlab::tlb_window(old, "init", "before:0:p", "")["counts"]["insns"], 200u);
  // Without "start" in the header (plugins before it, and start=boot) the first window is modelled too.
  r.records[2]["header"].erase("start");
  EXPECT_EQ(mmlab::tlb_pairing_table(r).find("        -"), std::string::npos) << mmlab::tlb_pairing_table(r);
}

TEST(TlbPlugin, ABootTestWithTheModelNeedsPairedCheckpoints) {
  mmlab::BootExpect e{.clean = false};
  e.tlb_paired = true;
  mmlab::BootResult r;
  r.status = "success";
  r.records = mmlab::read_records(mmlab::Kernel::kMmlab, "", counters("a", 0, 0, 0) + counters("b", 0, 0, 0));
  EXPECT_EQ(mmlab::unmet(e, r), (std::vector<std::string>{"no tlb_model record: the TLB-model plugin did not run"}));
  mmlab::BootResult paired = r;
  mmlab::pair_tlb_checkpoints(kPluginOutput, &paired.records);
  EXPECT_EQ(mmlab::unmet(e, paired), std::vector<std::string>{});
  r.records.records.pop_back();
  mmlab::pair_tlb_checkpoints(kPluginOutput, &r.records);
  EXPECT_EQ(mmlab::unmet(e, r),
            (std::vector<std::string>{"the TLB-model plugin wrote 2 checkpoints for 1 counters records"}));
}

}  // namespace
