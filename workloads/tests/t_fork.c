/*
 * t_fork: fork, _exit, wait4 and waitpid.
 *
 * 20 rounds: fork; the child exits 7 if its getppid() is the parent's pid,
 * else 8; the parent reaps it with wait4(pid). Then, with no children left,
 * waitpid(-1) must fail with ECHILD.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

enum { kRounds = 20, kExitOk = 7, kExitBadPpid = 8 };

int main(void) {
  pid_t self = getpid();
  int reaped = 0, exited_7 = 0, bad_ppid = 0;
  char wait_err[128] = "", exit_err[128] = "";

  for (int i = 0; i < kRounds; i++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(getppid() == self ? kExitOk : kExitBadPpid);
    int status = 0;
    pid_t got = pid < 0 ? -1 : wait4(pid, &status, 0, NULL);
    if (got != pid || pid < 0) {
      snprintf(wait_err, sizeof wait_err, "round %d: fork returned %d, wait4 returned %d (%s)", i, (int)pid, (int)got,
               strerror(errno));
      continue;
    }
    reaped++;
    if (WIFEXITED(status) && WEXITSTATUS(status) == kExitOk)
      exited_7++;
    else
      snprintf(exit_err, sizeof exit_err, "round %d: child %s", i, describe_status(status));
    if (WIFEXITED(status) && WEXITSTATUS(status) == kExitBadPpid) bad_ppid++;
  }

  report(reaped == kRounds, "fork x20: wait4(pid) returns that pid", "%d of %d; last: %s", reaped, kRounds, wait_err);
  report(bad_ppid == 0, "child's getppid() == parent's getpid()", "wrong in %d of %d children (they exited 8)",
         bad_ppid, reaped);
  report(exited_7 == kRounds, "_exit(7) -> WIFEXITED && WEXITSTATUS == 7", "%d of %d; last: %s", exited_7, kRounds,
         exit_err);

  int status;
  pid_t got = waitpid(-1, &status, 0);
  report_errno(got, errno, ECHILD, "waitpid(-1) with no children -> ECHILD");
  return report_summary();
}
