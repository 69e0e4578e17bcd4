// What the matrix parser's tests share: the workload names they parse
// against, and the parse and its error message.
#pragma once

#include <string>
#include <vector>

#include "matrix.h"

namespace mmlab_test {

inline const std::vector<std::string> kKnown = {"lat_proc", "page_fault", "fork_scale", "exec_layout", "kmap_churn"};

inline mmlab::Matrix parse(const std::string& text) { return mmlab::parse_matrix_text(text, "m.toml", kKnown); }

// The error message of parsing `text` (without a test initrd), "" if it parses.
inline std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const mmlab::MatrixError& e) {
    return e.what();
  }
  return "";
}

inline const char* const kMinimal = "[[workload]]\nname = \"lat_proc\"\nargs = [\"fork\"]\n";

}  // namespace mmlab_test
