#include "kernel/fs.h"

#include "formats/cpio.h"
#include "kernel/errno.h"
#include "kernel/klib.h"
#include "kernel/system.h"
#include "mm/filemap.h"

namespace kern {
namespace {

Inode inodes[kMaxInodes];
uint32_t nr_inodes = 0;
mm::FileCache file_caches[kMaxInodes];  // file_caches[i] belongs to inodes[i]
OpenFile open_files[kMaxOpenFiles];

bool name_eq(const Inode& n, const char* s, uint32_t len) { return n.name_len == len && !memcmp(n.name, s, len); }

Inode* find(const char* s, uint32_t len) {
  for (uint32_t i = 0; i < nr_inodes; ++i)
    if (name_eq(inodes[i], s, len)) return &inodes[i];
  return nullptr;
}

Inode* add(const char* name, uint32_t len, uint32_t mode, InodeKind kind, const uint8_t* data, uint32_t size) {
  if (Inode* old = find(name, len)) {  // a later archive entry replaces an earlier one
    *old = Inode{name, len, mode, kind, data, size, old->ino};
    return old;
  }
  if (nr_inodes == kMaxInodes) return nullptr;
  Inode* n = &inodes[nr_inodes];
  *n = Inode{name, len, mode, kind, data, size, nr_inodes + 1};
  ++nr_inodes;
  return n;
}

// Every parent of `name` exists as a directory.
bool add_parents(const char* name, uint32_t len) {
  for (uint32_t i = 0; i < len; ++i) {
    if (name[i] != '/') continue;
    if (!find(name, i) && !add(name, i, kIfDir | 0755, InodeKind::kDir, nullptr, 0)) return false;
  }
  return true;
}

// Is `child` (a full path) directly inside directory `dir`?
bool is_child(const Inode& dir, const Inode& child) {
  if (&dir == &child || child.name_len == 0) return false;
  const char* rest = child.name;
  uint32_t rest_len = child.name_len;
  if (dir.name_len) {
    if (child.name_len <= dir.name_len + 1 || memcmp(child.name, dir.name, dir.name_len) ||
        child.name[dir.name_len] != '/')
      return false;
    rest += dir.name_len + 1;
    rest_len -= dir.name_len + 1;
  }
  for (uint32_t i = 0; i < rest_len; ++i)
    if (rest[i] == '/') return false;
  return true;
}

}  // namespace

const char* fs_init(const uint8_t* initrd, uint32_t size) {
  add("", 0, kIfDir | 0755, InodeKind::kDir, nullptr, 0);
  add("dev", 3, kIfDir | 0755, InodeKind::kDir, nullptr, 0);
  add("dev/console", 11, kIfChr | 0620, InodeKind::kConsole, nullptr, 0);
  add("dev/null", 8, kIfChr | 0666, InodeKind::kNull, nullptr, 0);
  if (!initrd) return nullptr;
  formats::CpioReader reader(initrd, size);
  formats::CpioEntry e;
  while (reader.next(&e)) {
    if (e.name_len == 0 || (e.name_len == 1 && e.name[0] == '.')) continue;
    InodeKind kind;
    if (formats::cpio_is_dir(e.mode)) {
      kind = InodeKind::kDir;
    } else if (formats::cpio_is_reg(e.mode)) {
      kind = InodeKind::kFile;
    } else if (formats::cpio_is_symlink(e.mode)) {
      kind = InodeKind::kSymlink;
    } else {
      continue;  // device nodes and fifos: the kernel provides its own
    }
    if (!add_parents(e.name, e.name_len) || !add(e.name, e.name_len, e.mode, kind, e.data, e.size))
      return "initrd: too many files";
  }
  for (uint32_t i = 0; i < nr_inodes; ++i) {
    if (inodes[i].kind != InodeKind::kFile) continue;
    file_caches[i].init(sys, inodes[i].data, inodes[i].size);
    inodes[i].cache = &file_caches[i];
  }
  return reader.error();
}

void fs_drop_caches() {
  for (uint32_t i = 0; i < nr_inodes; ++i)
    if (inodes[i].cache) inodes[i].cache->drop();
}

uint32_t fs_inode_count() { return nr_inodes; }

Inode* fs_lookup(const char* cwd, const char* path, int32_t* err, bool follow_last) {
  char buf[kPathMax];
  char target[kPathMax];
  char dir[kPathMax];
  uint32_t len = 0;
  for (int hops = 0; hops < 8; ++hops) {
    // Normalize cwd + path into buf: components separated by '/', no leading '/'.
    char in[2 * kPathMax + 2];
    uint32_t n = 0;
    auto append = [&](const char* s) {
      while (*s && n + 1 < sizeof(in)) in[n++] = *s++;
      return *s == 0;
    };
    if (!*path) {
      *err = -ENOENT;
      return nullptr;
    }
    bool ok = true;
    if (path[0] != '/') ok = append(cwd) && append("/");
    ok = ok && append(path);
    in[n] = 0;
    if (!ok || strlen(path) >= kPathMax) {
      *err = -ENAMETOOLONG;
      return nullptr;
    }
    len = 0;
    bool trailing_slash = n > 0 && in[n - 1] == '/';
    for (uint32_t i = 0; i < n;) {
      while (i < n && in[i] == '/') ++i;
      uint32_t j = i;
      while (j < n && in[j] != '/') ++j;
      const uint32_t clen = j - i;
      if (clen == 0 || (clen == 1 && in[i] == '.')) {
      } else if (clen == 2 && in[i] == '.' && in[i + 1] == '.') {
        while (len > 0 && buf[len - 1] != '/') --len;
        if (len > 0) --len;
      } else {
        if (len + clen + 2 > kPathMax) {
          *err = -ENAMETOOLONG;
          return nullptr;
        }
        if (len) buf[len++] = '/';
        // Every directory on the way must exist and be a directory.
        if (len) {
          Inode* d = find(buf, len - 1);
          if (!d) {
            *err = -ENOENT;
            return nullptr;
          }
          if (d->kind != InodeKind::kDir) {
            *err = -ENOTDIR;
            return nullptr;
          }
        }
        memcpy(buf + len, in + i, clen);
        len += clen;
      }
      i = j;
    }
    Inode* node = find(buf, len);
    if (!node) {
      *err = -ENOENT;
      return nullptr;
    }
    if (node->kind == InodeKind::kSymlink && (follow_last || trailing_slash)) {
      // Resolve the target relative to the link's directory (on this
      // stack: lookups run on several CPUs at once).
      const uint32_t tl = node->size < kPathMax - 1 ? node->size : kPathMax - 1;
      memcpy(target, node->data, tl);
      target[tl] = 0;
      uint32_t dl = len;
      while (dl > 0 && buf[dl - 1] != '/') --dl;
      dir[0] = '/';
      memcpy(dir + 1, buf, dl);
      dir[dl + 1] = 0;
      cwd = dir;
      path = target;
      continue;
    }
    if (trailing_slash && node->kind != InodeKind::kDir) {
      *err = -ENOTDIR;
      return nullptr;
    }
    return node;
  }
  *err = -ELOOP;
  return nullptr;
}

Inode* fs_dir_entry(const Inode* dir, uint32_t index, const char** child_name, uint32_t* child_len) {
  uint32_t seen = 0;
  for (uint32_t i = 0; i < nr_inodes; ++i) {
    if (!is_child(*dir, inodes[i])) continue;
    if (seen++ == index) {
      const Inode& c = inodes[i];
      uint32_t start = c.name_len;
      while (start > 0 && c.name[start - 1] != '/') --start;
      *child_name = c.name + start;
      *child_len = c.name_len - start;
      return &inodes[i];
    }
  }
  return nullptr;
}

void fs_init_locks() {
  for (OpenFile& f : open_files) f.pos_lock.init(&sys->counters, mm::LockClass::kFPosLock);
}

OpenFile* file_open(Inode* inode, uint32_t flags) {
  for (OpenFile& f : open_files) {
    uint32_t free = 0;
    if (!f.refs.compare_exchange_strong(free, 1, std::memory_order_acquire)) continue;
    f.inode = inode;
    f.flags = flags;
    mm::SpinGuard g(f.pos_lock);
    f.offset = 0;
    return &f;
  }
  return nullptr;
}

void file_get(OpenFile* f) { f->refs.fetch_add(1, std::memory_order_relaxed); }
void file_put(OpenFile* f) { f->refs.fetch_sub(1, std::memory_order_release); }

void fd_table_init_console(FdTable& t) {
  int32_t err;
  Inode* console = fs_lookup("/", "/dev/console", &err);
  for (uint32_t i = 0; i < 3; ++i) {
    OpenFile* f = file_open(console, 2 /* O_RDWR */);
    if (f) t.fd[i] = f;
  }
}

void fd_table_copy(FdTable& dst, FdTable& src) {
  mm::SpinGuard a(src.lock);
  mm::SpinGuard b(dst.lock);
  for (uint32_t i = 0; i < kMaxFds; ++i) {
    dst.fd[i] = src.fd[i];
    if (dst.fd[i]) file_get(dst.fd[i]);
  }
  dst.cloexec = src.cloexec;
}

void fd_table_close_all(FdTable& t) {
  mm::SpinGuard g(t.lock);
  for (OpenFile*& f : t.fd) {
    if (f) file_put(f);
    f = nullptr;
  }
  t.cloexec = 0;
}

void fd_table_close_on_exec(FdTable& t) {
  mm::SpinGuard g(t.lock);
  for (uint32_t i = 0; i < kMaxFds; ++i) {
    if ((t.cloexec >> i) & 1 && t.fd[i]) {
      file_put(t.fd[i]);
      t.fd[i] = nullptr;
    }
  }
  t.cloexec = 0;
}

void fs_path(const Inode* inode, char* buf, uint32_t len) {
  if (len < 2) {
    if (len) buf[0] = 0;
    return;
  }
  const uint32_t n = inode->name_len < len - 2 ? inode->name_len : len - 2;
  buf[0] = '/';
  memcpy(buf + 1, inode->name, n);
  buf[n + 1] = 0;
}

void fd_set_cloexec(FdTable& t, uint32_t fd, bool on) {
  if (on) {
    t.cloexec |= 1ull << fd;
  } else {
    t.cloexec &= ~(1ull << fd);
  }
}

int32_t fd_install(FdTable& t, OpenFile* f, uint32_t from) {
  for (uint32_t i = from; i < kMaxFds; ++i) {
    if (!t.fd[i]) {
      t.fd[i] = f;
      fd_set_cloexec(t, i, false);
      return static_cast<int32_t>(i);
    }
  }
  return -EMFILE;
}

}  // namespace kern
