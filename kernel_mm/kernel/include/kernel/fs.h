// A read-only file system from the initrd (cpio newc), the console and
// /dev/null, and per-process file-descriptor tables. Open file
// descriptions (offset, flags) are shared across fork and dup, as in Linux.
//
// The inodes are written once, at boot, and only read afterwards (no lock).
// An open file is reference-counted (atomically; a free slot is claimed by a
// compare-and-swap) and its offset has its own lock, f_pos_lock (Linux's
// f_pos_lock), since processes share it after fork. A descriptor table has
// file_lock (Linux's files->file_lock); a call holds it for as long as it
// uses a descriptor, so the file stays open meanwhile. Order: file_lock ->
// f_pos_lock -> the mm core's locks (a copy to user memory may fault) and
// console_lock / record_lock.
#pragma once

#include <atomic>
#include <cstdint>

#include "mm/spinlock.h"

namespace mm {
class FileCache;
}

namespace kern {

inline constexpr uint32_t kMaxFds = 64;
inline constexpr uint32_t kMaxOpenFiles = 512;
inline constexpr uint32_t kMaxInodes = 1024;
inline constexpr uint32_t kPathMax = 256;

enum class InodeKind : uint8_t { kFile, kDir, kSymlink, kConsole, kNull };

// The file-type bits of a mode (S_IF*), as stat reports them.
inline constexpr uint32_t kIfDir = 0040000, kIfReg = 0100000, kIfChr = 0020000, kIfLnk = 0120000;

struct Inode {
  const char* name;  // full path without the leading '/', "" for the root
  uint32_t name_len;
  uint32_t mode;  // S_IF* | permissions
  InodeKind kind;
  const uint8_t* data;
  uint32_t size;
  uint32_t ino;
  // A regular file's page cache (what exec and mmap map), set by fs_init.
  mm::FileCache* cache;
};

struct OpenFile {
  // Set when the slot is claimed (file_open), before any table holds it.
  Inode* inode = nullptr;
  uint32_t flags = 0;  // O_* as opened
  std::atomic<uint32_t> refs{0};
  mm::SpinLock pos_lock;
  uint64_t offset MM_GUARDED(pos_lock) = 0;
};

struct FdTable {
  mm::SpinLock lock;
  OpenFile* fd[kMaxFds] MM_GUARDED(lock) = {};
  uint64_t cloexec MM_GUARDED(lock) = 0;  // bit i: FD_CLOEXEC on fd i
};

// Reads the initrd (physical range) into the inode table; adds /, /dev,
// /dev/console and /dev/null; gives every regular file its page cache.
// Returns nullptr or an error message. Needs the mm System.
const char* fs_init(const uint8_t* initrd, uint32_t size);
// Boot (init_kernel_locks): the open files' offset locks get their class.
void fs_init_locks();
// Empties every page cache (at shutdown, so that the leak check sees
// every frame that is still held by someone else).
void fs_drop_caches();
uint32_t fs_inode_count();

// Resolves `path` (absolute, or relative to cwd) with "." / ".." / "//"
// handled and symlinks followed (up to 8). nullptr with *err = -ENOENT,
// -ENOTDIR, -ENAMETOOLONG or -ELOOP.
Inode* fs_lookup(const char* cwd, const char* path, int32_t* err, bool follow_last = true);
// The i-th entry of directory `dir`, or nullptr past the end.
Inode* fs_dir_entry(const Inode* dir, uint32_t index, const char** child_name, uint32_t* child_len);

OpenFile* file_open(Inode* inode, uint32_t flags);  // nullptr when the table is full
void file_get(OpenFile* f);
void file_put(OpenFile* f);

// The console as fds 0, 1, 2.
void fd_table_init_console(FdTable& t) MM_REQ(t.lock);
void fd_table_copy(FdTable& dst, FdTable& src);  // fork: takes both locks, src's first
void fd_table_close_all(FdTable& t);             // takes t.lock
void fd_table_close_on_exec(FdTable& t);         // takes t.lock
// "/" and the inode's path, NUL-terminated (an inode's name is not: an
// implicit directory's name is a prefix of its child's). Cut to fit `len`.
void fs_path(const Inode* inode, char* buf, uint32_t len);
void fd_set_cloexec(FdTable& t, uint32_t fd, bool on) MM_REQ(t.lock);
// Lowest free fd >= from, or -EMFILE.
int32_t fd_install(FdTable& t, OpenFile* f, uint32_t from = 0) MM_REQ(t.lock);

}  // namespace kern
