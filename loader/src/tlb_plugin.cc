#include "tlb_plugin.h"

#include <fmt/format.h>

#include <sstream>
#include <stdexcept>

#include "plugin_args.h"
#include "util.h"

namespace mmlab {

using nlohmann::json;

const std::vector<std::string> kGuestCr3Counters = {"cr3_switch", "cr3_reload_pdpte", "tlb_flush_all", "cr3_boot"};
const char* const kGuestInvlpgCounter = "tlb_flush_page";

std::vector<std::string> tlb_geometry_words(const std::vector<std::string>& specs) {
  std::vector<std::string> words;
  for (const std::string& spec : specs) {
    std::istringstream in(spec);
    for (std::string w; std::getline(in, w, ',');)
      if (!trim(w).empty()) words.push_back(trim(w));
  }
  tlb::PluginOptions o;
  if (const std::string why = tlb::parse_args(words, &o, true); !why.empty())
    throw std::runtime_error(fmt::format("--tlb-geometry: {} (docs/tlb-model.md)", why));
  return words;
}

TlbOutput read_tlb_output(const std::string& text) {
  TlbOutput out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (trim(line).empty()) continue;
    json j = json::parse(line, nullptr, false);
    const std::string type = str_of(j, "type");
    if (type == "header" && out.header.is_null())
      out.header = std::move(j);
    else if (type == "checkpoint")
      out.checkpoints.push_back(std::move(j));
    else if (type == "final")
      out.final = std::move(j);
    else
      ++out.malformed;  // a line cut by a killed QEMU, or anything else
  }
  return out;
}

namespace {

// The per-vCPU counts summed (every numeric field).
json total_of(const json& vcpus) {
  json t = json::object();
  if (!vcpus.is_array()) return t;
  for (const json& v : vcpus) {
    if (!v.is_object()) continue;
    for (auto it = v.begin(); it != v.end(); ++it)
      if (it->is_number_unsigned()) t[it.key()] = t.value(it.key(), uint64_t{0}) + it->get<uint64_t>();
  }
  return t;
}

uint64_t u64(const json& j, const std::string& key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<uint64_t>() : 0;
}

const json& field(const json& j, const char* key) {
  static const json kNone;
  const auto it = j.find(key);
  return it != j.end() ? *it : kNone;
}

}  // namespace

void pair_tlb_checkpoints(const std::string& plugin_text, GuestRecords* records) {
  const TlbOutput out = read_tlb_output(plugin_text);
  size_t k = 0, counters = 0;
  for (json& r : records->records) {
    if (str_of(r, "type") != "counters") continue;
    ++counters;
    if (k >= out.checkpoints.size()) continue;
    const json& c = out.checkpoints[k];
    r["host"] = {{"source", "tlb_model"},
                 {"modelled", true},
                 {"checkpoint", k},
                 {"marker_vcpu", int_of(c, "vcpu", -1)},
                 {"total", total_of(field(c, "vcpus"))},
                 {"vcpus", field(c, "vcpus")}};
    ++k;
  }
  json rec = {{"v", 1},
              {"type", "tlb_model"},
              {"modelled", true},
              {"header", out.header},
              {"checkpoints", out.checkpoints.size()},
              {"counters_records", counters},
              {"paired", out.checkpoints.size() == counters},
              {"malformed_lines", out.malformed}};
  if (!out.final.is_null())
    rec["final"] = {{"vcpus", field(out.final, "vcpus")}, {"total", total_of(field(out.final, "vcpus"))}};
  records->records.push_back(std::move(rec));
}

std::string tlb_pairing_table(const GuestRecords& records) {
  std::string s =
      fmt::format("{:<24} {:>4} {:>12} {:>11} {:>13} {:>9} {:>9} {:>9} {:>10}\n", "window ending at", "vcpu", "insns",
                  "CR3 h/g", "INVLPG h/g", "iTLB miss", "dTLB miss", "STLB miss", "walk refs");
  json prev_host = json::object(), prev_mm = json::object();
  for (const json& r : records.records) {
    const std::string type = str_of(r, "type");
    if (type == "tlb_model")
      s += fmt::format("{} checkpoints for {} counters records{}; host counts are modelled (docs/tlb-model.md)\n",
                       int_of(r, "checkpoints", 0), int_of(r, "counters_records", 0),
                       bool_of(r, "paired", false) ? "" : ": NOT PAIRED");
    if (type != "counters" || !r.contains("host")) continue;
    const json& h = field(r["host"], "total");
    const json& mm = field(r, "mm");
    auto d = [&](const std::string& key) { return u64(h, key) - u64(prev_host, key); };
    auto g = [&](const std::string& key) { return u64(mm, key) - u64(prev_mm, key); };
    uint64_t cr3_guest = 0;
    for (const std::string& c : kGuestCr3Counters) cr3_guest += g(c);
    const bool has_mm = mm.is_object();
    const std::string cr3 =
        has_mm ? fmt::format("{}/{}", d("cr3_writes"), cr3_guest) : fmt::format("{}/-", d("cr3_writes"));
    const std::string inv =
        has_mm ? fmt::format("{}/{}", d("invlpg"), g(kGuestInvlpgCounter)) : fmt::format("{}/-", d("invlpg"));
    s +=
        fmt::format("{:<24} {:>4} {:>12} {:>11} {:>13} {:>9} {:>9} {:>9} {:>10}\n",
                    str_of(r, "label", "?").substr(0, 24), int_of(r["host"], "marker_vcpu", -1), d("insns"), cr3, inv,
                    d("itlb_misses"), d("dtlb_load_misses") + d("dtlb_store_misses"), d("stlb_misses"), d("walk_refs"));
    prev_host = h;
    if (has_mm) prev_mm = mm;
  }
  return s;
}

}  // namespace mmlab
