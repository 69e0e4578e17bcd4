/*
 * t_tlb: TLB shootdown as a program sees it.
 *
 * A thread (the reader) keeps reading a page while the process's main thread
 * takes it away, and must see the change at once: with several CPUs the
 * reader runs on another CPU, so only a shootdown (an IPI that makes that CPU
 * drop its TLB entry before the call returns and before the frame is freed)
 * keeps it from going on through a stale entry.
 *
 *   munmap    the main thread unmaps the page, then fills 64 fresh pages with
 *             another pattern, so that the freed frame is very likely handed
 *             out again. The reader must fault: the process dies of SIGSEGV
 *             (no handler is installed; the default action is what both
 *             kernels do) and it never reads anything but the page's pattern.
 *   mprotect  the same with mprotect(PROT_NONE): the reader must fault.
 *   cow       the process forks (its page becomes copy-on-write, shared with
 *             the forked copy), writes a new pattern into the page (the copy
 *             breaks: the process gets a new frame), publishes that, waits for
 *             the forked copy to exit (the old frame is freed) and fills fresh
 *             pages. Once the reader has seen the write published it must read
 *             only the new pattern; the forked copy must still see the old one.
 *
 *   t_tlb [ROUNDS]     (default 16 rounds of each)
 *
 * Each round is one child process, so a fault kills only it; what the reader
 * saw goes to a MAP_SHARED page made before the fork, which outlives the
 * child. The reader's page lies between two PROT_NONE pages, so that no later
 * mapping of the round can take its address. Nothing depends on timing but
 * generous timeouts: a reader that goes on reading after the page went is
 * caught by counting its reads. The same checks pass on Linux.
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
#define MIN_READS 10000u             /* reads before the change: the reader is running */
#define STALE_READS 5000u            /* reads after the change that prove a stale TLB entry */
#define READER_WAIT_NS 2000000000ull /* for the reader to start (a failure past it) */
#define AFTER_NS 500000000ull        /* for the reader to run again after the change (a failure past it) */

/* How a round's child ends when something other than the expected happens. */
enum {
  kExitWrongValue = 3, /* the reader read a value that is not its pattern */
  kExitStale = 4,      /* the reader went on reading after the page went */
  kExitStalled = 5,    /* the reader did not run again within AFTER_NS */
  kExitSetup = 10,     /* mmap, pthread_create, fork, munmap, ... failed */
  kExitNoReader = 12,  /* the reader never got going */
};

enum kind { kUnmap, kProtect, kCow };
static const char* const kind_name[] = {"munmap", "mprotect(PROT_NONE)", "a COW break"};

struct shared {
  volatile uint32_t reads;       /* reads by the reader (cow: before the write was published) */
  volatile uint32_t reads_after; /* cow: reads after it saw the write published */
  volatile uint32_t at_change;   /* reads when the main thread made the change */
  volatile uint32_t bad;         /* 1: the reader read a wrong value */
  volatile uint32_t bad_value, bad_word, bad_published;
  volatile uint32_t published; /* cow: the main thread has written the new pattern */
  volatile uint32_t copy_ok;   /* cow: the forked copy saw the old pattern in every word */
  volatile uint32_t round;     /* set by the parent: a copy left over from a failed round writes nothing */
};

static struct shared* sh;
static volatile uint32_t* page;
static uint32_t pattern, new_pattern;

static unsigned long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static void wrong_value(uint32_t v, uint32_t word, uint32_t published) {
  sh->bad_value = v;
  sh->bad_word = word;
  sh->bad_published = published;
  sh->bad = 1;
  _exit(kExitWrongValue); /* exit_group: the whole child */
}

/* munmap, mprotect: reads the page word after word (stride 17 visits every word) until it faults. */
static void* reader(void* arg) {
  (void)arg;
  for (uint32_t i = 0;; i = (i + 17) % WORDS) {
    uint32_t v = page[i];
    if (v != pattern) wrong_value(v, i, 0);
    sh->reads = sh->reads + 1;
  }
  return NULL;
}

/* cow: before the flag, the old pattern or the new one (the write is under way); after it, only the new one.
 * x86 does not reorder loads, so the flag read first orders the two for the CPU too. */
static void* cow_reader(void* arg) {
  (void)arg;
  for (uint32_t i = 0;; i = (i + 17) % WORDS) {
    uint32_t published = sh->published;
    uint32_t v = page[i];
    if (v != new_pattern && (published || v != pattern)) wrong_value(v, i, published);
    if (published)
      sh->reads_after = sh->reads_after + 1;
    else
      sh->reads = sh->reads + 1;
  }
  return NULL;
}

