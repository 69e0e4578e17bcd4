// The page-table design toggles (ARCHITECTURE.md): this table is the only
// place they are written down. It drives the kernel's parsing and printing,
// the hosted tests' enumeration, and, through `mmlab toggles --json` and every
// result set's manifest, the loader's matrices, the boot tests and the
// analysis's report. A new toggle is one row here (and its branches in mm/).
#pragma once

#include <cstdint>

namespace mm {

enum class ToggleId : uint8_t {
  kPmdPrealloc,   // mm.pmd_prealloc  on | off
  kPgdInit,       // mm.pgd_init      locked | lockless
  kKernelPmd,     // mm.kernel_pmd    shared | unshared
  kFreePgtables,  // mm.free_pgtables vma | full
  kPtlock,        // mm.ptlock        split | mm
  kPtlockAlloc,   // mm.ptlock_alloc  inline | dynamic
  kCount
};
inline constexpr uint32_t kNumToggles = static_cast<uint32_t>(ToggleId::kCount);
inline constexpr uint32_t kNumToggleCombinations = 1u << kNumToggles;  // every toggle has two values

struct ToggleSpec {
  const char* key;
  const char* values[2];  // the default (mainline Linux) first
  const char* title;      // the design choice, in the words of a report's first column
  const char* question;   // what the two values decide, for the report's reader
};

inline constexpr ToggleSpec kToggleSpecs[kNumToggles] = {
    {"mm.pmd_prealloc",
     {"on", "off"},
     "PMD preallocation",
     "all user PMDs allocated with the PGD, or installed lazily, each install into a live PGD forcing a CR3 reload "
     "(PAE loads the PDPTEs only at CR3 writes)"},
    {"mm.pgd_init",
     {"locked", "lockless"},
     "pgd_list + pgd_lock vs lockless late PGD init",
     "every PGD on pgd_list under pgd_lock, or the kernel part copied late after the mm is published, syncs "
     "walking the task list"},
    {"mm.kernel_pmd",
     {"shared", "unshared"},
     "shared vs unshared kernel PMD",
     "one kernel PMD for every PGD, or a copy per PGD that every new kernel mapping must be synced into"},
    {"mm.free_pgtables",
     {"vma", "full"},
     "VMA-guided vs full-range free_pgtables",
     "teardown walks the VMAs with floor and ceiling, or clears the whole user range level by level"},
    {"mm.ptlock",
     {"split", "mm"},
     "split page-table locks vs one mm lock",
     "one lock per PTE and PMD table, or one page_table_lock per mm"},
    {"mm.ptlock_alloc",
     {"inline", "dynamic"},
     "inline vs dynamically allocated split locks",
     "the split lock inside the table's struct page, or allocated apart (a missed dtor then leaks it)"},
};

class Toggles {
 public:
  // Defaults: every toggle at its first value.
  constexpr Toggles() = default;

  // Combination `bits` of 0..kNumToggleCombinations-1: bit i picks value 1 of toggle i.
  static constexpr Toggles from_index(uint32_t bits) {
    Toggles t;
    for (uint32_t i = 0; i < kNumToggles; ++i) t.v_[i] = (bits >> i) & 1u;
    return t;
  }
  constexpr uint32_t index() const {
    uint32_t bits = 0;
    for (uint32_t i = 0; i < kNumToggles; ++i) bits |= uint32_t{v_[i]} << i;
    return bits;
  }

  constexpr uint8_t get(ToggleId id) const { return v_[static_cast<uint32_t>(id)]; }
  constexpr void set(ToggleId id, uint8_t value) { v_[static_cast<uint32_t>(id)] = value & 1u; }
  constexpr const char* value_name(ToggleId id) const {
    return kToggleSpecs[static_cast<uint32_t>(id)].values[get(id)];
  }

  constexpr bool pmd_prealloc() const { return get(ToggleId::kPmdPrealloc) == 0; }
  constexpr bool pgd_lockless() const { return get(ToggleId::kPgdInit) == 1; }
  constexpr bool kernel_pmd_shared() const { return get(ToggleId::kKernelPmd) == 0; }
  constexpr bool free_pgtables_full() const { return get(ToggleId::kFreePgtables) == 1; }
  constexpr bool ptlock_split() const { return get(ToggleId::kPtlock) == 0; }
  constexpr bool ptlock_dynamic() const { return get(ToggleId::kPtlockAlloc) == 1; }

  // Parses one "key=value" word of a command line. Returns true and sets the
  // toggle; otherwise writes a message naming the problem into `err`
  // (NUL-terminated, truncated to `err_len`) and leaves the toggles as they were.
  // `len` is the word's length (it need not be NUL-terminated).
  bool parse(const char* word, uint32_t len, char* err, uint32_t err_len);

  // Writes "mm.pmd_prealloc=on mm.pgd_init=locked ..." (NUL-terminated).
  // Returns the length written, excluding the NUL.
  uint32_t format(char* buf, uint32_t len) const;

  constexpr bool operator==(const Toggles&) const = default;

 private:
  uint8_t v_[kNumToggles] = {};
};

// True when `word` starts with "mm." (so the kernel can route it here).
bool is_toggle_word(const char* word, uint32_t len);

}  // namespace mm
