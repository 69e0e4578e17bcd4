// Matrix files: parsing with toml++, checking, expansion.
#include "matrix.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "toggle_table.h"
#include "toml_reader.h"
#include "util.h"

namespace mmlab {

MatrixError::MatrixError(const std::string& f, uint32_t l, const std::string& what)
    : std::runtime_error(l ? fmt::format("{}:{}: {}", f, l, what) : fmt::format("{}: {}", f, what)), file(f), line(l) {}

const char* kernel_name(Kernel k) { return k == Kernel::kMmlab ? "mmlab" : "linux-pae"; }

const char* emulator_name(Emulator e) { return e == Emulator::kQemu ? "qemu" : "bochs"; }

std::optional<Emulator> parse_emulator(const std::string& s) {
  if (s == "qemu") return Emulator::kQemu;
  if (s == "bochs") return Emulator::kBochs;
  return std::nullopt;
}
const char* accel_name(Accel a) {
  switch (a) {
    case Accel::kAuto:
      return "auto";
    case Accel::kKvm:
      return "kvm";
    case Accel::kTcg:
      return "tcg";
  }
  return "?";
}

std::optional<Accel> parse_accel(const std::string& s) {
  if (s.empty()) return std::nullopt;
  if (s == "auto") return Accel::kAuto;
  if (s == "kvm") return Accel::kKvm;
  return Accel::kTcg;
}

std::string Cell::key() const {
  // The emulator only when it is not QEMU, so the keys of QEMU result sets stay as they were.
  std::string k = emulator == Emulator::kQemu ? "" : fmt::format("emulator={} ", emulator_name(emulator));
  k += fmt::format("kernel={}", kernel_name(kernel));
  for (const auto& [t, v] : toggles) k += fmt::format(" {}={}", t, v);
  k += fmt::format(" workload={}", workload.binary.empty() ? workload.name : "binary:" + workload.binary);
  for (const std::string& a : workload.args) k += " arg=" + a;
  k += fmt::format(" vcpus={} rep={}", vcpus, rep);
  return k;
}

std::string Cell::config_key() const {
  const std::string k = key();
  return k.substr(0, k.rfind(" rep="));
}

namespace {

// Reads one matrix: every accessor throws MatrixError at the node's line.
class Parser : TomlReader {
 public:
  Parser(std::string file, const std::vector<std::string>& known) : TomlReader(std::move(file)), known_(known) {}

