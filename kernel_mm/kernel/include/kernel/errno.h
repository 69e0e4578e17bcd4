// Linux errno values (asm-generic/errno-base.h, errno.h): system calls
// return -errno, as the i386 ABI expects.
#pragma once

// The C library's <errno.h> defines these as macros, and <atomic> brings it
// in (its wait support, which uses them): both are read first, then the
// macros go, so that the names below are the kernel's.
#include <atomic>
#include <cerrno>
#undef EPERM
#undef ENOENT
#undef ESRCH
#undef EINTR
#undef EIO
#undef E2BIG
#undef ENOEXEC
#undef EBADF
#undef ECHILD
#undef EAGAIN
#undef ENOMEM
#undef EACCES
#undef EFAULT
#undef EEXIST
#undef ENODEV
#undef ENOTDIR
#undef EISDIR
#undef EINVAL
#undef EMFILE
#undef ENOTTY
#undef ESPIPE
#undef EROFS
#undef ERANGE
#undef ENAMETOOLONG
#undef ENOSYS
#undef ELOOP

namespace kern {
enum : int {
  EPERM = 1,
  ENOENT = 2,
  ESRCH = 3,
  EINTR = 4,
  EIO = 5,
  E2BIG = 7,
  ENOEXEC = 8,
  EBADF = 9,
  ECHILD = 10,
  EAGAIN = 11,
  ENOMEM = 12,
  EACCES = 13,
  EFAULT = 14,
  EEXIST = 17,
  ENODEV = 19,
  ENOTDIR = 20,
  EISDIR = 21,
  EINVAL = 22,
  EMFILE = 24,
  ENOTTY = 25,
  ESPIPE = 29,
  EROFS = 30,
  ERANGE = 34,
  ENAMETOOLONG = 36,
  ENOSYS = 38,
  ELOOP = 40,
};
}  // namespace kern
