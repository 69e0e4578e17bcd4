// The loader's reading of what a guest said (records channel and console)
// on arbitrary bytes, for both kernels: an outcome, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "guest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > 65536) return 0;
  // The first byte splits the rest into records and console, and picks the exit status.
  const size_t cut = 1 + (data[0] * (size - 1)) / 255;
  const std::string records(reinterpret_cast<const char*>(data + 1), cut - 1);
  const std::string console(reinterpret_cast<const char*>(data + cut), size - cut);
  const int exits[] = {33, 35, -1, 1};
  for (auto k : {mmlab::Kernel::kMmlab, mmlab::Kernel::kLinuxPae}) {
    const auto g =
        mmlab::interpret_guest(k, exits[data[0] & 3], data[0] & 4, console, records, "lat_proc", data[0] & 8, 60);
    if (g.status != "ok" && g.reason.empty()) abort();
    (void)mmlab::console_tail(console, 30);
  }
  return 0;
}
