// The loader's matrix files on arbitrary text: either a MatrixError with a
// position, or a matrix that expands into cells with distinct keys.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "matrix.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  static const std::vector<std::string> kKnown = {"lat_proc", "page_fault", "fork_scale", "exec_layout"};
  static const std::vector<std::string> kTestFiles = {"/init", "/bin/lat_proc", "/bin/page_fault", "/tests/t_fork",
                                                      "/tests/t_exec"};
  mmlab::Matrix m;
  try {
    m = mmlab::parse_matrix_text(std::string(reinterpret_cast<const char*>(data), size), "fuzz.toml", kKnown,
                                 kTestFiles);
  } catch (const mmlab::MatrixError&) {
    return 0;
  }
  // Expansion is a product; keep the fuzzer's inputs to sizes a run could have.
  uint64_t cells = uint64_t{m.repetitions} * m.vcpus.size() * m.workloads.size() * m.kernels.size();
  for (const auto& t : m.toggles) cells *= t.second.size();
  if (cells > 20000) return 0;
  std::set<std::string> keys;
  try {
    for (const mmlab::Cell& c : mmlab::expand(m))
      if (!keys.insert(c.key()).second) abort();
  } catch (const mmlab::MatrixError&) {  // an include naming no workload
  }
  return 0;
}
