/* exec_layout: exec of a program that uses all three user PGD entries (the PMD-preallocation effect).
 *
 *   exec_layout [-n SAMPLES] [-w WARMUP]
 *
 * PAE has four PGD entries; the user owns 0-2: 0 to 1 GiB (text, data,
 * brk heap), 1 to 2 GiB, 2 to 3 GiB (the stack). The child this program
 * execs (itself, with --child) touches its text, maps and writes one page
 * at 0x50000000 (the second GiB; a hint, honoured on both kernels when
 * free), and writes to its stack, then exits. So the new mm populates all
 * three entries while it is loaded: with mm.pmd_prealloc=off each
 * population changes a PDPTE and forces a CR3 reload (three per exec),
 * with on there are none. lat_proc exec's /hello populates only entries 0
 * and 2 (two reloads). Times each fork + execve + wait, as lat_proc does.
 *
 *   MMLAB-RESULT {"workload":"exec_layout","unit":"ns","clock":"CLOCK_MONOTONIC","pgd_entries":3,
 *                 "n":N,"warmup":W,"min":..,"median":..,"samples":[...]}
 */
#include <errno.h>
#include <unistd.h>

#include "workload.h"

#define NAME "exec_layout"
#define MAX_SAMPLES 10000
#define SECOND_GIB_HINT ((void*)0x50000000)

extern char** environ;

static int child(void) {
  volatile char stack_page[64];
  stack_page[0] = 1;  // entry 2: the stack (the kernel put argv there too)
  char* p = mmap(SECOND_GIB_HINT, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 3;
  if ((unsigned long)p >> 30 != 1) return 4;  // not in the second GiB: the layout would not be what we measure
  p[0] = 1;                                   // entry 1
  return stack_page[0] == 1 ? 0 : 5;          // entry 0: we are running from it
}

static unsigned long long one(void) {
  unsigned long long t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) die(NAME, "fork: %s", strerror(errno));
  if (pid == 0) {
    char* argv[] = {"exec_layout", "--child", NULL};
    execve("/bin/exec_layout", argv, environ);
    _exit(127);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die(NAME, "child failed (wait status %#x)", status);
  return now_ns() - t0;
}

int main(int argc, char** argv) {
  if (argc == 2 && !strcmp(argv[1], "--child")) return child();
  int n = 20, warmup = 3, opt;
  while ((opt = getopt(argc, argv, "n:w:")) != -1) {
    if (opt == 'n')
      n = atoi(optarg);
    else if (opt == 'w')
      warmup = atoi(optarg);
    else
      die(NAME, "usage: exec_layout [-n SAMPLES] [-w WARMUP]");
  }
  if (n < 1 || n > MAX_SAMPLES || warmup < 0) die(NAME, "-n wants 1..%d samples, -w a count >= 0", MAX_SAMPLES);
  static unsigned long long samples[MAX_SAMPLES], sorted[MAX_SAMPLES];
  for (int i = 0; i < warmup; i++) one();
  for (int i = 0; i < n; i++) samples[i] = one();
  unsigned long long median = median_of(samples, n, sorted);
  printf("MMLAB-RESULT {\"workload\":\"" NAME
         "\",\"unit\":\"ns\",\"clock\":\"CLOCK_MONOTONIC\",\"pgd_entries\":3,"
         "\"n\":%d,\"warmup\":%d,\"min\":%llu,\"median\":%llu,\"samples\":[",
         n, warmup, sorted[0], median);
  for (int i = 0; i < n; i++) printf("%s%llu", i ? "," : "", samples[i]);
  printf("]}\n");
  return 0;
}
