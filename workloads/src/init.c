/* init: PID 1 of the lab's guests, the same binary on the mmlab kernel and on Linux.
 *
 *   /init PROGRAM [ARG...] [:: PROGRAM [ARG...]]...
 *
 * After a warm-up (warm_up below), runs each PROGRAM in turn (a path, or a name looked up in /bin) with
 * fork + execve + wait4, takes a counter snapshot before and after each
 * one, and reports how it ended; then leaves the machine, success only if
 * every program exited 0. With no PROGRAM it runs nothing and succeeds.
 *
 * Which kernel it runs on is told by the mmlab counters call (mmlab.h):
 *   mmlab: the snapshots are that call ("before:I:NAME", "after:I:NAME":
 *          the kernel writes `counters` records), and /init's exit ends the
 *          run (the kernel writes the `leak` record and leaves QEMU).
 *   Linux: -ENOSYS. /init mounts devtmpfs on /dev (lat_proc's children
 *          write to /dev/null) and proc on /proc, takes an "init" snapshot
 *          (the mmlab kernel's comes with the call above), the snapshots are
 *          /proc/vmstat and /init's own /proc/self/stat (whose c* fields sum
 *          the programs it has waited for: cminflt is a program's page
 *          faults) printed as `MMLAB-COUNTERS {...}` console lines, each
 *          taken right after the window marker (mmlab_marker.h; on mmlab the
 *          kernel executes it for every counters record),
 *          and at the end it leaves QEMU through isa-debug-exit (port 0xf4,
 *          the same 33/35 exit statuses as the mmlab kernel), or powers off.
 *
 * Every program gets one console line (docs/records.md):
 *   MMLAB-RESULT {"workload":"init","index":I,"program":"NAME","argv":[...],
 *                 "status":"ok"|"failed"|"signaled"|"not_started","wait_status":W,"exit_code":E}
 * so a failed program is recorded and the next one still runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "mmlab.h"

extern char** environ;

#define MAX_ARGS 256

static int on_mmlab;
#define WARM_UP "--warm-up" /* argv[1] of warm_up's child */

