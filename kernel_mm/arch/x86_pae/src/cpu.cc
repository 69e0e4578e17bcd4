// Descriptor tables (per CPU: GDT and TSS; one IDT), the legacy PIC/PIT,
// TSC calibration, FPU setup and CPU features.
#include <cstring>

#include "arch/apic.h"
#include "arch/x86.h"

extern "C" char trap_stubs[];     // 48 stubs, 16 bytes apart (traps.S)
extern "C" char syscall_stub[];   // vector 0x80
extern "C" char ipi_call_stub[];  // kIpiCallVector
extern "C" char spurious_stub[];  // kSpuriousVector
extern "C" char timer_stub[];     // kTimerVector
extern "C" char resched_stub[];   // kReschedVector

namespace x86 {
namespace {

struct [[gnu::packed]] DescriptorPtr {
  uint16_t limit;
  uint32_t base;
};

// The 32-bit TSS (§7.2.1): only esp0/ss0 are used (no hardware task
// switching); iomap_base past the limit means no I/O permission bitmap.
struct [[gnu::packed]] Tss {
  uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
  uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
  uint32_t es, cs, ss, ds, fs, gs, ldt;
  uint16_t trap, iomap_base;
};
Tss tss[kMaxCpus];

// One GDT per CPU: the TLS slots change on every context switch, and each
// CPU's TSS sits at its own selector, so that `str` names the CPU (this_cpu).
// Flat 4 GiB segments (§3.4.5: base 0, limit 0xFFFFF in 4-KByte units):
// null, ring-0 code and data, ring-3 code and data, unused, three TLS
// slots, then the TSS slots (only the CPU's own is filled).
constexpr uint64_t kGdtTemplate[kFirstTssEntry] = {
    0,
    0x00CF9A000000FFFFull,  // 0x08 code: P, DPL 0, execute/read, 32-bit
    0x00CF92000000FFFFull,  // 0x10 data: P, DPL 0, read/write, 32-bit
    0x00CFFA000000FFFFull,  // 0x1B code: P, DPL 3
    0x00CFF2000000FFFFull,  // 0x23 data: P, DPL 3
    0,
    0,
    0,
    0,  // 0x33, 0x3B, 0x43: TLS (set_thread_area)
};
alignas(8) uint64_t gdt[kMaxCpus][kGdtEntries];

struct [[gnu::packed]] Gate {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t zero;
  uint8_t type;  // 0x8E: present, DPL 0, 32-bit interrupt gate; 0xEE: DPL 3
  uint16_t offset_high;
};
Gate idt[256];

Gate make_gate(const void* handler, uint8_t type) {
  const uint32_t a = reinterpret_cast<uint32_t>(handler);
  return Gate{static_cast<uint16_t>(a & 0xFFFF), kKernelCs, 0, type, static_cast<uint16_t>(a >> 16)};
}

constexpr uint16_t kPic1Cmd = 0x20, kPic1Data = 0x21, kPic2Cmd = 0xA0, kPic2Data = 0xA1;
uint16_t pic_mask = 0xFFFF & ~(1u << 2);  // the cascade line stays open

void pic_write_mask() {
  outb(kPic1Data, pic_mask & 0xFF);
  outb(kPic2Data, pic_mask >> 8);
}

void pic_init() {
  // ICW1-4: edge triggered, cascade, vectors 32-39 and 40-47, 8086 mode.
  outb(kPic1Cmd, 0x11);
  outb(kPic2Cmd, 0x11);
  outb(kPic1Data, kIrqBase);
  outb(kPic2Data, kIrqBase + 8);
  outb(kPic1Data, 4);
  outb(kPic2Data, 2);
  outb(kPic1Data, 1);
  outb(kPic2Data, 1);
  pic_write_mask();
}

constexpr uint32_t kPitHz = 1193182;

}  // namespace

void init_descriptors() {
  for (uint32_t v = 0; v < 48; ++v) idt[v] = make_gate(trap_stubs + 16 * v, 0x8E);
  idt[kSyscallVector] = make_gate(syscall_stub, 0xEE);
  idt[kIpiCallVector] = make_gate(ipi_call_stub, 0x8E);
  idt[kSpuriousVector] = make_gate(spurious_stub, 0x8E);
  idt[kTimerVector] = make_gate(timer_stub, 0x8E);
  idt[kReschedVector] = make_gate(resched_stub, 0x8E);
  load_cpu_descriptors(0);
  pic_init();
}

void load_cpu_descriptors(uint32_t cpu) {
  uint64_t* g = gdt[cpu];
  for (uint32_t i = 0; i < kFirstTssEntry; ++i) g[i] = kGdtTemplate[i];
  Tss& t = tss[cpu];
  t.ss0 = kKernelDs;
  t.iomap_base = sizeof(Tss);
  const uint32_t base = reinterpret_cast<uint32_t>(&t);
  const uint32_t limit = sizeof(Tss) - 1;
  // Available 32-bit TSS (type 9), present, DPL 0, byte granularity.
  g[kFirstTssEntry + cpu] = (limit & 0xFFFF) | (uint64_t{base & 0xFFFFFF} << 16) | (uint64_t{0x89} << 40) |
                            (uint64_t{(limit >> 16) & 0xF} << 48) | (uint64_t{base >> 24} << 56);
  const DescriptorPtr gdtr{sizeof(gdt[0]) - 1, reinterpret_cast<uint32_t>(g)};
  asm volatile(
      "lgdt %0\n\t"
      "ljmp $0x08, $1f\n"
      "1:\n\t"
      "mov $0x10, %%ax\n\t"
      "mov %%ax, %%ds\n\t"
      "mov %%ax, %%es\n\t"
      "mov %%ax, %%ss\n\t"
      "xor %%eax, %%eax\n\t"
      "mov %%ax, %%fs\n\t"
      "mov %%ax, %%gs\n\t"
      "mov %1, %%ax\n\t"
      "ltr %%ax"
      :
      : "m"(gdtr), "r"(tss_selector(cpu))
      : "eax", "memory");
  const DescriptorPtr idtr{sizeof(idt) - 1, reinterpret_cast<uint32_t>(idt)};
  asm volatile("lidt %0" : : "m"(idtr));
}

void set_kernel_stack(uint32_t esp0) { tss[this_cpu()].esp0 = esp0; }

void load_tls(const uint64_t tls[kTlsEntries]) {
  uint64_t* g = gdt[this_cpu()];
  for (uint32_t i = 0; i < kTlsEntries; ++i) g[kTlsFirstEntry + i] = tls[i];
}

uint64_t make_user_descriptor(uint32_t base, uint32_t limit, uint32_t flags) {
  // struct user_desc's bit fields, in order: seg_32bit, contents (2),
  // read_exec_only, limit_in_pages, seg_not_present, useable (Linux's
  // fill_ldt). An all-empty descriptor clears the slot.
  const uint32_t seg_32bit = flags & 1, contents = (flags >> 1) & 3, read_exec_only = (flags >> 3) & 1;
  const uint32_t limit_in_pages = (flags >> 4) & 1, not_present = (flags >> 5) & 1, useable = (flags >> 6) & 1;
  if (base == 0 && limit == 0 && contents == 0 && read_exec_only == 1 && seg_32bit == 0 && limit_in_pages == 0 &&
      not_present == 1 && useable == 0)
    return 0;
  const uint32_t lo = ((base & 0xFFFF) << 16) | (limit & 0xFFFF);
  const uint32_t hi = (base & 0xFF000000) | ((base >> 16) & 0xFF) | (limit & 0xF0000) | ((read_exec_only ^ 1) << 9) |
                      (contents << 10) | ((not_present ^ 1) << 15) | (seg_32bit << 22) | (limit_in_pages << 23) |
                      (useable << 20) | 0x7000;  // S=1 (code/data), DPL 3
  return (uint64_t{hi} << 32) | lo;
}

void pic_unmask(uint32_t irq) {
  pic_mask &= ~(1u << irq);
  pic_write_mask();
}

void pic_eoi(uint32_t irq) {
  if (irq >= 8) outb(kPic2Cmd, 0x20);
  outb(kPic1Cmd, 0x20);
}

void pit_start(uint32_t hz) {
  const uint32_t divisor = (kPitHz + hz / 2) / hz;
  outb(0x43, 0x34);  // channel 0, lobyte/hibyte, mode 2 (rate generator)
  outb(0x40, divisor & 0xFF);
  outb(0x40, divisor >> 8);
}

uint64_t calibrate_tsc(uint32_t ms) {
  // PIT channel 2 in mode 0 counts down once; its output (port 0x61 bit 5)
  // goes high at terminal count. The speaker stays off (bit 1 clear).
  const uint32_t count = kPitHz * ms / 1000;
  outb(0x61, (inb(0x61) & ~0x02) | 0x01);
  outb(0x43, 0xB0);  // channel 2, lobyte/hibyte, mode 0
  outb(0x42, count & 0xFF);
  outb(0x42, count >> 8);
  const uint64_t start = rdtsc();
  uint64_t loops = 0;
  while (!(inb(0x61) & 0x20)) {
    if (++loops > 100000000ull) return 0;
  }
  return (rdtsc() - start) * 1000 / ms;
}

void fpu_init() {
  write_cr0((read_cr0() & ~(kCr0Em | kCr0Ts)) | kCr0Mp | kCr0Ne);
  write_cr4(read_cr4() | kCr4Osfxsr | kCr4Osxmmexcpt);
  asm volatile("fninit");
}

Features detect_features() {
  Features f{};
  const CpuidRegs v = cpuid(0);
  std::memcpy(f.vendor, &v.ebx, 4);
  std::memcpy(f.vendor + 4, &v.edx, 4);
  std::memcpy(f.vendor + 8, &v.ecx, 4);
  f.vendor[12] = 0;
  const CpuidRegs l1 = cpuid(1);
  f.family = (l1.eax >> 8) & 0xF;
  f.model = (l1.eax >> 4) & 0xF;
  if (f.family == 6 || f.family == 15) f.model |= ((l1.eax >> 16) & 0xF) << 4;
  if (f.family == 15) f.family += (l1.eax >> 20) & 0xFF;
  f.stepping = l1.eax & 0xF;
  f.hwcap = l1.edx;
  f.tsc = l1.edx & (1u << 4);
  f.pae = l1.edx & (1u << 6);
  f.pge = l1.edx & (1u << 13);
  f.fxsr = l1.edx & (1u << 24);
  f.sse = l1.edx & (1u << 25);
  f.sse2 = l1.edx & (1u << 26);
  if (cpuid(0x80000000).eax >= 0x80000001) f.nx = cpuid(0x80000001).edx & (1u << 20);
  return f;
}

}  // namespace x86
