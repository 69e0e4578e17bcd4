/*
 * t_sh: /bin/sh (busybox) runs a program and passes exit codes back.
 *
 * sh -c /hello exits 0; sh -c "exit 3" exits 3.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

extern char** environ;

int main(void) {
  char* run_hello[] = {"sh", "-c", "/hello", NULL};
  int status = run_program("/bin/sh", run_hello, environ);
  report(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "sh -c /hello: exit 0", "sh %s",
         describe_status(status));

  char* exit3[] = {"sh", "-c", "exit 3", NULL};
  status = run_program("/bin/sh", exit3, environ);
  report(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 3, "sh -c \"exit 3\": exit 3", "sh %s",
         describe_status(status));
  return report_summary();
}
