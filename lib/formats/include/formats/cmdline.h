// The multiboot command line: split into words, then sorted the way Linux
// sorts its own (init/main.c, unknown_bootoption and set_init_arg).
//
// The first word is skipped if it holds no '=' and is not "--": a multiboot
// loader (QEMU's -kernel, GRUB) puts the kernel's own path there, e.g.
// "build/kernel/mmlab-kernel.elf mm.ptlock=mm init=/x". Every later word,
// up to the first "--":
//   mm.*         a toggle, handed as is to the mm core's toggle parser
//                (which rejects unknown keys and values)
//   init=PATH    the program run as PID 1 (default "/init"; the last wins)
//   mm.fail_alloc=N, mm.fail_alloc_seed=S
//                fault injection once PID 1 runs: every Nth frame
//                allocation fails; with a seed, each fails with probability
//                1/N (N default 100) from that seed, reproducibly
//   mmlab.debug=panic|hang|lock-inversion
//                a failure on purpose right after the boot record, for the
//                loader's tests: a kernel panic, a kernel that never ends, or
//                two kernel locks taken in both orders with the lock-order
//                checker on (which must panic naming them)
//   mmlab.lockdep=on|off
//                the runtime lock-order checker (default off; the SMP boot
//                tests run with it). Any other mmlab.* word is an error.
//   KEY=VALUE    any other word with a '=': init's environment; a later
//                word with the same KEY replaces the earlier one
//   WORD         any other word: an argument for init (argv[1], argv[2]...)
// and every word after the first "--" is an argument for init, verbatim
// (mm.*, init= and "--" included). Unlike Linux, words whose key holds a
// '.' are not dropped as module parameters (there are no modules), and no
// other words are kernel parameters.
#pragma once

#include <cstdint>

namespace formats {

// Splits the string at s into words: it ends at its NUL or after max_len
// bytes, whichever comes first. Words are separated by runs of spaces,
// tabs, CRs and newlines; double quotes group ("a b" and a"b c" are one
// word each, the quotes removed; "" is an empty word; no escapes). The
// words go NUL-terminated into buf (buf_len bytes), pointers to them into
// argv[0..argc_max). Returns the count, or -1 with *err set to "command
// line too long" (buf is full), "too many words" or "unterminated quote".
[[nodiscard]] int split_words(const char* s, uint32_t max_len, char* buf, uint32_t buf_len, const char** argv,
                              int argc_max, const char** err);

inline constexpr int kBootMaxToggles = 16;
inline constexpr int kBootMaxInitArgs = 32;
inline constexpr int kBootMaxEnv = 16;

// Pointers into the words given to parse_boot_args (which must outlive it).
enum class BootDebug : uint8_t { kNone, kPanic, kHang, kLockInversion };

struct BootArgs {
  const char* init = "/init";
  BootDebug debug = BootDebug::kNone;
  bool lockdep = false;          // mmlab.lockdep=on
  uint32_t fail_alloc = 0;       // mm.fail_alloc=N (0: off)
  uint32_t fail_alloc_seed = 0;  // mm.fail_alloc_seed=S
  bool fail_alloc_seeded = false;
  const char* toggles[kBootMaxToggles] = {};  // whole words: "mm.ptlock=mm"
  int ntoggles = 0;
  const char* init_args[kBootMaxInitArgs] = {};  // init's argv after argv[0]
  int ninit_args = 0;
  const char* env[kBootMaxEnv] = {};  // init's environment: whole "KEY=VALUE" words
  int nenv = 0;
};

// Sorts words[0..n) by the rules above into *out (reset first). nullptr,
// or what is wrong: "too many toggles", "empty init=", "too many arguments
// for init", "too many environment words", "unknown mmlab.* option
// (expected ...)", "mm.fail_alloc wants a number from 1 to
// 1000000000", "mm.fail_alloc_seed wants a number".
[[nodiscard]] const char* parse_boot_args(const char* const* words, int n, BootArgs* out);

}  // namespace formats
