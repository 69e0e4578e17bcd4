// A read-only file system from the initrd (cpio newc), the console and
// /dev/null, and per-process file-descriptor tables. Open file
// descriptions (offset, flags) are shared across fork and dup, as in Linux.
#pragma once

#include <cstdint>

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
  Inode* inode = nullptr;
  uint32_t refs = 0;
  uint64_t offset = 0;
  uint32_t flags = 0;  // O_* as opened
};

struct FdTable {
  OpenFile* fd[kMaxFds] = {};
  uint64_t cloexec = 0;  // bit i: FD_CLOEXEC on fd i
};

// Reads the initrd (physical range) into the inode table; adds /, /dev,
// /dev/console and /dev/null; gives every regular file its page cache.
// Returns nullptr or an error message. Needs the mm System.
const char* fs_init(const uint8_t* initrd, uint32_t size);
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
void fd_table_init_console(FdTable& t);
void fd_table_copy(FdTable& dst, const FdTable& src);  // fork
void fd_table_close_all(FdTable& t);
void fd_table_close_on_exec(FdTable& t);
// "/" and the inode's path, NUL-terminated (an inode's name is not: an
// implicit directory's name is a prefix of its child's). Cut to fit `len`.
void fs_path(const Inode* inode, char* buf, uint32_t len);
void fd_set_cloexec(FdTable& t, uint32_t fd, bool on);
// Lowest free fd >= from, or -EMFILE.
int32_t fd_install(FdTable& t, OpenFile* f, uint32_t from = 0);

}  // namespace kern
