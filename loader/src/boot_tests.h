// The boot-test list (kernel_mm/kernel/tests/boot_tests.toml, docs/testing.md):
// one table per test, in the manner of kvm-unit-tests' unittests.cfg: what
// to boot (kernel, init and its arguments, vCPUs, toggles, memory, timeout)
// and what must hold afterwards (status, no leak, PASS lines, console text,
// a panic message). `mmlab tests` lists the expanded cases, `mmlab boot
// --test NAME` runs one and checks it; a case that also names a Python
// check gets it from the pytest file of that subject, which receives every
// boot of the case.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "boot.h"
#include "guest.h"

namespace mmlab {

// What must hold after one boot.
struct BootExpect {
  std::string status = "success";  // BootResult::status, or "any"
  // The leak record says nothing leaked (every count zero), and there is no
  // panic record and no malformed record. Default: on for mmlab, off for
  // Linux (which sends no leak record).
  bool clean = true;
  std::vector<int64_t> init_status;      // init's wait status must be one of these (empty: any)
  int32_t passes = -1;                   // at least this many "PASS" lines and no "FAIL" line
  std::vector<std::string> console;      // must appear in the console
  std::vector<std::string> not_console;  // must not
  std::string panic;                     // a panic record whose message holds this
  // Counters of the last counters record (the shutdown snapshot) that must
  // be at least this: {"kernel.forks", 20}.
  std::vector<std::pair<std::string, int64_t>> at_least;
  // The toggles the boot asked for; mmlab's boot record must show them.
  std::map<std::string, std::string> toggles;
  // The boot loads the TLB-model plugin: its checkpoints must pair one to
  // one with the counters records (docs/tlb-model.md).
  bool tlb_paired = false;
};

struct TestBoot {
  VmSpec spec;  // paths filled in; console and records paths left to boot_once
  uint32_t timeout_s = 60;
  std::string initrd_name;   // "tests" or "workloads"
  std::string label;         // what sets it apart within its case, e.g. "mm.pmd_prealloc=off"
  int32_t combination = -1;  // the toggle combination index it runs, if the case sweeps them
  BootExpect expect;
};

struct BootTest {
  std::string name;   // ctest runs it as boot.NAME
  std::string check;  // "subject:function" in kernel_mm/kernel/tests/test_SUBJECT.py, or ""
  uint32_t line = 0;  // of its table in the list
  std::vector<TestBoot> boots;
};

// Reads and expands the list. Throws MatrixError (file and line) for a
// malformed list, an unknown key, a toggle or value the table does not
// know, or two cases with one name.
std::vector<BootTest> read_boot_tests(const std::string& path, const GuestPaths& paths);

// What did not hold, one message each; empty when everything did.
std::vector<std::string> unmet(const BootExpect& e, const BootResult& r);

// A case as data, for `mmlab tests --json` and the pytest side.
nlohmann::json boot_test_json(const BootTest& t);

// The default list: MMLAB_SOURCE_DIR/kernel_mm/kernel/tests/boot_tests.toml.
std::string default_boot_test_list();

}  // namespace mmlab
