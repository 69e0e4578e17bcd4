/*
 * t_segv: user faults the kernel cannot fix kill the process with SIGSEGV,
 * and only that process.
 *
 * Each bad access runs in a child; the parent checks that wait4 reports it
 * killed by SIGSEGV (raw status 11, or 0x8b with a core dump; busybox sh
 * reports it as exit 139). Three kinds:
 *   a write to address 0 (not mapped);
 *   a write into the program's own text (mapped read-only);
 *   a call into a heap and a stack buffer holding `ret` (0xC3) (mapped
 *   without execute permission: NX).
 * Afterwards the parent still forks a child that exits normally.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

/* The address comes through a volatile so the compiler cannot turn the store into a trap. */
static volatile uintptr_t null_address = 0;

static void write_null(void) { *(volatile int*)null_address = 1; }

static void write_text(void) { *(volatile unsigned char*)(uintptr_t)&write_text = 0xC3; }

static void call_heap(void) {
  unsigned char* buf = malloc(64);
  if (!buf) _exit(2);
  buf[0] = 0xC3;  // ret
  ((void (*)(void))(uintptr_t)buf)();
}

static void call_stack(void) {
  volatile unsigned char buf[16];
  buf[0] = 0xC3;  // ret
  ((void (*)(void))(uintptr_t)buf)();
}

/* Runs fn in a child that exits 0 if fn returns; returns the raw wait status (-1 on error). */
static int in_child(void (*fn)(void)) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    fn();
    _exit(0);
  }
  int status = -1;
  if (pid < 0 || wait4(pid, &status, 0, NULL) != pid) return -1;
  return status;
}

static void expect_segv(void (*fn)(void), const char* what) {
  int status = in_child(fn);
  report(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, what, "child %s",
         status == -1 ? "could not be forked or reaped" : describe_status(status));
}

static void do_nothing(void) {}

int main(void) {
  expect_segv(write_null, "write to NULL -> SIGSEGV");
  expect_segv(write_text, "write into own read-only text -> SIGSEGV");
  expect_segv(call_heap, "call into a malloc'd buffer (NX) -> SIGSEGV");
  expect_segv(call_stack, "call into a stack buffer (NX) -> SIGSEGV");

  int status = in_child(do_nothing);
  report(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "parent still forks after the faults",
         "child %s", status == -1 ? "could not be forked or reaped" : describe_status(status));
  return report_summary();
}
