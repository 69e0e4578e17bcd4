// Every trap, interrupt and system call: page faults through the mm core,
// user exceptions as signals (the process dies; signal handlers are not
// delivered yet), kernel exceptions as a panic with a register dump.
#include "kernel/trap.h"

#include "arch/apic.h"
#include "arch/smp.h"
#include "kernel/console.h"
#include "kernel/klib.h"
#include "kernel/kstats.h"
#include "kernel/process.h"
#include "kernel/sched.h"
#include "kernel/smp.h"
#include "kernel/syscall.h"
#include "mm/memory.h"

namespace kern {
namespace {

constexpr int kSigill = 4, kSigtrap = 5, kSigbus = 7, kSigfpe = 8, kSigkill = 9, kSigsegv = 11;
// A fault the mm resolves that comes back at the same address and
// instruction this many times in a row means the mm did not fix the entry.
constexpr uint32_t kFaultLoopLimit = 64;

const char* const kExceptionNames[32] = {"divide error",
                                         "debug",
                                         "NMI",
                                         "breakpoint",
                                         "overflow",
                                         "bound range",
                                         "invalid opcode",
                                         "device not available",
                                         "double fault",
                                         "coprocessor overrun",
                                         "invalid TSS",
                                         "segment not present",
                                         "stack fault",
                                         "general protection",
                                         "page fault",
                                         "reserved",
                                         "x87 error",
                                         "alignment check",
                                         "machine check",
                                         "SIMD error",
                                         "virtualization",
                                         "control protection",
                                         "reserved",
                                         "reserved",
                                         "reserved",
                                         "reserved",
                                         "reserved",
                                         "reserved",
                                         "reserved",
                                         "VMM communication",
                                         "security",
                                         "reserved"};

void check_fault_loop(x86::TrapFrame* f, uint32_t addr) {
  Task* t = current;
  if (addr == t->last_fault_addr && f->eip == t->last_fault_ip) {
    if (++t->same_fault_count >= kFaultLoopLimit)
      panic_frame(f, "fault loop: pid %d faults at 0x%08x forever (mm resolved it %u times)", t->pid, addr,
                  t->same_fault_count);
  } else {
    t->last_fault_addr = addr;
    t->last_fault_ip = f->eip;
    t->same_fault_count = 0;
  }
}

// handle_mm_fault, except that PID 1 is never the one an allocation failure
// kills: as Linux's OOM killer never picks init, it tries again (with
// mm.fail_alloc the next allocation succeeds). Only when the retries run
// out (real exhaustion) does init get kNoMem like anyone else.
mm::Status fault_in(mm::VirtAddr addr, mm::FaultFlags flags) {
  constexpr int kInitRetries = 64;
  mm::Status s = mm::handle_mm_fault(current->mm, addr, flags);
  for (int i = 0; s == mm::Status::kNoMem && is_init(current) && i < kInitRetries; ++i) {
    ++cpu_self().init_oom_retries;
    s = mm::handle_mm_fault(current->mm, addr, flags);
  }
  return s;
}

void page_fault(x86::TrapFrame* f) {
  const uint32_t addr = x86::read_cr2();
  const mm::FaultFlags flags{.write = (f->error & 2) != 0, .exec = (f->error & 0x10) != 0, .user = true};
  if (!f->from_user()) {
    // Only the user-copy routines may fault, and only on user addresses.
    if (addr < mm::kTaskSize && current->mm && current->uaccess_active) {
      ++cpu_self().uaccess_faults;
      if (fault_in(mm::VirtAddr(addr), flags) == mm::Status::kOk) {
        check_fault_loop(f, addr);
        return;
      }
      __builtin_longjmp(current->uaccess_jmp, 1);
    }
    panic_frame(f, "kernel page fault at 0x%08x (error 0x%x)", addr, f->error);
  }
  if (f->error & 8) panic_frame(f, "reserved bit set in a paging entry for 0x%08x", addr);
  ++cpu_self().user_faults;
  if (addr >= mm::kTaskSize || !current->mm) {
    on_user_fault_kill(f, kSigsegv, "page fault");
    return;
  }
  const mm::Status s = fault_in(mm::VirtAddr(addr), flags);
  if (s == mm::Status::kOk) {
    check_fault_loop(f, addr);
    return;
  }
  if (s == mm::Status::kNoMem) {
    on_user_fault_kill(f, kSigkill, "out of memory in page fault");
    return;
  }
  if (s == mm::Status::kBus) {
    on_user_fault_kill(f, kSigbus, "page fault past the end of a mapped file");
    return;
  }
  on_user_fault_kill(f, kSigsegv, "page fault");
}

int exception_signal(uint32_t vector) {
  switch (vector) {
    case 0:
    case 16:
    case 19:
      return kSigfpe;
    case 1:
    case 3:
      return kSigtrap;
    case 6:
      return kSigill;
    case 17:
      return kSigbus;
    default:
      return kSigsegv;
  }
}

}  // namespace

void on_user_fault_kill(x86::TrapFrame* f, int sig, const char* what) {
  ++kstats.segfaults;
  kprintf("mmlab: pid %d (%s) killed by signal %d: %s at 0x%08x ip 0x%08x error 0x%x\n", current->pid, current->comm,
          sig, what, f->vector == 14 ? x86::read_cr2() : 0, f->eip, f->error);
  do_group_exit(sig);  // wait status: terminated by `sig` (sh shows 128 + sig); every thread goes
}

// Every trap starts and ends with no lock held: system calls and faults
// take the locks of what they touch, and an interrupt only ever arrives in
// ring 3 or in the idle loop (the kernel runs with interrupts off).
extern "C" void trap_handler(x86::TrapFrame* f) {
  const uint32_t v = f->vector;
  if (v == x86::kSyscallVector) {
    syscall_entry(f);
  } else if (v == 14) {
    page_fault(f);
  } else if (v == x86::kIrqBase) {
    x86::pic_eoi(0);
    timer_tick();
  } else if (v == x86::kTimerVector) {
    smp_timer_interrupt();
  } else if (v == x86::kIpiCallVector) {
    x86::cross_cpu_call_interrupt();
  } else if (v == x86::kReschedVector) {
    smp_resched_interrupt();  // the work is on the way out (return_to_user) or in the idle loop
  } else if (v == x86::kSpuriousVector) {
    // §11.9: a spurious APIC interrupt gets no EOI.
  } else if (v > x86::kIrqBase && v < x86::kIrqBase + 16) {
    x86::pic_eoi(v - x86::kIrqBase);  // masked lines: spurious (IRQ 7 / 15)
  } else if (v < 32) {
    if (!f->from_user()) panic_frame(f, "%s (vector %u) in the kernel", kExceptionNames[v], v);
    on_user_fault_kill(f, exception_signal(v), kExceptionNames[v]);
  } else {
    panic_frame(f, "unexpected vector %u", v);
  }
  if (f->from_user()) return_to_user();
}

}  // namespace kern
