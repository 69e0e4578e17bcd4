// x86 instructions, descriptor tables and legacy devices the kernel uses,
// in one header. References are to the Intel SDM (Vol. 3A unless noted).
#pragma once

#include <cstdint>

namespace x86 {

inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
inline uint8_t inb(uint16_t port) {
  uint8_t v;
  asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
inline void outl(uint16_t port, uint32_t v) { asm volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }

struct CpuidRegs {
  uint32_t eax, ebx, ecx, edx;
};
inline CpuidRegs cpuid(uint32_t leaf) {
  CpuidRegs r;
  asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(0));
  return r;
}
inline uint64_t rdmsr(uint32_t msr) {
  uint64_t v;
  asm volatile("rdmsr" : "=A"(v) : "c"(msr));
  return v;
}
inline void wrmsr(uint32_t msr, uint64_t v) { asm volatile("wrmsr" : : "c"(msr), "A"(v)); }
inline uint32_t read_cr0() {
  uint32_t v;
  asm volatile("mov %%cr0, %0" : "=r"(v));
  return v;
}
inline void write_cr0(uint32_t v) { asm volatile("mov %0, %%cr0" : : "r"(v) : "memory"); }
inline uint32_t read_cr2() {
  uint32_t v;
  asm volatile("mov %%cr2, %0" : "=r"(v));
  return v;
}
inline uint32_t read_cr4() {
  uint32_t v;
  asm volatile("mov %%cr4, %0" : "=r"(v));
  return v;
}
inline void write_cr4(uint32_t v) { asm volatile("mov %0, %%cr4" : : "r"(v) : "memory"); }
inline void halt_until_interrupt() { asm volatile("sti; hlt; cli" : : : "memory"); }
inline uint64_t rdtsc() {
  uint64_t t;
  asm volatile("rdtsc" : "=A"(t));
  return t;
}
// Spins for `us` microseconds by a TSC running at `tsc_hz`.
inline void delay_us(uint64_t tsc_hz, uint64_t us) {
  const uint64_t end = rdtsc() + tsc_hz * us / 1000000;
  while (rdtsc() < end) asm volatile("pause");
}

inline constexpr uint32_t kMsrEfer = 0xC0000080;
inline constexpr uint64_t kEferNxe = 1ull << 11;  // §4.1.1
inline constexpr uint32_t kCr0Mp = 1u << 1, kCr0Em = 1u << 2, kCr0Ts = 1u << 3, kCr0Ne = 1u << 5;
inline constexpr uint32_t kCr4Pge = 1u << 7, kCr4Osfxsr = 1u << 9, kCr4Osxmmexcpt = 1u << 10;

// What the CPU offers, from CPUID (Vol. 2A, leaves 01H and 80000001H).
struct Features {
  bool pae, pge, nx, tsc, fxsr, sse, sse2;
  uint32_t family, model, stepping;
  uint32_t hwcap;  // CPUID.01H:EDX, what Linux passes as AT_HWCAP on i386
  char vendor[13];
};
Features detect_features();

// CPUs the kernel can run (mm::kMaxCpus; smp.cc checks they agree).
inline constexpr uint32_t kMaxCpus = 32;

// Selectors (GDT layout in cpu.cc; the TLS slots are Linux's 6..8). Each
// CPU has its own GDT, and its TSS at its own entry: kFirstTssEntry + cpu.
inline constexpr uint16_t kKernelCs = 0x08, kKernelDs = 0x10, kUserCs = 0x1B, kUserDs = 0x23;
inline constexpr uint32_t kTlsFirstEntry = 6, kTlsEntries = 3;
inline constexpr uint32_t kFirstTssEntry = 9, kGdtEntries = kFirstTssEntry + kMaxCpus;
inline constexpr uint16_t tss_selector(uint32_t cpu) { return static_cast<uint16_t>((kFirstTssEntry + cpu) << 3); }

// The running CPU, from the task register: a cheap instruction that needs
// no per-CPU segment and no memory (valid once load_cpu_descriptors ran).
inline uint32_t this_cpu() {
  uint16_t tr;
  asm volatile("str %0" : "=r"(tr));
  return (tr >> 3) - kFirstTssEntry;
}

// Where the application processors' startup code runs (trampoline.S; the
// startup IPI's vector is this address >> 12). The low MiB is never handed
// to the frame allocator.
inline constexpr uint32_t kApTrampoline = 0x8000;

// What the entry stubs save (traps.S), lowest address first: the general
// registers (pushal order), the data segment registers, the vector and the
// error code (0 when the CPU pushes none), then the CPU's frame; user_esp
// and user_ss exist only when the trap came from ring 3.
struct TrapFrame {
  uint32_t edi, esi, ebp, esp_dummy, ebx, edx, ecx, eax;
  uint32_t gs, fs, es, ds;
  uint32_t vector, error;
  uint32_t eip, cs, eflags;
  uint32_t user_esp, user_ss;
  bool from_user() const { return (cs & 3) == 3; }
};

// Vectors: 0-31 exceptions, 32-47 the legacy PIC's IRQs, 0x80 the Linux
// i386 system call (callable from ring 3).
inline constexpr uint32_t kIrqBase = 32;
inline constexpr uint32_t kSyscallVector = 0x80;

// The boot CPU: builds the IDT, loads CPU 0's descriptors, and remaps the
// PIC with every IRQ masked.
void init_descriptors();
// Loads `cpu`'s GDT (flat ring-0 and ring-3 segments, three TLS slots, its
// TSS), its task register and the IDT. An AP calls it first thing.
void load_cpu_descriptors(uint32_t cpu);
// The kernel stack this CPU switches to on a trap from ring 3.
void set_kernel_stack(uint32_t esp0);
// Loads the three TLS descriptors of the task about to run on this CPU.
void load_tls(const uint64_t tls[kTlsEntries]);
// A GDT descriptor for Linux's struct user_desc (set_thread_area).
uint64_t make_user_descriptor(uint32_t base, uint32_t limit, uint32_t flags_word);

// Legacy 8259 PIC and 8254 PIT.
void pic_unmask(uint32_t irq);
void pic_eoi(uint32_t irq);
// Programs PIT channel 0 for `hz` interrupts per second (IRQ 0).
void pit_start(uint32_t hz);
// TSC ticks per second, measured against PIT channel 2 over `ms`
// milliseconds (Linux's pit_calibrate_tsc method); 0 if the PIT never ran.
uint64_t calibrate_tsc(uint32_t ms);

// FPU/SSE state: fxsave/fxrstor images (512 bytes, 16-byte aligned).
void fpu_init();
inline void fxsave(void* area) { asm volatile("fxsave (%0)" : : "r"(area) : "memory"); }
inline void fxrstor(const void* area) { asm volatile("fxrstor (%0)" : : "r"(area) : "memory"); }

}  // namespace x86

// Implemented by the kernel: every trap, interrupt and system call lands here.
extern "C" void trap_handler(x86::TrapFrame* frame);
// traps.S: pops a TrapFrame at the stack pointer and returns with iret.
extern "C" void trap_return();
// traps.S: a new task starts here (calls fork_child_tail, then trap_return).
extern "C" void ret_from_fork();
extern "C" void fork_child_tail(x86::TrapFrame* frame);
// traps.S: saves the callee-saved registers and the stack pointer into
// *save_esp, switches to new_esp and returns along the other stack.
extern "C" void switch_stacks(uint32_t* save_esp, uint32_t new_esp);
