// The Linux i386 system-call subset (int 0x80: number in eax, arguments in
// ebx, ecx, edx, esi, edi, ebp; -errno in eax on failure). Numbers from
// arch/x86/entry/syscalls/syscall_32.tbl. Anything else returns -ENOSYS and
// is counted by number (the `counters` record lists them).
#include "kernel/syscall.h"

#include "kernel/clock.h"
#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/futex.h"
#include "kernel/klib.h"
#include "kernel/kstats.h"
#include "kernel/process.h"
#include "kernel/sched.h"
#include "kernel/system.h"
#include "kernel/uaccess.h"
#include "mm/mmap.h"
#include "mm/vmalloc.h"

namespace kern {

int32_t tls_from_user(uint64_t* tls, uint32_t uinfo) {
  uint32_t d[4];  // struct user_desc: entry_number, base_addr, limit, flags
  if (copy_from_user(d, uinfo, sizeof(d))) return -EFAULT;
  uint32_t idx = d[0];
  if (idx == 0xFFFFFFFFu) {
    for (idx = 0; idx < x86::kTlsEntries && tls[idx]; ++idx) {
    }
    if (idx == x86::kTlsEntries) return -ESRCH;
    idx += x86::kTlsFirstEntry;
    d[0] = idx;
    if (copy_to_user(uinfo, &d[0], 4)) return -EFAULT;
  }
  if (idx < x86::kTlsFirstEntry || idx >= x86::kTlsFirstEntry + x86::kTlsEntries) return -EINVAL;
  tls[idx - x86::kTlsFirstEntry] = x86::make_user_descriptor(d[1], d[2], d[3]);
  return 0;
}

namespace {

enum Nr : uint32_t {
  kExit = 1,
  kFork = 2,
  kRead = 3,
  kWrite = 4,
  kOpen = 5,
  kClose = 6,
  kWaitpid = 7,
  kExecve = 11,
  kChdir = 12,
  kTime = 13,
  kLseek = 19,
  kGetpid = 20,
  kGetuid = 24,
  kPause = 29,
  kAccess = 33,
  kKill = 37,
  kDup = 41,
  kBrk = 45,
  kGetgid = 47,
  kGeteuid = 49,
  kGetegid = 50,
  kIoctl = 54,
  kFcntl = 55,
  kSetpgid = 57,
  kUmask = 60,
  kDup2 = 63,
  kGetppid = 64,
  kGetpgrp = 65,
  kSetsid = 66,
  kGettimeofday = 78,
  kReadlink = 85,
  kMunmap = 91,
  kWait4 = 114,
  kClone = 120,
  kUname = 122,
  kMprotect = 125,
  kGetpgid = 132,
  kLlseek = 140,
  kWritev = 146,
  kGetsid = 147,
  kSchedYield = 158,
  kNanosleep = 162,
  kRtSigreturn = 173,
  kRtSigaction = 174,
  kRtSigprocmask = 175,
  kPread64 = 180,
  kGetcwd = 183,
  kVfork = 190,
  kUgetrlimit = 191,
  kMmap2 = 192,
  kStat64 = 195,
  kLstat64 = 196,
  kFstat64 = 197,
  kGetuid32 = 199,
  kGetgid32 = 200,
  kGeteuid32 = 201,
  kGetegid32 = 202,
  kGetdents64 = 220,
  kFcntl64 = 221,
  kGettid = 224,
  kTkill = 238,
  kFutex = 240,
  kSetThreadArea = 243,
  kExitGroup = 252,
  kSetTidAddress = 258,
  kClockGettime = 265,
  kClockGetres = 266,
  kClockNanosleep = 267,
  kTgkill = 270,
  kOpenat = 295,
  kFstatat64 = 300,
  kReadlinkat = 305,
  kFaccessat = 307,
  kSetRobustList = 311,
  kDup3 = 330,
  kPrlimit64 = 340,
  kGetrandom = 355,
  kStatx = 383,
  kClockGettime64 = 403,
  kClockGetresTime64 = 406,
  kClockNanosleepTime64 = 407,
  kFutexTime64 = 422,
  kFaccessat2 = 439,
  // mmlab's own, outside Linux's range (docs/records.md).
  kMmlabCounters = 1000,
  kMmlabKmapChurn = 1001,
};

constexpr int32_t kAtFdcwd = -100;
constexpr uint32_t kAtSymlinkNofollow = 0x100, kAtEmptyPath = 0x1000;
constexpr uint32_t kOAccmode = 3, kOCreat = 0100, kOTrunc = 01000, kODirectory = 0200000, kOCloexec = 02000000;

OpenFile* fd_get(int32_t fd) {
  if (fd < 0 || fd >= static_cast<int32_t>(kMaxFds)) return nullptr;
  return current->leader->files.fd[fd];
}

// Forwards console lines that start with this prefix as `result` records.
constexpr const char kResultPrefix[] = "MMLAB-RESULT ";

void console_output(const char* s, uint32_t n) {
  console_write(s, n);
  Task* t = current;
  for (uint32_t i = 0; i < n; ++i) {
    const char c = s[i];
    if (c != '\n') {
      if (t->line_len < sizeof(t->line) - 1) {
        t->line[t->line_len++] = c;
      } else {
        t->line_truncated = true;
      }
      continue;
    }
    t->line[t->line_len] = 0;
    if (starts_with(t->line, kResultPrefix)) {
      Record r("result");
      r.num("pid", static_cast<uint32_t>(t->pid));
      r.str("comm", t->comm);
      r.str("line", t->line + sizeof(kResultPrefix) - 1);
      if (t->line_truncated) r.boolean("truncated", true);
      r.emit();
    }
    t->line_len = 0;
    t->line_truncated = false;
  }
}

// The most one write(2) puts on the console; the rest is a short write, as
// POSIX allows and stdio's write loops expect. The kernel is not preemptible:
// without a cap, one write of a 100 MB buffer (the syscall fuzzer found it)
// would hold the machine for minutes at UART speed.
constexpr uint32_t kConsoleWriteMax = 64 * 1024;

int32_t do_write(int32_t fd, uint32_t buf, uint32_t count) {
  OpenFile* f = fd_get(fd);
  if (!f) return -EBADF;
  if ((f->flags & kOAccmode) == 0) return -EBADF;
  if (!user_range_ok(buf, count)) return -EFAULT;
  switch (f->inode->kind) {
    case InodeKind::kConsole: {
      char chunk[256];
      uint32_t done = 0;
      if (count > kConsoleWriteMax) count = kConsoleWriteMax;
      while (done < count) {
        const uint32_t n = count - done < sizeof(chunk) ? count - done : sizeof(chunk);
        if (copy_from_user(chunk, buf + done, n)) return done ? static_cast<int32_t>(done) : -EFAULT;
        console_output(chunk, n);
        done += n;
      }
      return static_cast<int32_t>(done);
    }
    case InodeKind::kNull:
      return static_cast<int32_t>(count);
    default:
      return -EBADF;  // opened read-only: the file system is read-only
  }
}

// read and pread64: from *pos, which advances by what was read.
int32_t read_at(OpenFile* f, uint32_t buf, uint32_t count, uint64_t* pos) {
  if ((f->flags & kOAccmode) == 1) return -EBADF;
  if (!user_range_ok(buf, count)) return -EFAULT;
  switch (f->inode->kind) {
    case InodeKind::kConsole:  // no console input yet: end of file
    case InodeKind::kNull:
      return 0;
    case InodeKind::kDir:
      return -EISDIR;
    case InodeKind::kFile: {
      if (*pos >= f->inode->size) return 0;
      uint32_t n = f->inode->size - static_cast<uint32_t>(*pos);
      if (n > count) n = count;
      if (copy_to_user(buf, f->inode->data + *pos, n)) return -EFAULT;
      *pos += n;
      return static_cast<int32_t>(n);
    }
    default:
      return -EINVAL;
  }
}

int32_t do_read(int32_t fd, uint32_t buf, uint32_t count) {
  OpenFile* f = fd_get(fd);
  if (!f) return -EBADF;
  return read_at(f, buf, count, &f->offset);
}

// pread64: the offset comes in two registers and the file's own offset
// stays; a negative offset is -EINVAL, a pipe-like file -ESPIPE.
int32_t do_pread64(int32_t fd, uint32_t buf, uint32_t count, uint32_t off_lo, uint32_t off_hi) {
  OpenFile* f = fd_get(fd);
  if (!f) return -EBADF;
  if (off_hi & 0x80000000u) return -EINVAL;
  if (f->inode->kind == InodeKind::kConsole) return -ESPIPE;
  uint64_t pos = (uint64_t{off_hi} << 32) | off_lo;
  return read_at(f, buf, count, &pos);
}

int32_t do_writev(int32_t fd, uint32_t iov, uint32_t cnt) {
  if (cnt > 1024) return -EINVAL;
  const OpenFile* f = fd_get(fd);
  const bool console = f && f->inode->kind == InodeKind::kConsole;
  constexpr uint64_t kMaxRw = 0x7FFFF000u;  // Linux's MAX_RW_COUNT: the total fits the int32 return
  uint64_t total = 0;
  for (uint32_t i = 0; i < cnt; ++i) {
    uint32_t v[2];
    if (copy_from_user(v, iov + 8 * i, 8)) return total ? static_cast<int32_t>(total) : -EFAULT;
    if (!v[1]) continue;
    if (v[1] > kMaxRw - total) v[1] = static_cast<uint32_t>(kMaxRw - total);
    const int32_t r = do_write(fd, v[0], v[1]);
    if (r < 0) return total ? static_cast<int32_t>(total) : r;
    total += static_cast<uint32_t>(r);
    // A short write ends it, as in Linux; so do the console's cap over all vectors and MAX_RW_COUNT.
    if (static_cast<uint32_t>(r) < v[1] || (console && total >= kConsoleWriteMax) || total >= kMaxRw) break;
  }
  return static_cast<int32_t>(total);
}

// Path argument: copied in, resolved against cwd (dirfd must be AT_FDCWD
// or, for an absolute path, anything).
int32_t lookup_user_path(int32_t dirfd, uint32_t upath, Inode** out, bool follow = true, bool empty_ok = false) {
  char path[kPathMax];
  const int32_t n = strncpy_from_user(path, upath, sizeof(path));
  if (n < 0) return n;
  if (n == 0) {
    if (!empty_ok) return -ENOENT;
    OpenFile* f = fd_get(dirfd);
    if (!f) return -EBADF;
    *out = f->inode;
    return 0;
  }
  if (path[0] != '/' && dirfd != kAtFdcwd) {
    OpenFile* f = fd_get(dirfd);
    if (!f) return -EBADF;
    if (f->inode->kind != InodeKind::kDir) return -ENOTDIR;
    char dir[kPathMax + 1];
    fs_path(f->inode, dir, sizeof(dir));
    int32_t err = 0;
    *out = fs_lookup(dir, path, &err, follow);
    return *out ? 0 : err;
  }
  int32_t err = 0;
  *out = fs_lookup(current->leader->cwd, path, &err, follow);
  return *out ? 0 : err;
}

int32_t do_open(int32_t dirfd, uint32_t upath, uint32_t flags) {
  Inode* ino;
  if (const int32_t r = lookup_user_path(dirfd, upath, &ino)) return (r == -ENOENT && (flags & kOCreat)) ? -EROFS : r;
  const bool writes = (flags & kOAccmode) != 0 || (flags & kOTrunc);
  if (writes && (ino->kind == InodeKind::kFile || ino->kind == InodeKind::kDir))
    return ino->kind == InodeKind::kDir ? -EISDIR : -EROFS;
  if ((flags & kODirectory) && ino->kind != InodeKind::kDir) return -ENOTDIR;
  OpenFile* f = file_open(ino, flags);
  if (!f) return -ENOMEM;
  const int32_t fd = fd_install(current->leader->files, f);
  if (fd < 0) {
    file_put(f);
    return fd;
  }
  fd_set_cloexec(current->leader->files, static_cast<uint32_t>(fd), flags & kOCloexec);
  return fd;
}

int32_t do_close(int32_t fd) {
  OpenFile* f = fd_get(fd);
  if (!f) return -EBADF;
  current->leader->files.fd[fd] = nullptr;
  fd_set_cloexec(current->leader->files, static_cast<uint32_t>(fd), false);
  file_put(f);
  return 0;
}

int32_t do_dup(int32_t oldfd, int32_t newfd, uint32_t flags, bool dup2) {
  OpenFile* f = fd_get(oldfd);
  if (!f) return -EBADF;
  if (newfd < 0) {
    file_get(f);
    const int32_t fd = fd_install(current->leader->files, f, flags);  // flags: lowest fd (F_DUPFD)
    if (fd < 0) file_put(f);
    return fd;
  }
  if (newfd >= static_cast<int32_t>(kMaxFds)) return -EBADF;
  if (newfd == oldfd) return dup2 ? newfd : -EINVAL;
  if (current->leader->files.fd[newfd]) do_close(newfd);
  file_get(f);
  current->leader->files.fd[newfd] = f;
  fd_set_cloexec(current->leader->files, static_cast<uint32_t>(newfd), flags & kOCloexec);
  return newfd;
}

int32_t do_fcntl(int32_t fd, uint32_t cmd, uint32_t arg) {
  OpenFile* f = fd_get(fd);
  if (!f) return -EBADF;
  switch (cmd) {
    case 0:  // F_DUPFD
      return do_dup(fd, -1, arg, false);
    case 1030: {  // F_DUPFD_CLOEXEC
      const int32_t n = do_dup(fd, -1, arg, false);
      if (n >= 0) fd_set_cloexec(current->leader->files, static_cast<uint32_t>(n), true);
      return n;
    }
    case 1:  // F_GETFD
      return (current->leader->files.cloexec >> fd) & 1;
    case 2:  // F_SETFD
      fd_set_cloexec(current->leader->files, static_cast<uint32_t>(fd), arg & 1);
      return 0;
    case 3:  // F_GETFL
      return static_cast<int32_t>(f->flags & ~kOCloexec);
    case 4:  // F_SETFL: nothing changes on this file system
      return 0;
    default:
      return -EINVAL;
  }
}

int32_t do_lseek(int32_t fd, int64_t off, uint32_t whence, int64_t* result) {
  OpenFile* f = fd_get(fd);
  if (!f) return -EBADF;
  if (f->inode->kind == InodeKind::kConsole) return -ESPIPE;
  int64_t base = 0;
  switch (whence) {
    case 0:
      break;
    case 1:
      base = static_cast<int64_t>(f->offset);
      break;
    case 2:
      base = f->inode->size;
      break;
    default:
      return -EINVAL;
  }
  if (base + off < 0) return -EINVAL;
  f->offset = static_cast<uint64_t>(base + off);
  *result = static_cast<int64_t>(f->offset);
  return 0;
}

uint32_t inode_mode(const Inode* i) {
  switch (i->kind) {
    case InodeKind::kDir:
      return 0040000 | (i->mode & 07777);
    case InodeKind::kSymlink:
      return 0120777;
    case InodeKind::kConsole:
    case InodeKind::kNull:
      return i->mode;
    default:
      return 0100000 | (i->mode & 07777);
  }
}

// Linux's numbers for the two device nodes (5:1 console, 1:3 null); 0:0 otherwise.
struct DevNum {
  uint32_t major, minor;
};
DevNum device_number(const Inode* i) {
  switch (i->kind) {
    case InodeKind::kConsole:
      return {5, 1};
    case InodeKind::kNull:
      return {1, 3};
    default:
      return {0, 0};
  }
}

// struct stat64 (i386): 96 bytes, 4-byte aligned 64-bit fields.
struct [[gnu::packed]] Stat64 {
  uint64_t st_dev;
  uint8_t pad0[4];
  uint32_t st_ino32;
  uint32_t st_mode, st_nlink, st_uid, st_gid;
  uint64_t st_rdev;
  uint8_t pad3[4];
  int64_t st_size;
  uint32_t st_blksize;
  uint64_t st_blocks;
  uint32_t times[6];
  uint64_t st_ino;
};
static_assert(sizeof(Stat64) == 96);

int32_t put_stat64(const Inode* i, uint32_t ubuf) {
  Stat64 st{};
  st.st_dev = 1;
  st.st_ino32 = st.st_ino = i->ino;
  st.st_mode = inode_mode(i);
  st.st_nlink = i->kind == InodeKind::kDir ? 2 : 1;
  const DevNum rdev = device_number(i);
  st.st_rdev = (rdev.major << 8) | rdev.minor;
  st.st_size = i->size;
  st.st_blksize = 4096;
  st.st_blocks = (i->size + 511) / 512;
  return copy_to_user(ubuf, &st, sizeof(st));
}

int32_t put_statx(const Inode* i, uint32_t ubuf) {
  uint8_t sx[256] = {};
  auto u32 = [&](uint32_t off, uint32_t v) { memcpy(sx + off, &v, 4); };
  auto u64 = [&](uint32_t off, uint64_t v) { memcpy(sx + off, &v, 8); };
  u32(0, 0x7FF);  // STATX_BASIC_STATS
  u32(4, 4096);
  u32(16, i->kind == InodeKind::kDir ? 2 : 1);
  const uint16_t mode = static_cast<uint16_t>(inode_mode(i));
  memcpy(sx + 28, &mode, 2);
  u64(32, i->ino);
  u64(40, i->size);
  u64(48, (i->size + 511) / 512);
  const DevNum rdev = device_number(i);
  u32(128, rdev.major);
  u32(132, rdev.minor);
  u32(140, 1);  // dev minor
  return copy_to_user(ubuf, sx, sizeof(sx));
}

int32_t do_getdents64(int32_t fd, uint32_t ubuf, uint32_t count) {
  OpenFile* f = fd_get(fd);
  if (!f) return -EBADF;
  if (f->inode->kind != InodeKind::kDir) return -ENOTDIR;
  uint32_t done = 0;
  for (;;) {
    const char* name;
    uint32_t len;
    Inode* c = fs_dir_entry(f->inode, static_cast<uint32_t>(f->offset), &name, &len);
    if (!c) break;
    const uint32_t reclen = (19 + len + 1 + 7) & ~7u;
    if (done + reclen > count) {
      if (!done) return -EINVAL;
      break;
    }
    uint8_t rec[19 + kPathMax + 8] = {};
    const uint64_t ino = c->ino, off = f->offset + 1;
    memcpy(rec, &ino, 8);
    memcpy(rec + 8, &off, 8);
    const uint16_t rl = static_cast<uint16_t>(reclen);
    memcpy(rec + 16, &rl, 2);
    rec[18] = c->kind == InodeKind::kDir       ? 4
              : c->kind == InodeKind::kSymlink ? 10
              : c->kind == InodeKind::kFile    ? 8
                                               : 2;
    memcpy(rec + 19, name, len < kPathMax ? len : kPathMax);
    if (copy_to_user(ubuf + done, rec, reclen)) return -EFAULT;
    done += reclen;
    ++f->offset;
  }
  return static_cast<int32_t>(done);
}

int32_t do_brk(uint32_t want) {
  Task* t = current->leader;  // the heap is the group's (t->mm is every thread's mm)
  if (want < t->brk_start) return static_cast<int32_t>(t->brk);
  const uint32_t old_top = mm::page_align_up(t->brk), new_top = mm::page_align_up(want);
  if (new_top > mm::kTaskSize - (8u << 20)) return static_cast<int32_t>(t->brk);
  if (new_top > old_top) {
    // The new range must be free: brk never replaces a mapping.
    {
      mm::ReadGuard g(t->mm->mmap_lock);
      const mm::Vma* v = mm::find_vma(t->mm, mm::VirtAddr(old_top));
      if (v && v->start.value() < new_top) return static_cast<int32_t>(t->brk);
    }
    mm::VirtAddr out;
    const mm::MmapRequest req{
        .addr = mm::VirtAddr(old_top), .len = new_top - old_top, .prot = mm::kVmRead | mm::kVmWrite, .fixed = true};
    if (mm::do_mmap(t->mm, req, &out) != mm::Status::kOk) return static_cast<int32_t>(t->brk);
  } else if (new_top < old_top) {
    if (mm::do_munmap(t->mm, mm::VirtAddr(new_top), old_top - new_top) != mm::Status::kOk)
      return static_cast<int32_t>(t->brk);
  }
  t->brk = want;
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
  constexpr uint32_t kShared = 1, kPrivate = 2, kFixed = 0x10, kAnon = 0x20, kFixedNoreplace = 0x100000;
  const uint32_t type = flags & 3;
  if (type != kShared && type != kPrivate) return -EINVAL;
  if (len == 0 || (prot & ~7u)) return -EINVAL;
  if (addr & (mm::kPageSize - 1) && (flags & (kFixed | kFixedNoreplace))) return -EINVAL;
  const uint32_t plen = mm::page_align_up(len);
  if (plen < len || plen > mm::kTaskSize) return -ENOMEM;
  OpenFile* f = nullptr;
  if (!(flags & kAnon)) {
    f = fd_get(fd);
    if (!f) return -EBADF;
    if (f->inode->kind == InodeKind::kNull)
      f = nullptr;  // /dev/null: zeroes
    else if (f->inode->kind != InodeKind::kFile)
      return -ENODEV;
    if (f && type == kShared && (prot & 2)) return -EACCES;  // read-only file system
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
                            .file = f ? f->inode->cache : nullptr,
                            .pgoff = f ? pgoff : 0};
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
  // Without kernel_lock: the mapping work and the check race forks and
  // exits on the other CPUs, which is the point of the experiment.
  kernel_lock.unlock();
  mm::VirtAddr va;
  const bool mapped = mm::vmalloc(*sys, npages, &va) == mm::Status::kOk;
  uint32_t missed = 0;
  if (mapped) {
    for (uint32_t i = 0; i < npages; ++i) *reinterpret_cast<volatile uint32_t*>((va + i * mm::kPageSize).value()) = i;
    mm::vfree(*sys, va, npages);
    mm::ReadGuard g(sys->tasklist_lock);
    for (mm::MmStruct* m = sys->tasks.front(); m; m = mm::TaskList::next(m))
      missed += mm::kernel_pmd_missing(*sys, m) != 0;
  }
  kernel_lock.lock();
  if (!mapped) return -ENOMEM;
  ++kstats.kmap_churns;
  kstats.kernel_sync_missed += missed;
  return static_cast<int32_t>(sys->counters.get(mm::Counter::kKernelPteTable) - tables_before);
}

int32_t do_uname(uint32_t ubuf) {
  char u[6 * 65] = {};
  // sysname "Linux": programs check it; release says what this kernel is.
  kstrlcpy(u, "Linux", 65);
  kstrlcpy(u + 65, "mmlab", 65);
  kstrlcpy(u + 130, "6.1.0-mmlab", 65);
  kstrlcpy(u + 195, "#1 mmlab PAE mm-core kernel", 65);
  kstrlcpy(u + 260, "i686", 65);
  kstrlcpy(u + 325, "(none)", 65);
  return copy_to_user(ubuf, u, sizeof(u));
}

// A struct timespec (time32: two longs) or __kernel_timespec (time64: two
// 64-bit fields) at uts.
int32_t put_timespec(uint32_t uts, uint64_t sec, uint64_t nsec, bool time64) {
  if (time64) {
    const uint64_t ts[2] = {sec, nsec};
    return copy_to_user(uts, ts, sizeof(ts));
  }
  const uint32_t ts[2] = {static_cast<uint32_t>(sec), static_cast<uint32_t>(nsec)};
  return copy_to_user(uts, ts, sizeof(ts));
}

int32_t do_clock_gettime(uint32_t clock, uint32_t uts, bool time64) {
  if (clock > 11) return -EINVAL;
  uint64_t ns = time_ns();
  if (clock == 0 || clock == 5 || clock == 8 || clock == 11) ns += realtime_base_s * 1000000000ull;  // REALTIME*, TAI
  return put_timespec(uts, ns / 1000000000ull, ns % 1000000000ull, time64);
}

// Sleeps at least `ns` by the TSC clock (the one clock_gettime reads), in
// timer ticks.
int32_t sleep_ns(uint64_t ns) {
  const uint64_t deadline = time_ns() + ns;
  for (uint64_t now = time_ns(); now < deadline; now = time_ns()) {
    const uint64_t ticks = ((deadline - now) * kHz + 999999999ull) / 1000000000ull;
    current->wake_tick = jiffies + (ticks ? ticks : 1);
    note_sleeper(current);
    while (current->wake_tick) {
      if (interrupted()) {
        current->wake_tick = 0;
        return -EINTR;
      }
      current->state = TaskState::kBlocked;
      schedule();
    }
  }
  return 0;
}

int32_t do_nanosleep(uint32_t ureq, bool time64) {
  uint64_t sec, nsec;
  if (time64) {
    int64_t ts[2];
    if (copy_from_user(ts, ureq, sizeof(ts))) return -EFAULT;
    if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000) return -EINVAL;
    sec = static_cast<uint64_t>(ts[0]), nsec = static_cast<uint64_t>(ts[1]);
  } else {
    int32_t ts[2];
    if (copy_from_user(ts, ureq, sizeof(ts))) return -EFAULT;
    if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000) return -EINVAL;
    sec = static_cast<uint64_t>(ts[0]), nsec = static_cast<uint64_t>(ts[1]);
  }
  return sleep_ns(sec * 1000000000ull + nsec);
}