  Matrix parse(const std::string& text) {
    const toml::table root = parse_document(text);
    Matrix m;
    m.file = file();
    static const std::set<std::string> kKeys = {"name",        "kernel",  "emulator",  "accel",     "deterministic",
                                                "repetitions", "vcpus",   "memory_mb", "timeout_s", "seed",
                                                "kernel_args", "toggles", "workload",  "exclude",   "include"};
    for (const auto& [k, node] : root)
      if (!kKeys.count(std::string(k.str())))
        fail(node, fmt::format(
                       "unknown key '{}' (expected one of: name, kernel, emulator, accel, deterministic, repetitions, "
                       "vcpus, memory_mb, timeout_s, seed, kernel_args, toggles, workload, exclude, include)",
                       k.str()));
    if (auto* n = root.get("name")) m.name = str(*n, "name");
    if (auto* n = root.get("kernel")) {
      m.kernels.clear();
      for (const toml::node* k : list(*n, "kernel")) m.kernels.push_back(kernel(*k));
      if (m.kernels.empty()) fail(*n, "kernel: the list is empty");
    }
    if (auto* n = root.get("accel")) {
      const std::string a = str(*n, "accel");
      if (a == "auto")
        m.accel = Accel::kAuto;
      else if (a == "kvm")
        m.accel = Accel::kKvm;
      else if (a == "tcg")
        m.accel = Accel::kTcg;
      else
        fail(*n, fmt::format("accel: unknown value '{}' (expected auto, kvm or tcg)", a));
    }
    if (auto* n = root.get("deterministic")) m.deterministic = boolean(*n, "deterministic");
    if (auto* n = root.get("emulator")) {
      const auto e = parse_emulator(str(*n, "emulator"));
      if (!e) fail(*n, fmt::format("emulator: unknown value '{}' (expected qemu or bochs)", str(*n, "emulator")));
      m.emulator = *e;
    }
    if (auto* n = root.get("repetitions")) m.repetitions = integer(*n, "repetitions", 1, 1000);
    if (auto* n = root.get("vcpus")) {
      m.vcpus.clear();
      for (const toml::node* v : list(*n, "vcpus")) m.vcpus.push_back(integer(*v, "vcpus", 1, 16));
      if (m.vcpus.empty()) fail(*n, "vcpus: the list is empty");
    }
    if (auto* n = root.get("memory_mb")) m.memory_mb = integer(*n, "memory_mb", 64, 2048);
    if (auto* n = root.get("timeout_s")) m.timeout_s = integer(*n, "timeout_s", 1, 86400);
    if (auto* n = root.get("seed")) m.seed = integer(*n, "seed", 0, 0x7fffffff);
    if (auto* n = root.get("kernel_args")) {
      for (const toml::node* a : list(*n, "kernel_args")) {
        const std::string w = str(*a, "kernel_args");
        if (w.rfind("mm.", 0) == 0) fail(*a, fmt::format("kernel_args: '{}' is a toggle: sweep it in [toggles]", w));
        if (w == "--" || w.rfind("init=", 0) == 0 || w.rfind("rdinit=", 0) == 0 || w.find(' ') != std::string::npos ||
            w.empty())
          fail(*a, fmt::format("kernel_args: '{}' would break the command line the loader builds", w));
        m.kernel_args.push_back(w);
      }
    }
    if (auto* n = root.get("toggles")) toggles(*n, &m);
    if (auto* n = root.get("workload")) {
      const toml::array* arr = n->as_array();
      if (!arr) fail(*n, "workload: expected [[workload]] tables");
      for (const toml::node& w : *arr) m.workloads.push_back(workload(w));
    }
    if (m.workloads.empty()) throw MatrixError(file(), 0, "no [[workload]]: a matrix needs at least one");
    if (auto* n = root.get("exclude")) rules(*n, "exclude", &m.excludes);
    if (auto* n = root.get("include")) rules(*n, "include", &m.includes);
    if (m.emulator == Emulator::kBochs) {
      const uint32_t at = line(*root.get("emulator"));
      if (std::find(m.kernels.begin(), m.kernels.end(), Kernel::kLinuxPae) != m.kernels.end())
        throw MatrixError(file(), at, "emulator = \"bochs\" boots the mmlab kernel only: drop linux-pae");
      if (m.accel == Accel::kKvm) throw MatrixError(file(), at, "emulator = \"bochs\": accel cannot be kvm");
      if (m.deterministic)
        throw MatrixError(file(), at,
                          "emulator = \"bochs\": deterministic is QEMU's -icount (Bochs's clock already follows "
                          "its instruction count)");
      for (uint32_t v : m.vcpus)
        if (v > 8) throw MatrixError(file(), at, fmt::format("emulator = \"bochs\": {} vCPUs (at most 8)", v));
    }
    if (m.deterministic && m.accel == Accel::kKvm)
      throw MatrixError(file(), line(*root.get("accel")),
                        "deterministic = true needs TCG (-icount): accel cannot be kvm");
    return m;
  }

 private:
  void toggles(const toml::node& n, Matrix* m) const {
    const toml::table* t = n.as_table();
    if (!t) fail(n, "toggles: expected a [toggles] table");
    for (const auto& [k, node] : *t) {
      const std::string key(k.str());
      const mm::ToggleSpec* spec = find_toggle(key);
      if (!spec) fail(node, fmt::format("toggles: unknown toggle '{}' (expected one of: {})", key, toggle_keys()));
      std::vector<std::string> values;
      for (const toml::node* v : list(node, key)) {
        const std::string value = str(*v, key);
        if (value != spec->values[0] && value != spec->values[1])
          fail(*v, fmt::format("toggles: unknown value '{}' for {} (expected {} or {})", value, key, spec->values[0],
                               spec->values[1]));
        if (std::find(values.begin(), values.end(), value) != values.end())
          fail(*v, fmt::format("toggles: {} lists '{}' twice", key, value));
        values.push_back(value);
      }
      if (values.empty()) fail(node, fmt::format("toggles: {} has no values", key));
      m->toggles.emplace_back(key, values);
    }
    // Sweep order follows the table, whatever the file's order.
    std::sort(m->toggles.begin(), m->toggles.end(), [](const auto& a, const auto& b) {
      return toggle_position(find_toggle(a.first)) < toggle_position(find_toggle(b.first));
    });
  }

