#include "mm/counters.h"

#include "mm/page.h"

namespace mm {
namespace {

constexpr const char* kCounterNames[] = {
#define MM_X(id, name, doc) name,
    MM_COUNTERS(MM_X)
#undef MM_X
};
constexpr const char* kLockNames[] = {
#define MM_X(id, name) name,
    MM_LOCK_CLASSES(MM_X)
#undef MM_X
};
constexpr const char* kLockStatNames[] = {"acquire", "contended", "wait_cycles"};
constexpr const char* kPageKindNames[] = {"free",      "reserved", "user",   "pte_table",
                                          "pmd_table", "pgd",      "kernel", "page_cache"};
static_assert(sizeof(kPageKindNames) / sizeof(kPageKindNames[0]) == kNumPageKinds);

}  // namespace

const char* lock_class_name(LockClass cls) { return kLockNames[static_cast<uint32_t>(cls)]; }

const char* page_kind_name(PageKind k) { return kPageKindNames[static_cast<uint32_t>(k)]; }

const char* counter_name(uint32_t index, char* buf, uint32_t len) {
  if (index < kNumPlainCounters) return kCounterNames[index];
  if (index >= kNumCounters || len == 0) return "?";
  const uint32_t rel = index - kNumPlainCounters;
  const char* parts[] = {kLockNames[rel / kLockStats], ".", kLockStatNames[rel % kLockStats]};
  uint32_t pos = 0;
  for (const char* p : parts)
    for (; *p && pos + 1 < len; ++p) buf[pos++] = *p;
  buf[pos] = 0;
  return buf;
}

}  // namespace mm
