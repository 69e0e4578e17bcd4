#include "toggle_table.h"

#include <algorithm>
#include <cctype>

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

std::vector<uint32_t> strength3_combinations() {
  static_assert(mm::kNumToggles == 6, "strength3_combinations is the 2^(6-2) fraction: choose new generators");
  std::vector<uint32_t> out;
  for (uint32_t r = 0; r < 16; ++r) {
    auto bit = [r](uint32_t i) { return (r >> i) & 1u; };
    out.push_back(r | (bit(0) ^ bit(1) ^ bit(2)) << 4 | (bit(1) ^ bit(2) ^ bit(3)) << 5);
  }
  return out;
}

uint32_t combination_index(const std::map<std::string, std::string>& toggles) {
  uint32_t bits = 0;
  for (uint32_t i = 0; i < mm::kNumToggles; ++i) {
    auto it = toggles.find(mm::kToggleSpecs[i].key);
    if (it != toggles.end() && it->second == mm::kToggleSpecs[i].values[1]) bits |= 1u << i;
  }
  return bits;
}

std::string substitute_placeholders(const std::string& word, int64_t index, uint32_t vcpus, std::string* missing) {
  std::string w = word;
  for (const auto& [ph, value] : {std::pair<std::string, int64_t>{"{index}", index},
                                  {"{seed}", index + 1},
                                  {"{vcpus}", static_cast<int64_t>(vcpus)}}) {
    if (w.find(ph) == std::string::npos) continue;
    if (ph != "{vcpus}" && index < 0) {
      if (missing) *missing = ph;
      return word;
    }
    for (size_t p = w.find(ph); p != std::string::npos; p = w.find(ph, p + 1))
      w.replace(p, ph.size(), std::to_string(value));
  }
  return w;
}

std::string unknown_placeholder(const std::string& word) {
  for (size_t open = word.find('{'); open != std::string::npos; open = word.find('{', open + 1)) {
    const size_t close = word.find('}', open);
    if (close == std::string::npos) break;
    const std::string name = word.substr(open, close - open + 1);
    const bool word_chars = std::all_of(name.begin() + 1, name.end() - 1,
                                        [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
    if (word_chars && close > open + 1 && name != "{index}" && name != "{seed}" && name != "{vcpus}") return name;
  }
  return "";
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
