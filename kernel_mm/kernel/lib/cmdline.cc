#include "kernel/cmdline.h"

#include <cstring>

namespace kern {
namespace {

bool has_char(const char* s, char c) {
  for (; *s; ++s)
    if (*s == c) return true;
  return false;
}

}  // namespace

int split_words(const char* s, uint32_t max_len, char* buf, uint32_t buf_len, const char** argv, int argc_max,
                const char** err) {
  uint32_t i = 0, out = 0;
  int argc = 0;
  for (;;) {
    while (i < max_len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    if (i >= max_len || !s[i]) return argc;
    if (argc == argc_max) {
      *err = "too many words";
      return -1;
    }
    argv[argc++] = buf + out;
    bool quoted = false;
    while (i < max_len && s[i] && (quoted || (s[i] != ' ' && s[i] != '\t' && s[i] != '\n'))) {
      if (s[i] == '"') {
        quoted = !quoted;
        ++i;
        continue;
      }
      if (out + 1 >= buf_len) {
        *err = "command line too long";
        return -1;
      }
      buf[out++] = s[i++];
    }
    if (quoted) {
      *err = "unterminated quote";
      return -1;
    }
    if (out >= buf_len) {
      *err = "command line too long";
      return -1;
    }
    buf[out++] = 0;
  }
}

const char* parse_boot_args(const char* const* words, int n, BootArgs* out) {
  *out = BootArgs{};
  int i = 0;
  if (n > 0 && !has_char(words[0], '=') && strcmp(words[0], "--") != 0) i = 1;  // the kernel's path
  bool verbatim = false;
  for (; i < n; ++i) {
    const char* w = words[i];
    if (!verbatim && strcmp(w, "--") == 0) {
      verbatim = true;
      continue;
    }
    if (!verbatim && strncmp(w, "mm.", 3) == 0) {
      if (out->ntoggles == 16) return "too many toggles";
      out->toggles[out->ntoggles++] = w;
    } else if (!verbatim && strncmp(w, "init=", 5) == 0) {
      if (!w[5]) return "empty init=";
      out->init = w + 5;
    } else if (!verbatim && has_char(w, '=')) {
      if (out->nenv == 16) return "too many environment words";
      out->env[out->nenv++] = w;
    } else {
      if (out->ninit_args == 32) return "too many arguments for init";
      out->init_args[out->ninit_args++] = w;
    }
  }
  return nullptr;
}

}  // namespace kern
