/*
 * t_filemap: file mappings through mmap2, as a program sees them.
 *
 * Private mappings read the file at the right offsets, a write to one stays
 * in that mapping (the file and other mappings keep the original bytes),
 * splitting a mapping with mprotect/munmap keeps every page at its offset,
 * a shared mapping is read-only (read-only file system), the tail of the
 * last page reads as zeros, a page wholly past the end of the file faults
 * with SIGBUS, a forked child sees and copies what its parent mapped, and
 * shared anonymous memory stays shared with a child.
 * The same checks pass on Linux with the same initrd.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

#define PAGE 4096

static int fd_big, fd_small;
static unsigned char file_bytes[8 * PAGE];  // pages 0..7 of /hello, read with read()

/* The page of /hello at index `page` (< 8) as read() sees it. */
static const unsigned char* file_page(int page) { return file_bytes + page * PAGE; }

static void read_file_start(void) {
  size_t got = 0;
  while (got < sizeof file_bytes) {
    ssize_t n = read(fd_big, file_bytes + got, sizeof file_bytes - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  report(got == sizeof file_bytes, "read() the first 8 pages of /hello", "got %zu bytes", got);
}

static void private_mappings(void) {
  unsigned char* a = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd_big, 2 * PAGE);
  unsigned char* b = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd_big, 2 * PAGE);
  if (!report(a != MAP_FAILED && b != MAP_FAILED, "mmap /hello private at offset 2 pages, twice", "%s",
              strerror(errno)))
    return;
  int same = 1;
  for (int i = 0; i < 4; i++)
    same &= !memcmp(a + i * PAGE, file_page(2 + i), PAGE) && !memcmp(b + i * PAGE, a + i * PAGE, PAGE);
  report(same, "both mappings hold the file's pages 2..5", "content differs from read()");
  a[PAGE + 5] ^= 0xFF;
  report(a[PAGE + 5] == (file_page(3)[5] ^ 0xFF) && b[PAGE + 5] == file_page(3)[5],
         "a write to one private mapping stays in it", "a=%#x b=%#x file=%#x", a[PAGE + 5], b[PAGE + 5],
         file_page(3)[5]);
  unsigned char again[PAGE];
  ssize_t n = pread(fd_big, again, PAGE, 3 * PAGE);
  if (n == -1 && errno == ENOSYS) {
    lseek(fd_big, 3 * PAGE, SEEK_SET);
    n = read(fd_big, again, PAGE);
  }
  report(n == PAGE && !memcmp(again, file_page(3), PAGE), "the file itself is unchanged", "read %zd", n);

  /* Split: PROT_NONE in the middle, unmap the last page; the rest stays at its offsets. */
  int r1 = mprotect(b + PAGE, PAGE, PROT_NONE);
  int r2 = munmap(b + 3 * PAGE, PAGE);
  report(r1 == 0 && r2 == 0, "mprotect and munmap split a file mapping", "%d %d: %s", r1, r2, strerror(errno));
  int r3 = mprotect(b + PAGE, PAGE, PROT_READ);
  report(r3 == 0 && !memcmp(b, file_page(2), PAGE) && !memcmp(b + PAGE, file_page(3), PAGE) &&
             !memcmp(b + 2 * PAGE, file_page(4), PAGE),
         "after the split every page is still at its file offset", "mprotect %d", r3);

  /* Fork: the child sees the parent's private change and its own writes stay in the child. */
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    int ok = a[PAGE + 5] == (file_page(3)[5] ^ 0xFF) && !memcmp(a, file_page(2), PAGE);
    a[0] ^= 0xFF;
    a[PAGE + 5] = 0;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  report(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a forked child sees the parent's file mapping", "child %s",
         describe_status(status));
  report(a[0] == file_page(2)[0] && a[PAGE + 5] == (file_page(3)[5] ^ 0xFF),
         "the child's writes did not reach the parent", "a[0]=%#x", a[0]);
  munmap(a, 4 * PAGE);
  munmap(b, 3 * PAGE);
}

static void shared_mapping(void) {
  unsigned char* s = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd_big, 0);
  if (!report(s != MAP_FAILED, "mmap /hello shared read-only", "%s", strerror(errno))) return;
  report(!memcmp(s, file_page(0), 2 * PAGE), "the shared mapping holds the file", "content differs");
  int r = mprotect(s, PAGE, PROT_READ | PROT_WRITE);
  report_errno(r, errno, EACCES, "mprotect a shared file mapping writable");
  void* w = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd_big, 0);
  report_errno(w == MAP_FAILED ? -1 : 0, errno, EACCES, "mmap a read-only file shared and writable");
  munmap(s, 2 * PAGE);
}

/* MAP_SHARED|MAP_ANONYMOUS: pages touched only after fork are shared too. */
static void shared_anonymous(void) {
  volatile int* m = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (!report(m != MAP_FAILED, "mmap shared anonymous", "%s", strerror(errno))) return;
  m[0] = 11;  // before the fork
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    int ok = m[0] == 11;
    m[PAGE / sizeof(int)] = 22;  // page 1: first touched here, after the fork
    m[0] = 33;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  report(WIFEXITED(status) && WEXITSTATUS(status) == 0 && m[0] == 33 && m[PAGE / sizeof(int)] == 22 &&
             m[2 * PAGE / sizeof(int)] == 0,
         "a shared anonymous mapping is shared with a child, also pages touched after the fork",
         "child %s, m[0]=%d m[page 1]=%d", describe_status(status), m[0], m[PAGE / sizeof(int)]);
  munmap((void*)m, 3 * PAGE);
}

static void end_of_file(void) {
  struct stat st = {0};
  int r = fstat(fd_small, &st);
  if (!report(r == 0 && st.st_size > 0 && st.st_size < PAGE, "/data/hello.txt is under a page", "fstat %d, size %lld",
              r, (long long)st.st_size))
    return;
  unsigned char* m = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd_small, 0);
  if (!report(m != MAP_FAILED, "mmap two pages of a one-page file", "%s", strerror(errno))) return;
  char text[PAGE];
  ssize_t n = read(fd_small, text, sizeof text);
  int zeros = 1;
  for (int i = (int)st.st_size; i < PAGE; i++) zeros &= m[i] == 0;
  report(n == st.st_size && !memcmp(m, text, (size_t)n), "the file's bytes, then", "read %zd", n);
  report(zeros, "the rest of the last page reads as zeros", "not zero");
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    volatile unsigned char c = m[PAGE];  // wholly past the end of the file
    (void)c;
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  report(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS, "a page past the end of the file gives SIGBUS", "child %s",
         describe_status(status));
  munmap(m, 2 * PAGE);
}

int main(void) {
  fd_big = open("/hello", O_RDONLY);
  fd_small = open("/data/hello.txt", O_RDONLY);
  if (!report(fd_big >= 0 && fd_small >= 0, "open /hello and /data/hello.txt", "%s", strerror(errno)))
    return report_summary();
  read_file_start();
  private_mappings();
  shared_mapping();
  shared_anonymous();
  end_of_file();
  return report_summary();
}
