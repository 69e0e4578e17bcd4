/*
 * t_exec: execve.
 *
 * fork + execve("/hello") + waitpid gives exit status 0; execve of a path
 * that does not exist fails with ENOENT; execve of an executable file that
 * is not ELF (/data/not-elf, mode 0755, plain text, no "#!") fails with
 * ENOEXEC and leaves the caller running. /data/hello.txt is not executable
 * (0644): Linux refuses it with EACCES before looking at its content; a
 * kernel without permission checks says ENOEXEC. Either is accepted.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

extern char** environ;

int main(void) {
  char* hello_argv[] = {"hello", NULL};
  int status = run_program("/hello", hello_argv, environ);
  report(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork + execve /hello + waitpid: exit 0",
         "child %s", describe_status(status));

  char* argv[] = {"x", NULL};
  int ret = execve("/no/such/file", argv, environ);
  report_errno(ret, errno, ENOENT, "execve of a nonexistent path -> ENOENT");

  ret = execve("/data/not-elf", argv, environ);
  report_errno(ret, errno, ENOEXEC, "execve of an executable non-ELF file -> ENOEXEC");

  ret = execve("/data/hello.txt", argv, environ);
  int err = errno;
  report(ret == -1 && (err == ENOEXEC || err == EACCES), "execve of a 0644 text file -> ENOEXEC or EACCES",
         "got %d, errno %d (%s)", ret, ret == -1 ? err : 0, ret == -1 ? strerror(err) : "-");

  report(1, "the process goes on after the failed execve calls", "-");
  return report_summary();
}
