// The loader's side of the TLB-model plugin (loader/plugin, docs/tlb-model.md):
// checking a geometry before QEMU starts, reading what the plugin wrote, and
// pairing its checkpoints with the guest's counters records.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "guest.h"

namespace mmlab {

// The plugin's KEY=VALUE geometry words from `--tlb-geometry` values (each
// may hold several, comma-separated: "itlb=64:4,stlb=512:4"), checked by the
// plugin's own parser. Throws std::runtime_error saying what is wrong.
std::vector<std::string> tlb_geometry_words(const std::vector<std::string>& specs);

// What the plugin wrote (JSON lines: a header, checkpoints, a final line).
struct TlbOutput {
  nlohmann::json header;                    // null if missing
  std::vector<nlohmann::json> checkpoints;  // in order
  nlohmann::json final;                     // null if QEMU did not exit normally
  uint32_t malformed = 0;                   // lines that were none of these
};
TlbOutput read_tlb_output(const std::string& text);

// Gives the k-th counters record of `records` the k-th checkpoint as its
// "host" object (docs/records.md): the cumulative counts per vCPU, their
// total, and which vCPU ran the marker; then appends one `tlb_model` record
// (the plugin's header and final line, and how many checkpoints and counters
// records there were). `plugin_text` is the plugin's output file, empty if
// it wrote none.
void pair_tlb_checkpoints(const std::string& plugin_text, GuestRecords* records);

// The guest counters that count CR3 loads (their sum is what the host must
// see) and INVLPGs, on the mmlab kernel.
extern const std::vector<std::string> kGuestCr3Counters;
extern const char* const kGuestInvlpgCounter;

// The counts of one cell's window, between the counters records labelled
// `from` and `to` (the first program's before:0:NAME to the last one's
// after:I:NAME, the same window as the guest counters' deltas) from records that pair_tlb_checkpoints has paired: the
// object a cell record carries as "tlb_model" (docs/records.md). Its "status" is "ok", or "unavailable" with a "reason"
// (the plugin wrote nothing, the checkpoints do not pair, a snapshot is missing).
nlohmann::json tlb_window(const GuestRecords& records, const std::string& from, const std::string& to,
                          const std::string& qemu_log);

// A cell's "tlb_model" object when the run did not load the model: why.
nlohmann::json tlb_unavailable(const std::string& reason);

// Whether QEMU loads the plugin (with `geometry`'s words) and its
// checkpoints pair with the counters records: one small TCG boot of /hello
// on our kernel (about a second), the cheapest check of the whole path (a
// QEMU without plugin support refuses -plugin; a plugin built against
// another API version is refused at load). `doctor` and `mmlab run` use it.
struct TlbProbe {
  bool ok = false;
  std::string why;        // what worked, or why not
  nlohmann::json header;  // the plugin's header line (its parameters), null if none
};
TlbProbe probe_tlb_plugin(const GuestPaths& paths, const std::vector<std::string>& geometry);

// A table of the pairing, one row per counters record: the window since the
// previous record, host (modelled) counts beside the guest's.
std::string tlb_pairing_table(const GuestRecords& records);

}  // namespace mmlab
