// The plugin's arguments, as QEMU hands them over ("KEY=VALUE" words), and as the loader checks a geometry.
#include "plugin_args.h"

#include <gtest/gtest.h>

namespace mmlab::tlb {
namespace {

TEST(PluginArgs, DefaultsWithAnOutputFile) {
  PluginOptions o;
  EXPECT_EQ(parse_args({"out=/tmp/x.jsonl"}, &o), "");
  EXPECT_EQ(o.out, "/tmp/x.jsonl");
  EXPECT_EQ(o.model.stlb.entries, 1536u);
  EXPECT_TRUE(o.model.kernel_global);
  EXPECT_EQ(o.start, ModelStart::kMarker);
  EXPECT_STREQ(to_string(o.start), "marker");
}

TEST(PluginArgs, EveryKey) {
  PluginOptions o;
  EXPECT_EQ(parse_args({"out=o", "itlb=64:4", "dtlb=32:2", "stlb=512:4", "pde=0", "global=none", "start=boot"}, &o),
            "");
  EXPECT_EQ(o.start, ModelStart::kBoot);
  EXPECT_EQ(o.model.itlb.entries, 64u);
  EXPECT_EQ(o.model.itlb.ways, 4u);
  EXPECT_EQ(o.model.dtlb.sets(), 16u);
  EXPECT_EQ(o.model.stlb.sets(), 128u);
  EXPECT_EQ(o.model.pde_cache, 0u);
  EXPECT_FALSE(o.model.kernel_global);
}

TEST(PluginArgs, BadWordsSayWhy) {
  auto err = [](std::vector<std::string> w, bool geometry_only = false) {
    PluginOptions o;
    return parse_args(w, &o, geometry_only);
  };
  EXPECT_NE(err({}).find("out=PATH is required"), std::string::npos);
  EXPECT_NE(err({"out="}).find("empty path"), std::string::npos);
  EXPECT_NE(err({"out=o", "dtlb=64"}).find("expected ENTRIES:WAYS"), std::string::npos);
  EXPECT_NE(err({"out=o", "dtlb=64:x"}).find("expected ENTRIES:WAYS"), std::string::npos);
  EXPECT_NE(err({"out=o", "dtlb=-64:4"}).find("expected ENTRIES:WAYS"), std::string::npos);
  EXPECT_NE(err({"out=o", "dtlb=96:4"}).find("power of two"), std::string::npos);
  EXPECT_NE(err({"out=o", "stlb=1536:7"}).find("multiple of the ways"), std::string::npos);
  EXPECT_NE(err({"out=o", "pde=lots"}).find("pde=lots"), std::string::npos);
  EXPECT_NE(err({"out=o", "pde=100000"}).find("at most 256"), std::string::npos);
  EXPECT_NE(err({"out=o", "global=user"}).find("kernel or none"), std::string::npos);
  EXPECT_NE(err({"out=o", "start=init"}).find("start=init: expected marker or boot"), std::string::npos);
  EXPECT_NE(err({"out=o", "l3tlb=1:1"}).find("unknown argument 'l3tlb'"), std::string::npos);
  EXPECT_NE(err({"out=o", "itlb"}).find("expected KEY=VALUE"), std::string::npos);
  // The loader's --tlb-geometry: no out=, and none needed.
  EXPECT_EQ(err({"stlb=2048:16", "start=boot"}, true), "");
  EXPECT_NE(err({"out=o"}, true).find("the loader chooses"), std::string::npos);
}

TEST(PluginArgs, ConfigJsonNamesEveryLevel) {
  const std::string j = config_json(Config{});
  EXPECT_NE(j.find("\"itlb\":{\"entries\":128,\"ways\":8,\"sets\":16}"), std::string::npos) << j;
  EXPECT_NE(j.find("\"stlb\":{\"entries\":1536,\"ways\":12,\"sets\":128}"), std::string::npos) << j;
  EXPECT_NE(j.find("\"pde_cache\":{\"entries\":32}"), std::string::npos) << j;
  EXPECT_NE(j.find("\"page_size\":4096"), std::string::npos) << j;
}

}  // namespace
}  // namespace mmlab::tlb
