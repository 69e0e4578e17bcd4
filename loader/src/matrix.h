// The matrix file (docs/matrix.md) and its expansion into cells.
//
// A matrix names kernels, toggle values to sweep, workloads, vCPU counts
// and repetitions; `exclude` rules drop cells and `include` rules add
// them, as in LKP and GitHub Actions matrices. Every cell is one fresh VM.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mmlab {

// A bad matrix: names the file, the line (0 when unknown) and what is wrong.
struct MatrixError : std::runtime_error {
  MatrixError(const std::string& file, uint32_t line, const std::string& what);
  std::string file;
  uint32_t line;
};

// The kernels a cell can boot.
enum class Kernel { kMmlab, kLinuxPae };
const char* kernel_name(Kernel k);

// The emulators a boot can run under: QEMU (TCG or KVM) for every figure,
// Bochs (docs/testing.md) as the stricter x86 for correctness runs.
enum class Emulator { kQemu, kBochs };
const char* emulator_name(Emulator e);
// "qemu" or "bochs"; nullopt otherwise.
std::optional<Emulator> parse_emulator(const std::string& s);

enum class Accel { kAuto, kKvm, kTcg };
const char* accel_name(Accel a);
// "auto", "kvm" or "tcg" (checked by the command line); nullopt for "".
std::optional<Accel> parse_accel(const std::string& s);

// What /init runs in the guest: a workload of the initrd (/bin/NAME), a
// user's own static i386 binary packed into the initrd for its cells, or
// several programs in one boot (`programs`, /init's `P1 ARGS :: P2 ARGS`).
// `args`, `programs` and `kernel_args` may hold the placeholders {index},
// {seed} and {vcpus}, replaced per cell (expand).
struct Workload {
  std::string name;               // the workload's name; for a binary, its file name; for programs, a label
  std::string binary;             // path on the host; empty for an initrd workload
  std::vector<std::string> args;  // for programs: /init's whole argument list, "::" between programs
  std::vector<std::vector<std::string>> programs;  // each program and its arguments; empty for one program
  bool test_initrd = false;                        // initrd = "tests": the workloads plus /tests/t_* and /data
  std::vector<std::string> kernel_args;            // added to the matrix's for this workload's cells
  bool survive = false;  // expect = "survive": ok when the kernel survives, whatever the programs did
};

struct Cell {
  uint32_t index = 0;                   // position in the expansion (before shuffling)
  Emulator emulator = Emulator::kQemu;  // the matrix's; part of the key when not QEMU
  Kernel kernel = Kernel::kMmlab;
  std::map<std::string, std::string> toggles;  // every toggle with its value (mmlab); empty for Linux
  Workload workload;
  uint32_t vcpus = 1;
  uint32_t rep = 0;
  // The kernel command line's extra words: the matrix's and the workload's,
  // placeholders replaced. In the key when there are any.
  std::vector<std::string> kernel_args;
  // {index} or {seed} was replaced in its words: its seed is its toggle
  // combination's number + 1, so its toggles and its seed change together.
  bool seeded = false;
  // A stable identity: the same configuration gives the same key in every
  // expansion, so --resume and merge can tell which cells are done.
  std::string key() const;
  // The key without the repetition: what the repetitions of a configuration share.
  std::string config_key() const;
};

// An exclude or include rule: keys are toggle names, "kernel", "vcpus",
// "workload" (a workload's name) and "args" (its arguments joined by
// spaces). An exclude drops every cell that matches all its keys.
struct Rule {
  std::map<std::string, std::string> match;
  uint32_t line = 0;
};

struct Matrix {
  std::string file;
  std::string name;
  std::vector<Kernel> kernels{Kernel::kMmlab};
  // Bochs: correctness runs only (the mmlab kernel, no KVM, no -icount, at most 8 vCPUs).
  Emulator emulator = Emulator::kQemu;
  Accel accel = Accel::kAuto;
  bool deterministic = false;
  uint32_t repetitions = 1;
  std::vector<uint32_t> vcpus{1};
  uint32_t memory_mb = 256;
  uint32_t timeout_s = 120;
  // Extra words for the kernel command line, before "--" (mmlab.debug=...,
  // Linux parameters). Toggles go in [toggles], not here.
  std::vector<std::string> kernel_args;
  std::optional<uint64_t> seed;
  // Swept toggles in the table's order (toggle_table.h); a toggle not named stays at its default.
  std::vector<std::pair<std::string, std::vector<std::string>>> toggles;
  std::vector<Workload> workloads;
  std::vector<Rule> excludes;
  std::vector<Rule> includes;
  // The TLB-model plugin (docs/tlb-model.md): loaded into every cell's QEMU
  // when `tlb_model` (TCG only), with `tlb_geometry`'s words (itlb=128:8,
  // pde=32, ...; the [tlb_geometry] table, checked by the plugin's own
  // parser). `tlb_model_line`: where the file turns it on (0: it does not).
  bool tlb_model = false;
  uint32_t tlb_model_line = 0;
  std::vector<std::string> tlb_geometry;
};

// Parses and checks a matrix. Throws MatrixError naming the file, line and
// key for malformed TOML, unknown keys, wrong types, unknown toggles or
// values, workloads that are not in the initrd and binaries that are not
// static i386 ELF files. `known_workloads`: the initrd's /bin programs;
// `test_initrd_files`: the test initrd's files ("/tests/t_fork", ...), for
// workloads with initrd = "tests".
Matrix parse_matrix_file(const std::string& path, const std::vector<std::string>& known_workloads,
                         const std::vector<std::string>& test_initrd_files = {});
Matrix parse_matrix_text(const std::string& text, const std::string& file,
                         const std::vector<std::string>& known_workloads,
                         const std::vector<std::string>& test_initrd_files = {});

// Every cell: kernels x toggle values (mmlab only) x workloads x vCPUs x
// repetitions, minus the cells an exclude matches, plus the includes: an
// include adds, for every workload it matches (all when it names none), one
// cell per repetition with its kernel (default mmlab), its toggles (the
// others at their defaults) and its vCPUs (default: the first listed),
// unless the expansion already has that cell. Then each cell's placeholders
// are replaced: {index} by its toggle combination as the kernel numbers them
// (bit i: toggle i at its second value), {seed} by index + 1, {vcpus} by its
// vCPUs (rules match the file's words, before). In a fixed order; the run
// order comes from shuffle_cells.
std::vector<Cell> expand(const Matrix& m);

// Deterministic cells (-icount) are exact: every repetition of a
// configuration gives the same counts, bit for bit. So each configuration
// runs once (its rep 0), and a sample of them twice (rep 0 and rep 1) to
// check that they are: every `verify_every`-th configuration in expansion
// order, and at least two. Returns the cells to run; `verified` gets the
// config keys run twice.
inline constexpr uint32_t kVerifyEvery = 8;
std::vector<Cell> once_per_configuration(const std::vector<Cell>& all, uint32_t verify_every,
                                         std::vector<std::string>* verified);

// The run order: a seeded shuffle, so host drift spreads over every
// configuration and a configuration's repetitions interleave with others.
void shuffle_cells(std::vector<Cell>* cells, uint64_t seed);

}  // namespace mmlab
