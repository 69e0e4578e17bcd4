/* lat_proc: process creation latency, lmbench's method.
 *
 *   lat_proc [-n MIN_SAMPLES] [-t MIN_MS] [-w WARMUP] fork|exec|shell
 *
 * fork:  fork + child _exit + waitpid
 * exec:  fork + child execve("/hello") + waitpid
 * shell: fork + child execve("/bin/sh", "-c", "/hello") + waitpid
 *
 * The child's stdout goes to /dev/null so that the console is not what is
 * measured. After WARMUP untimed operations, each sample times one
 * operation with CLOCK_MONOTONIC; sampling goes on until both MIN_SAMPLES
 * samples and MIN_MS milliseconds are reached. Under QEMU -icount shift=0
 * one nanosecond of this clock is one guest instruction.
 *
 * Output, one line on stdout (the mmlab kernel forwards it as a `result`
 * record; on Linux the loader reads it from the console):
 *   MMLAB-RESULT {"workload":"lat_proc","mode":"fork","unit":"ns","clock":"CLOCK_MONOTONIC",
 *                 "n":N,"min":..,"median":..,"samples":[...]}
 */
#include <fcntl.h>

#include "workload.h"

extern char** environ;

#define MAX_SAMPLES 10000

static void one(const char* mode) {
  pid_t pid = fork();
  if (pid < 0) {
    perror("lat_proc: fork");
    exit(2);
  }
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 1);
    if (!strcmp(mode, "exec")) {
      char* argv[] = {"hello", NULL};
      execve("/hello", argv, environ);
    } else if (!strcmp(mode, "shell")) {
      char* argv[] = {"sh", "-c", "/hello", NULL};
      execve("/bin/sh", argv, environ);
    } else {
      _exit(0);
    }
    _exit(127);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "lat_proc: %s child failed (status 0x%x)\n", mode, status);
    exit(2);
  }
}

int main(int argc, char** argv) {
  int min_samples = 20, min_ms = 0, warmup = 3, opt;
  while ((opt = getopt(argc, argv, "n:t:w:")) != -1) {
    if (opt == 'n')
      min_samples = atoi(optarg);
    else if (opt == 't')
      min_ms = atoi(optarg);
    else if (opt == 'w')
      warmup = atoi(optarg);
    else
      return 2;
  }
  if (optind != argc - 1 ||
      (strcmp(argv[optind], "fork") && strcmp(argv[optind], "exec") && strcmp(argv[optind], "shell"))) {
    fprintf(stderr, "usage: lat_proc [-n MIN_SAMPLES] [-t MIN_MS] [-w WARMUP] fork|exec|shell\n");
    return 2;
  }
  if (min_samples < 1 || min_samples > MAX_SAMPLES) min_samples = 20;
  const char* mode = argv[optind];
  static unsigned long long samples[MAX_SAMPLES];
  for (int i = 0; i < warmup; i++) one(mode);
  int n = 0;
  unsigned long long start = now_ns();
  while (n < MAX_SAMPLES && (n < min_samples || now_ns() - start < (unsigned long long)min_ms * 1000000ull)) {
    unsigned long long t0 = now_ns();
    one(mode);
    samples[n++] = now_ns() - t0;
  }
  static unsigned long long sorted[MAX_SAMPLES];
  unsigned long long median = median_of(samples, n, sorted);
  printf(
      "MMLAB-RESULT {\"workload\":\"lat_proc\",\"mode\":\"%s\",\"unit\":\"ns\",\"clock\":\"CLOCK_MONOTONIC\","
      "\"n\":%d,\"warmup\":%d,\"min\":%llu,\"median\":%llu,\"samples\":[",
      mode, n, warmup, sorted[0], median);
  for (int i = 0; i < n; i++) printf("%s%llu", i ? "," : "", samples[i]);
  printf("]}\n");
  return 0;
}
