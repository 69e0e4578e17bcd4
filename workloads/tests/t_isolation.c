/*
 * t_isolation: what a process must not be able to do, each tried in a child
 * that must die of SIGSEGV (the parent checks the wait status):
 * read, write and jump into kernel memory (the direct map at 0xC0000000 and
 * the vmalloc area), write its own text, run code on its stack and heap
 * (NX), and see another process's memory (after fork, a write in one is
 * invisible to the other, in both directions, also on a shared page the
 * parent then unmaps). On a CPU without NX the two NX checks are reported
 * as SKIP (the kernel drops XD bits there; docs/kernel.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "report.h"

static int have_nx(void) {
  unsigned a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000000u));
  if (a < 0x80000001u) return 0;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001u));
  return (d >> 20) & 1;
}

/* Runs `what` in a child; returns its wait status. */
static int in_child(void (*what)(void*), void* arg) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    what(arg);
    _exit(0);  // it did not fault: the check fails
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

static void read_at(void* p) { (void)*(volatile uint32_t*)p; }
static void write_at(void* p) { *(volatile uint32_t*)p = 0x12345678; }
static void jump_to(void* p) { ((void (*)(void))p)(); }

static void must_segv(const char* what, void (*op)(void*), uintptr_t addr) {
  int s = in_child(op, (void*)addr);
  report(WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV, what, "child %s", describe_status(s));
}

static void code_on_stack(void* unused) {
  (void)unused;
  unsigned char code[16] = {0xc3};  // ret
  ((void (*)(void))code)();
}

int main(void) {
  must_segv("reading the kernel's direct map (0xC0100000) faults", read_at, 0xC0100000u);
  must_segv("writing the kernel's direct map faults", write_at, 0xC0100000u);
  must_segv("jumping into the kernel faults", jump_to, 0xC0100000u);
  must_segv("reading the vmalloc area (0xF0000000) faults", read_at, 0xF0000000u);
  must_segv("reading the top page (0xFFFFF000) faults", read_at, 0xFFFFF000u);
  must_segv("writing its own text faults", write_at, (uintptr_t)&main);
  if (have_nx()) {
    int s = in_child(code_on_stack, NULL);
    report(WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV, "running code on the stack faults (NX)", "child %s",
           describe_status(s));
    unsigned char* heap = malloc(64);
    heap[0] = 0xc3;
    must_segv("running code on the heap faults (NX)", jump_to, (uintptr_t)heap);
  } else {
    report_skip("NX checks", "this CPU has no NX");
  }

  /* Another process's memory: after fork each side's writes are its own. */
  volatile uint32_t* secret = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  secret[0] = 0xAAAA;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    int saw = secret[0] == 0xAAAA;
    secret[0] = 0xBBBB;  // the child's copy
    for (volatile int i = 0; i < 200000; i++) {
    }
    _exit(saw && secret[0] == 0xBBBB ? 0 : 1);
  }
  secret[0] = 0xCCCC;  // the parent's, while the child may still run
  int status = 0;
  waitpid(pid, &status, 0);
  report(WIFEXITED(status) && WEXITSTATUS(status) == 0 && secret[0] == 0xCCCC,
         "after fork neither process sees the other's writes", "child %s, parent sees %#x", describe_status(status),
         secret[0]);
  munmap((void*)secret, 4096);
  must_segv("a page unmapped by the parent is gone in a later child", read_at, (uintptr_t)secret);
  return report_summary();
}
