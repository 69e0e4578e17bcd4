/*
 * workload.h - what the lab's guest workloads share: the clock, sorting
 * samples, worker-count lists, and the MMLAB-RESULT line.
 *
 * Every workload prints exactly one line
 *   MMLAB-RESULT {"workload":"NAME", ...}
 * on stdout when it succeeds (docs/records.md, docs/workloads.md), and exits
 * 0; on an error it prints a message on stderr and exits 2, so /init
 * records it as failed. Times come from CLOCK_MONOTONIC: under QEMU
 * -icount shift=0 one nanosecond is one guest instruction.
 */
#ifndef MMLAB_WORKLOAD_H
#define MMLAB_WORKLOAD_H

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * One step of a spin-wait for another process or thread: PAUSE, then yield.
 * PAUSE is the usual spin-wait hint, and under QEMU's single-threaded TCG it
 * also ends this vCPU's turn. That matters under -icount: QEMU 7.2 (Debian
 * 12) hands the first vCPU of each round the whole instruction budget up to
 * the next timer, so a vCPU spinning without PAUSE while the one it waits
 * for sits on another vCPU never lets that vCPU run, and the boot livelocks
 * (QEMU 8.1 fixed it: "accel/tcg/tcg-accel-ops-rr: ensure fairness with
 * icount"). sched_yield alone does not end the turn when the spinning CPU
 * has another task to switch to.
 */
static inline void spin_wait_step(void) {
  __builtin_ia32_pause();
  sched_yield();
}

static inline unsigned long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/* Prints "NAME: message" on stderr and exits 2: the workload failed. */
__attribute__((format(printf, 2, 3), noreturn)) static inline void die(const char* name, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", name);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static int cmp_ull(const void* a, const void* b) {
  unsigned long long x = *(const unsigned long long*)a, y = *(const unsigned long long*)b;
  return x < y ? -1 : x > y;
}

/* Median of samples[0..n), n >= 1; `scratch` (n entries) gets them sorted. */
static inline unsigned long long median_of(const unsigned long long* samples, int n, unsigned long long* scratch) {
  memcpy(scratch, samples, sizeof(samples[0]) * (size_t)n);
  qsort(scratch, (size_t)n, sizeof(scratch[0]), cmp_ull);
  return n % 2 ? scratch[n / 2] : (scratch[n / 2 - 1] + scratch[n / 2]) / 2;
}

/* "1,2,4" into out[0..max); returns the count, or -1 if it is not a list of positive integers. */
static inline int parse_counts(const char* s, int* out, int max) {
  int n = 0;
  while (*s) {
    char* end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 1 || v > 1024 || n == max || (*end && *end != ',')) return -1;
    out[n++] = (int)v;
    s = *end ? end + 1 : end;
  }
  return n ? n : -1;
}

/*
 * Worker processes started together: run_worker_processes(n, fn, arg) forks
 * n workers, lets them all start at once (they wait on a flag in a shared
 * anonymous page, yielding (spin_wait_step), so one CPU is enough), and returns the
 * nanoseconds from the start to the last worker's exit. fn(i, arg) is
 * worker i's work; its return value is the worker's exit code. Any worker
 * failing (non-zero exit or a signal) fails the workload: die().
 */
struct worker_gate {
  volatile int ready;
  volatile int go;
};

static inline unsigned long long run_worker_processes(const char* name, int n, int (*fn)(int, void*), void* arg) {
  struct worker_gate* gate = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (gate == MAP_FAILED) die(name, "mmap of the shared start page failed");
  fflush(stdout);
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) die(name, "fork of worker %d failed", i);
    if (pid == 0) {
      __atomic_add_fetch(&gate->ready, 1, __ATOMIC_SEQ_CST);
      while (!__atomic_load_n(&gate->go, __ATOMIC_SEQ_CST)) spin_wait_step();
      _exit(fn(i, arg));
    }
  }
  while (__atomic_load_n(&gate->ready, __ATOMIC_SEQ_CST) < n) spin_wait_step();
  unsigned long long t0 = now_ns();
  __atomic_store_n(&gate->go, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < n; i++) {
    int status;
    if (wait(&status) < 0) die(name, "wait for the workers failed");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die(name, "a worker failed (wait status %#x)", status);
  }
  unsigned long long ns = now_ns() - t0;
  munmap(gate, 4096);
  return ns;
}

#endif /* MMLAB_WORKLOAD_H */
