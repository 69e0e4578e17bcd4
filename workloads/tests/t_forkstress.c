/*
 * t_forkstress: fork, exit and wait from several processes at once, for the
 * kernel's process locks (run as PID 1, so that orphans come back to it).
 *
 *   t_forkstress [-w WORKERS] [-r ROUNDS]      (defaults 4 and 24)
 *
 * WORKERS processes run at once. Each does ROUNDS rounds of three children
 * forked together, then reaped with waitpid(-1) (in whatever order they
 * end), each child ending one of four ways by its number n = round * 3 + k:
 *   n % 4 == 0   _exit(code)
 *   n % 4 == 1   kill(getpid(), SIGKILL): the status says signal 9
 *   n % 4 == 2   two threads that keep running, then exit(code) from the
 *                main thread: exit_group ends the threads
 *   n % 4 == 3   forks a grandchild and _exits(code) at once: the grandchild
 *                (an orphan) ends with its own code after a moment, and PID 1
 *                reaps it
 * where code = (worker * 37 + n) % 200 + 1 (grandchildren: code + 50). A
 * worker checks every child's pid and status, and that nothing else is
 * left to reap after each round, and exits with the count of wrong ones (0:
 * all right). PID 1 reaps whatever ends, workers and orphans, until ECHILD,
 * and checks the workers' counts and the orphans' number and codes.
 *
 * PASS lines for each check, and one result line for the boot test's check:
 *   MMLAB-RESULT {"workload":"t_forkstress","workers":4,"rounds":24,"children":288,"workers_reaped":4,
 *                 "bad_children":0,"orphans":72,"orphans_reaped":72,"bad_orphans":0,"threads":96}
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "report.h"

enum { kChildrenPerRound = 3, kMaxWorkers = 8 };

static int workers = 4, rounds = 24;

static int code_of(int worker, int n) { return (worker * 37 + n) % 200 + 1; }

static void* spin(void* arg) {
  volatile unsigned long* counter = arg;
  for (;;) ++*counter;
  return NULL;
}

/* The child of `worker` numbered n: ends the way n says. */
static void child(int worker, int n) {
  const int code = code_of(worker, n);
  switch (n % 4) {
    case 0:
      _exit(code);
    case 1:
      kill(getpid(), SIGKILL);
      _exit(255); /* not reached */
    case 2: {
      static volatile unsigned long counters[2];
      pthread_t t[2];
      for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, spin, (void*)&counters[i])) _exit(254);
      while (!counters[0] || !counters[1]) sched_yield();
      exit(code); /* exit_group: the spinning threads end too */
    }
    default: {
      pid_t g = fork();
      if (g == 0) {
        for (volatile int i = 0; i < 20000; i++) {
        }
        _exit(code + 50);
      }
      _exit(g < 0 ? 253 : code);
    }
  }
}

/* One worker's rounds; returns how many children ended wrongly or went missing. */
static int work(int worker) {
  int bad = 0;
  for (int r = 0; r < rounds; r++) {
    pid_t pids[kChildrenPerRound];
    for (int k = 0; k < kChildrenPerRound; k++) {
      const int n = r * kChildrenPerRound + k;
      pids[k] = fork();
      if (pids[k] == 0) child(worker, n);
      if (pids[k] < 0) bad++;
    }
    for (int left = kChildrenPerRound; left > 0; left--) {
      int status;
      pid_t got = waitpid(-1, &status, 0);
      int k = 0;
      while (k < kChildrenPerRound && pids[k] != got) k++;
      if (got < 0 || k == kChildrenPerRound) {
        bad++;
        continue;
      }
      const int n = r * kChildrenPerRound + k;
      const int ok = n % 4 == 1 ? WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL
                                : WIFEXITED(status) && WEXITSTATUS(status) == code_of(worker, n);
      if (!ok) bad++;
      pids[k] = 0;
    }
    if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) bad++; /* nothing left over */
  }
  return bad;
}

int main(int argc, char** argv) {
  int opt;
  while ((opt = getopt(argc, argv, "w:r:")) != -1) {
    if (opt == 'w')
      workers = atoi(optarg);
    else if (opt == 'r')
      rounds = atoi(optarg);
  }
  if (workers < 1 || workers > kMaxWorkers || rounds < 1 || rounds > 200) {
    printf("FAIL arguments: -w 1..%d, -r 1..200\n", kMaxWorkers);
    return 1;
  }
  fflush(stdout);
  pid_t pids[kMaxWorkers];
  for (int w = 0; w < workers; w++) {
    pids[w] = fork();
    if (pids[w] == 0) {
      const int bad = work(w);
      _exit(bad > 250 ? 250 : bad);
    }
  }
  /* Every n % 4 == 3 child leaves an orphan, which comes back to PID 1. */
  int orphans = 0, threads = 0;
  for (int n = 0; n < rounds * kChildrenPerRound; n++) {
    orphans += n % 4 == 3;
    threads += n % 4 == 2 ? 2 : 0;
  }
  orphans *= workers;
  threads *= workers;
  /* PID 1 reaps whatever ends, workers and orphans alike, until none is left. */
  int workers_reaped = 0, bad_children = 0, orphans_reaped = 0, bad_orphans = 0, status;
  char why[160] = "";
  pid_t got;
  while ((got = waitpid(-1, &status, 0)) > 0) {
    int w = 0;
    while (w < workers && pids[w] != got) w++;
    if (w < workers) {
      workers_reaped++;
      if (WIFEXITED(status)) {
        bad_children += WEXITSTATUS(status);
        if (WEXITSTATUS(status)) snprintf(why, sizeof why, "worker %d: %d children wrong", w, WEXITSTATUS(status));
      } else {
        bad_children += rounds * kChildrenPerRound;
        snprintf(why, sizeof why, "worker %d %s", w, describe_status(status));
      }
      continue;
    }
    orphans_reaped++;
    /* code + 50 for some worker and n: 52..250 */
    if (!WIFEXITED(status) || WEXITSTATUS(status) < 52 || WEXITSTATUS(status) > 250) bad_orphans++;
  }
  const int children = workers * rounds * kChildrenPerRound;
  report(got == -1 && errno == ECHILD, "waitpid(-1) ends with ECHILD once everything is reaped", "returned %d (%s)",
         (int)got, strerror(errno));
  report(workers_reaped == workers && bad_children == 0,
         "every worker's children were reaped, each with its own exit status", "%d of %d workers reaped; %s",
         workers_reaped, workers, why);
  report(orphans_reaped == orphans && bad_orphans == 0, "every orphan came back to PID 1 and was reaped with its code",
         "reaped %d of %d, %d with a wrong status", orphans_reaped, orphans, bad_orphans);
  printf(
      "MMLAB-RESULT {\"workload\":\"t_forkstress\",\"workers\":%d,\"rounds\":%d,\"children\":%d,"
      "\"workers_reaped\":%d,\"bad_children\":%d,\"orphans\":%d,\"orphans_reaped\":%d,\"bad_orphans\":%d,"
      "\"threads\":%d}\n",
      workers, rounds, children, workers_reaped, bad_children, orphans, orphans_reaped, bad_orphans, threads);
  return report_summary();
}