int32_t do_rt_sigaction(uint32_t sig, uint32_t act, uint32_t oact, uint32_t sigsetsize) {
  if (sigsetsize != 8) return -EINVAL;
  if (sig < 1 || sig > kNumSignals) return -EINVAL;
  KSigaction& slot = current->leader->sigactions[sig - 1];
  KSigaction next;
  if (act) {
    if (sig == 9 || sig == 19) return -EINVAL;  // SIGKILL, SIGSTOP
    if (copy_from_user(&next, act, sizeof(next))) return -EFAULT;
  }
  if (oact && copy_to_user(oact, &slot, sizeof(slot))) return -EFAULT;
  if (act) slot = next;
  return 0;
}

int32_t do_rt_sigprocmask(uint32_t how, uint32_t uset, uint32_t uold, uint32_t sigsetsize) {
  if (sigsetsize != 8) return -EINVAL;
  const uint64_t old = current->sigmask;
  if (uset) {
    uint64_t set;
    if (copy_from_user(&set, uset, 8)) return -EFAULT;
    set &= ~((1ull << 8) | (1ull << 18));  // SIGKILL, SIGSTOP cannot be blocked
    switch (how) {
      case 0:
        current->sigmask |= set;
        break;
      case 1:
        current->sigmask &= ~set;
        break;
      case 2:
        current->sigmask = set;
        break;
      default:
        return -EINVAL;
    }
  }
  if (uold && copy_to_user(uold, &old, 8)) return -EFAULT;
  return 0;
}

