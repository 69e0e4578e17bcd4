/*
 * t_abi: the rest of the i386 Linux ABI a static glibc program leans on.
 *
 * One line per call (or small group): identity calls, brk, mmap2 through
 * malloc, mmap/munmap/mprotect, clocks and sleeping, the initrd file calls,
 * and a few calls that may fail but must not crash (isatty, getrandom,
 * readlink of /proc/self/exe).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

static const char kHelloData[] = "mmlab initrd test data\n";

/* Writes a distinct byte into every page of [p, p+len) and reads them back; returns the first bad offset or -1. */
static long touch_range(unsigned char* p, size_t len) {
  for (size_t i = 0; i < len; i += 4096) p[i] = (unsigned char)(i >> 12);
  p[len - 1] = 0x5A;
  for (size_t i = 0; i + 1 < len; i += 4096)
    if (p[i] != (unsigned char)(i >> 12)) return (long)i;
  return p[len - 1] == 0x5A ? -1 : (long)(len - 1);
}

static int64_t ns(const struct timespec* t) { return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec; }

static void identity(void) {
  struct utsname u;
  int r = uname(&u);
  report(r == 0 && u.sysname[0] != '\0', "uname: sysname non-empty", "uname returned %d (%s)", r, strerror(errno));

  pid_t pid = getpid(), ppid = getppid();
  report(pid > 0 && ppid >= 0, "getpid > 0, getppid >= 0", "getpid %d, getppid %d", (int)pid, (int)ppid);
  uid_t uid = getuid(), euid = geteuid();
  gid_t gid = getgid(), egid = getegid();
  report(uid != (uid_t)-1 && euid != (uid_t)-1 && gid != (gid_t)-1 && egid != (gid_t)-1,
         "getuid/geteuid/getgid/getegid", "uid %d euid %d gid %d egid %d", (int)uid, (int)euid, (int)gid, (int)egid);
}

static void memory(void) {
  const size_t kBrk = 1 << 20;
  unsigned char* old = sbrk(kBrk);
  if (report(old != (void*)-1, "sbrk(1 MiB) grows the break", "%s", strerror(errno))) {
    long bad = touch_range(old, kBrk);
    report(bad < 0, "the 1 MiB brk range is writable", "byte %ld reads back wrong", bad);
    report(sbrk(0) == old + kBrk, "sbrk(0) is the old break + 1 MiB", "%p, want %p", sbrk(0), (void*)(old + kBrk));
  }

  const size_t kBig = 8 << 20;
  unsigned char* big = malloc(kBig);  // Above the mmap threshold: mmap2.
  if (report(big != NULL, "malloc(8 MiB)", "%s", strerror(errno))) {
    long bad = touch_range(big, kBig);
    report(bad < 0, "the 8 MiB malloc block is writable", "byte %ld reads back wrong", bad);
    free(big);
  }

  const size_t kMap = 64 << 10;
  unsigned char* m = mmap(NULL, kMap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (report(m != MAP_FAILED, "mmap anonymous 64 KiB", "%s", strerror(errno))) {
    report(m[0] == 0 && m[kMap - 1] == 0, "anonymous memory reads zero", "m[0]=%d m[end]=%d", m[0], m[kMap - 1]);
    long bad = touch_range(m, kMap);
    report(bad < 0, "the 64 KiB mapping is writable", "byte %ld reads back wrong", bad);
    int r = munmap(m, kMap);
    report(r == 0, "munmap 64 KiB", "%s", strerror(errno));
  }

  volatile unsigned char* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (report(p != MAP_FAILED, "mmap one page for mprotect", "%s", strerror(errno))) {
    p[100] = 42;
    int r = mprotect((void*)p, 4096, PROT_READ);
    report(r == 0, "mprotect(PROT_READ)", "%s", strerror(errno));
    report(p[100] == 42, "the read-only page still reads back", "read %d, want 42", p[100]);
    munmap((void*)p, 4096);
  }
}

static void time_calls(void) {
  struct timespec a, b, ten_ms = {0, 10 * 1000 * 1000};
  int ra = clock_gettime(CLOCK_MONOTONIC, &a);
  int rs = nanosleep(&ten_ms, NULL);
  int rb = clock_gettime(CLOCK_MONOTONIC, &b);
  report(ra == 0 && rb == 0, "clock_gettime(CLOCK_MONOTONIC)", "returned %d, %d (%s)", ra, rb, strerror(errno));
  report(rs == 0, "nanosleep(10 ms)", "returned %d (%s)", rs, strerror(errno));
  int64_t slept = ns(&b) - ns(&a);
  report(slept >= 10 * 1000 * 1000, "CLOCK_MONOTONIC advances >= 10 ms across nanosleep(10 ms)", "advanced %lld ns",
         (long long)slept);

  struct timeval tv;
  int r = gettimeofday(&tv, NULL);
  report(r == 0 && tv.tv_usec >= 0 && tv.tv_usec < 1000000, "gettimeofday", "returned %d, tv_usec %ld", r,
         (long)tv.tv_usec);
  r = sched_yield();
  report(r == 0, "sched_yield", "returned %d (%s)", r, strerror(errno));
}

static void file_calls(void) {
  const off_t size = sizeof kHelloData - 1;
  int fd = open("/data/hello.txt", O_RDONLY);
  if (!report(fd >= 0, "open /data/hello.txt", "%s", strerror(errno))) return;

  struct stat st;
  int r = fstat(fd, &st);
  report(r == 0 && st.st_size == size, "fstat: st_size is 23", "returned %d (%s), st_size %lld", r, strerror(errno),
         (long long)st.st_size);
  report(r == 0 && S_ISREG(st.st_mode), "fstat: a regular file", "st_mode %#o", (unsigned)st.st_mode);

  char buf[64] = {0};
  ssize_t n = read(fd, buf, sizeof buf);
  report(n == size && memcmp(buf, kHelloData, size) == 0, "read: the whole content", "read %zd bytes: \"%.*s\"", n,
         n > 0 ? (int)n : 0, buf);
  n = read(fd, buf, sizeof buf);
  report(n == 0, "read at end of file returns 0", "read returned %zd", n);

  off_t off = lseek(fd, 6, SEEK_SET);
  memset(buf, 0, sizeof buf);
  n = read(fd, buf, 6);
  report(off == 6 && n == 6 && memcmp(buf, "initrd", 6) == 0, "lseek(6, SEEK_SET) then read 6: \"initrd\"",
         "lseek %lld, read %zd: \"%.*s\"", (long long)off, n, n > 0 ? (int)n : 0, buf);
  off = lseek(fd, 0, SEEK_END);
  report(off == size, "lseek(0, SEEK_END) is the size", "returned %lld", (long long)off);
  r = close(fd);
  report(r == 0, "close", "%s", strerror(errno));
}

static void may_fail(void) {
  int t = isatty(1);
  report(t == 0 || t == 1, "isatty(1) answers 0 or 1", "returned %d", t);

  unsigned char rnd[16];
  ssize_t n = getrandom(rnd, sizeof rnd, 0);
  int err = errno;
  report(n == (ssize_t)sizeof rnd || (n == -1 && err == ENOSYS), "getrandom(16): 16 bytes or ENOSYS",
         "returned %zd (%s)", n, strerror(err));

  char path[256];
  n = readlink("/proc/self/exe", path, sizeof path - 1);
  report(n >= -1 && n < (ssize_t)sizeof path, "readlink(/proc/self/exe) returns", "returned %zd", n);
}

int main(void) {
  identity();
  memory();
  time_calls();
  file_calls();
  may_fail();
  return report_summary();
}
