/*
 * t_threads: glibc threads (clone with CLONE_VM|CLONE_THREAD..., futex,
 * set_tid_address, exit vs exit_group, tgkill) as a program sees them.
 *
 * Thread ids and the shared pid; TLS per thread; a mutex-protected counter
 * under contention; a condition variable and a timed wait that times out;
 * threads faulting fresh pages of one mm at once; exit() in a thread ends
 * the whole process with its status; a fault in a thread kills the whole
 * process; the main thread's pthread_exit leaves the others running; exec
 * from a multi-threaded process; exit and exec while other threads spin in
 * ring 3 or keep creating threads. The same checks pass on Linux.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

#define THREADS 4
#define PAGE 4096

extern char** environ;

static __thread int tls_value;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static pid_t tids[THREADS], pids[THREADS];
static int tls_ok[THREADS];

static void* worker(void* arg) {
  int i = (int)(intptr_t)arg;
  tids[i] = (pid_t)syscall(SYS_gettid);
  pids[i] = getpid();
  tls_value = 1000 + i;
  for (int n = 0; n < 2000; n++) {
    pthread_mutex_lock(&lock);
    long c = counter;
    if (n % 64 == 0) sched_yield();  // hold the lock across a switch: others must wait on the futex
    counter = c + 1;
    pthread_mutex_unlock(&lock);
  }
  tls_ok[i] = tls_value == 1000 + i;
  return (void*)(intptr_t)(i * 10);
}

static void ids_tls_and_a_mutex(void) {
  pthread_t t[THREADS];
  int created = 0;
  for (int i = 0; i < THREADS; i++) created += pthread_create(&t[i], NULL, worker, (void*)(intptr_t)i) == 0;
  if (!report(created == THREADS, "pthread_create four threads", "%d created", created)) return;
  int joined = 0, values = 1;
  for (int i = 0; i < THREADS; i++) {
    void* v;
    joined += pthread_join(t[i], &v) == 0;
    values &= (intptr_t)v == i * 10;
  }
  report(joined == THREADS && values, "pthread_join returns each thread's value", "%d joined", joined);
  int distinct = 1, same_pid = 1, tls = 1;
  for (int i = 0; i < THREADS; i++) {
    same_pid &= pids[i] == getpid();
    distinct &= tids[i] != getpid() && tids[i] > 0;
    for (int j = 0; j < i; j++) distinct &= tids[i] != tids[j];
    tls &= tls_ok[i];
  }
  report(same_pid && distinct, "threads share the pid and have their own tids", "pid %d", getpid());
  report(tls, "__thread variables are per thread", "a thread saw another's value");
  report(counter == THREADS * 2000, "a contended mutex loses no increment", "counter %ld, want %d", counter,
         THREADS * 2000);
}

static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int ready;

static void* signaller(void* arg) {
  (void)arg;
  struct timespec d = {0, 2 * 1000 * 1000};
  nanosleep(&d, NULL);
  pthread_mutex_lock(&lock);
  ready = 1;
  pthread_cond_signal(&cond);
  pthread_mutex_unlock(&lock);
  return NULL;
}

static void condition_variables(void) {
  pthread_t t;
  pthread_create(&t, NULL, signaller, NULL);
  pthread_mutex_lock(&lock);
  while (!ready) pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
  pthread_join(t, NULL);
  report(ready == 1, "pthread_cond_wait wakes on pthread_cond_signal", "ready %d", ready);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_nsec += 5 * 1000 * 1000;
  if (deadline.tv_nsec >= 1000000000) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&lock);
  int r = pthread_cond_timedwait(&cond, &lock, &deadline);
  pthread_mutex_unlock(&lock);
  report(r == ETIMEDOUT, "pthread_cond_timedwait times out", "returned %d (%s)", r, strerror(r));
}

static volatile char* region;

static void* toucher(void* arg) {
  int i = (int)(intptr_t)arg;
  for (int p = i; p < 256; p += THREADS) region[p * PAGE] = (char)p;  // interleaved pages, shared page tables
  return NULL;
}

static void faults_in_one_mm(void) {
  region = mmap(NULL, 256 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!report(region != MAP_FAILED, "mmap 1 MiB for the threads", "%s", strerror(errno))) return;
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, toucher, (void*)(intptr_t)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  int ok = 1;
  for (int p = 0; p < 256; p++) ok &= region[p * PAGE] == (char)p;
  report(ok, "threads faulting one mm's pages leave every write in place", "a page lost its byte");
  munmap((void*)region, 256 * PAGE);
}

/* In a child: runs `body`, returns the child's wait status. */
static int in_child(void (*body)(void)) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(99);
  }
  int status = -1;
  waitpid(pid, &status, 0);
  return status;
}