int32_t do_set_thread_area(uint32_t uinfo) {
  if (const int32_t r = tls_from_user(current->tls, uinfo)) return r;
  x86::load_tls(current->tls);
  return 0;
}

int32_t do_rlimit(uint32_t resource, uint32_t unew, uint32_t uold, bool is64) {
  if (resource >= 16) return -EINVAL;
  uint64_t cur = ~0ull;
  if (resource == 3) cur = 8u << 20;   // RLIMIT_STACK
  if (resource == 7) cur = kMaxFds;    // RLIMIT_NOFILE
  if (resource == 6) cur = kMaxTasks;  // RLIMIT_NPROC
  (void)unew;                          // limits are fixed; setting one is accepted and ignored
  if (!uold) return 0;
  if (is64) {
    const uint64_t v[2] = {cur, cur};
    return copy_to_user(uold, v, sizeof(v));
  }
  const uint32_t c32 = cur > 0xFFFFFFFFull ? 0xFFFFFFFFu : static_cast<uint32_t>(cur);
  const uint32_t v[2] = {c32, c32};
  return copy_to_user(uold, v, sizeof(v));
}

int32_t do_getrandom(uint32_t ubuf, uint32_t len) {
  if (!user_range_ok(ubuf, len)) return -EFAULT;
  // Reproducible (deterministic runs), not cryptographic.
  static uint64_t state = 0x9E3779B97F4A7C15ull;
  uint8_t chunk[64];
  uint32_t done = 0;
  while (done < len) {
    const uint32_t n = len - done < sizeof(chunk) ? len - done : sizeof(chunk);
    for (uint32_t i = 0; i < n; ++i) {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;
      chunk[i] = static_cast<uint8_t>(state);
    }
    if (copy_to_user(ubuf + done, chunk, n)) return -EFAULT;
    done += n;
  }
  return static_cast<int32_t>(len);
}

