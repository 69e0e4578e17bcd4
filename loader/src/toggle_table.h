// The toggle table as the loader sees it: kernel_mm/mm/include/mm/toggles.h,
// the only place the toggles are written down, linked in (mm_toggles).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mm/toggles.h"

namespace mmlab {

// The toggle named `key`, or nullptr.
const mm::ToggleSpec* find_toggle(const std::string& key);
// Its position in the table (the kernel's bit in a combination index).
uint32_t toggle_position(const mm::ToggleSpec* spec);
// "mm.pmd_prealloc, mm.pgd_init, ..." for messages.
std::string toggle_keys();
// Every toggle at its default (first) value.
std::map<std::string, std::string> default_toggles();
// Combination `index` (0..mm::kNumToggleCombinations-1) as the kernel numbers
// them: bit i picks the second value of toggle i.
std::map<std::string, std::string> toggle_combination(uint32_t index);
// 16 combinations in which every three toggles take all eight of their value
// combinations, each twice (an orthogonal array of strength 3: the 2^(6-2)
// resolution-IV fraction with toggle 4 = 0^1^2 and toggle 5 = 1^2^3, bits as
// above). For tests that cannot afford all 64 (docs/testing.md).
std::vector<uint32_t> strength3_combinations();
// The inverse: the number of a combination given as every toggle's value
// (a toggle it does not name counts as its default).
uint32_t combination_index(const std::map<std::string, std::string>& toggles);
// `word` with the placeholders of matrices and the boot-test list replaced:
// {index} (a toggle combination's number), {seed} (index + 1) and {vcpus}.
// `index` < 0: there is no combination, and a word using {index} or {seed}
// gives "" in *missing (the placeholder's name) and is returned unchanged.
std::string substitute_placeholders(const std::string& word, int64_t index, uint32_t vcpus, std::string* missing);
// The first "{name}" in `word` that is not one of those three, or "".
std::string unknown_placeholder(const std::string& word);
// The table as data: [{"key", "values", "default", "title", "question"}, ...]
// in table order. `mmlab toggles --json` prints it; every manifest carries it.
nlohmann::json toggle_table_json();

}  // namespace mmlab
