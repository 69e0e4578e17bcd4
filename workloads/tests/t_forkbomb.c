/*
 * t_forkbomb: a fork bomb is bounded and the system recovers.
 *
 * Forks children that each sleep until told to go (a shared page), until
 * fork fails: that must be EAGAIN (mmlab's limit of 128 tasks; Linux, where
 * root is exempt from RLIMIT_NPROC, would go on to its memory's end, so this
 * test is for the mmlab kernel). Then the children exit, are reaped, and
 * forking works again.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#include "report.h"

#define MAX 4096

int main(void) {
  volatile int* go = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  static pid_t kids[MAX];
  int n = 0, err = 0;
  while (n < MAX) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      err = errno;
      break;
    }
    if (pid == 0) {
      while (!*go) {
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
      }
      _exit(0);
    }
    kids[n++] = pid;
  }
  report(n > 10 && n < MAX && err == EAGAIN, "a fork bomb stops at the process limit with EAGAIN",
         "%d forks, then errno %d (%s)", n, err, strerror(err));
  *go = 1;
  int reaped = 0;
  for (int i = 0; i < n; i++) {
    int status;
    if (waitpid(kids[i], &status, 0) == kids[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0) reaped++;
  }
  report(reaped == n, "every child exits and is reaped", "%d of %d", reaped, n);
  fflush(stdout);
  pid_t again = fork();
  if (again == 0) _exit(7);
  int status = 0;
  waitpid(again, &status, 0);
  report(again > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 7, "fork works again afterwards", "%s",
         describe_status(status));
  return report_summary();
}
