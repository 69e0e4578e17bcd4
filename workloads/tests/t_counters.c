/*
 * t_counters: the mmlab counters syscall around an exec.
 *
 * mmlab_counters("exec-before"); fork + execve /hello + wait;
 * mmlab_counters("exec-after"). On mmlab both calls return 0 (and the host
 * sees two `counters` records). On Linux they fail with ENOSYS: the test
 * says "unsupported" and still passes.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmlab.h"
#include "report.h"

extern char** environ;

int main(void) {
  int before = mmlab_counters("exec-before");
  int before_err = errno;
  char* argv[] = {"hello", NULL};
  int status = run_program("/hello", argv, environ);
  int after = mmlab_counters("exec-after");
  int after_err = errno;

  report(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork + execve /hello + wait: exit 0",
         "child %s", describe_status(status));
  if (before == -1 && after == -1 && before_err == ENOSYS && after_err == ENOSYS) {
    report_skip("mmlab_counters", "unsupported (ENOSYS: not the mmlab kernel)");
  } else {
    report(before == 0 && after == 0, "mmlab_counters(\"exec-before\") and (\"exec-after\") return 0",
           "returned %d (errno %d) and %d (errno %d)", before, before == 0 ? 0 : before_err, after,
           after == 0 ? 0 : after_err);
  }
  return report_summary();
}
