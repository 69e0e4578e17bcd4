// The boot-test list: reading, expansion into cases, and the checks every
// boot of a case gets (docs/testing.md, "The boot-test list").
#include "boot_tests.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <climits>
#include <set>
#include <sstream>

#include "toggle_table.h"
#include "toml_reader.h"
#include "util.h"

namespace mmlab {

using nlohmann::json;

namespace {

// Keys of a test's table that describe one boot; they may also appear in
// its `cases` and `boots` (see docs/testing.md).
const std::set<std::string> kBootKeys = {
    "emulator", "kernel",      "init",   "args",       "initrd",      "toggles",       "kernel_args", "vcpus",
    "sockets",  "acpi",        "cpu",    "debug_exit", "memory",      "deterministic", "timeout",     "status",
    "clean",    "init_status", "passes", "console",    "not_console", "panic",         "at_least",    "tlb_model"};
// Keys only the test's own table has.
const std::set<std::string> kTestKeys = {"check", "cases", "boots", "combinations", "per_case", "repeat"};

// One boot while its table, case and boot keys are applied in turn.
struct Draft {
  TestBoot boot;
  std::vector<std::string> args, kernel_args;
  std::map<std::string, std::string> toggles;
  bool clean_set = false, init_status_set = false, init_set = false;
};

class ListReader : TomlReader {
 public:
  ListReader(std::string file, const GuestPaths& paths) : TomlReader(std::move(file)), paths_(paths) {}

  std::vector<BootTest> read(const std::string& text) {
    const toml::table root = parse_document(text);
    std::vector<BootTest> out;
    std::set<std::string> names;
    for (const auto& [k, node] : root) {
      const std::string name(k.str());
      const toml::table* t = node.as_table();
      if (!t) fail(node, fmt::format("{}: expected a [{}] table", name, name));
      for (BootTest& c : expand(name, *t)) {
        if (!names.insert(c.name).second) fail(node, fmt::format("{}: a second case named {}", name, c.name));
        out.push_back(std::move(c));
      }
    }
    return out;
  }

 private:
  // Sets one key of a boot. `where` names the key in messages.
  void apply(const std::string& key, const toml::node& n, Draft* d) const {
    TestBoot& b = d->boot;
    if (key == "emulator") {
      const auto e = parse_emulator(str(n, key));
      if (!e) fail(n, fmt::format("emulator: '{}' is neither qemu nor bochs", str(n, key)));
      b.spec.emulator = *e;
    } else if (key == "kernel") {
      b.spec.kernel = kernel(n);
    } else if (key == "init") {
      b.spec.init = str(n, key);
      d->init_set = true;
    } else if (key == "args") {
      if (n.is_string()) {
        std::istringstream words(str(n, key));
        d->args.clear();
        for (std::string w; words >> w;) d->args.push_back(w);
      } else {
        d->args = strings(n, key);
      }
    } else if (key == "initrd") {
      b.initrd_name = str(n, key);
      if (b.initrd_name != "tests" && b.initrd_name != "workloads")
        fail(n, fmt::format("initrd: '{}' is neither tests nor workloads", b.initrd_name));
    } else if (key == "toggles") {
      const toml::table* t = n.as_table();
      if (!t) fail(n, "toggles: expected a table of toggle = value");
      for (const auto& [tk, tv] : *t) toggle(std::string(tk.str()), tv, d);
    } else if (key.rfind("mm.", 0) == 0) {
      toggle(key, n, d);
    } else if (key == "kernel_args") {
      d->kernel_args = strings(n, key);
    } else if (key == "vcpus") {
      b.spec.vcpus = integer(n, key, 1, 16);
    } else if (key == "sockets") {
      b.spec.sockets = integer(n, key, 1, 16);
    } else if (key == "acpi") {
      b.spec.acpi = boolean(n, key);
    } else if (key == "cpu") {
      b.spec.cpu = str(n, key);
    } else if (key == "debug_exit") {
      b.spec.debug_exit = boolean(n, key);
    } else if (key == "memory") {
      b.spec.memory_mb = integer(n, key, 64, 2048);
    } else if (key == "deterministic") {
      b.spec.icount = boolean(n, key);
    } else if (key == "tlb_model") {
      b.spec.tlb_model = boolean(n, key);
    } else if (key == "timeout") {
      b.timeout_s = integer(n, key, 1, 3600);
    } else if (key == "status") {
      b.expect.status = str(n, key);
      static const std::set<std::string> kStatus = {"success", "failure", "timeout", "poweroff", "crash", "any"};
      if (!kStatus.count(b.expect.status))
        fail(n, fmt::format("status: '{}' is not one of success, failure, timeout, poweroff, crash, any",
                            b.expect.status));
    } else if (key == "clean") {
      b.expect.clean = boolean(n, key);
      d->clean_set = true;
    } else if (key == "init_status") {
      b.expect.init_status.clear();
      for (const toml::node* e : list(n, key)) b.expect.init_status.push_back(integer(*e, key, 0, 0xffff));
      d->init_status_set = true;
    } else if (key == "passes") {
      b.expect.passes = static_cast<int32_t>(integer(n, key, 0, 10000));
    } else if (key == "console") {
      b.expect.console = strings(n, key);
    } else if (key == "not_console") {
      b.expect.not_console = strings(n, key);
    } else if (key == "panic") {
      b.expect.panic = str(n, key);
    } else if (key == "at_least") {
      const toml::table* t = n.as_table();
      if (!t) fail(n, "at_least: expected a table of \"part.counter\" = minimum");
      b.expect.at_least.clear();
      for (const auto& [ck, cv] : *t) {
        const std::string path(ck.str());
        if (path.find('.') == std::string::npos)
          fail(cv, fmt::format("at_least: '{}' should be PART.COUNTER, e.g. kernel.forks", path));
        b.expect.at_least.emplace_back(path, integer(cv, path, 0, INT32_MAX));
      }
    } else {
      fail(n, fmt::format("unknown key '{}' (a boot has: {}; a test also: {})", key,
                          join({kBootKeys.begin(), kBootKeys.end()}, ", "),
                          join({kTestKeys.begin(), kTestKeys.end()}, ", ")));
    }
  }

