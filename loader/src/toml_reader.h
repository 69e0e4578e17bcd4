// Typed reads of TOML nodes (toml++) that fail with the file and line: the
// base of the loader's two TOML parsers, matrices (matrix.h) and the
// boot-test list (boot_tests.h). Every accessor throws MatrixError.
#pragma once

#include <fmt/format.h>
#include <toml++/toml.h>

#include <string>
#include <vector>

#include "matrix.h"

namespace mmlab {

class TomlReader {
 public:
  explicit TomlReader(std::string file) : file_(std::move(file)) {}

  // The whole document; malformed TOML names its line.
  toml::table parse_document(const std::string& text) const {
    try {
      return toml::parse(text, file_);
    } catch (const toml::parse_error& e) {
      throw MatrixError(file_, static_cast<uint32_t>(e.source().begin.line),
                        fmt::format("malformed TOML: {}", e.description()));
    }
  }

  [[noreturn]] void fail(const toml::node& n, const std::string& what) const {
    throw MatrixError(file_, line(n), what);
  }
  static uint32_t line(const toml::node& n) { return static_cast<uint32_t>(n.source().begin.line); }

  std::string str(const toml::node& n, const std::string& key) const {
    if (auto v = n.value<std::string>(); v && n.is_string()) return *v;
    fail(n, fmt::format("{}: expected a string", key));
  }
  bool boolean(const toml::node& n, const std::string& key) const {
    if (auto v = n.as_boolean()) return v->get();
    fail(n, fmt::format("{}: expected true or false", key));
  }
  uint32_t integer(const toml::node& n, const std::string& key, int64_t lo, int64_t hi) const {
    const auto* v = n.as_integer();
    if (!v) fail(n, fmt::format("{}: expected an integer", key));
    if (v->get() < lo || v->get() > hi) fail(n, fmt::format("{}: {} is out of range {}..{}", key, v->get(), lo, hi));
    return static_cast<uint32_t>(v->get());
  }
  // A value or an array of values, as a list.
  std::vector<const toml::node*> list(const toml::node& n, const std::string& key) const {
    std::vector<const toml::node*> out;
    if (const toml::array* a = n.as_array()) {
      for (const toml::node& e : *a) out.push_back(&e);
    } else if (n.is_table()) {
      fail(n, fmt::format("{}: expected a value or a list of values", key));
    } else {
      out.push_back(&n);
    }
    return out;
  }
  std::vector<std::string> strings(const toml::node& n, const std::string& key) const {
    std::vector<std::string> out;
    for (const toml::node* e : list(n, key)) out.push_back(str(*e, key));
    return out;
  }
  Kernel kernel(const toml::node& n) const {
    const std::string k = str(n, "kernel");
    if (k == "mmlab") return Kernel::kMmlab;
    if (k == "linux-pae") return Kernel::kLinuxPae;
    fail(n, fmt::format("kernel: unknown kernel '{}' (expected mmlab or linux-pae)", k));
  }

 protected:
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

}  // namespace mmlab