static void* exiter(void* arg) {
  (void)arg;
  exit(7);
}
static void* sleeper(void* arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}
static void thread_calls_exit(void) {
  pthread_t a, b;
  pthread_create(&b, NULL, sleeper, NULL);
  pthread_create(&a, NULL, exiter, NULL);
  pthread_join(b, NULL);  // never returns: exit(7) ends the process
}
static void* faulter(void* arg) {
  (void)arg;
  *(volatile int*)0 = 1;
  return NULL;
}
static void thread_faults(void) {
  pthread_t a, b;
  pthread_create(&b, NULL, sleeper, NULL);
  pthread_create(&a, NULL, faulter, NULL);
  pthread_join(b, NULL);
}
static void* late_exit(void* arg) {
  (void)arg;
  struct timespec d = {0, 3 * 1000 * 1000};
  nanosleep(&d, NULL);
  exit(counter == THREADS * 2000 + 1 ? 5 : 6);
}
static void main_thread_exits_first(void) {
  pthread_t a;
  counter++;
  pthread_create(&a, NULL, late_exit, NULL);
  pthread_exit(NULL);  // the process goes on until late_exit ends it
}
// Runs /hello with its output thrown away; 98 if exec failed.
static void exec_hello_quietly(void) {
  int null = open("/dev/null", 1);
  if (null >= 0) dup2(null, 1);
  char* argv[] = {"hello", NULL};
  execve("/hello", argv, environ);
  _exit(98);
}
static void exec_with_threads(void) {
  pthread_t a;
  pthread_create(&a, NULL, sleeper, NULL);
  exec_hello_quietly();
}

// Threads that never enter the kernel (on other CPUs they are running when
// the process ends: only an IPI gets them out) and one that keeps creating
// and joining threads (a clone racing the kill must not leave a thread
// behind).
static void* spinner(void* arg) {
  (void)arg;
  for (volatile unsigned long n = 0;; n++) {
  }
  return NULL;
}
static void* noop(void* arg) { return arg; }
static void* spawner(void* arg) {
  (void)arg;
  for (;;) {
    pthread_t t;
    if (pthread_create(&t, NULL, noop, NULL) == 0) pthread_join(t, NULL);
  }
  return NULL;
}
static void start_busy_threads(void) {
  pthread_t t;
  pthread_create(&t, NULL, spinner, NULL);
  pthread_create(&t, NULL, spinner, NULL);
  pthread_create(&t, NULL, spawner, NULL);
  struct timespec d = {0, 2 * 1000 * 1000};
  nanosleep(&d, NULL);  // let them get going (on other CPUs where there are some)
}
static void exit_with_busy_threads(void) {
  start_busy_threads();
  exit(9);
}
static void exec_with_busy_threads(void) {
  start_busy_threads();
  exec_hello_quietly();
}

static void process_lifetimes(void) {
  int s = in_child(thread_calls_exit);
  report(WIFEXITED(s) && WEXITSTATUS(s) == 7, "exit() in a thread ends the process with its status", "%s",
         describe_status(s));
  s = in_child(thread_faults);
  report(WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV, "a fault in a thread kills the whole process", "%s",
         describe_status(s));
  s = in_child(main_thread_exits_first);
  report(WIFEXITED(s) && WEXITSTATUS(s) == 5, "after the main thread's pthread_exit the others go on", "%s",
         describe_status(s));
  s = in_child(exec_with_threads);
  report(WIFEXITED(s) && WEXITSTATUS(s) == 0, "exec from a multi-threaded process ends the other threads", "%s",
         describe_status(s));
  s = in_child(exit_with_busy_threads);
  report(WIFEXITED(s) && WEXITSTATUS(s) == 9, "exit() ends threads that are running and creating threads", "%s",
         describe_status(s));
  s = in_child(exec_with_busy_threads);
  report(WIFEXITED(s) && WEXITSTATUS(s) == 0, "exec ends threads that are running and creating threads", "%s",
         describe_status(s));
}

int main(void) {
  ids_tls_and_a_mutex();
  condition_variables();
  faults_in_one_mm();
  process_lifetimes();
  return report_summary();
}
