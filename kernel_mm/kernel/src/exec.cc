// execve: a static i386 ELF executable from the initrd into a fresh mm.
//
// As Linux's exec_mmap, the new mm goes live on this CPU before the image
// is built in it, so the faults that build it install PMDs into a loaded
// PGD: with mm.pmd_prealloc=off each forces a CR3 reload (the PAE PDPTE
// effect the lab measures). The segments map the file's page cache, so
// every exec of a program runs its text from the same frames.
#include "formats/elf.h"
#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/klib.h"
#include "kernel/kstats.h"
#include "kernel/percpu.h"
#include "kernel/process.h"
#include "kernel/system.h"
#include "kernel/uaccess.h"
#include "mm/mmap.h"
#include "mm/tlb.h"

namespace kern {

extern uint8_t initial_fpu[512];
extern uint32_t cpu_hwcap;

namespace {

constexpr uint32_t kStackSize = 8u << 20;   // the stack VMA (RLIMIT_STACK), demand-faulted
constexpr uint32_t kPieBias = 0x56555000u;  // where Linux puts a static-pie on i386 (no ASLR)
constexpr uint32_t kMaxArgs = 1024;
constexpr uint32_t kArgBytes = 60 * 1024;

// Built in kernel memory, then copied to the top of the new stack at once.
alignas(16) uint8_t stack_image[kArgBytes + 4096];

// do_execve's copies of the caller's strings (the old mm goes away).
char arg_strings[kArgBytes];
const char* arg_ptrs[2 * kMaxArgs + 2];

int32_t status_errno(mm::Status s) {
  switch (s) {
    case mm::Status::kOk:
      return 0;
    case mm::Status::kNoMem:
      return -ENOMEM;
    case mm::Status::kBadAddress:
    case mm::Status::kAccess:
      return -EFAULT;
    default:
      return -EINVAL;
  }
}

uint32_t vm_prot(const formats::ElfSegment& s) {
  return (s.read ? mm::kVmRead : 0u) | (s.write ? mm::kVmWrite : 0u) | (s.exec ? mm::kVmExec : 0u);
}

// Maps the PT_LOAD segments as Linux's load_elf_binary does: a segment's
// file pages map the file's page cache at the segment's protection
// (private: the first write to a page copies it), the rest of its memory
// size is anonymous, and the bss tail of its last file page is zeroed. The
// first page of a segment may be the last of the previous one (the parser
// guarantees byte-disjoint, ascending segments): it is mapped once and gets
// both protections; the two must then map the same file page.
int32_t load_segments(mm::MmStruct* mm, const Inode* file, const formats::ElfImage& img, uint32_t bias,
                      uint32_t* image_end) {
  uint32_t prev_end = 0, prev_prot = 0, prev_shift = 0;
  for (uint32_t i = 0; i < img.nsegs; ++i) {
    const formats::ElfSegment& s = img.segs[i];
    const uint32_t vaddr = s.vaddr + bias;
    const uint32_t prot = vm_prot(s);
    // File offset minus virtual address, page aligned (the parser checked
    // that they agree modulo the page size).
    const uint32_t shift = vaddr - s.offset;
    const uint32_t first = vaddr & ~(mm::kPageSize - 1);
    const uint32_t file_end = mm::page_align_up(vaddr + s.filesz);
    const uint32_t end = mm::page_align_up(vaddr + s.memsz);
    // The tail of the last file page past filesz belongs to the bss, and
    // zeroing it needs write access for a moment.
    const bool zero_tail = s.memsz > s.filesz && (vaddr + s.filesz) % mm::kPageSize;
    const uint32_t map_prot = zero_tail ? prot | mm::kVmWrite : prot;
    uint32_t start = first;
    if (start < prev_end) {
      if (shift != prev_shift) {
        kprintf("mmlab: exec: segments %u and %u share a page but not a file page\n", i - 1, i);
        return -ENOEXEC;
      }
      start = prev_end;
    }
    auto map = [&](uint32_t lo, uint32_t hi, bool with_file) {
      if (lo >= hi) return 0;
      mm::VirtAddr out;
      const mm::MmapRequest req{.addr = mm::VirtAddr(lo),
                                .len = hi - lo,
                                .prot = map_prot,
                                .fixed = true,
                                .file = with_file ? file->cache : nullptr,
                                .pgoff = with_file ? (lo - shift) / mm::kPageSize : 0};
      return status_errno(mm::do_mmap(mm, req, &out));
    };
    if (const int32_t r = map(start, file_end, s.filesz != 0)) return r;
    if (const int32_t r = map(start > file_end ? start : file_end, end, false)) return r;
    if (first < prev_end) {
      // The shared page: both segments' protections.
      if (const int32_t r = status_errno(mm::do_mprotect(mm, mm::VirtAddr(first), mm::kPageSize, prot | prev_prot)))
        return r;
    }
    if (zero_tail) {
      const uint32_t from = vaddr + s.filesz;
      const uint32_t to = file_end < vaddr + s.memsz ? file_end : vaddr + s.memsz;
      if (const int32_t r = clear_user(from, to - from)) return r;
      if (map_prot != prot)
        if (const int32_t r = status_errno(mm::do_mprotect(mm, mm::VirtAddr(first), file_end - first, prot))) return r;
    }
    prev_end = end > prev_end ? end : prev_end;
    prev_prot = prot;
    prev_shift = shift;
  }
  *image_end = prev_end;
  return 0;
}

struct AuxEntry {
  uint32_t key, value;
};

// Lays out argc, argv, envp, auxv and the strings (Linux's
// create_elf_tables) at the top of the user stack; returns the new esp.
int32_t setup_stack(mm::MmStruct* mm, const char* path, const formats::ElfImage& img, uint32_t bias,
                    const char* const* argv, uint32_t argc, const char* const* envp, uint32_t envc, uint32_t* sp_out) {
  const uint32_t top = mm::kTaskSize;
  {
    mm::VirtAddr out;
    const uint32_t prot = mm::kVmRead | mm::kVmWrite | (img.exec_stack ? mm::kVmExec : 0u);
    const mm::MmapRequest req{.addr = mm::VirtAddr(top - kStackSize), .len = kStackSize, .prot = prot, .fixed = true};
    if (const int32_t r = status_errno(mm::do_mmap(mm, req, &out))) return r;
  }
  // Strings first (highest), then 16 random bytes and the platform name.
  uint32_t strings = 0;
  for (uint32_t i = 0; i < argc; ++i) strings += static_cast<uint32_t>(strlen(argv[i])) + 1;
  for (uint32_t i = 0; i < envc; ++i) strings += static_cast<uint32_t>(strlen(envp[i])) + 1;
  const uint32_t path_len = static_cast<uint32_t>(strlen(path)) + 1;
  strings += path_len + 16 + 5;
  const uint32_t kNumAux = 20;
  const uint32_t ptrs = (1 + argc + 1 + envc + 1 + 2 * kNumAux) * 4;
  const uint32_t total = strings + ptrs + 16;
  if (total > sizeof(stack_image)) return -E2BIG;
  const uint32_t sp = (top - total) & ~15u;
  const uint32_t size = top - sp;
  MM_ASSERT(sp + ptrs <= top - strings);  // the pointer block ends below the strings
  memset(stack_image, 0, size);
  auto at = [&](uint32_t uaddr) { return stack_image + (uaddr - sp); };
  uint32_t str = top;
  auto put_string = [&](const char* s, uint32_t n) {
    str -= n;
    memcpy(at(str), s, n);
    return str;
  };
  const uint32_t execfn = put_string(path, path_len);
  uint32_t* uargv = reinterpret_cast<uint32_t*>(at(sp + 4));
  uint32_t* uenvp = uargv + argc + 1;
  for (uint32_t i = envc; i-- > 0;) uenvp[i] = put_string(envp[i], static_cast<uint32_t>(strlen(envp[i])) + 1);
  for (uint32_t i = argc; i-- > 0;) uargv[i] = put_string(argv[i], static_cast<uint32_t>(strlen(argv[i])) + 1);
  const uint32_t platform = put_string("i686", 5);
  // AT_RANDOM: glibc seeds its stack protector and pointer guard from it.
  // Reproducible on purpose (deterministic runs); not a security boundary.
  uint8_t random[16];
  static uint32_t seed = 0x6d6d6c61;
  for (uint8_t& b : random) {
    seed = seed * 1103515245u + 12345u;
    b = static_cast<uint8_t>(seed >> 16);
  }
  const uint32_t random_at = put_string(reinterpret_cast<const char*>(random), 16);
  *reinterpret_cast<uint32_t*>(at(sp)) = argc;
  const AuxEntry aux[kNumAux] = {
      {3, img.phdr_vaddr ? img.phdr_vaddr + bias : 0},  // AT_PHDR
      {4, img.phent},                                   // AT_PHENT
      {5, img.phnum},                                   // AT_PHNUM
      {6, mm::kPageSize},                               // AT_PAGESZ
      {7, 0},                                           // AT_BASE: no interpreter
      {8, 0},                                           // AT_FLAGS
      {9, img.entry + bias},                            // AT_ENTRY
      {11, 0},                                          // AT_UID
      {12, 0},                                          // AT_EUID
      {13, 0},                                          // AT_GID
      {14, 0},                                          // AT_EGID
      {15, platform},                                   // AT_PLATFORM
      {16, cpu_hwcap},                                  // AT_HWCAP
      {17, 100},                                        // AT_CLKTCK
      {23, 0},                                          // AT_SECURE
      {25, random_at},                                  // AT_RANDOM
      {26, 0},                                          // AT_HWCAP2
      {31, execfn},                                     // AT_EXECFN
      {0, 0},                                           // AT_NULL
      {0, 0},
  };
  memcpy(uenvp + envc + 1, aux, sizeof(aux));
  if (const int32_t r = copy_to_user(sp, stack_image, size)) return r;
  *sp_out = sp;
  return 0;
}

const char* basename(const char* path) {
  const char* b = path;
  for (const char* p = path; *p; ++p)
    if (*p == '/' && p[1]) b = p + 1;
  return b;
}

}  // namespace

int32_t exec_image(x86::TrapFrame* frame, const char* path, const char* const* argv, uint32_t argc,
                   const char* const* envp, uint32_t envc) {
  int32_t err = 0;
  Inode* file = fs_lookup(current->leader->cwd, path, &err);
  if (!file) return err;
  if (file->kind == InodeKind::kDir) return -EACCES;
  if (file->kind != InodeKind::kFile || !(file->mode & 0111)) return -EACCES;
  if (!formats::elf_has_magic(file->data, file->size)) return -ENOEXEC;
  formats::ElfImage img;
  if (const char* why = formats::elf_parse(file->data, file->size, mm::kTaskSize, &img)) {
    kprintf("mmlab: exec %s: %s\n", path, why);
    return -ENOEXEC;
  }
  // Linux's de_thread: the other threads of the group end. From a thread
  // other than the leader Linux would make the caller the leader; we refuse.
  if (current->leader != current) return -EINVAL;
  if (const int32_t r = de_thread()) return r;
  const uint32_t bias = img.pie ? kPieBias : 0;
  for (uint32_t i = 0; i < img.nsegs; ++i)
    if (!user_range_ok(img.segs[i].vaddr + bias, img.segs[i].memsz) ||
        img.segs[i].vaddr + bias + img.segs[i].memsz > mm::kTaskSize - kStackSize)
      return -ENOEXEC;

  mm::MmStruct* mm = mm::mm_alloc(*sys);
  if (!mm) return -ENOMEM;
  mm::mm_publish(mm);
  mm::MmStruct* old = current->mm;
  current->mm = mm;
  Cpu& cpu = cpu_self();
  mm::switch_mm(cpu.loaded_mm, mm);
  cpu.loaded_mm = mm;

  uint32_t image_end = 0, sp = 0;
  int32_t r = load_segments(mm, file, img, bias, &image_end);
  if (!r) r = setup_stack(mm, path, img, bias, argv, argc, envp, envc, &sp);
  if (r) {
    // Back to the old image, untouched.
    current->mm = old;
    mm::MmStruct* back = old ? old : &sys->init_mm;
    mm::switch_mm(mm, back);
    cpu_self().loaded_mm = back;
    mm::mmput(mm);
    return r;
  }
  if (old) mm::mmput(old);
  ++kstats.execs;

  Task* t = current;
  t->brk_start = t->brk = image_end;
  kstrlcpy(t->comm, basename(path), sizeof(t->comm));
  for (KSigaction& sa : t->sigactions)
    if (sa.handler != 1) sa = KSigaction{};  // handlers reset, SIG_IGN stays
  t->clear_child_tid = 0;
  t->robust_list = 0;
  for (uint64_t& d : t->tls) d = 0;
  x86::load_tls(t->tls);
  memcpy(t->fpu, initial_fpu, sizeof(t->fpu));
  x86::fxrstor(t->fpu);
  fd_table_close_on_exec(t->files);
  *frame = x86::TrapFrame{};
  frame->eip = img.entry + bias;
  frame->cs = x86::kUserCs;
  frame->eflags = 0x202;
  frame->user_esp = sp;
  frame->user_ss = x86::kUserDs;
  frame->ds = frame->es = x86::kUserDs;
  return 0;
}

int32_t do_execve(x86::TrapFrame* frame, uint32_t upath, uint32_t uargv, uint32_t uenvp) {
  char path[kPathMax];
  const int32_t pl = strncpy_from_user(path, upath, sizeof(path));
  if (pl < 0) return pl;
  uint32_t used = 0, n = 0;
  uint32_t counts[2] = {0, 0};
  const uint32_t lists[2] = {uargv, uenvp};
  for (int which = 0; which < 2; ++which) {
    if (!lists[which]) {
      arg_ptrs[n++] = nullptr;
      continue;
    }
    for (uint32_t i = 0;; ++i) {
      if (i >= kMaxArgs) return -E2BIG;
      uint32_t p;
      if (copy_from_user(&p, lists[which] + 4 * i, 4)) return -EFAULT;
      if (!p) break;
      const int32_t len = strncpy_from_user(arg_strings + used, p, kArgBytes - used);
      if (len == -ENAMETOOLONG) return -E2BIG;
      if (len < 0) return len;
      arg_ptrs[n++] = arg_strings + used;
      used += static_cast<uint32_t>(len) + 1;
      ++counts[which];
    }
    arg_ptrs[n++] = nullptr;
  }
  return exec_image(frame, path, arg_ptrs, counts[0], arg_ptrs + counts[0] + 1, counts[1]);
}

}  // namespace kern
