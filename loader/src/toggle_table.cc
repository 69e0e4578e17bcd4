#include "toggle_table.h"

namespace mmlab {

const mm::ToggleSpec* find_toggle(const std::string& key) {
  for (const mm::ToggleSpec& t : mm::kToggleSpecs)
    if (key == t.key) return &t;
  return nullptr;
}

uint32_t toggle_position(const mm::ToggleSpec* spec) { return static_cast<uint32_t>(spec - mm::kToggleSpecs); }

std::string toggle_keys() {
  std::string s;
  for (const mm::ToggleSpec& t : mm::kToggleSpecs) s += (s.empty() ? "" : ", ") + std::string(t.key);
  return s;
}

std::map<std::string, std::string> default_toggles() { return toggle_combination(0); }

std::map<std::string, std::string> toggle_combination(uint32_t index) {
  const mm::Toggles t = mm::Toggles::from_index(index);
  std::map<std::string, std::string> out;
  for (uint32_t i = 0; i < mm::kNumToggles; ++i)
    out[mm::kToggleSpecs[i].key] = t.value_name(static_cast<mm::ToggleId>(i));
  return out;
}

nlohmann::json toggle_table_json() {
  nlohmann::json table = nlohmann::json::array();
  for (const mm::ToggleSpec& t : mm::kToggleSpecs)
    table.push_back({{"key", t.key},
                     {"values", {t.values[0], t.values[1]}},
                     {"default", t.values[0]},
                     {"title", t.title},
                     {"question", t.question}});
  return table;
}

}  // namespace mmlab
