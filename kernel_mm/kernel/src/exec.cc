// execve: a static i386 ELF executable from the initrd into a fresh mm.
//
// As Linux's exec_mmap, the new mm goes live on this CPU before the image
// is built in it, so the faults that build it install PMDs into a loaded
// PGD: with mm.pmd_prealloc=off each forces a CR3 reload (the PAE PDPTE
// effect the lab measures). The segments map the file's page cache, so
// every exec of a program runs its text from the same frames.
//
// Execs on several CPUs share nothing here: the caller's strings go into
// frames of the exec's own (ArgStrings), and the new stack is written in
// place. The group's state an exec resets is taken under its locks
// (alloc_lock, siglock, file_lock); de_thread may block, nothing else does.
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
constexpr uint32_t kMaxArgs = 1024;         // per list (argv, envp)
constexpr uint32_t kArgBytes = 60 * 1024;
// The most the new stack's strings, pointers and auxiliary vector may take.
constexpr uint32_t kStackImageMax = kArgBytes + 4096;

// The strings of argv then envp, each NUL-terminated, copied out of the
// caller (the old mm goes away before the new stack is built), in frames
// allocated for this exec (Linux's bprm pages): the usual few hundred bytes
// take one frame, at most kArgBytes take 15.
class ArgStrings {
 public:
  ArgStrings() = default;
  ArgStrings(const ArgStrings&) = delete;
  ArgStrings& operator=(const ArgStrings&) = delete;
  ~ArgStrings() {
    for (mm::Page* p : pages_)
      if (p) sys->pages.free(p);
  }

  uint32_t argc = 0, envc = 0;
  uint32_t size() const { return size_; }

  // Appends the string at user address `src`: 0, -EFAULT, -E2BIG (past
  // kArgBytes) or -ENOMEM. Read page by page, so a string ending just
  // before an unmapped page is still read.
  int32_t add_user(uint32_t src) {
    for (;;) {
      uint32_t room;
      if (const int32_t r = ensure_room(&room)) return r;
      const uint32_t to_page_end = mm::kPageSize - (src & (mm::kPageSize - 1));
      const uint32_t n = room < to_page_end ? room : to_page_end;
      if (src >= mm::kTaskSize) return -EFAULT;
      char* dst = at(size_);
      if (copy_from_user(dst, src, n)) return -EFAULT;
      for (uint32_t k = 0; k < n; ++k) {
        if (dst[k]) continue;
        size_ += k + 1;
        return 0;
      }
      size_ += n;
      src += n;
    }
  }

  int32_t add_kernel(const char* s) {
    for (;;) {
      uint32_t room;
      if (const int32_t r = ensure_room(&room)) return r;
      char* dst = at(size_);
      for (uint32_t k = 0; k < room; ++k) {
        dst[k] = s[k];
        if (s[k]) continue;
        size_ += k + 1;
        return 0;
      }
      size_ += room;
      s += room;
    }
  }

  // Copies every string to user address `dst` (the current mm).
  int32_t copy_out(uint32_t dst) const {
    for (uint32_t off = 0; off < size_; off += mm::kPageSize) {
      const uint32_t n = size_ - off < mm::kPageSize ? size_ - off : mm::kPageSize;
      if (const int32_t r = copy_to_user(dst + off, at(off), n)) return r;
    }
    return 0;
  }

  // Calls f(offset) for the start of each string, in order.
  template <typename F>
  void for_each_start(F&& f) const {
    bool start = true;
    for (uint32_t off = 0; off < size_; ++off) {
      if (start) f(off);
      start = *at(off) == 0;
    }
  }

 private:
  char* at(uint32_t off) const {
    return static_cast<char*>(sys->pages.page_address(pages_[off / mm::kPageSize])) + off % mm::kPageSize;
  }
  // The bytes left in the current frame (allocated if it is new).
  int32_t ensure_room(uint32_t* room) {
    if (size_ == kArgBytes) return -E2BIG;
    mm::Page*& p = pages_[size_ / mm::kPageSize];
    if (!p && !(p = sys->pages.alloc(mm::PageKind::kKernel))) return -ENOMEM;
    *room = mm::kPageSize - size_ % mm::kPageSize;
    return 0;
  }