  void toggle(const std::string& key, const toml::node& n, Draft* d) const {
    const mm::ToggleSpec* spec = find_toggle(key);
    if (!spec)
      fail(n, fmt::format("unknown toggle '{}' (known: {}; a bad toggle on purpose goes in kernel_args)", key,
                          toggle_keys()));
    const std::string v = str(n, key);
    if (v != spec->values[0] && v != spec->values[1])
      fail(n, fmt::format("unknown value '{}' for {} (expected {} or {})", v, key, spec->values[0], spec->values[1]));
    d->toggles[key] = v;
  }

  // One value of an axis as a name part: "off", "2", "true".
  std::string value_name(const toml::node& n) const {
    if (n.is_string()) return *n.value<std::string>();
    if (n.is_integer()) return std::to_string(*n.value<int64_t>());
    if (n.is_boolean()) return *n.value<bool>() ? "true" : "false";
    fail(n, "an axis value must be a string, an integer or a boolean; give cases = [{name = ..., ...}] instead");
  }

  // `cases` or `boots`: a table of axes (their product), or an array of
  // tables each with a name (`cases`) or a label (`boots`) and its keys.
  struct Variant {
    std::string name;
    std::vector<std::pair<std::string, const toml::node*>> keys;
  };
  std::vector<Variant> variants(const toml::node& n, const std::string& what, bool dotted) const {
    std::vector<Variant> out{{}};
    if (const toml::table* axes = n.as_table()) {
      for (const auto& [k, values] : *axes) {
        const std::string key(k.str());
        std::vector<Variant> next;
        for (const Variant& base : out)
          for (const toml::node* v : list(values, key)) {
            Variant x = base;
            const std::string part = dotted ? value_name(*v) : key + "=" + value_name(*v);
            x.name += (x.name.empty() ? "" : dotted ? "." : " ") + part;
            x.keys.emplace_back(key, v);
            next.push_back(std::move(x));
          }
        out = std::move(next);
      }
      return out;
    }
    const toml::array* arr = n.as_array();
    if (!arr || arr->empty()) fail(n, fmt::format("{}: expected a table of axes or an array of tables", what));
    out.clear();
    const char* id = what == "cases" ? "name" : "label";
    for (const toml::node& e : *arr) {
      const toml::table* t = e.as_table();
      if (!t) fail(e, fmt::format("{}: each entry is a table", what));
      Variant x;
      for (const auto& [k, v] : *t) {
        if (k.str() == id)
          x.name = str(v, id);
        else
          x.keys.emplace_back(std::string(k.str()), &v);
      }
      if (x.name.empty()) fail(e, fmt::format("{}: each entry needs a {}", what, id));
      out.push_back(std::move(x));
    }
    return out;
  }

