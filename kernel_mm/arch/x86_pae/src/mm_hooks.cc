// The remaining out-of-line hooks the mm core needs from this machine
// (mm/arch.h, mm/annotations.h; the SMP ones are in smp.cc): frame zeroing
// and copying, and what a failed assertion does.
#include <cstring>

#include "kernel/console.h"
#include "mm/arch.h"

namespace arch {

// Every frame the allocator hands out is lowmem, so the direct map reaches it.
void zero_frame(mm::PhysAddr pa) { std::memset(phys_to_virt(pa), 0, mm::kPageSize); }
void copy_frame(mm::PhysAddr dst, mm::PhysAddr src) {
  std::memcpy(phys_to_virt(dst), phys_to_virt(src), mm::kPageSize);
}

}  // namespace arch

namespace mm {

// A panic: the message on the console, a `panic` record, and out of QEMU
// with a failure code.
void assert_fail(const char* expr, const char* file, int line) {
  panic("mm assertion failed: %s (%s:%d)", expr, file, line);
}

}  // namespace mm
