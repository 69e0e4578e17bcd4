// kmain: from the multiboot hand-off to PID 1.
//
// The boot stub's page tables map the first GiB twice (identity and at
// PAGE_OFFSET). kmain builds the real ones with the mm core (the reference
// kernel PMD, the lowmem direct map with 2-MByte global pages, NX on
// everything but kernel text), loads them, and never uses the boot tables
// again.
#include <new>

#include "arch/x86.h"
#include "formats/cmdline.h"
#include "kernel/clock.h"
#include "kernel/console.h"
#include "kernel/klib.h"
#include "kernel/kstats.h"
#include "kernel/process.h"
#include "kernel/sched.h"
#include "kernel/smp.h"
#include "kernel/system.h"
#include "mm/lockdep.h"
#include "mm/system.h"
#include "mm/tlb.h"
#include "mm/vmalloc.h"

extern "C" char __text_end[], __kernel_end[];

namespace kern {

mm::System* sys = nullptr;
alignas(16) uint8_t initial_fpu[512];
uint32_t cpu_hwcap = 0;

namespace {

constexpr uint32_t kMultibootMagic = 0x2BADB002;

struct MultibootInfo {
  uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
  uint32_t syms[4];
  uint32_t mmap_length, mmap_addr;
};
struct MultibootModule {
  uint32_t start, end, string, reserved;
};
struct [[gnu::packed]] MultibootMmap {
  uint32_t size;
  uint64_t addr, len;
  uint32_t type;
};

// Before the mm core's tables are live, low physical memory is reachable
// at PAGE_OFFSET through the boot map; after, through the direct map.
template <typename T>
T* phys(uint32_t pa) {
  return reinterpret_cast<T*>(pa + mm::kPageOffset);
}

alignas(mm::System) uint8_t system_storage[sizeof(mm::System)];
char cmdline[1024];
char word_buf[1024];
const char* words[64];
formats::BootArgs args;
const char* init_argv[40];

struct Range {
  uint64_t start, end;
};

uint32_t lowmem_mb, ram_mb, ignored_mb;
x86::Features features;

// Hands every RAM frame at or above first_free and below max_addr to the
// allocator. Everything below first_free stays reserved: the low MiB, the
// kernel image, the initrd (read in place, for good) and the frame metadata.
void free_ram(const Range* ram, uint32_t nram, uint64_t first_free, uint64_t max_addr) {
  for (uint32_t i = 0; i < nram; ++i) {
    uint64_t s = ram[i].start < first_free ? first_free : ram[i].start;
    uint64_t e = ram[i].end > max_addr ? max_addr : ram[i].end;
    s = (s + mm::kPageSize - 1) & ~uint64_t{mm::kPageSize - 1};
    e &= ~uint64_t{mm::kPageSize - 1};
    if (s < e) sys->pages.add_free_range(static_cast<uint32_t>(s >> 12), static_cast<uint32_t>((e - s) >> 12));
  }
}

void boot_record(uint64_t tsc_khz) {
  Record r("boot");
  r.str("kernel", "mmlab");
  r.str("cmdline", cmdline);
  r.begin("toggles");
  for (uint32_t i = 0; i < mm::kNumToggles; ++i)
    r.str(mm::kToggleSpecs[i].key, sys->toggles.value_name(static_cast<mm::ToggleId>(i)));
  r.end();
  const SmpState& smp = smp_state();
  r.num("cpus", smp.online);
  r.begin("smp");
  r.str("tables", smp.topology.source);
  if (smp.tables_error) r.str("tables_error", smp.tables_error);
  r.num("listed", smp.topology.count);
  r.num("listed_disabled", smp.topology.disabled);
  r.num("online", smp.online);
  if (smp.start_error) r.str("start_error", smp.start_error);
  r.num("boot_apic_id", smp.boot_apic_id);
  r.num("bringup_ns", smp.bringup_ns);
  if (smp.lapic_timer_hz) r.num("lapic_timer_hz", smp.lapic_timer_hz);
  r.end();
  r.begin("memory");
  r.num("ram_mb", ram_mb);
  r.num("lowmem_mb", lowmem_mb);
  r.num("ignored_mb", ignored_mb);
  r.num("frames_free", sys->pages.nr_free());
  r.end();
  r.begin("cpu");
  r.str("vendor", features.vendor);
  r.num("family", features.family);
  r.num("model", features.model);
  r.num("stepping", features.stepping);
  r.boolean("nx", features.nx);
  r.boolean("pge", features.pge);
  r.num("tsc_khz", tsc_khz);
  r.end();
  r.str("init", args.init);
  r.boolean("lockdep", mm::lockdep::on);
  r.begin("fail_alloc");  // fault injection from PID 1's first instruction on (0: off)
  r.num("every", args.fail_alloc_seeded ? 0 : args.fail_alloc);
  r.num("one_in", args.fail_alloc_seeded ? (args.fail_alloc ? args.fail_alloc : 100) : 0);
  r.num("seed", args.fail_alloc_seed);
  r.end();
  // Time since CPU reset by the TSC (which starts at 0 at reset): under
  // -icount shift=0 this is the instruction count from reset to here.
  r.num("ns_since_reset", tsc_to_ns(x86::rdtsc()));
  r.emit();
}

}  // namespace

extern "C" [[noreturn]] void kmain(uint32_t magic, uint32_t mbi_phys) {
  serial_init();
  x86::init_descriptors();
  kprintf("mmlab: PAE kernel on the mm core\n");
  if (magic != kMultibootMagic) panic("not started by a multiboot loader (magic 0x%x)", magic);
  features = x86::detect_features();
  cpu_hwcap = features.hwcap;
  if (!features.pae) panic("this CPU has no PAE");
  if (!features.tsc) panic("this CPU has no TSC");
  if (!features.fxsr) panic("this CPU has no FXSAVE/FXRSTOR");
  if (!features.nx) {
    // QEMU's default CPU (qemu32) has PAE but no NX: run, without XD bits.
    arch::supported_pte_mask = ~mm::pte_bits::kNx;
    kprintf("mmlab: this CPU has no NX: stacks and heaps stay executable (QEMU: -cpu max or -cpu host has NX)\n");
  }

  const MultibootInfo* mbi = phys<MultibootInfo>(mbi_phys);
  if (mbi->flags & (1u << 2)) kstrlcpy(cmdline, phys<const char>(mbi->cmdline), sizeof(cmdline));
  const char* err = nullptr;
  const int nwords = formats::split_words(cmdline, sizeof(cmdline), word_buf, sizeof(word_buf), words, 64, &err);
  if (nwords < 0) panic("bad command line: %s", err);
  if ((err = formats::parse_boot_args(words, nwords, &args))) panic("bad command line: %s", err);
  // Before the first lock of the mm core or the kernel is taken.
  if (args.lockdep || args.debug == formats::BootDebug::kLockInversion) mm::lockdep::enable();
  mm::SystemConfig config;
  for (int i = 0; i < args.ntoggles; ++i) {
    char why[128];
    if (!config.toggles.parse(args.toggles[i], static_cast<uint32_t>(strlen(args.toggles[i])), why, sizeof(why)))
      panic("bad command line: %s", why);
  }

  // Memory: RAM from the multiboot map, lowmem up to the vmalloc area.
  Range ram[32];
  uint32_t nram = 0;
  uint64_t ram_top = 0, ram_total = 0;
  if (mbi->flags & (1u << 6)) {
    for (uint32_t off = 0; off + sizeof(MultibootMmap) <= mbi->mmap_length;) {
      const MultibootMmap* e = phys<MultibootMmap>(mbi->mmap_addr + off);
      if (e->type == 1 && e->len && nram < 32) {
        ram[nram++] = Range{e->addr, e->addr + e->len};
        ram_total += e->len;
        if (e->addr + e->len > ram_top) ram_top = e->addr + e->len;
      }
      off += e->size + 4;
    }
  } else if (mbi->flags & 1u) {
    ram[nram++] = Range{0x100000, 0x100000 + uint64_t{mbi->mem_upper} * 1024};
    ram_total = ram_top = ram[0].end;
  } else {
    panic("the boot loader gave no memory map");
  }
  const uint64_t lowmem_limit = config.layout.vmalloc_start - mm::kPageOffset;
  const uint64_t max_addr = ram_top < lowmem_limit ? ram_top : lowmem_limit;
  ram_mb = static_cast<uint32_t>(ram_total >> 20);
  lowmem_mb = static_cast<uint32_t>(max_addr >> 20);
  uint64_t usable = 0;
  for (uint32_t i = 0; i < nram; ++i)
    if (ram[i].start < max_addr) usable += (ram[i].end < max_addr ? ram[i].end : max_addr) - ram[i].start;
  ignored_mb = static_cast<uint32_t>((ram_total - usable) >> 20);
  if (ignored_mb) kprintf("mmlab: %u MiB of RAM above lowmem (%u MiB) ignored: no highmem\n", ignored_mb, lowmem_mb);

  Range initrd{0, 0};
  if ((mbi->flags & (1u << 3)) && mbi->mods_count) {
    const MultibootModule* m = phys<MultibootModule>(mbi->mods_addr);
    initrd = Range{m->start, m->end};
    if (initrd.end > max_addr) panic("initrd at 0x%x-0x%x lies outside lowmem", m->start, m->end);
  }
  uint64_t reserved_end = reinterpret_cast<uint32_t>(__kernel_end) - mm::kPageOffset;
  if (initrd.end > reserved_end) reserved_end = initrd.end;
  const uint32_t nr_frames = static_cast<uint32_t>(max_addr >> 12);
  const uint64_t meta_start = (reserved_end + mm::kPageSize - 1) & ~uint64_t{mm::kPageSize - 1};
  const uint64_t meta_end = meta_start + uint64_t{nr_frames} * sizeof(mm::Page);
  if (meta_end + (4u << 20) > max_addr) panic("not enough memory: %u MiB of lowmem", lowmem_mb);
  mm::Page* meta = phys<mm::Page>(static_cast<uint32_t>(meta_start));
  for (uint32_t i = 0; i < nr_frames; ++i) new (&meta[i]) mm::Page();

  sys = new (system_storage) mm::System();
  sys->init(config, meta, 0, nr_frames);
  init_kernel_locks();
  free_ram(ram, nram, meta_end, max_addr);
  if (sys->init_kernel_tables() != mm::Status::kOk) panic("out of memory building the kernel page tables");

  // NX before any entry with XD is loaded; the direct map: kernel text
  // executable, the rest not, global where the CPU has PGE.
  if (features.nx) x86::wrmsr(x86::kMsrEfer, x86::rdmsr(x86::kMsrEfer) | x86::kEferNxe);
  const uint32_t text_end =
      (reinterpret_cast<uint32_t>(__text_end) - mm::kPageOffset + (2u << 20) - 1) & ~((2u << 20) - 1);
  const uint32_t lowmem_bytes = static_cast<uint32_t>(max_addr);
  const mm::PageProt text{.write = true, .user = false, .exec = true, .global = features.pge};
  const mm::PageProt data{.write = true, .user = false, .exec = false, .global = features.pge};
  if (mm::kernel_map_range(*sys, mm::VirtAddr(mm::kPageOffset), mm::PhysAddr(0), text_end, text, true) !=
          mm::Status::kOk ||
      mm::kernel_map_range(*sys, mm::VirtAddr(mm::kPageOffset + text_end), mm::PhysAddr(text_end),
                           lowmem_bytes - text_end, data, true) != mm::Status::kOk)
    panic("out of memory mapping lowmem");
  sys->init_mm.cpumask.set(0);
  arch::write_cr3(sys->init_mm.pgd_phys);
  // Every CR3 load is counted (the TLB-model plugin's count must equal the
  // counters', docs/tlb-model.md): boot.S's, on the boot stub's tables, and this one.
  sys->counters.add(mm::Counter::kCr3Boot, 2);
  if (features.pge) x86::write_cr4(x86::read_cr4() | x86::kCr4Pge);

  x86::fpu_init();
  x86::fxsave(initial_fpu);
  tsc_hz = x86::calibrate_tsc(10);
  if (!tsc_hz) panic("TSC calibration failed: the PIT never counted down");
  boot_tsc = x86::rdtsc();
  rtc_read();
  smp_init(SmpConfig{.nx = features.nx, .pge = features.pge, .lowmem_bytes = max_addr});

  if (!initrd.end) kprintf("mmlab: no initrd (pass one with -initrd)\n");
  if (const char* why = fs_init(initrd.end ? phys<const uint8_t>(static_cast<uint32_t>(initrd.start)) : nullptr,
                                static_cast<uint32_t>(initrd.end - initrd.start)))
    panic("initrd: %s", why);
  sched_init();

  char toggles[256];
  sys->toggles.format(toggles, sizeof(toggles));
  kprintf("mmlab: %u MiB lowmem, %u frames free, TSC %llu kHz, %u initrd files\n", lowmem_mb, sys->pages.nr_free(),
          static_cast<unsigned long long>(tsc_hz / 1000), fs_inode_count());
  kprintf("mmlab: %s\n", toggles);
  boot_record(tsc_hz / 1000);
  if (args.debug == formats::BootDebug::kPanic) panic("mmlab.debug=panic: a panic on purpose");
  if (args.debug == formats::BootDebug::kLockInversion) {
    // Two kernel lock classes in both orders: the second order is an
    // inversion the checker must report (naming both classes), even though
    // one CPU alone never deadlocks on it.
    kprintf("mmlab: mmlab.debug=lock-inversion: proctree_lock then timer_lock, then the reverse\n");
    {
      mm::SpinGuard a(proctree_lock);
      mm::SpinGuard b(timer_lock);
    }
    {
      mm::SpinGuard b(timer_lock);
      mm::SpinGuard a(proctree_lock);
    }
    panic("mmlab.debug=lock-inversion: the lock-order checker did not report the inversion");
  }
  if (args.debug == formats::BootDebug::kHang) {
    kprintf("mmlab: mmlab.debug=hang: never ending, on purpose\n");
    for (;;) x86::halt_until_interrupt();
  }

  int32_t lookup_err;
  if (!fs_lookup("/", args.init, &lookup_err)) panic("init %s: not in the initrd (error %d)", args.init, -lookup_err);
  int argc = 0;
  init_argv[argc++] = args.init;
  for (int i = 0; i < args.ninit_args && argc < 39; ++i) init_argv[argc++] = args.init_args[i];
  init_argv[argc] = nullptr;
  take_baseline();
  mm::FailPolicy fail;
  if (args.fail_alloc_seeded)
    fail = mm::FailPolicy{.seed = args.fail_alloc_seed, .one_in = args.fail_alloc ? args.fail_alloc : 100};
  else if (args.fail_alloc)
    fail = mm::FailPolicy{.fail_every = args.fail_alloc};
  if (!start_init(args.init, init_argv, argc, args.env, args.nenv, fail)) panic("cannot create PID 1");
  x86::pit_start(kHz);
  x86::pic_unmask(0);
  sched_start();
}

}  // namespace kern