  std::vector<BootTest> expand(const std::string& name, const toml::table& t) {
    Draft base;
    std::string check;
    std::vector<Variant> cases{{}}, boots{{}};
    std::vector<int32_t> combos{-1};
    uint32_t per_case = 0, repeat = 1;
    for (const auto& [k, node] : t) {
      const std::string key(k.str());
      if (key == "check") {
        check = str(node, key);
        if (check.find(':') == std::string::npos)
          fail(node, fmt::format("check: '{}' should be SUBJECT:FUNCTION (test_SUBJECT.py)", check));
      } else if (key == "cases") {
        cases = variants(node, key, true);
      } else if (key == "boots") {
        boots = variants(node, key, false);
      } else if (key == "combinations") {
        combos = combinations(node, key);
      } else if (key == "per_case") {
        per_case = integer(node, key, 1, mm::kNumToggleCombinations);
      } else if (key == "repeat") {
        repeat = integer(node, key, 1, 100);
      } else {
        apply(key, node, &base);
      }
    }
    // A case may choose its own combinations (all of them on 1 vCPU, a strength-3 sample on more).
    auto chunks_of = [&](const Variant& c) {
      std::vector<int32_t> mine = combos;
      for (const auto& [key, node] : c.keys)
        if (key == "combinations") mine = combinations(*node, key);
      if (per_case && mine.front() < 0) fail(t, fmt::format("{}: per_case needs combinations", name));
      const size_t step = per_case ? per_case : mine.size();
      std::vector<std::vector<int32_t>> chunks;
      for (size_t i = 0; i < mine.size(); i += step)
        chunks.emplace_back(mine.begin() + i, mine.begin() + std::min(mine.size(), i + step));
      return chunks;
    };

    std::vector<BootTest> out;
    for (const Variant& c : cases) {
      const std::vector<std::vector<int32_t>> chunks = chunks_of(c);
      for (size_t k = 0; k < chunks.size(); ++k) {
        BootTest test{.name = name, .check = check, .line = line(t)};
        if (!c.name.empty()) test.name += "." + c.name;
        if (chunks.size() > 1) test.name += "." + std::to_string(k);
        for (int32_t combo : chunks[k])
          for (const Variant& b : boots)
            for (uint32_t rep = 0; rep < repeat; ++rep) {
              Draft d = base;
              for (const auto& [key, node] : c.keys)
                if (key != "combinations") apply(key, *node, &d);
              for (const auto& [key, node] : b.keys) apply(key, *node, &d);
              std::vector<std::string> label;
              if (!b.name.empty()) label.push_back(b.name);
              if (combo >= 0) {
                if (!d.toggles.empty()) fail(t, fmt::format("{}: toggles and combinations both choose toggles", name));
                d.toggles = toggle_combination(static_cast<uint32_t>(combo));
                d.boot.combination = combo;
                label.push_back(fmt::format("combination {}", combo));
              }
              if (repeat > 1) label.push_back(fmt::format("boot {} of {}", rep + 1, repeat));
              d.boot.label = join(label, ", ");
              test.boots.push_back(finish(name, t, std::move(d)));
            }
        out.push_back(std::move(test));
      }
    }
    return out;
  }

  // "all", [first, last] or "strength3" (16 combinations, every three toggles in all their value combinations).
  std::vector<int32_t> combinations(const toml::node& node, const std::string& key) const {
    std::vector<int32_t> out;
    if (node.is_string() && str(node, key) == "strength3") {
      for (uint32_t c : strength3_combinations()) out.push_back(static_cast<int32_t>(c));
      return out;
    }
    uint32_t lo = 0, hi = mm::kNumToggleCombinations - 1;
    if (const toml::array* a = node.as_array(); a && a->size() == 2) {
      lo = integer(*a->get(0), key, 0, hi);
      hi = integer(*a->get(1), key, lo, hi);
    } else if (!node.is_string() || str(node, key) != "all") {
      fail(node, "combinations: \"all\", \"strength3\" or [first, last]");
    }
    for (uint32_t i = lo; i <= hi; ++i) out.push_back(static_cast<int32_t>(i));
    return out;
  }

