// Toggle parsing and printing, freestanding (no libc string functions).
#include "mm/toggles.h"

namespace mm {
namespace {

uint32_t cstr_len(const char* s) {
  uint32_t n = 0;
  while (s[n]) ++n;
  return n;
}

bool equals(const char* a, uint32_t alen, const char* b) {
  const uint32_t blen = cstr_len(b);
  if (alen != blen) return false;
  for (uint32_t i = 0; i < alen; ++i)
    if (a[i] != b[i]) return false;
  return true;
}

// Appends to a bounded, always NUL-terminated buffer.
class Writer {
 public:
  Writer(char* buf, uint32_t len) : buf_(buf), len_(len) {
    if (len_) buf_[0] = 0;
  }
  Writer& put(const char* s, uint32_t n) {
    for (uint32_t i = 0; i < n && pos_ + 1 < len_; ++i) buf_[pos_++] = s[i];
    if (len_) buf_[pos_] = 0;
    return *this;
  }
  Writer& put(const char* s) { return put(s, cstr_len(s)); }
  uint32_t size() const { return pos_; }

 private:
  char* buf_;
  uint32_t len_;
  uint32_t pos_ = 0;
};

}  // namespace

bool is_toggle_word(const char* word, uint32_t len) {
  return len >= 3 && word[0] == 'm' && word[1] == 'm' && word[2] == '.';
}

bool Toggles::parse(const char* word, uint32_t len, char* err, uint32_t err_len) {
  Writer w(err, err_len);
  uint32_t eq = 0;
  while (eq < len && word[eq] != '=') ++eq;
  if (eq == len) {
    w.put("toggle '").put(word, len).put("' has no value (expected key=value)");
    return false;
  }
  const char* value = word + eq + 1;
  const uint32_t vlen = len - eq - 1;
  for (uint32_t i = 0; i < kNumToggles; ++i) {
    const ToggleSpec& spec = kToggleSpecs[i];
    if (!equals(word, eq, spec.key)) continue;
    for (uint8_t v = 0; v < 2; ++v) {
      if (equals(value, vlen, spec.values[v])) {
        v_[i] = v;
        return true;
      }
    }
    w.put("unknown value '").put(value, vlen).put("' for ").put(spec.key).put(" (expected ");
    w.put(spec.values[0]).put(" or ").put(spec.values[1]).put(")");
    return false;
  }
  w.put("unknown toggle '").put(word, eq).put("' (known:");
  for (const ToggleSpec& spec : kToggleSpecs) w.put(" ").put(spec.key);
  w.put(")");
  return false;
}

uint32_t Toggles::format(char* buf, uint32_t len) const {
  Writer w(buf, len);
  for (uint32_t i = 0; i < kNumToggles; ++i) {
    if (i) w.put(" ");
    w.put(kToggleSpecs[i].key).put("=").put(kToggleSpecs[i].values[v_[i]]);
  }
  return w.size();
}

}  // namespace mm