/* One page between two PROT_NONE pages: once it is unmapped, its hole is too small for any later mapping. */
static volatile uint32_t* guarded_page(void) {
  char* g = mmap(NULL, 3 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g == MAP_FAILED) _exit(kExitSetup);
  void* p = mmap(g + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p != (void*)(g + PAGE)) _exit(kExitSetup);
  return p;
}

/* Fresh pages with another pattern: a frame just freed comes back here. */
static void fill_fresh_pages(void) {
  volatile uint32_t* fill = mmap(NULL, FILL_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (fill == MAP_FAILED) _exit(kExitSetup);
  for (int p = 0; p < FILL_PAGES; p++)
    for (int i = 0; i < WORDS; i++) fill[p * WORDS + i] = 0xBADBAD00u | (uint32_t)p;
}

static void wait_for_reads(volatile uint32_t* counter, uint32_t n, unsigned long long limit_ns, int code) {
  unsigned long long t0 = now_ns();
  while (*counter < n) {
    if (now_ns() - t0 > limit_ns) _exit(code);
    sched_yield();
  }
}

/* munmap, mprotect: never returns normally; SIGSEGV is the expected end. */
static void change_child(enum kind kind, int round) {
  page = guarded_page();
  pattern = 0x5AFE0000u | (uint32_t)round;
  for (int i = 0; i < WORDS; i++) page[i] = pattern;
  pthread_t t;
  if (pthread_create(&t, NULL, reader, NULL)) _exit(kExitSetup);
  wait_for_reads(&sh->reads, MIN_READS, READER_WAIT_NS, kExitNoReader);
  sh->at_change = sh->reads;
  if (kind == kUnmap ? munmap((void*)page, PAGE) : mprotect((void*)page, PAGE, PROT_NONE)) _exit(kExitSetup);
  fill_fresh_pages();
  /* A reader that still reads now reads through a stale TLB entry: STALE_READS more reads prove it. */
  uint32_t base = sh->reads;
  unsigned long long t0 = now_ns();
  for (;;) {
    if (sh->reads - base > STALE_READS) _exit(kExitStale);
    if (now_ns() - t0 > AFTER_NS) _exit(kExitStalled);
    sched_yield();
  }
}

/* cow: exits 0 when the reader has read the new pattern STALE_READS times. */
static void cow_child(int round) {
  page = guarded_page();
  pattern = 0xC0A00000u | (uint32_t)round;
  new_pattern = 0xC0B00000u | (uint32_t)round;
  for (int i = 0; i < WORDS; i++) page[i] = pattern;
  pthread_t t;
  if (pthread_create(&t, NULL, cow_reader, NULL)) _exit(kExitSetup);
  wait_for_reads(&sh->reads, MIN_READS, READER_WAIT_NS, kExitNoReader);
  pid_t copy = fork(); /* the page is now copy-on-write, shared with the copy */
  if (copy < 0) _exit(kExitSetup);
  if (copy == 0) {
    /* The forked copy (one thread): keeps the old frame; must still see the old pattern after the write. */
    unsigned long long t0 = now_ns();
    while (!sh->published) {
      if (now_ns() - t0 > READER_WAIT_NS) _exit(1);
      struct timespec d = {0, 200 * 1000};
      nanosleep(&d, NULL); /* not sched_yield: a spinning copy would take the writer's CPU */
    }
    int ok = 1;
    for (int i = 0; i < WORDS; i++) ok &= page[i] == pattern;
    if (sh->round == (uint32_t)round) sh->copy_ok = (uint32_t)ok;
    _exit(0);
  }
  sh->at_change = sh->reads;
  for (int i = 0; i < WORDS; i++) page[i] = new_pattern; /* the first write copies: a new frame */
  __sync_synchronize();
  sh->published = 1;
  int status;
  if (waitpid(copy, &status, 0) != copy) _exit(kExitSetup); /* the old frame is freed with the copy */
  fill_fresh_pages();
  wait_for_reads(&sh->reads_after, STALE_READS, AFTER_NS, kExitStalled);
  _exit(0);
}

static const char* exit_meaning(int code) {
  switch (code) {
    case kExitWrongValue:
      return "the reader read a wrong value";
    case kExitStale:
      return "the reader went on reading after the change";
    case kExitStalled:
      return "the reader did not run after the change";
    case kExitSetup:
      return "setup failed";
    case kExitNoReader:
      return "the reader never started";
    default:
      return "?";
  }
}

/* The distinct wait statuses of an experiment's rounds, with counts. */
struct statuses {
  int status[8], count[8], n;
};

static void note_status(struct statuses* s, int status) {
  for (int i = 0; i < s->n; i++)
    if (s->status[i] == status) {
      s->count[i]++;
      return;
    }
  if (s->n < 8) {
    s->status[s->n] = status;
    s->count[s->n++] = 1;
  }
}

static const char* describe_statuses(const struct statuses* s) {
  static char buf[512];
  size_t used = 0;
  buf[0] = 0;
  for (int i = 0; i < s->n && used < sizeof(buf) - 160; i++) {
    int st = s->status[i];
    used +=
        (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%d x %s", i ? "; " : "", s->count[i], describe_status(st));
    if (WIFEXITED(st) && WEXITSTATUS(st))
      used += (size_t)snprintf(buf + used, sizeof(buf) - used, ": %s", exit_meaning(WEXITSTATUS(st)));
  }
  return buf;
}

static void experiment(enum kind kind, int rounds) {
  const char* what = kind_name[kind];
  struct statuses seen = {{0}, {0}, 0};
  int expected = 0, clean = 1, reading = 1, copies_ok = 1;
  int bad_round = -1, short_round = -1;
  uint32_t bad_value = 0, bad_word = 0, bad_published = 0, short_reads = 0, min_reads = UINT32_MAX;
  unsigned long long total = 0;
  for (int r = 0; r < rounds; r++) {
    *sh = (struct shared){0};
    sh->round = (uint32_t)r;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      report(0, "fork a round", "fork failed: %s", strerror(errno));
      return;
    }
    if (pid == 0) {
      if (kind == kCow) cow_child(r);
      change_child(kind, r);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) status = -1;
    note_status(&seen, status);
    if (kind == kCow ? WIFEXITED(status) && WEXITSTATUS(status) == 0
                     : WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
      expected++;
    if (sh->bad && clean) {
      clean = 0;
      bad_round = r, bad_value = sh->bad_value, bad_word = sh->bad_word, bad_published = sh->bad_published;
    }
    uint32_t before = sh->at_change;
    if (before < min_reads) min_reads = before;
    if (before < MIN_READS && reading) reading = 0, short_round = r, short_reads = before;
    if (kind == kCow && !sh->copy_ok) copies_ok = 0;
    total += sh->reads + sh->reads_after;
  }
  char name[160];
  if (kind == kCow) {
    snprintf(name, sizeof(name), "the process goes on after %s in every round", what);
    report(expected == rounds, name, "%d of %d rounds exited 0; %s", expected, rounds, describe_statuses(&seen));
    snprintf(name, sizeof(name), "the reader sees the new frame at once after %s", what);
    report(clean, name, "round %d: word %u read %#x (write published: %u), want %#x", bad_round, bad_word, bad_value,
           bad_published, (0xC0B00000u | (uint32_t)bad_round));
    report(copies_ok, "the forked copy keeps the old page", "a copy saw something else");
  } else {
    snprintf(name, sizeof(name), "the reader faults after %s in every round", what);
    report(expected == rounds, name, "%d of %d rounds ended by SIGSEGV; %s", expected, rounds,
           describe_statuses(&seen));
    snprintf(name, sizeof(name), "the reader never reads anything but its pattern (%s)", what);
    report(clean, name, "round %d: word %u read %#x, want %#x", bad_round, bad_word, bad_value,
           0x5AFE0000u | (uint32_t)bad_round);
  }
  snprintf(name, sizeof(name), "the reader was reading when the page changed (%s)", what);
  report(reading, name, "round %d: %u reads before the change, want at least %u", short_round, short_reads, MIN_READS);
  printf("INFO t_tlb %s: %d rounds, %llu reads in all, at least %u before the change\n", what, rounds, total,
         min_reads == UINT32_MAX ? 0 : min_reads);
  fflush(stdout);
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 16;
  if (rounds < 1) rounds = 1;
  sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (!report(sh != MAP_FAILED, "mmap a shared page", "%s", strerror(errno))) return report_summary();
  experiment(kUnmap, rounds);
  experiment(kProtect, rounds);
  experiment(kCow, rounds);
  return report_summary();
}
