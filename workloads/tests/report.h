/*
 * report.h - the PASS/FAIL protocol of the guest ABI tests.
 *
 * Every check prints one line to stdout:
 *   PASS <what>
 *   FAIL <what>: <details>
 *   SKIP <what>: <why>        (the kernel lacks an optional feature; not a failure)
 * and main() ends with `return report_summary();`: 0 only if nothing failed.
 *
 * stdout is flushed after every line, so a fork() never duplicates buffered
 * output and a child killed by a signal loses nothing of its parent's.
 */
#ifndef MMLAB_TESTS_REPORT_H
#define MMLAB_TESTS_REPORT_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int report_failures;

/* PASS `what` if ok, else FAIL `what`: details (printf-style). Returns ok. */
__attribute__((format(printf, 3, 4))) static inline int report(int ok, const char* what, const char* fmt, ...) {
  if (ok) {
    printf("PASS %s\n", what);
  } else {
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL %s: ", what);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    report_failures++;
  }
  fflush(stdout);
  return ok;
}

__attribute__((format(printf, 2, 3))) static inline void report_skip(const char* what, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("SKIP %s: ", what);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
}

/* Expects a call to have returned -1 with errno == want. */
static inline int report_errno(long ret, int err, int want, const char* what) {
  return report(ret == -1 && err == want, what, "got %ld, errno %d (%s); want -1, errno %d (%s)", ret,
                ret == -1 ? err : 0, ret == -1 ? strerror(err) : "-", want, strerror(want));
}

/* "exited 7", "killed by signal 11 (Segmentation fault)", ... for FAIL details. */
static inline const char* describe_status(int status) {
  static char buf[96];
  if (WIFEXITED(status))
    snprintf(buf, sizeof buf, "exited %d (raw status %#x)", WEXITSTATUS(status), status);
  else if (WIFSIGNALED(status))
    snprintf(buf, sizeof buf, "killed by signal %d (%s) (raw status %#x)", WTERMSIG(status),
             strsignal(WTERMSIG(status)), status);
  else
    snprintf(buf, sizeof buf, "raw status %#x", status);
  return buf;
}

/* fork + execve(path, argv, envp) + wait4. Returns the raw wait status, or -1 (message printed) on error. */
static inline int run_program(const char* path, char* const argv[], char* const envp[]) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    printf("  fork: %s\n", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    execve(path, argv, envp);
    _exit(127);  // Exit code 127: execve failed, as in sh.
  }
  int status;
  pid_t got = wait4(pid, &status, 0, NULL);
  if (got != pid) {
    printf("  wait4(%d) returned %d: %s\n", (int)pid, (int)got, strerror(errno));
    return -1;
  }
  return status;
}

static inline int report_summary(void) {
  fflush(stdout);
  return report_failures ? 1 : 0;
}

#endif /* MMLAB_TESTS_REPORT_H */