  Workload workload(const toml::node& n) const {
    const toml::table* t = n.as_table();
    if (!t) fail(n, "workload: expected a [[workload]] table");
    Workload w;
    for (const auto& [k, node] : *t) {
      const std::string key(k.str());
      if (key == "name") {
        w.name = str(node, "workload.name");
        if (std::find(known_.begin(), known_.end(), w.name) == known_.end())
          fail(node, fmt::format("workload.name: '{}' is not a workload of the initrd (known: {})", w.name,
                                 join(known_, ", ")));
      } else if (key == "binary") {
        w.binary = str(node, "workload.binary");
        if (const std::string why = check_static_i386(w.binary); !why.empty())
          fail(node, fmt::format("workload.binary: {}: {}", w.binary, why));
      } else if (key == "args") {
        w.args = strings(node, "workload.args");
      } else {
        fail(node, fmt::format("workload: unknown key '{}' (expected name, binary, args)", key));
      }
    }
    if (w.name.empty() == w.binary.empty()) fail(n, "workload: give exactly one of name or binary");
    if (!w.binary.empty()) w.name = base_name(w.binary);
    // Linux and our kernel both give init at most 32 arguments; /init takes the program and its arguments.
    if (w.args.size() > 30) fail(n, fmt::format("workload: {} arguments; at most 30 reach the guest", w.args.size()));
    return w;
  }

  void rules(const toml::node& n, const char* what, std::vector<Rule>* out) const {
    const toml::array* arr = n.as_array();
    if (!arr) fail(n, fmt::format("{}: expected [[{}]] tables", what, what));
    for (const toml::node& r : *arr) {
      const toml::table* t = r.as_table();
      if (!t) fail(r, fmt::format("{}: expected a table", what));
      Rule rule{.line = line(r)};
      for (const auto& [k, node] : *t) {
        const std::string key(k.str());
        if (const mm::ToggleSpec* spec = find_toggle(key)) {
          const std::string v = str(node, key);
          if (v != spec->values[0] && v != spec->values[1])
            fail(node, fmt::format("{}: unknown value '{}' for {}", what, v, key));
          rule.match[key] = v;
        } else if (key == "vcpus") {
          rule.match[key] = std::to_string(integer(node, "vcpus", 1, 16));
        } else if (key == "kernel") {
          rule.match[key] = kernel_name(kernel(node));
        } else if (key == "workload" || key == "args") {
          rule.match[key] = key == "args" ? join(strings(node, "args"), " ") : str(node, key);
        } else {
          fail(node,
               fmt::format("{}: unknown key '{}' (expected a toggle, kernel, vcpus, workload or args)", what, key));
        }
      }
      if (rule.match.empty()) fail(r, fmt::format("{}: an empty rule would match every cell", what));
      out->push_back(rule);
    }
  }

