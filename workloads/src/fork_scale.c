/* fork_scale: fork + exit + wait throughput over worker counts (the pgd_lock experiment).
 *
 *   fork_scale [-w WORKERS] [-i ITERATIONS]
 *
 * Each worker process does ITERATIONS times: fork; the child _exits at
 * once; the worker waits for it. Every fork allocates a PGD (pgd_alloc) and
 * every exit frees one (pgd_free): with mm.pgd_init=locked both take
 * pgd_lock, with lockless neither does. For each worker count in WORKERS
 * (default 1,2) the workers start together; the time from the start to the
 * last one's end is measured (fixed work: deterministic under -icount).
 *
 *   MMLAB-RESULT {"workload":"fork_scale","iterations":64,"unit":"forks/s","clock":"CLOCK_MONOTONIC",
 *                 "points":[{"workers":1,"forks":64,"ns":...,"forks_per_s":...,"per_worker":...},...]}
 */
#include <errno.h>
#include <unistd.h>

#include "workload.h"

#define NAME "fork_scale"
#define MAX_POINTS 16

static int iterations = 64;

static int fork_loop(int worker, void* arg) {
  (void)worker;
  (void)arg;
  for (int i = 0; i < iterations; i++) {
    pid_t pid = fork();
    if (pid < 0) return 3;
    if (pid == 0) _exit(0);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 4;
  }
  return 0;
}

int main(int argc, char** argv) {
  int workers[MAX_POINTS] = {1, 2}, npoints = 2, opt;
  while ((opt = getopt(argc, argv, "w:i:")) != -1) {
    if (opt == 'w') {
      npoints = parse_counts(optarg, workers, MAX_POINTS);
      if (npoints < 0) die(NAME, "-w wants a list of worker counts such as 1,2,4, not '%s'", optarg);
    } else if (opt == 'i') {
      iterations = atoi(optarg);
      if (iterations < 1) die(NAME, "-i wants a positive iteration count");
    } else {
      die(NAME, "usage: fork_scale [-w 1,2,4] [-i ITERATIONS]");
    }
  }
  if (optind != argc) die(NAME, "unexpected argument '%s'", argv[optind]);
  int saved = iterations;
  iterations = 3;
  if (fork_loop(0, NULL)) die(NAME, "fork failed: %s", strerror(errno));  // warm-up, not measured
  iterations = saved;
  char points[MAX_POINTS * 128];
  size_t len = 0;
  for (int i = 0; i < npoints; i++) {
    int n = workers[i];
    unsigned long long ns = run_worker_processes(NAME, n, fork_loop, NULL);
    unsigned long long forks = (unsigned long long)n * (unsigned long long)iterations;
    double per_s = ns ? (double)forks * 1e9 / (double)ns : 0;
    len += (size_t)snprintf(points + len, sizeof points - len,
                            "%s{\"workers\":%d,\"forks\":%llu,\"ns\":%llu,\"forks_per_s\":%.0f,\"per_worker\":%.0f}",
                            i ? "," : "", n, forks, ns, per_s, per_s / n);
  }
  printf("MMLAB-RESULT {\"workload\":\"" NAME
         "\",\"iterations\":%d,\"unit\":\"forks/s\",\"clock\":\"CLOCK_MONOTONIC\","
         "\"points\":[%s]}\n",
         iterations, points);
  return 0;
}
