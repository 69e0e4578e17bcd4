// Strong address types, the PAE 3G/1G layout constants, and Status.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace mm {

inline constexpr uint32_t kPageShift = 12;
inline constexpr uint32_t kPageSize = 1u << kPageShift;
inline constexpr uint32_t kPmdShift = 21;  // one PMD entry maps 2 MiB
inline constexpr uint32_t kPmdSize = 1u << kPmdShift;
inline constexpr uint32_t kPgdShift = 30;  // one PGD entry (PDPTE) maps 1 GiB
inline constexpr uint64_t kPgdSize = 1ull << kPgdShift;
inline constexpr uint32_t kPtrsPerPte = 512;
inline constexpr uint32_t kPtrsPerPmd = 512;
inline constexpr uint32_t kPtrsPerPgd = 4;

// 3G/1G split: PGD entries 0-2 map user space, entry 3 the kernel PMD.
inline constexpr uint32_t kTaskSize = 0xC0000000u;
inline constexpr uint32_t kPageOffset = kTaskSize;
inline constexpr uint32_t kUserPgdEntries = kTaskSize >> kPgdShift;  // 3
inline constexpr uint32_t kKernelPgdIndex = 3;

// Upper bound on CPUs; mm_cpumask is one 32-bit word.
inline constexpr uint32_t kMaxCpus = 32;

// Bits set in v. (__builtin_popcount would call libgcc on i686.)
constexpr uint32_t popcount32(uint32_t v) {
  v = v - ((v >> 1) & 0x55555555u);
  v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
  return (((v + (v >> 4)) & 0x0F0F0F0Fu) * 0x01010101u) >> 24;
}
static_assert(popcount32(0) == 0 && popcount32(0xFFFFFFFFu) == 32 && popcount32(0x80000101u) == 3);

// A 32-bit linear address.
class VirtAddr {
 public:
  constexpr VirtAddr() = default;
  constexpr explicit VirtAddr(uint32_t v) : v_(v) {}
  constexpr uint32_t value() const { return v_; }
  constexpr uint32_t pgd_index() const { return v_ >> kPgdShift; }
  constexpr uint32_t pmd_index() const { return (v_ >> kPmdShift) & (kPtrsPerPmd - 1); }
  constexpr uint32_t pte_index() const { return (v_ >> kPageShift) & (kPtrsPerPte - 1); }
  constexpr uint32_t page_offset() const { return v_ & (kPageSize - 1); }
  constexpr bool page_aligned() const { return page_offset() == 0; }
  constexpr VirtAddr page_down() const { return VirtAddr(v_ & ~(kPageSize - 1)); }
  constexpr bool is_user() const { return v_ < kTaskSize; }
  constexpr VirtAddr operator+(uint32_t d) const { return VirtAddr(v_ + d); }
  constexpr VirtAddr operator-(uint32_t d) const { return VirtAddr(v_ - d); }
  constexpr uint32_t operator-(VirtAddr o) const { return v_ - o.v_; }
  constexpr auto operator<=>(const VirtAddr&) const = default;

 private:
  uint32_t v_ = 0;
};

// A physical address. PAE entries hold up to 52 address bits, so 64 bits.
class PhysAddr {
 public:
  constexpr PhysAddr() = default;
  constexpr explicit PhysAddr(uint64_t v) : v_(v) {}
  static constexpr PhysAddr from_pfn(uint32_t pfn) { return PhysAddr(uint64_t{pfn} << kPageShift); }
  constexpr uint64_t value() const { return v_; }
  constexpr uint32_t pfn() const { return static_cast<uint32_t>(v_ >> kPageShift); }
  constexpr bool page_aligned() const { return (v_ & (kPageSize - 1)) == 0; }
  constexpr PhysAddr operator+(uint64_t d) const { return PhysAddr(v_ + d); }
  constexpr auto operator<=>(const PhysAddr&) const = default;

 private:
  uint64_t v_ = 0;
};

// Rounds up to a page boundary. 0 stays 0; an overflow past 4 GiB returns 0,
// which every caller treats as "the top" (see free_pgtables' ceiling rule).
constexpr uint32_t page_align_up(uint32_t v) { return (v + kPageSize - 1) & ~(kPageSize - 1); }

enum class [[nodiscard]] Status : uint8_t{
    kOk,
    kNoMem,       // an allocation failed (real or injected): -ENOMEM
    kBadAddress,  // no VMA covers the address: SIGSEGV / SEGV_MAPERR
    kAccess,      // a VMA covers it but forbids the access: SEGV_ACCERR
    kInvalid,     // bad arguments: -EINVAL
    kExists,      // MAP_FIXED_NOREPLACE-style overlap
    kBus,         // a fault past the end of a mapped file: SIGBUS
};

constexpr const char* status_name(Status s) {
  switch (s) {
    case Status::kOk:
      return "ok";
    case Status::kNoMem:
      return "nomem";
    case Status::kBadAddress:
      return "bad_address";
    case Status::kAccess:
      return "access";
    case Status::kInvalid:
      return "invalid";
    case Status::kExists:
      return "exists";
    case Status::kBus:
      return "bus";
  }
  return "?";
}

// The set of CPUs that have an mm loaded in CR3 (mm_cpumask in Linux).
class CpuMask {
 public:
  void set(uint32_t cpu) { bits_.fetch_or(1u << cpu, std::memory_order_relaxed); }
  void clear(uint32_t cpu) { bits_.fetch_and(~(1u << cpu), std::memory_order_relaxed); }
  uint32_t load() const { return bits_.load(std::memory_order_acquire); }
  bool test(uint32_t cpu) const { return (load() >> cpu) & 1u; }

 private:
  std::atomic<uint32_t> bits_{0};
};

}  // namespace mm