int32_t do_getcwd(uint32_t ubuf, uint32_t size) {
  const uint32_t n = static_cast<uint32_t>(strlen(current->leader->cwd)) + 1;
  if (size < n) return -ERANGE;
  if (copy_to_user(ubuf, current->leader->cwd, n)) return -EFAULT;
  return static_cast<int32_t>(n);
}

int32_t do_chdir(uint32_t upath) {
  Inode* ino;
  if (const int32_t r = lookup_user_path(kAtFdcwd, upath, &ino)) return r;
  if (ino->kind != InodeKind::kDir) return -ENOTDIR;
  fs_path(ino, current->leader->cwd, sizeof(current->leader->cwd));
  return 0;
}

int32_t do_readlink(int32_t dirfd, uint32_t upath, uint32_t ubuf, uint32_t size) {
  Inode* ino;
  if (const int32_t r = lookup_user_path(dirfd, upath, &ino, false)) return r;
  if (ino->kind != InodeKind::kSymlink) return -EINVAL;
  const uint32_t n = ino->size < size ? ino->size : size;
  if (copy_to_user(ubuf, ino->data, n)) return -EFAULT;
  return static_cast<int32_t>(n);
}

int32_t do_access(int32_t dirfd, uint32_t upath, uint32_t mode) {
  Inode* ino;
  if (const int32_t r = lookup_user_path(dirfd, upath, &ino)) return r;
  if ((mode & 2) && (ino->kind == InodeKind::kFile || ino->kind == InodeKind::kDir)) return -EROFS;
  if ((mode & 1) && !(ino->mode & 0111)) return -EACCES;
  return 0;
}

