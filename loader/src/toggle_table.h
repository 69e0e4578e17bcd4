// The toggle table as the loader sees it: kernel_mm/mm/include/mm/toggles.h,
// the only place the toggles are written down, linked in (mm_toggles).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

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
// The table as data: [{"key", "values", "default", "title", "question"}, ...]
// in table order. `mmlab toggles --json` prints it; every manifest carries it.
nlohmann::json toggle_table_json();

}  // namespace mmlab
