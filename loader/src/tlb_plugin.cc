#include "tlb_plugin.h"

#include <fmt/format.h>

#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "boot.h"
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
    if (bool_of(c, "model_starts", false)) r["host"]["model_starts"] = true;
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

json tlb_unavailable(const std::string& reason) {
  return {{"source", "tlb_model"}, {"modelled", true}, {"status", "unavailable"}, {"reason", reason}};
}

json tlb_window(const GuestRecords& records, const std::string& from, const std::string& to,
                const std::string& qemu_log) {
  const json* model = nullptr;
  const json *before = nullptr, *after = nullptr;
  for (const json& r : records.records) {
    const std::string type = str_of(r, "type");
    if (type == "tlb_model") model = &r;
    if (type != "counters") continue;
    if (str_of(r, "label") == from) before = &r;
    if (str_of(r, "label") == to) after = &r;
  }
  if (!model || field(*model, "header").is_null()) {
    const std::string log = trim(qemu_log);
    return tlb_unavailable("the plugin wrote no header: it did not load" +
                           (log.empty() ? std::string(" (QEMU said nothing)") : ": " + log.substr(0, 300)));
  }
  json w = {{"source", "tlb_model"},
            {"modelled", true},
            {"status", "ok"},
            {"checkpoints", field(*model, "checkpoints")},
            {"counters_records", field(*model, "counters_records")},
            {"paired", field(*model, "paired")},
            {"malformed_lines", field(*model, "malformed_lines")}};
  auto unavailable = [&](const std::string& why) {
    w["status"] = "unavailable";
    w["reason"] = why;
    return w;
  };
  if (!bool_of(*model, "paired", false))
    return unavailable(
        fmt::format("{} checkpoints for {} counters records: they do not pair (the guest did not "
                    "finish, or something executed the marker twice)",
                    int_of(*model, "checkpoints", 0), int_of(*model, "counters_records", 0)));
  if (!before || !after || !before->contains("host") || !after->contains("host"))
    return unavailable(fmt::format("no {} / {} counters records to bound the window", from, to));
  const json &hb = (*before)["host"], &ha = (*after)["host"];
  // A count the window's start lacks (the model had not started) is left out.
  auto minus = [](const json& a, const json& b) {
    json d = json::object();
    for (auto it = a.begin(); it != a.end(); ++it)
      if (it->is_number_unsigned() && b.contains(it.key())) d[it.key()] = it->get<uint64_t>() - u64(b, it.key());
    return d;
  };
  w["window"] = {{"from", str_of(*before, "label")}, {"to", str_of(*after, "label")}};
  w["counts"] = minus(field(ha, "total"), field(hb, "total"));
  json vcpus = json::array();
  const json &va = field(ha, "vcpus"), &vb = field(hb, "vcpus");
  for (size_t i = 0; va.is_array() && i < va.size(); ++i)
    vcpus.push_back(minus(va[i], vb.is_array() && i < vb.size() ? vb[i] : json::object()));
  w["vcpus"] = vcpus;
  return w;
}

TlbProbe probe_tlb_plugin(const GuestPaths& paths, const std::vector<std::string>& geometry) {
  TlbProbe p;
  for (const std::string& f : {paths.tlb_plugin, paths.mmlab_kernel, paths.initrd})
    if (!std::filesystem::exists(f)) {
      p.why = f + " is missing: make build";
      return p;
    }
  VmSpec s{.memory_mb = 64, .init = "/hello", .tlb_model = true};
  s.kernel_image = paths.mmlab_kernel;
  s.initrd = paths.initrd;
  s.tlb_plugin = paths.tlb_plugin;
  s.tlb_args = geometry;
  try {
    const BootResult r = boot_once(s, 30, false);
    for (const json& rec : r.records.records) {
      if (str_of(rec, "type") != "tlb_model") continue;
      p.header = field(rec, "header");
      if (bool_of(rec, "paired", false) && r.status == "success") {
        p.ok = true;
        p.why = fmt::format("{}: a /hello boot paired {} checkpoint(s) with the counters records", paths.tlb_plugin,
                            int_of(rec, "checkpoints", 0));
        return p;
      }
    }
    const std::string why = r.qemu_stderr.empty() ? "a /hello boot with it ended " + r.status : r.qemu_stderr;
    p.why = why.substr(0, why.find('\n'));
  } catch (const std::exception& e) {
    p.why = e.what();
  }
  return p;
}

std::string tlb_pairing_table(const GuestRecords& records) {
  std::string s =
      fmt::format("{:<24} {:>4} {:>12} {:>11} {:>13} {:>9} {:>9} {:>9} {:>10}\n", "window ending at", "vcpu", "insns",
                  "CR3 h/g", "INVLPG h/g", "iTLB miss", "dTLB miss", "STLB miss", "walk refs");
  json prev_host = json::object(), prev_mm = json::object();
  // The model's counts of the first window (from QEMU's start) exist only
  // when it ran from there (start=boot); of every later window, always.
  bool modelled = false;
  for (const json& r : records.records)
    if (str_of(r, "type") == "tlb_model") modelled = str_of(field(r, "header"), "start", "boot") == "boot";
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
    auto m = [&](uint64_t v) { return modelled ? std::to_string(v) : std::string("-"); };
    s += fmt::format("{:<24} {:>4} {:>12} {:>11} {:>13} {:>9} {:>9} {:>9} {:>10}\n",
                     str_of(r, "label", "?").substr(0, 24), int_of(r["host"], "marker_vcpu", -1), d("insns"), cr3, inv,
                     m(d("itlb_misses")), m(d("dtlb_load_misses") + d("dtlb_store_misses")), m(d("stlb_misses")),
                     m(d("walk_refs")));
    modelled = h.contains("walk_refs");  // the model's counts came with this checkpoint
    prev_host = h;
    if (has_mm) prev_mm = mm;
  }
  return s;
}

}  // namespace mmlab