  // Defaults, placeholders ({index}, {seed}, {vcpus}) and paths.
  TestBoot finish(const std::string& name, const toml::table& t, Draft d) const {
    TestBoot& b = d.boot;
    VmSpec& s = b.spec;
    if (s.kernel == Kernel::kLinuxPae) {
      if (!d.toggles.empty()) fail(t, fmt::format("{}: toggles are for the mmlab kernel", name));
      if (d.init_set) fail(t, fmt::format("{}: Linux always runs /init (rdinit=/init); give its args", name));
    }
    if (!d.clean_set) b.expect.clean = s.kernel == Kernel::kMmlab;
    if (!d.init_status_set && b.expect.clean && b.expect.status == "success") b.expect.init_status = {0};
    auto substitute = [&](const std::string& w) {
      std::string missing;
      const std::string out = substitute_placeholders(w, b.combination, s.vcpus, &missing);
      if (!missing.empty()) fail(t, fmt::format("{}: {} needs combinations", name, missing));
      return out;
    };
    for (const std::string& a : d.args) s.init_args.push_back(substitute(a));
    for (const std::string& a : d.kernel_args) s.kernel_args.push_back(substitute(a));
    for (std::string& c : b.expect.console) c = substitute(c);
    s.toggles = d.toggles;
    b.expect.toggles = d.toggles;
    s.tlb_plugin = paths_.tlb_plugin;
    b.expect.tlb_paired = s.tlb_model;
    s.kernel_image = s.kernel == Kernel::kMmlab ? paths_.mmlab_kernel : paths_.linux_kernel;
    if (b.initrd_name.empty()) b.initrd_name = "tests";
    s.initrd = b.initrd_name == "tests" ? paths_.test_initrd : paths_.initrd;
    try {
      check_spec(s);  // a topology or a word the emulator or the command line cannot take
    } catch (const std::invalid_argument& e) {
      fail(t, fmt::format("{}: {}", name, e.what()));
    }
    return b;
  }

