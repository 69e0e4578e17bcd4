// The address-space calls (brk, mmap2, munmap, mprotect) and mmlab's own
// two (docs/records.md). The mm core locks the caller's mm itself; brk
// holds its group's alloc_lock around it (the heap bounds), and a file
// mapping holds the file table's lock while it looks the fd up.
#include "kernel/errno.h"
#include "kernel/kstats.h"
#include "kernel/percpu.h"
#include "kernel/syscall.h"
#include "kernel/system.h"
#include "kernel/uaccess.h"
#include "mm/mmap.h"
#include "mm/vmalloc.h"

namespace kern {
namespace {

constexpr uint32_t kMapAnonymous = 0x20;

int32_t do_brk(uint32_t want) {
  ThreadGroup& g = *current->group;  // the heap is the group's
  mm::MmStruct* mm = current->mm;    // every thread's
  mm::SpinGuard a(g.alloc_lock);
  if (want < g.brk_start) return static_cast<int32_t>(g.brk);
  const uint32_t old_top = mm::page_align_up(g.brk), new_top = mm::page_align_up(want);
  if (new_top > mm::kTaskSize - (8u << 20)) return static_cast<int32_t>(g.brk);
  if (new_top > old_top) {
    // The new range must be free: brk never replaces a mapping.
    {
      mm::ReadGuard r(mm->mmap_lock);
      const mm::Vma* v = mm::find_vma(mm, mm::VirtAddr(old_top));
      if (v && v->start.value() < new_top) return static_cast<int32_t>(g.brk);
    }
    mm::VirtAddr out;
    const mm::MmapRequest req{
        .addr = mm::VirtAddr(old_top), .len = new_top - old_top, .prot = mm::kVmRead | mm::kVmWrite, .fixed = true};
    if (mm::do_mmap(mm, req, &out) != mm::Status::kOk) return static_cast<int32_t>(g.brk);
  } else if (new_top < old_top) {
    if (mm::do_munmap(mm, mm::VirtAddr(new_top), old_top - new_top) != mm::Status::kOk)
      return static_cast<int32_t>(g.brk);
  }
  g.brk = want;
  return static_cast<int32_t>(want);
}

int32_t mm_errno(mm::Status s) {
  switch (s) {
    case mm::Status::kOk:
      return 0;
    case mm::Status::kNoMem:
    case mm::Status::kBadAddress:
      return -ENOMEM;
    case mm::Status::kAccess:
      return -EACCES;
    default:
      return -EINVAL;
  }
}

int32_t do_mmap2(uint32_t addr, uint32_t len, uint32_t prot, uint32_t flags, int32_t fd, uint32_t pgoff) {
  constexpr uint32_t kShared = 1, kPrivate = 2, kFixed = 0x10, kFixedNoreplace = 0x100000;
  const uint32_t type = flags & 3;
  if (type != kShared && type != kPrivate) return -EINVAL;
  if (len == 0 || (prot & ~7u)) return -EINVAL;
  if (addr & (mm::kPageSize - 1) && (flags & (kFixed | kFixedNoreplace))) return -EINVAL;
  const uint32_t plen = mm::page_align_up(len);
  if (plen < len || plen > mm::kTaskSize) return -ENOMEM;
  // The file's inode (and so its page cache) outlives the fd: it is
  // looked up under the table's lock, mapped after.
  Inode* file = nullptr;
  if (!(flags & kMapAnonymous)) {
    FdTable& ft = current->group->files;
    mm::SpinGuard g(ft.lock);
    OpenFile* f = fd_get(ft, fd);
    if (!f) return -EBADF;
    if (f->inode->kind == InodeKind::kFile)
      file = f->inode;
    else if (f->inode->kind != InodeKind::kNull)  // /dev/null: zeroes
      return -ENODEV;
    if (file && type == kShared && (prot & 2)) return -EACCES;  // read-only file system
  }
  const bool fixed = flags & (kFixed | kFixedNoreplace);
  if (fixed && !user_range_ok(addr, plen)) return -ENOMEM;
  if (flags & kFixedNoreplace) {
    mm::ReadGuard g(current->mm->mmap_lock);
    const mm::Vma* v = mm::find_vma(current->mm, mm::VirtAddr(addr));
    if (v && v->start.value() < addr + plen) return -EEXIST;
  }
  // A file mapping maps the file's page cache: pages are shared until a
  // private one is written; pages wholly past the end of the file fault
  // with SIGBUS, as on Linux.
  mm::VirtAddr out;
  const mm::MmapRequest req{.addr = mm::VirtAddr(addr & ~(mm::kPageSize - 1)),
                            .len = plen,
                            .prot = prot,
                            .fixed = fixed,
                            .shared = type == kShared,
                            .file = file ? file->cache : nullptr,
                            .pgoff = file ? pgoff : 0};
  if (const int32_t r = mm_errno(mm::do_mmap(current->mm, req, &out))) return r;
  return static_cast<int32_t>(out.value());
}

// mmlab's kernel-mapping churn (workloads/include/mmlab.h): `npages` fresh
// pages mapped in the vmalloc area, each written, then unmapped. The
// allocator is next-fit, so successive calls walk the area and keep
// creating kernel PTE tables until every 2 MiB of it has one (tables are
// never freed, as in Linux); with mm.kernel_pmd=unshared each new table is
// synced into every PGD. Afterwards every published mm is checked for every
// kernel PMD entry (kernel_pmd_missing): a PGD a sync missed is counted in
// kstats.kernel_sync_missed, which the counters and leak records report.
// Returns the kernel PTE tables this call created.
int32_t do_kmap_churn(uint32_t npages) {
  if (npages == 0 || npages > 1024) return -EINVAL;
  const uint64_t tables_before = sys->counters.get(mm::Counter::kKernelPteTable);
  // The mapping work and the check race forks and exits on the other CPUs,
  // which is the point of the experiment.
  mm::VirtAddr va;
  if (mm::vmalloc(*sys, npages, &va) != mm::Status::kOk) return -ENOMEM;
  for (uint32_t i = 0; i < npages; ++i) *reinterpret_cast<volatile uint32_t*>((va + i * mm::kPageSize).value()) = i;
  mm::vfree(*sys, va, npages);
  uint32_t missed = 0;
  {
    mm::ReadGuard g(sys->tasklist_lock);
    for (mm::MmStruct* m : sys->tasks) missed += mm::kernel_pmd_missing(*sys, m) != 0;
  }
  ++kstats.kmap_churns;
  kstats.kernel_sync_missed += missed;
  return static_cast<int32_t>(sys->counters.get(mm::Counter::kKernelPteTable) - tables_before);
}

}  // namespace

int32_t sys_brk(SyscallArgs r) { return do_brk(r.a()); }
int32_t sys_mmap2(SyscallArgs r) { return do_mmap2(r.a(), r.b(), r.c(), r.d(), static_cast<int32_t>(r.e()), r.f()); }

int32_t sys_munmap(SyscallArgs r) {
  if (r.a() & (mm::kPageSize - 1) || !r.b()) return -EINVAL;
  if (!user_range_ok(r.a(), r.b())) return -EINVAL;
  return mm_errno(mm::do_munmap(current->mm, mm::VirtAddr(r.a()), r.b()));
}

int32_t sys_mprotect(SyscallArgs r) {
  if (r.a() & (mm::kPageSize - 1) || (r.c() & ~7u)) return -EINVAL;
  if (!user_range_ok(r.a(), r.b())) return -ENOMEM;
  if (!r.b()) return 0;
  return mm_errno(mm::do_mprotect(current->mm, mm::VirtAddr(r.a()), r.b(), r.c()));
}

// mmlab_counters(label): a `counters` record labelled with the user string
// (or "" for a null pointer).
int32_t sys_mmlab_counters(SyscallArgs r) {
  char label[64];
  const int32_t n = r.a() ? strncpy_from_user(label, r.a(), sizeof(label)) : 0;
  if (n < 0) return n;
  if (!r.a()) label[0] = 0;
  emit_counters_record(label);
  return 0;
}

int32_t sys_mmlab_kmap_churn(SyscallArgs r) { return do_kmap_churn(r.a()); }

}  // namespace kern
