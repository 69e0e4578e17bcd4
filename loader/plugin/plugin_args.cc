#include "plugin_args.h"

#include <charconv>
#include <cstdio>

namespace mmlab::tlb {

namespace {

bool parse_u32(const std::string& s, uint32_t* v) {
  const char* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, *v);
  return ec == std::errc() && p == end && !s.empty();
}

std::string geometry_json(const Geometry& g) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "{\"entries\":%u,\"ways\":%u,\"sets\":%u}", g.entries, g.ways, g.sets());
  return buf;
}

}  // namespace

std::string apply_arg(const std::string& word, PluginOptions* o, bool geometry_only) {
  const size_t eq = word.find('=');
  if (eq == std::string::npos) return "'" + word + "': expected KEY=VALUE";
  const std::string key = word.substr(0, eq), value = word.substr(eq + 1);
  if (key == "out") {
    if (geometry_only) return "out=: the loader chooses the output file";
    if (value.empty()) return "out=: an empty path";
    o->out = value;
    return "";
  }
  if (key == "itlb" || key == "dtlb" || key == "stlb") {
    const size_t colon = value.find(':');
    Geometry g;
    if (colon == std::string::npos || !parse_u32(value.substr(0, colon), &g.entries) ||
        !parse_u32(value.substr(colon + 1), &g.ways))
      return key + "=" + value + ": expected ENTRIES:WAYS, e.g. " + key + "=64:4";
    if (std::string why = validate(g, key); !why.empty()) return why;
    (key == "itlb" ? o->model.itlb : key == "dtlb" ? o->model.dtlb : o->model.stlb) = g;
    return "";
  }
  if (key == "pde") {
    if (!parse_u32(value, &o->model.pde_cache)) return "pde=" + value + ": expected a number of entries (0: none)";
    return "";
  }
  if (key == "global") {
    if (value != "kernel" && value != "none") return "global=" + value + ": expected kernel or none";
    o->model.kernel_global = value == "kernel";
    return "";
  }
  if (key == "start") {
    if (value != "marker" && value != "boot") return "start=" + value + ": expected marker or boot";
    o->start = value == "boot" ? ModelStart::kBoot : ModelStart::kMarker;
    return "";
  }
  return "unknown argument '" + key + "' (known: " + (geometry_only ? "" : "out, ") +
         "itlb, dtlb, stlb, pde, global, start)";
}

std::string parse_args(const std::vector<std::string>& words, PluginOptions* o, bool geometry_only) {
  for (const std::string& w : words)
    if (std::string why = apply_arg(w, o, geometry_only); !why.empty()) return why;
  if (std::string why = validate(o->model); !why.empty()) return why;
  if (!geometry_only && o->out.empty()) return "out=PATH is required (where the JSON lines go)";
  return "";
}

const char* to_string(ModelStart s) { return s == ModelStart::kBoot ? "boot" : "marker"; }

std::string config_json(const Config& c) {
  char pde[64];
  std::snprintf(pde, sizeof(pde), "{\"entries\":%u}", c.pde_cache);
  return "{\"itlb\":" + geometry_json(c.itlb) + ",\"dtlb\":" + geometry_json(c.dtlb) +
         ",\"stlb\":" + geometry_json(c.stlb) + ",\"pde_cache\":" + pde + ",\"page_size\":4096}";
}

}  // namespace mmlab::tlb
