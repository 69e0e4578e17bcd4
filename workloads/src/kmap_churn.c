/* kmap_churn: forks and exits racing kernel-mapping creation (the unshared kernel PMD sync experiment).
 *
 *   kmap_churn [-r ROUNDS] [-p PAGES] [-f FORKERS]
 *
 * This process calls the mmlab kmap_churn system call (mmlab.h) ROUNDS
 * times (default 64), each mapping PAGES (default 512: 2 MiB, so while the
 * vmalloc area is fresh every call creates a kernel PTE table, which
 * mm.kernel_pmd=unshared must sync into every PGD), yielding between rounds,
 * while FORKERS processes (default 2) fork + exit + wait until it is done.
 * After every call the kernel checks that no live PGD misses a kernel PMD
 * entry (`kernel_sync_missed`, which must stay 0). mm.pgd_init decides how
 * the syncs find the PGDs: pgd_list under pgd_lock, or the task list.
 *
 *   MMLAB-RESULT {"workload":"kmap_churn","rounds":64,"pages":512,"forkers":2,"kernel_pte_tables":64,
 *                 "forks":N,"ns":...,"rounds_per_s":...,"forks_per_s":...,"clock":"CLOCK_MONOTONIC"}
 *
 * On Linux the call does not exist (ENOSYS): the line says so instead of
 * measuring something else:
 *   MMLAB-RESULT {"workload":"kmap_churn","unsupported":"..."}
 */
#include <errno.h>
#include <unistd.h>

#include "mmlab.h"
#include "workload.h"

#define NAME "kmap_churn"

struct shared {
  volatile int stop;
  volatile unsigned long long forks;
};

static struct shared* sh;

static int fork_until_stopped(int worker, void* arg) {
  (void)worker;
  (void)arg;
  while (!__atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST)) {
    /* This loop waits for the churner (on another vCPU) to say stop: PAUSE ends this vCPU's turn under QEMU 7.2's
     * -icount round robin, which otherwise may never run the churner's vCPU again (spin_wait_step in workload.h; a
     * tlb_counts boot on 2 vCPUs livelocked with the churner waiting in a TLB shootdown for a turn). */
    __builtin_ia32_pause();
    pid_t pid = fork();
    if (pid < 0) return 3;
    if (pid == 0) _exit(0);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 4;
    __atomic_add_fetch(&sh->forks, 1, __ATOMIC_SEQ_CST);
  }
  return 0;
}

int main(int argc, char** argv) {
  int rounds = 64, pages = 512, forkers = 2, opt;
  while ((opt = getopt(argc, argv, "r:p:f:")) != -1) {
    if (opt == 'r')
      rounds = atoi(optarg);
    else if (opt == 'p')
      pages = atoi(optarg);
    else if (opt == 'f')
      forkers = atoi(optarg);
    else
      die(NAME, "usage: kmap_churn [-r ROUNDS] [-p PAGES] [-f FORKERS]");
  }
  if (rounds < 1 || pages < 1 || pages > 1024 || forkers < 0 || forkers > 64)
    die(NAME, "-r wants >= 1 rounds, -p 1..1024 pages, -f 0..64 forkers");
  if (mmlab_kmap_churn(1) < 0) {
    if (errno != ENOSYS) die(NAME, "kmap_churn(1): %s", strerror(errno));
    printf("MMLAB-RESULT {\"workload\":\"" NAME
           "\",\"unsupported\":\"no mmlab kmap_churn system call on this kernel "
           "(ENOSYS)\"}\n");
    return 0;
  }
  sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) die(NAME, "mmap of the shared page failed");
  fflush(stdout);
  pid_t kids[64];
  for (int i = 0; i < forkers; i++) {
    kids[i] = fork();
    if (kids[i] < 0) die(NAME, "fork of forker %d failed", i);
    if (kids[i] == 0) _exit(fork_until_stopped(i, NULL));
  }
  long long tables = 0;
  unsigned long long t0 = now_ns();
  for (int r = 0; r < rounds; r++) {
    int made = mmlab_kmap_churn((unsigned)pages);
    if (made < 0) die(NAME, "kmap_churn(%d): %s", pages, strerror(errno));
    tables += made;
    sched_yield();  // let the forkers run between rounds, also on one CPU
  }
  unsigned long long ns = now_ns() - t0;
  __atomic_store_n(&sh->stop, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < forkers; i++) {
    int status;
    if (waitpid(kids[i], &status, 0) != kids[i] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      die(NAME, "forker %d failed (wait status %#x)", i, status);
  }
  unsigned long long forks = sh->forks;
  printf("MMLAB-RESULT {\"workload\":\"" NAME
         "\",\"rounds\":%d,\"pages\":%d,\"forkers\":%d,\"kernel_pte_tables\":%lld,"
         "\"forks\":%llu,\"ns\":%llu,\"rounds_per_s\":%.0f,\"forks_per_s\":%.0f,\"clock\":\"CLOCK_MONOTONIC\"}\n",
         rounds, pages, forkers, tables, forks, ns, ns ? rounds * 1e9 / (double)ns : 0,
         ns ? (double)forks * 1e9 / (double)ns : 0);
  return 0;
}
