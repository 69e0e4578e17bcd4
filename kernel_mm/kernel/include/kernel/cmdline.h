// The multiboot command line: split into words, then sorted the way Linux
// sorts its own (init/main.c): `mm.*=...` are the kernel's toggles,
// `init=PATH` names PID 1, other `key=value` words go to init's
// environment, plain words to init's argv, and everything after `--` goes
// to init's argv verbatim. QEMU puts the kernel's path first: a first word
// without '=' is skipped.
#pragma once

#include <cstdint>

namespace kern {

// Splits `s` (at most max_len bytes) on spaces and tabs; double quotes
// group ("a b" is one word, the quotes removed). Words go NUL-terminated
// into buf, pointers into argv. Returns the count, or -1 with *err set.
int split_words(const char* s, uint32_t max_len, char* buf, uint32_t buf_len, const char** argv, int argc_max,
                const char** err);

struct BootArgs {
  const char* init = "/init";
  const char* toggles[16] = {};
  int ntoggles = 0;
  const char* init_args[32] = {};  // init's argv after argv[0]
  int ninit_args = 0;
  const char* env[16] = {};  // init's environment
  int nenv = 0;
};

// nullptr, or what is wrong ("too many toggles", "empty init=", ...).
const char* parse_boot_args(const char* const* words, int n, BootArgs* out);

}  // namespace kern