int32_t do_ioctl(int32_t fd, uint32_t cmd) {
  OpenFile* f = fd_get(fd);
  if (!f) return -EBADF;
  (void)cmd;  // no terminal: TCGETS and friends get ENOTTY, so stdio buffers fully
  return -ENOTTY;
}

// Signals are not delivered yet: a signal to the caller's own group ends
// the group as the default action of a fatal signal would (which is what
// abort() and raise() need); signal 0 checks the target; anything else is
// -EPERM until signal delivery comes.
int32_t do_kill(int32_t pid, uint32_t sig) {
  if (sig > kNumSignals) return -EINVAL;
  Task* t = pid > 0 ? find_task(pid) : (pid == 0 || pid == -1 ? current->leader : nullptr);
  if (!t || t->state == TaskState::kZombie || t->leader != t) return -ESRCH;  // pid names a process (a group)
  if (sig == 0) return 0;
  if (t != current->leader) return -EPERM;
  do_group_exit(static_cast<int32_t>(sig));
}

// tgkill(tgid, tid, sig); tkill passes tgid -1 (any group).
int32_t do_tgkill(int32_t tgid, int32_t tid, uint32_t sig) {
  if (sig > kNumSignals || tid <= 0 || (tgid != -1 && tgid <= 0)) return -EINVAL;
  Task* t = find_task(tid);
  if (!t || t->state == TaskState::kZombie || (tgid != -1 && t->leader->pid != tgid)) return -ESRCH;
  if (sig == 0) return 0;
  if (t->leader != current->leader) return -EPERM;
  do_group_exit(static_cast<int32_t>(sig));
}

}  // namespace

