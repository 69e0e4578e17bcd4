// mmlab merge: result sets of several shards (or hosts) into one.
#pragma once

#include <string>
#include <vector>

namespace mmlab {

// Merges the result sets in `inputs` into `out` (created; must not hold a
// result set): every cell once, the cells' directories copied, and a
// manifest that keeps each input's provenance under "merged_from". Refuses,
// unless `force`, sets from different kernel builds, initrds or matrices,
// and always a cell key that two inputs both hold (overlapping shards).
// Returns the number of cells; throws std::runtime_error with the reason.
size_t merge_result_sets(const std::string& out, const std::vector<std::string>& inputs, bool force);

}  // namespace mmlab