  const GuestPaths& paths_;
};

// Safe reads of guest records (they may hold anything).
int64_t int_at(const json& j, const char* key, int64_t otherwise) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : otherwise;
}
bool true_at(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
const json& object_at(const json& j, const char* key) {
  static const json kNone;
  const auto it = j.find(key);
  return it != j.end() ? *it : kNone;
}
bool all_zero(const json& j) {
  if (!j.is_object()) return false;
  for (const auto& [k, v] : j.items())
    if (!v.is_number_integer() || v.get<int64_t>() != 0) return false;
  return true;
}

}  // namespace

std::string default_boot_test_list() {
  return std::string(MMLAB_SOURCE_DIR) + "/kernel_mm/kernel/tests/boot_tests.toml";
}

std::vector<BootTest> read_boot_tests(const std::string& path, const GuestPaths& paths) {
  const auto text = read_file(path);
  if (!text) throw MatrixError(path, 0, "cannot read the boot-test list");
  return ListReader(path, paths).read(*text);
}

std::vector<std::string> unmet(const BootExpect& e, const BootResult& r) {
  std::vector<std::string> out;
  if (e.status != "any" && r.status != e.status)
    out.push_back(fmt::format("status {} (QEMU exit {}), expected {}", r.status, r.qemu_exit, e.status));
  std::vector<json> leaks, panics, boots, counters, tlb;
  for (const json& rec : r.records.records) {
    const std::string type = rec.value("type", "");
    if (type == "leak") leaks.push_back(rec);
    if (type == "panic") panics.push_back(rec);
    if (type == "boot") boots.push_back(rec);
    if (type == "counters") counters.push_back(rec);
    if (type == "tlb_model") tlb.push_back(rec);
  }
  if (e.tlb_paired) {
    if (tlb.size() != 1)
      out.push_back("no tlb_model record: the TLB-model plugin did not run");
    else if (!true_at(tlb[0], "paired") || int_at(tlb[0], "checkpoints", 0) == 0)
      out.push_back(fmt::format("the TLB-model plugin wrote {} checkpoints for {} counters records",
                                int_at(tlb[0], "checkpoints", -1), int_at(tlb[0], "counters_records", -1)));
  }
  if (r.records.malformed)
    out.push_back(
        fmt::format("{} malformed record(s), first: {}", r.records.malformed, r.records.malformed_examples.at(0)));
  if (!e.toggles.empty() && boots.size() == 1) {
    const json& running = object_at(boots[0], "toggles");
    for (const auto& [k, v] : e.toggles)
      if (!running.is_object() || !running.contains(k) || running[k] != v)
        out.push_back(fmt::format("the boot record says {}={}, the boot asked for {}", k,
                                  running.is_object() && running.contains(k) ? json_line(running[k]) : "(missing)", v));
  }
  for (const auto& [path, minimum] : e.at_least) {
    const std::string part = path.substr(0, path.find('.')), name = path.substr(path.find('.') + 1);
    const json* v = nullptr;
    if (!counters.empty() && counters.back().contains(part) && counters.back()[part].is_object() &&
        counters.back()[part].contains(name))
      v = &counters.back()[part][name];
    if (!v || !v->is_number_integer() || v->get<int64_t>() < minimum)
      out.push_back(fmt::format("the last counters record has {} = {}, expected at least {}", path,
                                v ? json_line(*v) : "(missing)", minimum));
  }
  if (e.clean) {
    if (!panics.empty()) out.push_back("a panic record: " + json_line(panics[0]));
    if (leaks.size() != 1) {
      out.push_back(fmt::format("{} leak records, expected one (did the kernel shut down cleanly?)", leaks.size()));
    } else {
      const json& l = leaks[0];
      // (Its "ok" also says init exited 0: init_status checks that, when the boot expects it.)
      const bool ok = true_at(l, "leak_free") && all_zero(object_at(l, "frames")) &&
                      all_zero(object_at(l, "objects")) && int_at(l, "pgds", 1) == 0 && int_at(l, "ptls", 1) == 0 &&
                      int_at(l, "ptls_dynamic", 1) == 0 && int_at(l, "pgd_list", 1) == 0 &&
                      int_at(l, "task_list", 1) == 0;
      if (!ok) out.push_back("the leak record reports leaks: " + json_line(l));
    }
  }
  if (!e.init_status.empty()) {
    const int64_t st = leaks.size() == 1 ? int_at(leaks[0], "init_status", -1) : -1;
    if (std::find(e.init_status.begin(), e.init_status.end(), st) == e.init_status.end())
      out.push_back(fmt::format("init's wait status {}, expected one of {}", st, fmt::join(e.init_status, ", ")));
  }
  if (e.passes >= 0) {
    const size_t passes = count_lines_starting(r.console, "PASS"), fails = count_lines_starting(r.console, "FAIL");
    if (passes < static_cast<size_t>(e.passes) || fails)
      out.push_back(
          fmt::format("{} PASS and {} FAIL lines, expected at least {} PASS and no FAIL", passes, fails, e.passes));
  }
  for (const std::string& c : e.console)
    if (r.console.find(c) == std::string::npos) out.push_back(fmt::format("the console lacks \"{}\"", c));
  for (const std::string& c : e.not_console)
    if (r.console.find(c) != std::string::npos) out.push_back(fmt::format("the console holds \"{}\"", c));
  if (!e.panic.empty()) {
    const bool found = std::any_of(panics.begin(), panics.end(), [&](const json& p) {
      const auto m = p.find("message");
      return m != p.end() && m->is_string() && m->get<std::string>().find(e.panic) != std::string::npos;
    });
    if (!found) out.push_back(fmt::format("no panic record whose message holds \"{}\"", e.panic));
  }
  return out;
}

json boot_test_json(const BootTest& t) {
  json boots = json::array();
  for (const TestBoot& b : t.boots) {
    const VmSpec& s = b.spec;
    boots.push_back({{"label", b.label},
                     {"emulator", emulator_name(s.emulator)},
                     {"combination", b.combination},
                     {"kernel", kernel_name(s.kernel)},
                     {"toggles", s.toggles},
                     {"kernel_args", s.kernel_args},
                     {"init", s.init},
                     {"args", s.init_args},
                     {"initrd", b.initrd_name},
                     {"vcpus", s.vcpus},
                     {"sockets", s.sockets},
                     {"acpi", s.acpi},
                     {"cpu", s.cpu},
                     {"debug_exit", s.debug_exit},
                     {"memory", s.memory_mb},
                     {"deterministic", s.icount},
                     {"tlb_model", s.tlb_model},
                     {"timeout", b.timeout_s},
                     {"expect",
                      {{"status", b.expect.status},
                       {"clean", b.expect.clean},
                       {"init_status", b.expect.init_status},
                       {"passes", b.expect.passes},
                       {"console", b.expect.console},
                       {"not_console", b.expect.not_console},
                       {"panic", b.expect.panic},
                       {"at_least", b.expect.at_least}}}});
  }
  return {{"name", t.name}, {"check", t.check}, {"line", t.line}, {"boots", boots}};
}

}  // namespace mmlab
