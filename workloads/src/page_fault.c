/* page_fault: page-fault throughput over worker counts, after will-it-scale's page_fault1.
 *
 *   page_fault [-m processes|threads] [-w WORKERS] [-s REGION_KB] [-i ITERATIONS]
 *
 * Each worker repeats ITERATIONS times: mmap REGION_KB of private anonymous
 * memory, write one byte to every page (one demand-zero fault each), munmap.
 * For each worker count in WORKERS (a list such as 1,2,4; default 1,2) the
 * workers start together and the time from the start to the last one's end
 * is measured. processes: each worker its own process (its own mm, so its
 * own page tables and locks); threads: one process, one mm (the split
 * ptlock vs mm-wide page_table_lock experiment; on several vCPUs the threads
 * fault at once).
 *
 * The work is a fixed count, not a fixed time, so that under -icount the
 * result is deterministic. Output (docs/workloads.md):
 *   MMLAB-RESULT {"workload":"page_fault","mode":"processes","region_kb":1024,"pages":256,
 *                 "iterations":16,"unit":"faults/s","clock":"CLOCK_MONOTONIC",
 *                 "points":[{"workers":1,"faults":4096,"ns":...,"faults_per_s":...,"per_worker":...},...]}
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "workload.h"

#define NAME "page_fault"
#define PAGE 4096
#define MAX_POINTS 16
#define MAX_THREADS 64

static unsigned region_bytes = 1024 * 1024;
static int iterations = 16;

/* One worker's work; 0 on success. */
static int fault_loop(int worker, void* arg) {
  (void)worker;
  (void)arg;
  for (int it = 0; it < iterations; it++) {
    volatile char* p = mmap(NULL, region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 3;
    for (unsigned off = 0; off < region_bytes; off += PAGE) p[off] = 1;
    if (munmap((void*)p, region_bytes) != 0) return 4;
  }
  return 0;
}

static volatile int threads_go;
static int thread_failures;

static void* thread_main(void* arg) {
  while (!__atomic_load_n(&threads_go, __ATOMIC_SEQ_CST)) spin_wait_step();
  if (fault_loop(0, arg)) __atomic_add_fetch(&thread_failures, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static unsigned long long run_threads(int n) {
  pthread_t t[MAX_THREADS];
  threads_go = 0;
  for (int i = 0; i < n; i++) {
    int err = pthread_create(&t[i], NULL, thread_main, NULL);
    if (err) die(NAME, "pthread_create: %s (threads mode needs clone(CLONE_VM))", strerror(err));
  }
  unsigned long long t0 = now_ns();
  __atomic_store_n(&threads_go, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  unsigned long long ns = now_ns() - t0;
  if (thread_failures) die(NAME, "%d thread(s) failed to map or unmap", thread_failures);
  return ns;
}

int main(int argc, char** argv) {
  const char* mode = "processes";
  int workers[MAX_POINTS] = {1, 2}, npoints = 2, opt;
  while ((opt = getopt(argc, argv, "m:w:s:i:")) != -1) {
    if (opt == 'm') {
      mode = optarg;
    } else if (opt == 'w') {
      npoints = parse_counts(optarg, workers, MAX_POINTS);
      if (npoints < 0) die(NAME, "-w wants a list of worker counts such as 1,2,4, not '%s'", optarg);
    } else if (opt == 's') {
      long kb = strtol(optarg, NULL, 10);
      if (kb < 4 || kb > 256 * 1024 || kb % 4) die(NAME, "-s wants a region size in KiB, a multiple of 4, 4..262144");
      region_bytes = (unsigned)kb * 1024;
    } else if (opt == 'i') {
      iterations = atoi(optarg);
      if (iterations < 1) die(NAME, "-i wants a positive iteration count");
    } else {
      die(NAME, "usage: page_fault [-m processes|threads] [-w 1,2,4] [-s REGION_KB] [-i ITERATIONS]");
    }
  }
  int threads = !strcmp(mode, "threads");
  if (!threads && strcmp(mode, "processes")) die(NAME, "-m wants processes or threads, not '%s'", mode);
  if (optind != argc) die(NAME, "unexpected argument '%s'", argv[optind]);
  for (int i = 0; i < npoints; i++)
    if (threads && workers[i] > MAX_THREADS) die(NAME, "at most %d threads", MAX_THREADS);

  if (fault_loop(0, NULL)) die(NAME, "mmap or munmap failed: %s", strerror(errno));  // warm-up, not measured
  unsigned pages = region_bytes / PAGE;
  // The line is built first and written at once: workers are forked in
  // between, and a half-written line must never reach the console.
  char points[MAX_POINTS * 128];
  size_t len = 0;
  for (int i = 0; i < npoints; i++) {
    int n = workers[i];
    unsigned long long ns = threads ? run_threads(n) : run_worker_processes(NAME, n, fault_loop, NULL);
    unsigned long long faults = (unsigned long long)n * (unsigned long long)iterations * pages;
    double per_s = ns ? (double)faults * 1e9 / (double)ns : 0;
    len += (size_t)snprintf(points + len, sizeof points - len,
                            "%s{\"workers\":%d,\"faults\":%llu,\"ns\":%llu,\"faults_per_s\":%.0f,\"per_worker\":%.0f}",
                            i ? "," : "", n, faults, ns, per_s, per_s / n);
  }
  printf("MMLAB-RESULT {\"workload\":\"" NAME
         "\",\"mode\":\"%s\",\"region_kb\":%u,\"pages\":%u,\"iterations\":%d,"
         "\"unit\":\"faults/s\",\"clock\":\"CLOCK_MONOTONIC\",\"points\":[%s]}\n",
         mode, region_bytes / 1024, pages, iterations, points);
  return 0;
}
