// The kernel's command line: word splitting, the boot-argument sort and the
// mm core's toggle parser, on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "formats/cmdline.h"
#include "mm/toggles.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  const std::string line(reinterpret_cast<const char*>(data), size);
  char buf[2048];
  const char* words[64];
  const char* err = nullptr;
  const int n =
      formats::split_words(line.c_str(), static_cast<uint32_t>(line.size()), buf, sizeof buf, words, 64, &err);
  if (n < 0) {
    if (!err) abort();
    return 0;
  }
  for (int i = 0; i < n; ++i)
    if (words[i] < buf || words[i] >= buf + sizeof buf) abort();
  formats::BootArgs args;
  if (formats::parse_boot_args(words, n, &args)) return 0;
  if (!args.init || args.ntoggles > formats::kBootMaxToggles || args.ninit_args > formats::kBootMaxInitArgs) abort();
  mm::Toggles t;
  char why[128];
  for (int i = 0; i < args.ntoggles; ++i) {
    if (!t.parse(args.toggles[i], static_cast<uint32_t>(strlen(args.toggles[i])), why, sizeof why) &&
        !memchr(why, 0, sizeof why))
      abort();  // the message is always terminated
  }
  return 0;
}
