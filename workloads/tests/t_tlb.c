/*
 * t_tlb: TLB shootdown as a program sees it. A thread keeps reading a page
 * while another thread of the process unmaps it (or mprotects it to
 * PROT_NONE) and then fills fresh pages, so that the freed frame is very
 * likely handed out again with other contents. The reader must fault (the
 * process dies of SIGSEGV: no handler is installed, the default action is
 * what both kernels do) and must never see anything but the page's own
 * pattern. With several CPUs the reader runs on another CPU while the page
 * goes, so only a shootdown (an IPI that makes that CPU drop its TLB entry
 * before the frame is freed) keeps it from reading the reused frame.
 *
 *   t_tlb [ROUNDS]     (default 16 per experiment)
 *
 * Each round is one child process; what the reader saw goes to a page the
 * parent shares with it, so it survives the child's death. The same checks
 * pass on Linux.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

#define PAGE 4096
#define WORDS (PAGE / 4)
#define FILL_PAGES 64
#define MIN_READS 20000          /* reads before the page goes: the reader is running */
#define READER_WAIT_NS 2000000000ull
#define AFTER_NS 200000000ull    /* how long the reader gets to fault after the page went */

enum { kUnmap, kProtect };

struct shared {
  volatile uint32_t reads;     /* reads done by the reader */
  volatile uint32_t bad;       /* reads that saw something else */
  volatile uint32_t bad_value;
  volatile uint32_t started;   /* the reader is running */
};

static struct shared* sh;
static volatile uint32_t* page;
static uint32_t pattern;

static unsigned long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static void* reader(void* arg) {
  (void)arg;
  sh->started = 1;
  for (uint32_t i = 0;; i = (i + 17) % WORDS) {
    uint32_t v = page[i];
    if (v != pattern) {
      sh->bad_value = v;
      sh->bad = sh->bad + 1;
      _exit(3);
    }
    sh->reads = sh->reads + 1;
  }
  return NULL;
}

/* The child: 0 never returns normally; exit codes say what went wrong. */
static void child(int kind, int round) {
  page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) _exit(10);
  pattern = 0x5AFE0000u | (uint32_t)round;
  for (int i = 0; i < WORDS; i++) page[i] = pattern;
  pthread_t t;
  if (pthread_create(&t, NULL, reader, NULL)) _exit(11);
  unsigned long long t0 = now_ns();
  while (sh->reads < MIN_READS) {
    if (now_ns() - t0 > READER_WAIT_NS) _exit(12); /* the reader never ran */
    sched_yield();
  }
  if (kind == kUnmap) {
    if (munmap((void*)page, PAGE)) _exit(13);
  } else {
    if (mprotect((void*)page, PAGE, PROT_NONE)) _exit(13);
  }
  /* Fresh pages with another pattern: the freed frame comes back here. */
  volatile uint32_t* fill = mmap(NULL, FILL_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (fill == MAP_FAILED) _exit(14);
  for (int p = 0; p < FILL_PAGES; p++)
    for (int i = 0; i < WORDS; i += 8) fill[p * WORDS + i] = 0xBADBAD00u | (uint32_t)p;
  t0 = now_ns();
  while (now_ns() - t0 < AFTER_NS) sched_yield();
  _exit(4); /* the reader never faulted */
}

static void experiment(int kind, int rounds) {
  const char* what = kind == kUnmap ? "munmap" : "mprotect(PROT_NONE)";
  int faulted = 0, clean = 1, reading = 1;
  char seen[256] = "";
  size_t used = 0;
  for (int r = 0; r < rounds; r++) {
    sh->reads = sh->bad = sh->bad_value = sh->started = 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      report(0, "fork a round", "fork failed");
      return;
    }
    if (pid == 0) child(kind, r);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) status = -1;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) {
      faulted++;
    } else if (used < sizeof(seen) - 32) {
      used += (size_t)snprintf(seen + used, sizeof(seen) - used, " round %d: status %#x;", r, status);
    }
    if (sh->bad) {
      clean = 0;
      if (used < sizeof(seen) - 48)
        used += (size_t)snprintf(seen + used, sizeof(seen) - used, " round %d read %#x;", r, sh->bad_value);
    }
    if (sh->reads < MIN_READS) reading = 0;
  }
  char name[128];
  snprintf(name, sizeof(name), "the reader faults after %s in every round", what);
  report(faulted == rounds, name, "%d of %d rounds ended by SIGSEGV;%s", faulted, rounds, seen);
  snprintf(name, sizeof(name), "the reader never reads a freed frame (%s)", what);
  report(clean, name, "%s", seen);
  snprintf(name, sizeof(name), "the reader was reading when the page went (%s)", what);
  report(reading, name, "a round had fewer than %d reads before the %s", MIN_READS, what);
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 16;
  if (rounds < 1) rounds = 1;
  sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) {
    report(0, "mmap a shared page", "failed");
    return report_summary();
  }
  experiment(kUnmap, rounds);
  experiment(kProtect, rounds);
  return report_summary();
}
