// Matrix files: parsing with toml++, checking, expansion.
#include "matrix.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "formats/cmdline.h"
#include "plugin_args.h"
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
  if (workload.test_initrd) k += " initrd=tests";
  for (const std::string& a : kernel_args) k += " kernel_arg=" + a;
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
  Parser(std::string file, const std::vector<std::string>& known, const std::vector<std::string>& test_files)
      : TomlReader(std::move(file)), known_(known), test_files_(test_files) {}

  Matrix parse(const std::string& text) {
    const toml::table root = parse_document(text);
    Matrix m;
    m.file = file();
    static const std::set<std::string> kKeys = {"name",        "kernel",      "emulator",  "accel",     "deterministic",
                                                "repetitions", "vcpus",       "memory_mb", "timeout_s", "seed",
                                                "kernel_args", "toggles",     "workload",  "exclude",   "include",
                                                "tlb_model",   "tlb_geometry"};
    for (const auto& [k, node] : root)
      if (!kKeys.count(std::string(k.str())))
        fail(node,
             fmt::format(
                 "unknown key '{}' (expected one of: name, kernel, emulator, accel, deterministic, repetitions, "
                 "vcpus, memory_mb, timeout_s, seed, kernel_args, toggles, workload, exclude, include, tlb_model, "
                 "tlb_geometry)",
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
    if (auto* n = root.get("kernel_args")) m.kernel_args = kernel_args(*n, "kernel_args");
    if (auto* n = root.get("toggles")) toggles(*n, &m);
    if (auto* n = root.get("workload")) {
      const toml::array* arr = n->as_array();
      if (!arr) fail(*n, "workload: expected [[workload]] tables");
      for (const toml::node& w : *arr) m.workloads.push_back(workload(w));
    }
    if (m.workloads.empty()) throw MatrixError(file(), 0, "no [[workload]]: a matrix needs at least one");
    // {index} and {seed} number toggle combinations, which only our kernel has.
    if (std::find(m.kernels.begin(), m.kernels.end(), Kernel::kLinuxPae) != m.kernels.end())
      for (const auto& [where, w] : placeholder_users_)
        if (w.find("{index}") != std::string::npos || w.find("{seed}") != std::string::npos)
          throw MatrixError(file(), where,
                            fmt::format("'{}': {{index}} and {{seed}} number toggle combinations, and Linux cells "
                                        "have none: run them in a matrix of kernel = \"mmlab\"",
                                        w));
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
    if (auto* n = root.get("tlb_model")) {
      m.tlb_model = boolean(*n, "tlb_model");
      if (m.tlb_model) m.tlb_model_line = line(*n);
    }
    if (auto* n = root.get("tlb_geometry")) m.tlb_geometry = tlb_geometry(*n);
    if (m.tlb_model && m.accel == Accel::kKvm)
      throw MatrixError(file(), m.tlb_model_line,
                        "tlb_model = true needs TCG: the TLB model is a QEMU TCG plugin, and under KVM the guest runs "
                        "on the host CPU where no plugin sees it (accel cannot be kvm; under KVM the PMU's guest TLB "
                        "events count instead, docs/tlb-model.md)");
    if (m.tlb_model && m.emulator == Emulator::kBochs)
      throw MatrixError(file(), m.tlb_model_line,
                        "tlb_model = true needs QEMU: the TLB model is a QEMU TCG plugin (emulator = \"bochs\")");
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

  // [tlb_geometry]: itlb/dtlb/stlb = "ENTRIES:WAYS", pde = N, global =
  // "kernel"|"none", start = "marker"|"boot", each checked by the plugin's
  // own parser at its line.
  std::vector<std::string> tlb_geometry(const toml::node& n) const {
    const toml::table* t = n.as_table();
    if (!t) fail(n, "tlb_geometry: expected a [tlb_geometry] table (itlb, dtlb, stlb, pde, global, start)");
    std::vector<std::string> words;
    for (const auto& [k, node] : *t) {
      const std::string key(k.str());
      std::string value;
      if (key == "itlb" || key == "dtlb" || key == "stlb" || key == "global" || key == "start")
        value = str(node, "tlb_geometry." + key);
      else if (key == "pde")
        value = std::to_string(integer(node, "tlb_geometry.pde", 0, 0x7fffffff));
      else
        fail(node, fmt::format("tlb_geometry: unknown key '{}' (expected itlb, dtlb, stlb, pde, global, start)", key));
      words.push_back(key + "=" + value);
      tlb::PluginOptions o;
      if (const std::string why = tlb::parse_args(words, &o, true); !why.empty())
        fail(node, fmt::format("tlb_geometry: {} (docs/tlb-model.md)", why));
    }
    return words;
  }

  // Kernel command-line words: not toggles (those go in [toggles]), nothing
  // that would break the command line the loader builds.
  std::vector<std::string> kernel_args(const toml::node& n, const std::string& key) {
    std::vector<std::string> out;
    for (const toml::node* a : list(n, key)) {
      const std::string w = str(*a, key);
      if (find_toggle(w.substr(0, w.find('='))))
        fail(*a, fmt::format("{}: '{}' is a toggle: sweep it in [toggles]", key, w));
      if (w == "--" || w.rfind("init=", 0) == 0 || w.rfind("rdinit=", 0) == 0 || w.find(' ') != std::string::npos ||
          w.empty())
        fail(*a, fmt::format("{}: '{}' would break the command line the loader builds", key, w));
      placeholders(*a, key, w);
      // The kernel's own parser (lib/formats) on the word, placeholders at their first values.
      const std::string sample = substitute_placeholders(w, 0, 1, nullptr);
      const char* words[] = {"kernel", sample.c_str()};
      formats::BootArgs parsed;
      if (const char* why = formats::parse_boot_args(words, 2, &parsed))
        fail(*a, fmt::format("{}: '{}': {}", key, w, why));
      if (parsed.ntoggles)
        fail(*a, fmt::format("{}: '{}' is neither a toggle ({}) nor mm.fail_alloc or mm.fail_alloc_seed", key, w,
                             toggle_keys()));
      out.push_back(w);
    }
    return out;
  }

  // A word's placeholders must be known ones; the matrix checks the kernels later.
  void placeholders(const toml::node& n, const std::string& key, const std::string& w) {
    if (const std::string bad = unknown_placeholder(w); !bad.empty())
      fail(n,
           fmt::format("{}: unknown placeholder {} in '{}' (expected {{index}}, {{seed}} or {{vcpus}})", key, bad, w));
    if (w.find('{') != std::string::npos) placeholder_users_.emplace_back(line(n), w);
  }

  // Whether `program` (a path, or a name /init looks up in /bin) is a file of the initrd.
  bool in_initrd(const std::string& program, bool tests) const {
    const std::string path = program.find('/') == std::string::npos ? "/bin/" + program : program;
    if (tests) return std::find(test_files_.begin(), test_files_.end(), path) != test_files_.end();
    return path.rfind("/bin/", 0) == 0 && std::find(known_.begin(), known_.end(), path.substr(5)) != known_.end();
  }

  Workload workload(const toml::node& n) {
    const toml::table* t = n.as_table();
    if (!t) fail(n, "workload: expected a [[workload]] table");
    Workload w;
    const toml::node* name_node = nullptr;
    const toml::node* programs_node = nullptr;
    const toml::node* args_node = nullptr;
    if (const toml::node* i = t->get("initrd")) {
      const std::string v = str(*i, "workload.initrd");
      if (v != "tests" && v != "workloads")
        fail(*i, fmt::format("workload.initrd: unknown initrd '{}' (expected workloads or tests)", v));
      w.test_initrd = v == "tests";
      if (w.test_initrd && test_files_.empty())
        fail(*i, "workload.initrd: the test initrd lists no files (build/workloads/test-initrd.cpio: make build)");
    }
    for (const auto& [k, node] : *t) {
      const std::string key(k.str());
      if (key == "name") {
        w.name = str(node, "workload.name");
        name_node = &node;
      } else if (key == "binary") {
        w.binary = str(node, "workload.binary");
        if (const std::string why = check_static_i386(w.binary); !why.empty())
          fail(node, fmt::format("workload.binary: {}: {}", w.binary, why));
      } else if (key == "args") {
        w.args = strings(node, "workload.args");
        args_node = &node;
        for (const std::string& a : w.args) placeholders(node, "workload.args", a);
      } else if (key == "programs") {
        programs_node = &node;
        const toml::array* arr = node.as_array();
        if (!arr || arr->empty()) fail(node, "workload.programs: expected a list of programs, each a list of words");
        for (const toml::node& p : *arr) {
          if (!p.is_array() && !p.is_string())
            fail(p, "workload.programs: each program is a list of words (or one word): [\"/tests/t_fork\"]");
          std::vector<std::string> words = strings(p, "workload.programs");
          if (words.empty()) fail(p, "workload.programs: a program with no words");
          for (const std::string& word : words) {
            if (word == "::") fail(p, "workload.programs: '::' separates programs: give each its own list");
            placeholders(p, "workload.programs", word);
          }
          w.programs.push_back(words);
        }
      } else if (key == "initrd") {
      } else if (key == "kernel_args") {
        w.kernel_args = kernel_args(node, "workload.kernel_args");
      } else if (key == "expect") {
        const std::string v = str(node, "workload.expect");
        if (v != "success" && v != "survive")
          fail(node, fmt::format("workload.expect: unknown value '{}' (expected success or survive)", v));
        w.survive = v == "survive";
      } else {
        fail(node,
             fmt::format(
                 "workload: unknown key '{}' (expected name, binary, args, programs, initrd, kernel_args, expect)",
                 key));
      }
    }
    if (!w.programs.empty()) {
      // Several programs in one boot: `name` labels them, each program must be in the initrd.
      if (!w.binary.empty() || args_node)
        fail(*programs_node, "workload.programs: give each program's arguments in its list, with no binary or args");
      if (!name_node) fail(*programs_node, "workload.programs: needs a name that labels the programs");
      for (size_t i = 0; i < w.programs.size(); ++i) {
        const std::string& p = w.programs[i][0];
        if (!in_initrd(p, w.test_initrd))
          fail(*programs_node, fmt::format("workload.programs: program {} '{}' is not in the {} initrd{}", i + 1, p,
                                           w.test_initrd ? "test" : "workloads",
                                           w.test_initrd ? "" : " (initrd = \"tests\" has /tests/t_*)"));
        if (i) w.args.push_back("::");
        w.args.insert(w.args.end(), w.programs[i].begin(), w.programs[i].end());
      }
    } else if (name_node && !in_initrd(w.name, w.test_initrd)) {
      fail(*name_node,
           fmt::format("workload.name: '{}' is not a workload of the initrd (known: {})", w.name, join(known_, ", ")));
    }
    if (w.name.empty() == w.binary.empty()) fail(n, "workload: give exactly one of name or binary");
    if (!w.binary.empty()) w.name = base_name(w.binary);
    // Linux and our kernel both give init at most 32 arguments; /init takes the program and its arguments.
    const size_t words = w.args.size() + (w.programs.empty() ? 1 : 0);
    if (words > 31)
      fail(n, fmt::format("workload: {} arguments; at most 30 reach the guest",
                          w.programs.empty() ? w.args.size() : words));
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
  const std::vector<std::string>& test_files_;
  std::vector<std::pair<uint32_t, std::string>> placeholder_users_;  // the words with a placeholder, with their lines
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

Matrix parse_matrix_text(const std::string& text, const std::string& file, const std::vector<std::string>& known,
                         const std::vector<std::string>& test_files) {
  return Parser(file, known, test_files).parse(text);
}

Matrix parse_matrix_file(const std::string& path, const std::vector<std::string>& known,
                         const std::vector<std::string>& test_files) {
  std::ifstream in(path);
  if (!in) throw MatrixError(path, 0, "cannot read the matrix file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_matrix_text(ss.str(), path, known, test_files);
}

namespace {

// The cell's own words: the kernel arguments, and the placeholders replaced
// (the parser checked them: a Linux cell has none of {index} and {seed}).
Cell specialize(const Matrix& m, Cell c) {
  const int64_t index = c.kernel == Kernel::kMmlab ? combination_index(c.toggles) : -1;
  auto sub = [&](const std::string& w) {
    c.seeded |= index >= 0 && (w.find("{index}") != std::string::npos || w.find("{seed}") != std::string::npos);
    return substitute_placeholders(w, index, c.vcpus, nullptr);
  };
  for (std::string& a : c.workload.args) a = sub(a);
  for (std::vector<std::string>& program : c.workload.programs)
    for (std::string& a : program) a = sub(a);
  c.kernel_args.clear();
  for (const std::string& a : m.kernel_args) c.kernel_args.push_back(sub(a));
  for (const std::string& a : c.workload.kernel_args) c.kernel_args.push_back(sub(a));
  return c;
}

}  // namespace

std::vector<Cell> expand(const Matrix& m) {
  std::vector<Cell> cells;
  std::set<std::string> keys;
  auto add = [&](Cell raw) {
    Cell c = specialize(m, std::move(raw));
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
