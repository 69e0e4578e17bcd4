/* sysfuzz: random system calls with random arguments, seeded and reproducible (issue 8).
 *
 *   sysfuzz [-n CALLS] [-s SEED] [-b BATCH]
 *
 * CALLS (default 2000) calls in batches of BATCH (default 100), each batch
 * in a child process, because a random call may well end its caller (a
 * random munmap of its own text, a kill of itself): the parent counts how
 * each batch ended and starts the next. A call is a random number (Linux's
 * i386 range and mmlab's own; three calls in four from those the mmlab
 * kernel implements) with six arguments, each drawn from: small
 * numbers, -1, any 32-bit value, a pointer into a scratch buffer, a
 * pointer into the kernel, an unmapped user address, 0, and lengths that
 * reach past the end of user space. Left out, because they would block
 * forever and nothing here could end them (the mmlab kernel has no signal
 * delivery yet): pause, nanosleep, clock_nanosleep, futex, wait4, waitpid;
 * and exit/exit_group and clone, which would only end or confuse the batch.
 * A fork or vfork that succeeds ends in the new child at once and is
 * reaped, so random forks cannot fill the task table.
 *
 * Only for the mmlab kernel: random system calls as root could reboot or
 * wreck a Linux guest, so on Linux (the mmlab counters call gives ENOSYS)
 * it prints an "unsupported" result instead.
 *
 *   MMLAB-RESULT {"workload":"sysfuzz","seed":S,"calls_asked":N,"batches":B,"batches_exited":..,
 *                 "batches_killed":..,"batches_counted":..,"calls_counted":..,"returned_ok":..,
 *                 "errors":{"EFAULT":..,...},"errno_other":..}
 * The counts cover the batches that finished with intact counts; the
 * kernel's own counters (system calls, faults, fatal signals, ENOSYS by
 * number) cover everything.
 */
#define _GNU_SOURCE  // strerrorname_np
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mmlab.h"
#include "workload.h"

#define NAME "sysfuzz"
#define MAX_ERRNO 134

struct tally {
  unsigned long long calls, ok, err[MAX_ERRNO + 1], other;
};

/* A batch counts in its own memory, which the random calls it makes may
 * scribble on; at its end it copies the counts to its slot of a shared page
 * with a tag, and the parent keeps only slots whose counts add up (ok +
 * errors == calls <= the batch size). */
#define MAX_BATCHES 4096
struct slot {
  uint32_t tag;
  struct tally t;
};
static struct slot* slots;
static struct tally mine;
static const uint32_t kTag = 0x5f757a7a;
static unsigned char scratch[65536];
static uint32_t rng_state;