void count_enosys(uint32_t nr) {
  for (uint32_t i = 0; i < KernelStats::kEnosysSlots; ++i) {
    if (kstats.enosys_count[i] && kstats.enosys_nr[i] == nr) {
      ++kstats.enosys_count[i];
      return;
    }
    if (!kstats.enosys_count[i]) {
      kstats.enosys_nr[i] = nr;
      kstats.enosys_count[i] = 1;
      return;
    }
  }
  ++kstats.enosys_other;
}

bool syscall_needs_kernel_lock(const x86::TrapFrame* f) {
  constexpr uint32_t kMapAnonymous = 0x20;
  switch (f->eax) {
    case kMunmap:
    case kMprotect:
      return false;
    case kMmap2:
      return !(f->esi & kMapAnonymous);  // a file mapping looks up the fd table
    default:
      return true;
  }
}

int32_t syscall_dispatch(x86::TrapFrame* f) {
  const uint32_t a = f->ebx, b = f->ecx, c = f->edx, d = f->esi, e = f->edi;
  const int32_t ia = static_cast<int32_t>(a);
  Task* t = current;
  switch (f->eax) {
    case kExit:
      do_exit(static_cast<int32_t>((a & 0xFF) << 8));
    case kExitGroup:
      do_group_exit(static_cast<int32_t>((a & 0xFF) << 8));
    case kFork:
    case kVfork:
      return do_fork(f, 0, 0, 0);
    case kClone:  // i386: flags, newsp, parent_tid, tls, child_tid
      return do_clone(f, a, b, c, d, e);
    case kFutex:
      return do_futex(a, b, c, d, f->ebp, false);  // uaddr, op, val, timeout, (uaddr2 unused), val3
    case kFutexTime64:
      return do_futex(a, b, c, d, f->ebp, true);
    case kExecve:
      return sys_execve(f, a, b, c);
    case kWait4:
      return do_wait4(ia, b, c, d);
    case kWaitpid:
      return do_wait4(ia, b, c, 0);
    case kRead:
      return do_read(ia, b, c);
    case kPread64:
      return do_pread64(ia, b, c, d, e);
    case kWrite:
      return do_write(ia, b, c);
    case kWritev:
      return do_writev(ia, b, c);
    case kOpen:
      return do_open(kAtFdcwd, a, b);
    case kOpenat:
      return do_open(ia, b, c);
    case kClose:
      return do_close(ia);
    case kDup:
      return do_dup(ia, -1, 0, false);
    case kDup2:
      return do_dup(ia, static_cast<int32_t>(b), 0, true);
    case kDup3:
      if (c & ~kOCloexec) return -EINVAL;
      return do_dup(ia, static_cast<int32_t>(b), c, false);
    case kFcntl:
    case kFcntl64:
      return do_fcntl(ia, b, c);
    case kLseek: {
      int64_t r;
      const int32_t err = do_lseek(ia, static_cast<int32_t>(b), c, &r);
      return err ? err : static_cast<int32_t>(r);
    }
    case kLlseek: {
      int64_t r;
      const int32_t err = do_lseek(ia, static_cast<int64_t>((uint64_t{b} << 32) | c), e, &r);
      if (err) return err;
      return copy_to_user(d, &r, 8);
    }
    case kIoctl:
      return do_ioctl(ia, b);
    case kStat64:
    case kLstat64: {
      Inode* ino;
      if (const int32_t r = lookup_user_path(kAtFdcwd, a, &ino, f->eax == kStat64)) return r;
      return put_stat64(ino, b);
    }
    case kFstat64: {
      OpenFile* of = fd_get(ia);
      if (!of) return -EBADF;
      return put_stat64(of->inode, b);
    }
    case kFstatat64: {
      Inode* ino;
      if (const int32_t r = lookup_user_path(ia, b, &ino, !(d & kAtSymlinkNofollow), d & kAtEmptyPath)) return r;
      return put_stat64(ino, c);
    }
    case kStatx: {
      Inode* ino;
      if (const int32_t r = lookup_user_path(ia, b, &ino, !(c & kAtSymlinkNofollow), c & kAtEmptyPath)) return r;
      return put_statx(ino, e);
    }
    case kGetdents64:
      return do_getdents64(ia, b, c);
    case kAccess:
      return do_access(kAtFdcwd, a, b);
    case kFaccessat:
    case kFaccessat2:
      return do_access(ia, b, c);
    case kReadlink:
      return do_readlink(kAtFdcwd, a, b, c);
    case kReadlinkat:
      return do_readlink(ia, b, c, d);
    case kGetcwd:
      return do_getcwd(a, b);
    case kChdir:
      return do_chdir(a);
    case kUmask:
      return 022;
    case kBrk:
      return do_brk(a);
    case kMmap2:
      return do_mmap2(a, b, c, d, static_cast<int32_t>(e), f->ebp);
    case kMunmap:
      if (a & (mm::kPageSize - 1) || !b) return -EINVAL;
      if (!user_range_ok(a, b)) return -EINVAL;
      return mm_errno(mm::do_munmap(t->mm, mm::VirtAddr(a), b));
    case kMprotect:
      if (a & (mm::kPageSize - 1) || (c & ~7u)) return -EINVAL;
      if (!user_range_ok(a, b)) return -ENOMEM;
      if (!b) return 0;
      return mm_errno(mm::do_mprotect(t->mm, mm::VirtAddr(a), b, c));
    case kUname:
      return do_uname(a);
    case kGetpid:
      return t->leader->pid;
    case kGettid:
      return t->pid;
    case kGetppid:
      return t->leader->parent ? t->leader->parent->pid : 0;
    case kGetpgrp:
    case kGetpgid:
    case kGetsid:
    case kSetsid:
      return t->leader->pid;
    case kSetpgid:
      return 0;
    case kGetuid:
    case kGetgid:
    case kGeteuid:
    case kGetegid:
    case kGetuid32:
    case kGetgid32:
    case kGeteuid32:
    case kGetegid32:
      return 0;  // everything runs as root
    case kSetThreadArea:
      return do_set_thread_area(a);
    case kSetTidAddress:
      t->clear_child_tid = a;
      return t->pid;
    case kSetRobustList:
      if (b != 12) return -EINVAL;  // sizeof(struct robust_list_head)
      t->robust_list = a;
      return 0;
    case kRtSigaction:
      return do_rt_sigaction(a, b, c, d);
    case kRtSigprocmask:
      return do_rt_sigprocmask(a, b, c, d);
    case kKill:
      return do_kill(ia, b);
    case kTkill:
      return do_tgkill(-1, ia, b);
    case kTgkill:
      return do_tgkill(ia, static_cast<int32_t>(b), c);
    case kUgetrlimit:
      return do_rlimit(a, 0, b, false);
    case kPrlimit64:
      if (a && static_cast<int32_t>(a) != t->leader->pid) return -ESRCH;
      return do_rlimit(b, c, d, true);
    case kGetrandom:
      return do_getrandom(a, b);
    case kTime: {
      const uint32_t now = static_cast<uint32_t>(realtime_base_s + time_ns() / 1000000000ull);
      if (a && copy_to_user(a, &now, 4)) return -EFAULT;
      return static_cast<int32_t>(now);
    }
    case kGettimeofday: {
      if (a) {
        const uint64_t ns = time_ns();
        const uint32_t tv[2] = {static_cast<uint32_t>(realtime_base_s + ns / 1000000000ull),
                                static_cast<uint32_t>(ns % 1000000000ull / 1000)};
        if (copy_to_user(a, tv, sizeof(tv))) return -EFAULT;
      }
      if (b && clear_user(b, 8)) return -EFAULT;
      return 0;
    }
    case kClockGettime:
      return do_clock_gettime(a, b, false);
    case kClockGettime64:
      return do_clock_gettime(a, b, true);
    case kClockGetres:
    case kClockGetresTime64: {
      if (a > 11) return -EINVAL;
      if (!b) return 0;
      return put_timespec(b, 0, 1, f->eax == kClockGetresTime64);
    }
    case kNanosleep:
      return do_nanosleep(a, false);
    case kClockNanosleep:
    case kClockNanosleepTime64:
      if (b & 1) return -EINVAL;  // TIMER_ABSTIME: not yet
      return do_nanosleep(c, f->eax == kClockNanosleepTime64);
    case kPause:
      // Waits for a signal, and none is ever delivered: the task sleeps
      // until its group is killed (exit_group, a fatal fault, shutdown).
      while (!interrupted()) {
        current->state = TaskState::kBlocked;
        schedule();
      }
      return -EINTR;
    case kSchedYield:
      schedule();
      return 0;
    case kMmlabKmapChurn:
      return do_kmap_churn(a);
    case kMmlabCounters: {
      char label[64];
      const int32_t n = a ? strncpy_from_user(label, a, sizeof(label)) : 0;
      if (n < 0) return n;
      if (!a) label[0] = 0;
      emit_counters_record(label);
      return 0;
    }
    default:
      count_enosys(f->eax);
      return -ENOSYS;
  }
}

}  // namespace kern
