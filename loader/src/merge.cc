#include "merge.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "result_set.h"
#include "util.h"

namespace mmlab {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json read_manifest(const std::string& dir) {
  const auto text = read_file(dir + "/manifest.json");
  if (!text) throw std::runtime_error(fmt::format("{} is not a result set: no manifest.json", dir));
  json m = json::parse(*text, nullptr, false);
  if (m.is_discarded() || !m.is_object()) throw std::runtime_error(fmt::format("{}/manifest.json is not JSON", dir));
  return m;
}

// What must agree for cells to be comparable: the builds and the matrix.
std::map<std::string, std::string> identity(const json& m) {
  auto at = [&](const std::vector<std::string>& path) {
    const json* j = &m;
    for (const std::string& p : path) {
      if (!j->is_object() || !j->contains(p)) return std::string("?");
      j = &(*j)[p];
    }
    return j->is_string() ? j->get<std::string>() : j->dump();
  };
  return {{"kernel build id", at({"kernel", "mmlab", "build_id"})},
          {"initrd", at({"kernel", "initrd", "fnv1a64"})},
          {"matrix", at({"matrix_fnv1a64"})},
          {"accel", at({"accel", "used"})},
          {"deterministic", at({"accel", "deterministic"})}};
}

}  // namespace

size_t merge_result_sets(const std::string& out, const std::vector<std::string>& inputs, bool force) {
  if (inputs.empty()) throw std::runtime_error("merge: no result sets given");
  std::vector<json> manifests;
  for (const std::string& in : inputs) {
    if (!fs::exists(in + "/cells.jsonl"))
      throw std::runtime_error(fmt::format("{} is not a result set: no cells.jsonl", in));
    manifests.push_back(read_manifest(in));
  }
  const auto first = identity(manifests[0]);
  for (size_t i = 1; i < inputs.size(); ++i) {
    for (const auto& [what, value] : identity(manifests[i])) {
      if (value != first.at(what) && !force)
        throw std::runtime_error(fmt::format("{} and {} differ in {} ({} against {}); --force merges them anyway",
                                             inputs[0], inputs[i], what, first.at(what), value));
    }
  }
  // Read everything before writing anything: a conflict leaves no half-merged set.
  std::map<std::string, std::string> owner;  // key -> input
  std::vector<std::pair<size_t, json>> cells;
  uint32_t skipped_total = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    uint32_t skipped = 0;
    for (json& c : read_cells(inputs[i] + "/cells.jsonl", &skipped)) {
      const std::string key = c["key"];
      if (auto [it, fresh] = owner.emplace(key, inputs[i]); !fresh)
        throw std::runtime_error(
            fmt::format("the cell {} is in both {} and {} (overlapping shards?)", key, it->second, inputs[i]));
      cells.emplace_back(i, std::move(c));
    }
    skipped_total += skipped;
  }
  ResultSet rs(out, false);
  for (const auto& [i, c] : cells) {
    const std::string id = c.value("id", "");
    if (!id.empty() && fs::exists(inputs[i] + "/cells/" + id)) {
      std::error_code ec;
      fs::copy(inputs[i] + "/cells/" + id, rs.cell_dir(id),
               fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
      if (ec) throw std::runtime_error(fmt::format("cannot copy {}/cells/{}: {}", inputs[i], id, ec.message()));
    }
    rs.append(c);
  }
  json m = manifests[0];
  m["merged_from"] = json::array();
  bool interrupted = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    m["merged_from"].push_back({{"path", inputs[i]},
                                {"shard", manifests[i].value("shard", json())},
                                {"host", manifests[i].value("host", json())},
                                {"started", manifests[i].value("started", json())},
                                {"finished", manifests[i].value("finished", json())},
                                {"interrupted", manifests[i].value("interrupted", false)},
                                {"identity", identity(manifests[i])}});
    interrupted |= manifests[i].value("interrupted", false);
  }
  m["interrupted"] = interrupted;
  m["merged"] = now_iso8601();
  m["merge_forced"] = force;
  m["cells_merged"] = cells.size();
  m["lines_skipped_in_inputs"] = skipped_total;
  m["shard"] = {{"index", 0}, {"count", 1}};
  rs.write_manifest(m);
  if (auto text = read_file(inputs[0] + "/matrix.toml")) write_file_atomic(out + "/matrix.toml", *text);
  return cells.size();
}

}  // namespace mmlab