/* JSON string body: quotes, backslashes and control characters escaped. */
static void put_json_string(const char* s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

/* Linux: /proc/vmstat as one console line; every "name value" pair. */
static void vmstat_snapshot(const char* label) {
  FILE* f = fopen("/proc/vmstat", "r");
  printf("MMLAB-COUNTERS {\"label\":");
  put_json_string(label);
  if (!f) {
    printf(",\"unavailable\":");
    put_json_string(strerror(errno));
    printf("}\n");
    fflush(stdout);
    return;
  }
  printf(",\"vmstat\":{");
  char name[128];
  unsigned long long value;
  int first = 1;
  while (fscanf(f, "%127s %llu", name, &value) == 2) {
    printf("%s\"%s\":%llu", first ? "" : ",", name, value);
    first = 0;
  }
  fclose(f);
  printf("}");
  // /proc/self/stat fields 10-17 (proc(5)): after "(comm) state" come ppid,
  // pgrp, session, tty_nr, tpgid, flags, then the eight counted here.
  static const char* const names[] = {"minflt", "cminflt", "majflt", "cmajflt", "utime", "stime", "cutime", "cstime"};
  unsigned long long v[8];
  char buf[1024];
  FILE* s = fopen("/proc/self/stat", "r");
  size_t n = s ? fread(buf, 1, sizeof buf - 1, s) : 0;
  if (s) fclose(s);
  buf[n] = 0;
  const char* rest = strrchr(buf, ')');  // comm may hold spaces and parentheses
  if (rest && sscanf(rest + 1, " %*c %*d %*d %*d %*d %*d %*u %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                     &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
    printf(",\"self_stat\":{");
    for (int i = 0; i < 8; i++) printf("%s\"%s\":%llu", i ? "," : "", names[i], v[i]);
    printf("}");
  }
  printf("}\n");
  fflush(stdout);
}

/* The window marker (docs/tlb-model.md): one copy in this binary (a test counts them), hence noinline. */
static void __attribute__((noinline)) window_marker(void) { MMLAB_MARKER(); }

static void snapshot(const char* when, int index, const char* name) {
  char label[64];
  snprintf(label, sizeof label, "%s:%d:%.40s", when, index, name);  // the kernel takes at most 63 bytes
  if (on_mmlab) {
    mmlab_counters(label);
  } else {
    window_marker();
    vmstat_snapshot(label);
  }
}

static const char* base_name(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* Runs argv[0..] (NULL-terminated); prints its MMLAB-RESULT line; returns 1 if it succeeded. */
static int run(int index, char** argv) {
  char path[256];
  if (strchr(argv[0], '/'))
    snprintf(path, sizeof path, "%s", argv[0]);
  else
    snprintf(path, sizeof path, "/bin/%s", argv[0]);
  const char* name = base_name(path);
  snapshot("before", index, name);
  fflush(stdout);
  int status = 0;
  const char* what;
  pid_t pid = fork();
  if (pid == 0) {
    execve(path, argv, environ);
    fprintf(stderr, "init: %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  if (pid < 0 || waitpid(pid, &status, 0) != pid) {
    what = "not_started";
    status = -1;
  } else if (WIFEXITED(status)) {
    what = WEXITSTATUS(status) == 0 ? "ok" : "failed";
  } else {
    what = "signaled";
  }
  snapshot("after", index, name);
  printf("MMLAB-RESULT {\"workload\":\"init\",\"index\":%d,\"program\":", index);
  put_json_string(path);
  printf(",\"argv\":[");
  for (int i = 0; argv[i]; i++) {
    if (i) putchar(',');
    put_json_string(argv[i]);
  }
  printf("],\"status\":\"%s\",\"wait_status\":%d,\"exit_code\":%d}\n", what, status,
         status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  fflush(stdout);
  return status == 0;
}

/* Linux: the same exit statuses as the mmlab kernel (33 pass, 35 fail). */
static void leave_linux(int ok) {
  /* The console's last lines may still sit in the serial driver's buffer:
   * wait until they are sent, or QEMU exits with the last MMLAB-COUNTERS
   * line cut short (seen once in boot.smp_tlb_shootdown_linux). */
  fflush(stdout);
  tcdrain(STDOUT_FILENO);
  sync();
  if (ioperm(0xf4, 1, 1) == 0) outb(ok ? 0x10 : 0x11, 0xf4);  // QEMU exits with (value << 1) | 1
  reboot(RB_POWER_OFF);
  for (;;) pause();
}

/* One fork + execve of /init itself (which exits at once) + wait4, before the first window: the TLB model starts at the
 * "init" snapshot (docs/tlb-model.md), and this walks the kernel's fork, exec, exit and wait paths once with the model
 * on, so the first window does not pay the model's compulsory misses on those kernel pages. Both kernels, every boot,
 * so the guest does the same with and without the model. */
static void warm_up(void) {
  pid_t pid = fork();
  if (pid == 0) {
    char* argv[] = {"/init", WARM_UP, NULL};
    execve("/init", argv, environ);
    _exit(127);
  }
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fprintf(stderr, "init: the warm-up fork + exec of /init failed\n");
}

int main(int argc, char** argv) {
  if (argc == 2 && !strcmp(argv[1], WARM_UP)) return 0;
  on_mmlab = mmlab_counters("init") == 0;
  if (!on_mmlab && getpid() == 1) {
    mkdir("/dev", 0755);
    mkdir("/proc", 0555);
    if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0 && errno != EBUSY)
      fprintf(stderr, "init: mount devtmpfs on /dev: %s\n", strerror(errno));
    if (mount("proc", "/proc", "proc", 0, NULL) != 0 && errno != EBUSY)
      fprintf(stderr, "init: mount proc on /proc: %s\n", strerror(errno));
  }
  /* Linux's "init" snapshot, as the mmlab kernel takes one: the TLB model starts at the first marker
   * (docs/tlb-model.md), so on both kernels it warms up on /init's own work before the first program's window. */
  if (!on_mmlab) {
    window_marker();
    vmstat_snapshot("init");
  }
  printf("init: on %s, %d argument%s\n", on_mmlab ? "mmlab" : "Linux", argc - 1, argc == 2 ? "" : "s");
  fflush(stdout);
  warm_up();

  char* args[MAX_ARGS + 1];
  int failures = 0, index = 0, n = 0;
  for (int i = 1; i <= argc; i++) {
    if (i == argc || !strcmp(argv[i], "::")) {
      if (n) {
        args[n] = NULL;
        failures += !run(index++, args);
        n = 0;
      }
      continue;
    }
    if (n == MAX_ARGS) {
      fprintf(stderr, "init: more than %d arguments for one program\n", MAX_ARGS);
      failures++;
      continue;
    }
    args[n++] = argv[i];
  }
  printf("init: %d program%s, %d failed\n", index, index == 1 ? "" : "s", failures);
  fflush(stdout);
  if (!on_mmlab && getpid() == 1) leave_linux(failures == 0);
  return failures ? 1 : 0;
}
