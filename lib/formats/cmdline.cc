#include "formats/cmdline.h"

namespace formats {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool starts_with(const char* s, const char* prefix) {
  for (; *prefix; ++s, ++prefix)
    if (*s != *prefix) return false;
  return true;
}

bool equals(const char* a, const char* b) {
  for (; *a && *a == *b; ++a, ++b) {
  }
  return *a == *b;
}

// The length of the key of a "KEY=VALUE" word, or -1 if it has no '='.
int key_len(const char* w) {
  for (int i = 0; w[i]; ++i)
    if (w[i] == '=') return i;
  return -1;
}

int fail(const char** err, const char* why) {
  if (err) *err = why;
  return -1;
}

}  // namespace

int split_words(const char* s, uint32_t max_len, char* buf, uint32_t buf_len, const char** argv, int argc_max,
                const char** err) {
  if (!s) return 0;
  uint32_t i = 0, out = 0;
  int argc = 0;
  for (;;) {
    while (i < max_len && is_space(s[i])) ++i;
    if (i >= max_len || !s[i]) return argc;
    if (argc >= argc_max) return fail(err, "too many words");
    argv[argc++] = buf + out;
    bool quoted = false;
    // Invariant: out < buf_len before each byte stored, so the NUL fits too.
    for (; i < max_len && s[i] && (quoted || !is_space(s[i])); ++i) {
      if (s[i] == '"') {
        quoted = !quoted;
        continue;
      }
      if (buf_len - out < 2) return fail(err, "command line too long");
      buf[out++] = s[i];
    }
    if (quoted) return fail(err, "unterminated quote");
    if (out >= buf_len) return fail(err, "command line too long");
    buf[out++] = 0;
  }
}

namespace {

// A decimal number that fits 32 bits, and nothing else.
bool parse_u32(const char* s, uint32_t* out) {
  uint64_t v = 0;
  if (!*s) return false;
  for (; *s; ++s) {
    if (*s < '0' || *s > '9') return false;
    v = v * 10 + static_cast<uint32_t>(*s - '0');
    if (v > 0xFFFFFFFFull) return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

const char* parse_boot_args(const char* const* words, int n, BootArgs* out) {
  *out = BootArgs{};
  int i = 0;
  if (n > 0 && key_len(words[0]) < 0 && !equals(words[0], "--")) i = 1;  // the kernel's path
  for (; i < n; ++i) {
    const char* w = words[i];
    if (equals(w, "--")) {
      ++i;
      break;
    }
    const int klen = key_len(w);
    if (starts_with(w, "mm.fail_alloc=")) {
      if (!parse_u32(w + 14, &out->fail_alloc) || out->fail_alloc == 0 || out->fail_alloc > 1000000000)
        return "mm.fail_alloc wants a number from 1 to 1000000000";
    } else if (starts_with(w, "mm.fail_alloc_seed=")) {
      if (!parse_u32(w + 19, &out->fail_alloc_seed)) return "mm.fail_alloc_seed wants a number";
      out->fail_alloc_seeded = true;
    } else if (starts_with(w, "mm.")) {
      if (out->ntoggles == kBootMaxToggles) return "too many toggles";
      out->toggles[out->ntoggles++] = w;
    } else if (starts_with(w, "mmlab.")) {
      if (equals(w, "mmlab.debug=panic"))
        out->debug = BootDebug::kPanic;
      else if (equals(w, "mmlab.debug=hang"))
        out->debug = BootDebug::kHang;
      else if (equals(w, "mmlab.debug=lock-inversion"))
        out->debug = BootDebug::kLockInversion;
      else if (equals(w, "mmlab.lockdep=on"))
        out->lockdep = true;
      else if (equals(w, "mmlab.lockdep=off"))
        out->lockdep = false;
      else
        return "unknown mmlab.* option (expected mmlab.debug=panic, hang or lock-inversion, or mmlab.lockdep=on or "
               "off)";
    } else if (starts_with(w, "init=")) {
      if (!w[5]) return "empty init=";
      out->init = w + 5;
    } else if (klen >= 0) {
      int j = 0;
      while (j < out->nenv &&
             !(key_len(out->env[j]) == klen && __builtin_memcmp(out->env[j], w, static_cast<uint32_t>(klen)) == 0))
        ++j;
      if (j == kBootMaxEnv) return "too many environment words";
      out->env[j] = w;
      if (j == out->nenv) ++out->nenv;
    } else {
      if (out->ninit_args == kBootMaxInitArgs) return "too many arguments for init";
      out->init_args[out->ninit_args++] = w;
    }
  }
  // After "--": all of it is init's.
  for (; i < n; ++i) {
    if (out->ninit_args == kBootMaxInitArgs) return "too many arguments for init";
    out->init_args[out->ninit_args++] = words[i];
  }
  return nullptr;
}

}  // namespace formats
