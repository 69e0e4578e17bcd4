/*
 * t_efault: the kernel checks user pointers.
 *
 * Raw system calls (syscall(2), so glibc adds nothing of its own) with
 * pointers into unmapped memory, into the kernel half (>= 0xC0000000), or
 * ranges that cross into it or wrap around 2^32, must fail with EFAULT and
 * leave the process running; an unknown syscall number fails with ENOSYS.
 *
 * The wrap-around case is a 32-bit kernel's question. A 64-bit Linux kernel
 * running this program in compat mode sums the range in 64 bits, so nothing
 * wraps; it copies what is mapped and returns a short count. There the check
 * is skipped: uname's machine says "x86_64", or (under setarch i686) the
 * stack lies above 0xC0000000, where no 3G/1G kernel puts it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "report.h"

#define KERNEL_BASE 0xC0000000u

static long sys(long nr, long a, long b, long c) {
  errno = 0;
  return syscall(nr, a, b, c);
}

int main(void) {
  long r;
  r = sys(SYS_write, 1, 0x10, 4);
  report_errno(r, errno, EFAULT, "write(1, 0x10, 4) -> EFAULT");
  r = sys(SYS_write, 1, KERNEL_BASE, 4);
  report_errno(r, errno, EFAULT, "write(1, 0xC0000000, 4) -> EFAULT");
  r = sys(SYS_write, 1, KERNEL_BASE - 1, 16);
  report_errno(r, errno, EFAULT, "write(1, 0xBFFFFFFF, 16) crossing into the kernel -> EFAULT");

  int fd = open("/data/hello.txt", O_RDONLY);
  if (report(fd >= 0, "open /data/hello.txt", "%s", strerror(errno))) {
    r = sys(SYS_read, fd, KERNEL_BASE + 0x1000, 4);
    report_errno(r, errno, EFAULT, "read(hello.txt, 0xC0001000, 4) -> EFAULT");
    close(fd);
  }

  struct utsname u;
  char buf[64] = "";
  int stack_high = (uintptr_t)buf >= KERNEL_BASE;
  int compat64 = stack_high || (uname(&u) == 0 && strcmp(u.machine, "x86_64") == 0);
  if (compat64) {
    report_skip("write(1, buf, 0xFFFFFFF0) wrapping around -> EFAULT",
                "64-bit kernel in compat mode (stack at %p): nothing wraps, it would write what is mapped", buf);
  } else {
    r = sys(SYS_write, 1, (long)(uintptr_t)buf, (long)0xFFFFFFF0u);
    report_errno(r, errno, EFAULT, "write(1, buf, 0xFFFFFFF0) wrapping around -> EFAULT");
  }

  r = syscall(SYS_openat, AT_FDCWD, (long)0x1, O_RDONLY, 0);
  report_errno(r, errno, EFAULT, "openat(AT_FDCWD, (char*)0x1, O_RDONLY) -> EFAULT");
  r = sys(SYS_uname, KERNEL_BASE, 0, 0);
  report_errno(r, errno, EFAULT, "uname(0xC0000000) -> EFAULT");
  r = sys(500, 0, 0, 0);
  report_errno(r, errno, ENOSYS, "syscall(500) -> ENOSYS");

  report(1, "the process survives all of them", "-");
  return report_summary();
}