  mm::Page* pages_[kArgBytes / mm::kPageSize] = {};
  uint32_t size_ = 0;
};
static_assert(kArgBytes % mm::kPageSize == 0);

// AT_RANDOM's bytes: reproducible on purpose (deterministic runs), not a
// security boundary. One sequence for the boot, drawn by every exec in turn.
void next_random(uint8_t (&out)[16]) {
  static std::atomic<uint32_t> seed{0x6d6d6c61};
  uint32_t old = seed.load(std::memory_order_relaxed), next;
  do {
    next = old;
    for (uint8_t& b : out) {
      next = next * 1103515245u + 12345u;
      b = static_cast<uint8_t>(next >> 16);
    }
  } while (!seed.compare_exchange_weak(old, next, std::memory_order_relaxed));
}

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
// create_elf_tables) at the top of the user stack, written in place (the
// stack is fresh, so what is not written reads as zero); returns the new
// esp. From the top down: the path (AT_EXECFN), envp's and argv's strings,
// "i686" (AT_PLATFORM), 16 random bytes (AT_RANDOM); at esp: argc, argv[],
// NULL, envp[], NULL, auxv.
int32_t setup_stack(mm::MmStruct* mm, const char* path, const formats::ElfImage& img, uint32_t bias,
                    const ArgStrings& args, uint32_t* sp_out) {
  const uint32_t top = mm::kTaskSize;
  {
    mm::VirtAddr out;
    const uint32_t prot = mm::kVmRead | mm::kVmWrite | (img.exec_stack ? mm::kVmExec : 0u);
    const mm::MmapRequest req{.addr = mm::VirtAddr(top - kStackSize), .len = kStackSize, .prot = prot, .fixed = true};
    if (const int32_t r = status_errno(mm::do_mmap(mm, req, &out))) return r;
  }
  const uint32_t path_len = static_cast<uint32_t>(strlen(path)) + 1;
  const uint32_t strings = args.size() + path_len + 16 + 5;
  const uint32_t kNumAux = 20;
  const uint32_t ptrs = (1 + args.argc + 1 + args.envc + 1 + 2 * kNumAux) * 4;
  const uint32_t total = strings + ptrs + 16;
  if (total > kStackImageMax) return -E2BIG;
  const uint32_t sp = (top - total) & ~15u;
  MM_ASSERT(sp + ptrs <= top - strings);  // the pointer block ends below the strings
  const uint32_t execfn = top - path_len;
  const uint32_t strs = execfn - args.size();
  const uint32_t platform = strs - 5;
  const uint32_t random_at = platform - 16;
  uint8_t random[16];
  next_random(random);
  if (const int32_t r = copy_to_user(execfn, path, path_len)) return r;
  if (const int32_t r = args.copy_out(strs)) return r;
  if (const int32_t r = copy_to_user(platform, "i686", 5)) return r;
  if (const int32_t r = copy_to_user(random_at, random, sizeof(random))) return r;
  // argc, then the pointers, NULL after argv's and after envp's, in
  // batches through a small buffer.
  uint32_t batch[64];
  uint32_t nbatch = 0, at = sp;
  int32_t err = 0;
  auto put = [&](uint32_t word) {
    batch[nbatch++] = word;
    if (nbatch < 64) return;
    if (!err) err = copy_to_user(at, batch, sizeof(batch));
    at += sizeof(batch);
    nbatch = 0;
  };
  put(args.argc);
  if (args.argc == 0) put(0);
  uint32_t index = 0;
  args.for_each_start([&](uint32_t off) {
    put(strs + off);
    if (++index == args.argc) put(0);
  });
  put(0);  // after envp's
  if (nbatch && !err) err = copy_to_user(at, batch, nbatch * 4);
  if (err) return err;
  at += nbatch * 4;
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
  if (const int32_t r = copy_to_user(at, aux, sizeof(aux))) return r;
  *sp_out = sp;
  return 0;
}

const char* basename(const char* path) {
  const char* b = path;
  for (const char* p = path; *p; ++p)
    if (*p == '/' && p[1]) b = p + 1;
  return b;
}