  const std::vector<std::string>& known_;
};

bool matches(const Rule& r, const Cell& c) {
  for (const auto& [k, v] : r.match) {
    if (k == "kernel") {
      if (v != kernel_name(c.kernel)) return false;
    } else if (k == "vcpus") {
      if (v != std::to_string(c.vcpus)) return false;
    } else if (k == "workload") {
      if (v != c.workload.name) return false;
    } else if (k == "args") {
      if (v != join(c.workload.args, " ")) return false;
    } else {
      auto it = c.toggles.find(k);
      if (it == c.toggles.end() || it->second != v) return false;  // Linux cells have no toggles
    }
  }
  return true;
}

}  // namespace

Matrix parse_matrix_text(const std::string& text, const std::string& file, const std::vector<std::string>& known) {
  return Parser(file, known).parse(text);
}

Matrix parse_matrix_file(const std::string& path, const std::vector<std::string>& known) {
  std::ifstream in(path);
  if (!in) throw MatrixError(path, 0, "cannot read the matrix file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_matrix_text(ss.str(), path, known);
}

std::vector<Cell> expand(const Matrix& m) {
  std::vector<Cell> cells;
  std::set<std::string> keys;
  auto add = [&](Cell c) {
    c.emulator = m.emulator;
    if (keys.insert(c.key()).second) {
      c.index = static_cast<uint32_t>(cells.size());
      cells.push_back(std::move(c));
    }
  };
  // The toggle combinations: the product of the swept values.
  std::vector<std::map<std::string, std::string>> combos{default_toggles()};
  for (const auto& [key, values] : m.toggles) {
    std::vector<std::map<std::string, std::string>> next;
    for (const auto& base : combos)
      for (const std::string& v : values) {
        auto t = base;
        t[key] = v;
        next.push_back(t);
      }
    combos = std::move(next);
  }
  for (Kernel k : m.kernels) {
    const auto& kcombos = k == Kernel::kMmlab ? combos : std::vector<std::map<std::string, std::string>>{{}};
    for (const auto& t : kcombos)
      for (const Workload& w : m.workloads)
        for (uint32_t v : m.vcpus)
          for (uint32_t rep = 0; rep < m.repetitions; ++rep) {
            Cell c{.kernel = k, .toggles = t, .workload = w, .vcpus = v, .rep = rep};
            if (std::none_of(m.excludes.begin(), m.excludes.end(), [&](const Rule& r) { return matches(r, c); }))
              add(std::move(c));
          }
  }
  for (const Rule& r : m.includes) {
    Cell base{.vcpus = m.vcpus.front()};
    base.toggles = default_toggles();
    if (auto it = r.match.find("kernel"); it != r.match.end() && it->second == "linux-pae") {
      base.kernel = Kernel::kLinuxPae;
      base.toggles.clear();
    }
    if (auto it = r.match.find("vcpus"); it != r.match.end())
      base.vcpus = static_cast<uint32_t>(std::stoul(it->second));
    for (const auto& [k, v] : r.match)
      if (find_toggle(k) && base.kernel == Kernel::kMmlab) base.toggles[k] = v;
    bool any = false;
    for (const Workload& w : m.workloads) {
      if (auto it = r.match.find("workload"); it != r.match.end() && it->second != w.name) continue;
      if (auto it = r.match.find("args"); it != r.match.end() && it->second != join(w.args, " ")) continue;
      any = true;
      for (uint32_t rep = 0; rep < m.repetitions; ++rep) {
        Cell c = base;
        c.workload = w;
        c.rep = rep;
        add(std::move(c));
      }
    }
    if (!any) throw MatrixError(m.file, r.line, "include: names no workload of this matrix");
  }
  return cells;
}

std::vector<Cell> once_per_configuration(const std::vector<Cell>& all, uint32_t verify_every,
                                         std::vector<std::string>* verified) {
  std::vector<std::string> configs;  // in expansion order
  std::set<std::string> seen;
  for (const Cell& c : all)
    if (seen.insert(c.config_key()).second) configs.push_back(c.config_key());
  std::set<std::string> twice;
  for (size_t i = 0; i < configs.size(); ++i)
    if (i % std::max(1u, verify_every) == 0 || i < 2) twice.insert(configs[i]);
  std::set<std::string> with_second;
  for (const Cell& c : all)
    if (c.rep == 1) with_second.insert(c.config_key());
  std::vector<Cell> out;
  for (const Cell& c : all) {
    const std::string k = c.config_key();
    if (c.rep == 0 || (c.rep == 1 && twice.count(k))) out.push_back(c);
    if (c.rep == 0 && twice.count(k) && with_second.count(k)) verified->push_back(k);
  }
  return out;
}

void shuffle_cells(std::vector<Cell>* cells, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::shuffle(cells->begin(), cells->end(), rng);
}

}  // namespace mmlab
