// The file system calls: read, write, open, stat, directories, paths (the
// initrd file system is kernel/fs.h). A call that uses a descriptor holds
// its process's file_lock meanwhile (the file stays open); one that moves
// an offset holds the file's f_pos_lock too; paths relative to the working
// directory copy it under alloc_lock first.
#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/klib.h"
#include "kernel/percpu.h"
#include "kernel/syscall.h"
#include "kernel/uaccess.h"

namespace kern {

OpenFile* fd_get(FdTable& t, int32_t fd) {
  if (fd < 0 || fd >= static_cast<int32_t>(kMaxFds)) return nullptr;
  return t.fd[fd];
}

namespace {

FdTable& my_files() { return current->group->files; }

// The working directory, copied out of the group under its lock.
void get_cwd(char* out, uint32_t len) {
  ThreadGroup& g = *current->group;
  mm::SpinGuard a(g.alloc_lock);
  kstrlcpy(out, g.cwd, len);
}

constexpr int32_t kAtFdcwd = -100;
constexpr uint32_t kAtSymlinkNofollow = 0x100, kAtEmptyPath = 0x1000;
constexpr uint32_t kOAccmode = 3, kOCreat = 0100, kOTrunc = 01000, kODirectory = 0200000, kOCloexec = 02000000;

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

int32_t write_locked(FdTable& ft, int32_t fd, uint32_t buf, uint32_t count) MM_REQ(ft.lock) {
  OpenFile* f = fd_get(ft, fd);
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

int32_t do_write(int32_t fd, uint32_t buf, uint32_t count) {
  FdTable& ft = my_files();
  mm::SpinGuard g(ft.lock);
  return write_locked(ft, fd, buf, count);
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
  FdTable& ft = my_files();
  mm::SpinGuard g(ft.lock);
  OpenFile* f = fd_get(ft, fd);
  if (!f) return -EBADF;
  mm::SpinGuard p(f->pos_lock);
  uint64_t pos = f->offset;
  const int32_t r = read_at(f, buf, count, &pos);
  f->offset = pos;
  return r;
}

// pread64: the offset comes in two registers and the file's own offset
// stays; a negative offset is -EINVAL, a pipe-like file -ESPIPE.
int32_t do_pread64(int32_t fd, uint32_t buf, uint32_t count, uint32_t off_lo, uint32_t off_hi) {
  FdTable& ft = my_files();
  mm::SpinGuard g(ft.lock);
  OpenFile* f = fd_get(ft, fd);
  if (!f) return -EBADF;
  if (off_hi & 0x80000000u) return -EINVAL;
  if (f->inode->kind == InodeKind::kConsole) return -ESPIPE;
  uint64_t pos = (uint64_t{off_hi} << 32) | off_lo;
  return read_at(f, buf, count, &pos);
}

int32_t do_writev(int32_t fd, uint32_t iov, uint32_t cnt) {
  if (cnt > 1024) return -EINVAL;
  FdTable& ft = my_files();
  mm::SpinGuard g(ft.lock);
  const OpenFile* f = fd_get(ft, fd);
  const bool console = f && f->inode->kind == InodeKind::kConsole;
  constexpr uint64_t kMaxRw = 0x7FFFF000u;  // Linux's MAX_RW_COUNT: the total fits the int32 return
  uint64_t total = 0;
  for (uint32_t i = 0; i < cnt; ++i) {
    uint32_t v[2];
    if (copy_from_user(v, iov + 8 * i, 8)) return total ? static_cast<int32_t>(total) : -EFAULT;
    if (!v[1]) continue;
    if (v[1] > kMaxRw - total) v[1] = static_cast<uint32_t>(kMaxRw - total);
    const int32_t r = write_locked(ft, fd, v[0], v[1]);
    if (r < 0) return total ? static_cast<int32_t>(total) : r;
    total += static_cast<uint32_t>(r);
    // A short write ends it, as in Linux; so do the console's cap over all vectors and MAX_RW_COUNT.
    if (static_cast<uint32_t>(r) < v[1] || (console && total >= kConsoleWriteMax) || total >= kMaxRw) break;
  }
  return static_cast<int32_t>(total);
}

// Path argument: copied in, resolved against cwd (dirfd must be AT_FDCWD
// or, for an absolute path, anything).
// An inode outlives every descriptor (the file system is read-only and
// fixed at boot), so a lookup returns it with no lock held.
int32_t lookup_user_path(int32_t dirfd, uint32_t upath, Inode** out, bool follow = true, bool empty_ok = false) {
  char path[kPathMax];
  const int32_t n = strncpy_from_user(path, upath, sizeof(path));
  if (n < 0) return n;
  char dir[kPathMax + 1];
  if (n == 0 || (path[0] != '/' && dirfd != kAtFdcwd)) {
    if (n == 0 && !empty_ok) return -ENOENT;
    FdTable& ft = my_files();
    mm::SpinGuard g(ft.lock);
    OpenFile* f = fd_get(ft, dirfd);
    if (!f) return -EBADF;
    if (n == 0) {
      *out = f->inode;
      return 0;
    }
    if (f->inode->kind != InodeKind::kDir) return -ENOTDIR;
    fs_path(f->inode, dir, sizeof(dir));
  } else {
    get_cwd(dir, sizeof(dir));
  }
  int32_t err = 0;
  *out = fs_lookup(dir, path, &err, follow);
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
  FdTable& ft = my_files();
  mm::SpinGuard g(ft.lock);
  const int32_t fd = fd_install(ft, f);
  if (fd < 0) {
    file_put(f);
    return fd;
  }
  fd_set_cloexec(ft, static_cast<uint32_t>(fd), flags & kOCloexec);
  return fd;
}

int32_t close_locked(FdTable& ft, int32_t fd) MM_REQ(ft.lock) {
  OpenFile* f = fd_get(ft, fd);
  if (!f) return -EBADF;
  ft.fd[fd] = nullptr;
  fd_set_cloexec(ft, static_cast<uint32_t>(fd), false);
  file_put(f);
  return 0;
}

int32_t do_close(int32_t fd) {
  FdTable& ft = my_files();
  mm::SpinGuard g(ft.lock);
  return close_locked(ft, fd);
}

int32_t dup_locked(FdTable& ft, int32_t oldfd, int32_t newfd, uint32_t flags, bool dup2) MM_REQ(ft.lock) {
  OpenFile* f = fd_get(ft, oldfd);
  if (!f) return -EBADF;
  if (newfd < 0) {
    file_get(f);
    const int32_t fd = fd_install(ft, f, flags);  // flags: lowest fd (F_DUPFD)
    if (fd < 0) file_put(f);
    return fd;
  }
  if (newfd >= static_cast<int32_t>(kMaxFds)) return -EBADF;
  if (newfd == oldfd) return dup2 ? newfd : -EINVAL;
  if (ft.fd[newfd]) close_locked(ft, newfd);
  file_get(f);
  ft.fd[newfd] = f;
  fd_set_cloexec(ft, static_cast<uint32_t>(newfd), flags & kOCloexec);
  return newfd;
}

int32_t do_dup(int32_t oldfd, int32_t newfd, uint32_t flags, bool dup2) {
  FdTable& ft = my_files();
  mm::SpinGuard g(ft.lock);
  return dup_locked(ft, oldfd, newfd, flags, dup2);
}

int32_t do_fcntl(int32_t fd, uint32_t cmd, uint32_t arg) {
  FdTable& ft = my_files();
  mm::SpinGuard g(ft.lock);
  OpenFile* f = fd_get(ft, fd);
  if (!f) return -EBADF;
  switch (cmd) {
    case 0:  // F_DUPFD
      return dup_locked(ft, fd, -1, arg, false);
    case 1030: {  // F_DUPFD_CLOEXEC
      const int32_t n = dup_locked(ft, fd, -1, arg, false);
      if (n >= 0) fd_set_cloexec(ft, static_cast<uint32_t>(n), true);
      return n;
    }
    case 1:  // F_GETFD
      return (ft.cloexec >> fd) & 1;
    case 2:  // F_SETFD
      fd_set_cloexec(ft, static_cast<uint32_t>(fd), arg & 1);
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
  FdTable& ft = my_files();
  mm::SpinGuard g(ft.lock);
  OpenFile* f = fd_get(ft, fd);
  if (!f) return -EBADF;
  if (f->inode->kind == InodeKind::kConsole) return -ESPIPE;
  mm::SpinGuard p(f->pos_lock);
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
      return kIfDir | (i->mode & 07777);
    case InodeKind::kSymlink:
      return kIfLnk | 0777;
    case InodeKind::kConsole:
    case InodeKind::kNull:
      return i->mode;
    default:
      return kIfReg | (i->mode & 07777);
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

// A path with the *at calls' flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH.
int32_t lookup_at(int32_t dirfd, uint32_t upath, uint32_t at_flags, Inode** out) {
  return lookup_user_path(dirfd, upath, out, !(at_flags & kAtSymlinkNofollow), at_flags & kAtEmptyPath);
}

// stat64, lstat64 and fstatat64: the inode at the path, as a struct stat64 at ubuf.
int32_t stat64_path(int32_t dirfd, uint32_t upath, uint32_t at_flags, uint32_t ubuf) {
  Inode* ino;
  if (const int32_t err = lookup_at(dirfd, upath, at_flags, &ino)) return err;
  return put_stat64(ino, ubuf);
}

int32_t do_getdents64(int32_t fd, uint32_t ubuf, uint32_t count) {
  FdTable& ft = my_files();
  mm::SpinGuard g(ft.lock);
  OpenFile* f = fd_get(ft, fd);
  if (!f) return -EBADF;
  if (f->inode->kind != InodeKind::kDir) return -ENOTDIR;
  mm::SpinGuard p(f->pos_lock);
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

int32_t do_getcwd(uint32_t ubuf, uint32_t size) {
  char cwd[sizeof(ThreadGroup::cwd)];
  get_cwd(cwd, sizeof(cwd));
  const uint32_t n = static_cast<uint32_t>(strlen(cwd)) + 1;
  if (size < n) return -ERANGE;
  if (copy_to_user(ubuf, cwd, n)) return -EFAULT;
  return static_cast<int32_t>(n);
}

int32_t do_chdir(uint32_t upath) {
  Inode* ino;
  if (const int32_t r = lookup_user_path(kAtFdcwd, upath, &ino)) return r;
  if (ino->kind != InodeKind::kDir) return -ENOTDIR;
  ThreadGroup& g = *current->group;
  mm::SpinGuard a(g.alloc_lock);
  fs_path(ino, g.cwd, sizeof(g.cwd));
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
  FdTable& ft = my_files();
  mm::SpinGuard g(ft.lock);
  OpenFile* f = fd_get(ft, fd);
  if (!f) return -EBADF;
  (void)cmd;  // no terminal: TCGETS and friends get ENOTTY, so stdio buffers fully
  return -ENOTTY;
}

}  // namespace

int32_t sys_read(SyscallArgs r) { return do_read(r.ia(), r.b(), r.c()); }
int32_t sys_pread64(SyscallArgs r) { return do_pread64(r.ia(), r.b(), r.c(), r.d(), r.e()); }
int32_t sys_write(SyscallArgs r) { return do_write(r.ia(), r.b(), r.c()); }
int32_t sys_writev(SyscallArgs r) { return do_writev(r.ia(), r.b(), r.c()); }
int32_t sys_open(SyscallArgs r) { return do_open(kAtFdcwd, r.a(), r.b()); }
int32_t sys_openat(SyscallArgs r) { return do_open(r.ia(), r.b(), r.c()); }
int32_t sys_close(SyscallArgs r) { return do_close(r.ia()); }
int32_t sys_dup(SyscallArgs r) { return do_dup(r.ia(), -1, 0, false); }
int32_t sys_dup2(SyscallArgs r) { return do_dup(r.ia(), r.ib(), 0, true); }

int32_t sys_dup3(SyscallArgs r) {
  if (r.c() & ~kOCloexec) return -EINVAL;
  return do_dup(r.ia(), r.ib(), r.c(), false);
}

int32_t sys_fcntl(SyscallArgs r) { return do_fcntl(r.ia(), r.b(), r.c()); }

int32_t sys_lseek(SyscallArgs r) {
  int64_t pos;
  const int32_t err = do_lseek(r.ia(), r.ib(), r.c(), &pos);
  return err ? err : static_cast<int32_t>(pos);
}

// _llseek(fd, offset_high, offset_low, result, whence)
int32_t sys_llseek(SyscallArgs r) {
  int64_t pos;
  const int32_t err = do_lseek(r.ia(), static_cast<int64_t>((uint64_t{r.b()} << 32) | r.c()), r.e(), &pos);
  if (err) return err;
  return copy_to_user(r.d(), &pos, 8);
}

int32_t sys_ioctl(SyscallArgs r) { return do_ioctl(r.ia(), r.b()); }

int32_t sys_stat64(SyscallArgs r) { return stat64_path(kAtFdcwd, r.a(), 0, r.b()); }
int32_t sys_lstat64(SyscallArgs r) { return stat64_path(kAtFdcwd, r.a(), kAtSymlinkNofollow, r.b()); }

int32_t sys_fstat64(SyscallArgs r) {
  Inode* ino;
  {
    FdTable& ft = my_files();
    mm::SpinGuard g(ft.lock);
    OpenFile* f = fd_get(ft, r.ia());
    if (!f) return -EBADF;
    ino = f->inode;
  }
  return put_stat64(ino, r.b());
}

// fstatat64(dirfd, path, buf, flags)
int32_t sys_fstatat64(SyscallArgs r) { return stat64_path(r.ia(), r.b(), r.d(), r.c()); }

// statx(dirfd, path, flags, mask, buf)
int32_t sys_statx(SyscallArgs r) {
  Inode* ino;
  if (const int32_t err = lookup_at(r.ia(), r.b(), r.c(), &ino)) return err;
  return put_statx(ino, r.e());
}

int32_t sys_getdents64(SyscallArgs r) { return do_getdents64(r.ia(), r.b(), r.c()); }
int32_t sys_access(SyscallArgs r) { return do_access(kAtFdcwd, r.a(), r.b()); }
int32_t sys_faccessat(SyscallArgs r) { return do_access(r.ia(), r.b(), r.c()); }
int32_t sys_readlink(SyscallArgs r) { return do_readlink(kAtFdcwd, r.a(), r.b(), r.c()); }
int32_t sys_readlinkat(SyscallArgs r) { return do_readlink(r.ia(), r.b(), r.c(), r.d()); }
int32_t sys_getcwd(SyscallArgs r) { return do_getcwd(r.a(), r.b()); }
int32_t sys_chdir(SyscallArgs r) { return do_chdir(r.a()); }
int32_t sys_umask(SyscallArgs) { return 022; }

}  // namespace kern