// Replaces the image with `path`'s; `args` hold argv's and envp's strings.
int32_t exec_image(x86::TrapFrame* frame, const char* path, const ArgStrings& args) {
  Task* t = current;
  ThreadGroup& g = *t->group;
  char cwd[sizeof(ThreadGroup::cwd)];
  {
    mm::SpinGuard a(g.alloc_lock);
    kstrlcpy(cwd, g.cwd, sizeof(cwd));
  }
  int32_t err = 0;
  Inode* file = fs_lookup(cwd, path, &err);
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
  if (t->leader != t) return -EINVAL;
  if (const int32_t r = de_thread()) return r;
  const uint32_t bias = img.pie ? kPieBias : 0;
  for (uint32_t i = 0; i < img.nsegs; ++i)
    if (!user_range_ok(img.segs[i].vaddr + bias, img.segs[i].memsz) ||
        img.segs[i].vaddr + bias + img.segs[i].memsz > mm::kTaskSize - kStackSize)
      return -ENOEXEC;

  mm::MmStruct* mm = mm::mm_alloc(*sys);
  if (!mm) return -ENOMEM;
  mm::mm_publish(mm);
  mm::MmStruct* old = t->mm;
  t->mm = mm;
  Cpu& cpu = cpu_self();
  mm::switch_mm(cpu.loaded_mm, mm);
  cpu.loaded_mm = mm;

  uint32_t image_end = 0, sp = 0;
  int32_t r = load_segments(mm, file, img, bias, &image_end);
  if (!r) r = setup_stack(mm, path, img, bias, args, &sp);
  if (r) {
    // Back to the old image, untouched.
    t->mm = old;
    mm::MmStruct* back = old ? old : &sys->init_mm;
    mm::switch_mm(mm, back);
    cpu_self().loaded_mm = back;
    mm::mmput(mm);
    return r;
  }
  // The other threads are gone; any CPU that still has the old mm loaded
  // holds a reference until it switches away (release_mm, process.cc).
  if (old) mm::mmput(old);
  ++kstats.execs;

  {
    mm::SpinGuard a(g.alloc_lock);
    g.brk_start = g.brk = image_end;
  }
  {
    mm::SpinGuard s(g.siglock);
    for (KSigaction& sa : g.sigactions)
      if (sa.handler != 1) sa = KSigaction{};  // handlers reset, SIG_IGN stays
  }
  fd_table_close_on_exec(g.files);
  kstrlcpy(t->comm, basename(path), sizeof(t->comm));
  t->clear_child_tid = 0;
  t->robust_list = 0;
  for (uint64_t& d : t->tls) d = 0;
  x86::load_tls(t->tls);
  memcpy(t->fpu, initial_fpu, sizeof(t->fpu));
  x86::fxrstor(t->fpu);
  *frame = x86::TrapFrame{};
  frame->eip = img.entry + bias;
  frame->cs = x86::kUserCs;
  frame->eflags = 0x202;
  frame->user_esp = sp;
  frame->user_ss = x86::kUserDs;
  frame->ds = frame->es = x86::kUserDs;
  return 0;
}

}  // namespace

int32_t exec_kernel(x86::TrapFrame* frame, const char* path, const char* const* argv, uint32_t argc,
                    const char* const* envp, uint32_t envc) {
  ArgStrings args;
  for (uint32_t i = 0; i < argc; ++i)
    if (const int32_t r = args.add_kernel(argv[i])) return r;
  for (uint32_t i = 0; i < envc; ++i)
    if (const int32_t r = args.add_kernel(envp[i])) return r;
  args.argc = argc;
  args.envc = envc;
  return exec_image(frame, path, args);
}

int32_t do_execve(x86::TrapFrame* frame, uint32_t upath, uint32_t uargv, uint32_t uenvp) {
  char path[kPathMax];
  const int32_t pl = strncpy_from_user(path, upath, sizeof(path));
  if (pl < 0) return pl;
  ArgStrings args;
  uint32_t* const counts[2] = {&args.argc, &args.envc};
  const uint32_t lists[2] = {uargv, uenvp};
  for (int which = 0; which < 2; ++which) {
    if (!lists[which]) continue;
    for (uint32_t i = 0;; ++i) {
      if (i >= kMaxArgs) return -E2BIG;
      uint32_t p;
      if (copy_from_user(&p, lists[which] + 4 * i, 4)) return -EFAULT;
      if (!p) break;
      if (const int32_t r = args.add_user(p)) return r;
      ++*counts[which];
    }
  }
  return exec_image(frame, path, args);
}

}  // namespace kern