static uint32_t rnd(void) {  // xorshift32: the same sequence for the same seed
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static uint32_t arg(void) {
  switch (rnd() % 9) {
    case 0:
      return rnd() % 64;
    case 1:
      return 0xFFFFFFFFu;
    case 2:
      return rnd();
    case 3:
      return (uint32_t)(uintptr_t)(scratch + rnd() % sizeof(scratch));
    case 4:
      return 0xC0000000u + (rnd() % 0x40000000u);
    case 5:
      return 0x70000000u + (rnd() & 0x0FFFF000u);  // nothing is mapped there
    case 6:
      return 0;
    case 7:
      return (uint32_t)(uintptr_t)scratch + sizeof(scratch) - (rnd() % 16);  // runs off the buffer
    default:
      return 0xBFFFF000u + (rnd() % 0x2000u);  // straddles the top of user space
  }
}

static int excluded(uint32_t nr) {
  switch (nr) {
    case SYS_exit:
    case SYS_exit_group:
    case SYS_pause:
    case SYS_nanosleep:
    case SYS_clock_nanosleep:
    case SYS_futex:
    case SYS_wait4:
    case SYS_waitpid:
    case SYS_clone:
#ifdef SYS_clock_nanosleep_time64
    case SYS_clock_nanosleep_time64:
#endif
#ifdef SYS_futex_time64
    case SYS_futex_time64:
#endif
#ifdef SYS_clone3
    case SYS_clone3:
#endif
      return 1;
    default:
      return 0;
  }
}

/* Calls the mmlab kernel implements (and Linux has), drawn three times in
 * four so that most calls get past -ENOSYS into real argument checking. */
static const uint16_t kImplemented[] = {3,   4,   5,   6,   11,  12,  13,  19,  33,  37,  41,   45,  54,
                                        60,  63,  78,  85,  91,  122, 125, 140, 146, 158, 174,  175, 180,
                                        183, 190, 191, 192, 195, 196, 197, 2,   220, 221, 238,  243, 258,
                                        265, 270, 295, 307, 311, 330, 340, 355, 383, 403, 1000, 1001};

static void batch(int calls) {
  for (int i = 0; i < calls; i++) {
    const uint32_t pick = rnd() % 4;
    uint32_t nr = pick ? kImplemented[rnd() % (sizeof(kImplemented) / sizeof(kImplemented[0]))]
                       : (rnd() % 16 == 0 ? 1000 + rnd() % 3 : rnd() % 451);
    if (excluded(nr)) continue;
    uint32_t a[6];
    for (int j = 0; j < 6; j++) a[j] = arg();
    mine.calls++;
    long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    if ((nr == SYS_fork || nr == SYS_vfork) && r == 0) _exit(0);  // the new child: gone at once
    if ((nr == SYS_fork || nr == SYS_vfork) && r > 0) waitpid((pid_t)r, NULL, 0);
    if (r != -1)  // glibc's syscall(): -1 and errno for an error, the raw result otherwise
      mine.ok++;
    else if (errno > 0 && errno <= MAX_ERRNO)
      mine.err[errno]++;
    else
      mine.other++;
  }
}

static int valid(const struct slot* s, long per) {
  if (s->tag != kTag || s->t.calls > (unsigned long long)per) return 0;
  unsigned long long sum = s->t.ok + s->t.other;
  for (int e = 0; e <= MAX_ERRNO; e++) sum += s->t.err[e];
  return sum == s->t.calls;
}

int main(int argc, char** argv) {
  long calls = 2000, per = 100;
  uint32_t seed = 1;
  int opt;
  while ((opt = getopt(argc, argv, "n:s:b:")) != -1) {
    if (opt == 'n')
      calls = atol(optarg);
    else if (opt == 's')
      seed = (uint32_t)strtoul(optarg, NULL, 10);
    else if (opt == 'b')
      per = atol(optarg);
    else
      die(NAME, "usage: sysfuzz [-n CALLS] [-s SEED] [-b BATCH]");
  }
  if (calls < 1 || per < 1 || seed == 0) die(NAME, "-n and -b want positive counts, -s a non-zero seed");
  if (mmlab_counters("sysfuzz") != 0) {
    printf("MMLAB-RESULT {\"workload\":\"" NAME
           "\",\"unsupported\":\"random system calls run only on the mmlab kernel\"}\n");
    return 0;
  }
  if ((calls + per - 1) / per > MAX_BATCHES) die(NAME, "at most %d batches", MAX_BATCHES);
  slots = mmap(NULL, sizeof(struct slot) * MAX_BATCHES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (slots == MAP_FAILED) die(NAME, "mmap of the tally failed");
  int batches = 0, exited = 0, killed = 0;
  for (long done = 0; done < calls; done += per, batches++) {
    rng_state = seed * 2654435761u + (uint32_t)batches;  // each batch its own reproducible stream
    if (!rng_state) rng_state = 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die(NAME, "fork: %s", strerror(errno));
    if (pid == 0) {
      memset(&mine, 0, sizeof(mine));
      batch((int)(calls - done < per ? calls - done : per));
      slots[batches].t = mine;
      slots[batches].tag = kTag;
      _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) die(NAME, "waitpid: %s", strerror(errno));
    if (WIFSIGNALED(status))
      killed++;
    else
      exited++;
  }
  // Batches killed before their end, or whose counts were scribbled on, have no valid slot.
  struct tally sum;
  memset(&sum, 0, sizeof(sum));
  int counted = 0;
  for (int b = 0; b < batches; b++) {
    if (!valid(&slots[b], per)) continue;
    counted++;
    sum.calls += slots[b].t.calls;
    sum.ok += slots[b].t.ok;
    sum.other += slots[b].t.other;
    for (int e = 0; e <= MAX_ERRNO; e++) sum.err[e] += slots[b].t.err[e];
  }
  char errors[4096];
  size_t len = 0;
  for (int e = 1; e <= MAX_ERRNO; e++) {
    if (!sum.err[e]) continue;
    const char* name = strerrorname_np(e);
    len += (size_t)snprintf(errors + len, sizeof errors - len, "%s\"%s\":%llu", len ? "," : "", name ? name : "?",
                            sum.err[e]);
  }
  errors[len] = 0;
  printf("MMLAB-RESULT {\"workload\":\"" NAME
         "\",\"seed\":%u,\"calls_asked\":%ld,\"batches\":%d,\"batches_exited\":%d,"
         "\"batches_killed\":%d,\"batches_counted\":%d,\"calls_counted\":%llu,\"returned_ok\":%llu,"
         "\"errors\":{%s},\"errno_other\":%llu}\n",
         seed, calls, batches, exited, killed, counted, sum.calls, sum.ok, errors, sum.other);
  return 0;
}
