// The TLB-model plugin's arguments (docs/tlb-model.md), parsed by the plugin
// and, for the geometry, by the loader before it starts QEMU, so a bad
// geometry gets the same message on both sides. QEMU hands a plugin its
// `-plugin PATH,KEY=VALUE,...` options as "KEY=VALUE" words:
//   out=PATH           where the JSON lines go (required)
//   itlb=ENTRIES:WAYS  dtlb=ENTRIES:WAYS  stlb=ENTRIES:WAYS
//   pde=ENTRIES        the PDE cache (fully associative; 0: none)
//   global=kernel|none kernel: translations of VA >= 0xC0000000 survive CR3
//                      writes; none: nothing does
//   start=marker|boot  marker (the default): the model starts at the first
//                      window marker (/init's first counters record), before
//                      it only instructions, CR3/CR4 writes, INVLPGs and
//                      markers are counted; boot: from QEMU's first instruction
#pragma once

#include <string>
#include <vector>

#include "tlb_model.h"

namespace mmlab::tlb {

// When the TLB model starts feeding on the guest's fetches and accesses.
enum class ModelStart { kMarker, kBoot };

struct PluginOptions {
  Config model;
  ModelStart start = ModelStart::kMarker;
  std::string out;
};

const char* to_string(ModelStart s);

// Applies one KEY=VALUE word to `o`. Empty when it applied; else why not.
// `geometry_only`: out= is refused (the loader chooses the output file).
std::string apply_arg(const std::string& word, PluginOptions* o, bool geometry_only = false);

// All of `words`, then the checks of the whole: the geometry (validate) and,
// unless `geometry_only`, an out= word. Empty when all is well.
std::string parse_args(const std::vector<std::string>& words, PluginOptions* o, bool geometry_only = false);

// The model's configuration as a JSON object (the plugin's header line).
std::string config_json(const Config& c);

}  // namespace mmlab::tlb
