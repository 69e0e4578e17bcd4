// Tasks, the per-CPU run queues, wake-ups, sleepers and context switches
// (task.h, sched.h; the design is in docs/kernel.md, "Scheduling on several
// CPUs").
//
// Lock order here: timer_lock -> pi_lock -> rq_lock. A CPU holds its own
// rq_lock across a context switch; it takes another CPU's only with
// try_lock (work stealing), so two run-queue locks never wait on each
// other.
#include "kernel/sched.h"

#include <new>

#include "kernel/clock.h"
#include "kernel/console.h"
#include "kernel/klib.h"
#include "kernel/kstats.h"
#include "kernel/process.h"
#include "kernel/smp.h"
#include "kernel/system.h"
#include "mm/lockdep.h"
#include "mm/mmap.h"
#include "mm/tlb.h"

namespace kern {

Cpu cpus[x86::kMaxCpus];
volatile bool stopping = false;
volatile uint64_t jiffies = 0;
KernelStats kstats;
mm::SpinLock timer_lock;

namespace {

Task tasks[kMaxTasks];
ThreadGroup groups[kMaxTasks];  // groups[i]: the group tasks[i] leads
alignas(16) uint8_t kstacks[kMaxTasks][kKernelStackSize];
Task* const boot_idle = &tasks[0];
Task ap_idle[x86::kMaxCpus];  // the APs' idle tasks (they run on the AP's boot stack)
std::atomic<int32_t> next_pid{1};
TimerList sleepers MM_GUARDED(timer_lock);
// The earliest wake_tick on the sleepers' list (~0: none): written under
// timer_lock, read without it as a hint (the idle loop, the tick).
volatile uint64_t next_wake = ~uint64_t{0};
volatile bool sched_running = false;
std::atomic<uint32_t> parked{0};

uint32_t cpu_index(const Cpu& c) { return static_cast<uint32_t>(&c - cpus); }

void enqueue(Cpu& c, Task* t) MM_REQ(c.rq_lock) {
  if (t->on_rq || t == c.idle) return;
  t->on_rq = true;
  t->run_next = nullptr;
  t->cpu.store(cpu_index(c), std::memory_order_relaxed);
  if (c.rq_tail) {
    c.rq_tail->run_next = t;
  } else {
    c.rq_head = t;
  }
  c.rq_tail = t;
  c.nr_queued = c.nr_queued + 1;
}

Task* dequeue(Cpu& c) MM_REQ(c.rq_lock) {
  Task* t = c.rq_head;
  if (!t) return nullptr;
  c.rq_head = t->run_next;
  if (!c.rq_head) c.rq_tail = nullptr;
  c.nr_queued = c.nr_queued - 1;
  t->on_rq = false;
  t->run_next = nullptr;
  return t;
}

// A look without the lock: idle now, nothing queued.
bool cpu_looks_idle(const Cpu& c) { return c.running() == c.idle && c.queued_hint() == 0; }

// Where a woken task goes. A synchronous wake-up (the waker is about to
// block or exit: Linux's WF_SYNC, which exit's notification of the parent
// uses) keeps it on the waker's CPU when nothing else waits there: no IPI,
// and that CPU is free in a moment. Otherwise the CPU it last ran on if that
// looks idle, else any CPU that looks idle, else the shortest queue (its
// last CPU on a tie). Hints only: a wrong guess costs a steal or a time
// slice, never a task.
uint32_t select_cpu(const Task* t, bool sync) {
  if (sync && cpu_self().queued_hint() == 0) return x86::this_cpu();
  const uint32_t last = t->cpu.load(std::memory_order_relaxed);
  uint32_t best = cpus[last].online ? last : 0;
  if (cpu_looks_idle(cpus[best])) return best;
  const uint32_t n = arch::num_cpus();
  for (uint32_t i = 0; i < n; ++i)
    if (cpus[i].online && cpu_looks_idle(cpus[i])) return i;
  for (uint32_t i = 0; i < n; ++i)
    if (cpus[i].online && cpus[i].queued_hint() < cpus[best].queued_hint()) best = i;
  return best;
}

// Queues a runnable task that is on no CPU and no queue on CPU `target`,
// and wakes that CPU if it idles. The caller owns `t` (its pi_lock, or a
// new task nobody else sees).
void activate(Task* t, uint32_t target) {
  Cpu& c = cpus[target];
  bool kick;
  {
    mm::SpinGuard g(c.rq_lock);
    kick = c.curr == c.idle;
    enqueue(c, t);
  }
  if (kick && target != x86::this_cpu()) smp_kick(target);
}

// A queue another CPU may take from: its CPU is busy with a task. An idle
// CPU with a queued task was sent an IPI for it (activate) and runs it
// next; taking it away would only waste that IPI and the wake-up (and under
// TCG, where a vCPU runs in turns, bounce the task between CPUs).
bool stealable(const Cpu& c) { return c.online && c.queued_hint() && c.running() != c.idle; }

// Work stealing: the head of the longest stealable queue whose lock is free.
Task* steal(Cpu& self) MM_REQ(self.rq_lock) {
  const uint32_t n = arch::num_cpus();
  for (uint32_t tries = 0; tries < 2; ++tries) {
    Cpu* busiest = nullptr;
    for (uint32_t i = 0; i < n; ++i) {
      Cpu& c = cpus[i];
      if (&c == &self || !stealable(c)) continue;
      if (!busiest || c.queued_hint() > busiest->queued_hint()) busiest = &c;
    }
    if (!busiest) return nullptr;
    if (!busiest->rq_lock.try_lock()) continue;
    Task* t = dequeue(*busiest);
    busiest->rq_lock.unlock();
    if (t) return t;
  }
  return nullptr;
}

// Eager TLB mode: a CPU with no task of an mm to run leaves that mm for
// init_mm, so that no CPU holds a freed PGD in CR3 (docs/kernel.md).
void load_mm(Cpu& c, mm::MmStruct* want) {
  if (want == c.loaded_mm) return;
  mm::switch_mm(c.loaded_mm, want);
  c.loaded_mm = want;
}

// Switches from `prev` to `next` on CPU `c`. From the analysis' point of
// view it releases c.rq_lock: the task switched to releases it, on c, in
// finish_task_switch. When `prev` runs again (on whichever CPU), it holds
// that CPU's rq_lock, and finish_task_switch releases it.
void context_switch(Cpu& c, Task* prev, Task* next) MM_RELEASE(c.rq_lock) MM_NO_TSA {
  ++kstats.context_switches;
  if (next != c.idle) ++c.switches;
  // An AP's time-slice timer ticks only while a task runs: an idle AP
  // sleeps in hlt until an IPI (no 1 kHz wake-ups for nothing).
  if (next == c.idle && prev != c.idle) {
    smp_stop_local_timer();
  } else if (prev == c.idle && next != c.idle) {
    smp_start_local_timer();
  }
  load_mm(c, next->mm ? next->mm : &sys->init_mm);
  x86::fxsave(prev->fpu);
  x86::fxrstor(next->fpu);
  x86::load_tls(next->tls);
  if (next->kstack_top) x86::set_kernel_stack(next->kstack_top);
  next->ticks_left = kTimeSliceTicks;
  MM_ASSERT(!next->on_cpu.load(std::memory_order_relaxed));
  next->on_cpu.store(true, std::memory_order_relaxed);
  next->cpu.store(cpu_index(c), std::memory_order_relaxed);
  c.curr = next;
  // prev's on_cpu stays set until we are off its stack: until then its
  // slot (if it exited) must not be reused, nor may it run elsewhere.
  c.prev = prev;
  mm::lockdep::assert_only_held(mm::LockClass::kRqLock, "switches tasks");
  switch_stacks(&prev->saved_esp, next->saved_esp);
}

void init_idle(Task* t, uint32_t cpu) {
  new (t) Task(TaskState::kRunnable);
  t->leader = t;
  t->on_cpu.store(true, std::memory_order_relaxed);
  t->cpu.store(cpu, std::memory_order_relaxed);
  format(t->comm, sizeof(t->comm), "idle/%u", cpu);
  x86::fxsave(t->fpu);
}

// Work this CPU could take: a task on its own queue or a stealable one, or
// a sleeper due.
bool work_waiting() {
  const Cpu& self = cpu_self();
  if (self.queued_hint()) return true;
  const uint32_t n = arch::num_cpus();
  for (uint32_t i = 0; i < n; ++i)
    if (&cpus[i] != &self && stealable(cpus[i])) return true;
  return jiffies >= next_wake;
}

[[noreturn]] void idle_loop() {
  for (;;) {
    if (stopping) park_cpu();
    if (work_waiting()) {
      schedule();
    } else {
      // An IPI that lands between the check and here stays pending until
      // `sti; hlt`, which then returns at once.
      x86::halt_until_interrupt();
    }
  }
}

// Wakes every sleeper whose tick has come.
void wake_sleepers() {
  mm::SpinGuard g(timer_lock);
  uint64_t earliest = ~uint64_t{0};
  const uint64_t now = jiffies;
  for (Task* t = sleepers.front(); t;) {
    Task* next = TimerList::next(t);
    if (t->wake_tick <= now) {
      sleepers.remove(t);
      t->wake_tick = 0;
      t->on_timer.store(false, std::memory_order_seq_cst);
      try_to_wake_up(t);
    } else if (t->wake_tick < earliest) {
      earliest = t->wake_tick;
    }
    t = next;
  }
  next_wake = earliest;
}

}  // namespace

void sched_init() {
  timer_lock.init(&sys->counters, mm::LockClass::kTimerLock);
  for (Cpu& c : cpus) c.rq_lock.init(&sys->counters, mm::LockClass::kRqLock);
  for (Task& t : tasks) t.pi_lock.init(&sys->counters, mm::LockClass::kPiLock);
  Cpu& c = cpus[0];
  mm::SpinGuard g(c.rq_lock);
  init_idle(boot_idle, 0);
  c.idle = c.curr = boot_idle;
  c.loaded_mm = &sys->init_mm;
  c.online = true;
}

void sched_start() {
  sched_running = true;
  arch::smp_mb();
  smp_kick_all();  // the APs wait in hlt for this
  idle_loop();
}

void sched_ap_main(uint32_t cpu) {
  while (!sched_running) x86::halt_until_interrupt();
  Cpu& c = cpus[cpu];
  {
    mm::SpinGuard g(c.rq_lock);
    init_idle(&ap_idle[cpu], cpu);
    ap_idle[cpu].pi_lock.init(&sys->counters, mm::LockClass::kPiLock);
    c.idle = c.curr = &ap_idle[cpu];
    c.loaded_mm = &sys->init_mm;
    c.online = true;
  }
  idle_loop();  // the time-slice timer runs only while a task does (context_switch)
}

void park_cpu() {
  mm::lockdep::assert_none_held("parks");
  Cpu& c = cpu_self();
  load_mm(c, &sys->init_mm);
  smp_stop_local_timer();
  parked.fetch_add(1, std::memory_order_release);
  for (;;) x86::halt_until_interrupt();  // cross-CPU calls are still answered
}

void stop_other_cpus() {
  const uint32_t others = arch::num_cpus() - 1;
  if (!others) return;
  stopping = true;
  arch::smp_mb();
  smp_kick_all();
  const uint64_t deadline = x86::rdtsc() + tsc_hz;  // one second
  while (parked.load(std::memory_order_acquire) < others) {
    if (x86::rdtsc() > deadline) panic("shutdown: %u of %u other CPUs stopped within a second", parked.load(), others);
    arch::cpu_relax();
  }
}

Task* alloc_task(Task* leader) {
  for (uint32_t i = 1; i < kMaxTasks; ++i) {
    Task* t = &tasks[i];
    TaskState s = t->state.load(std::memory_order_acquire);
    // An exited thread's slot is free once no CPU runs on its stack (on_cpu
    // never comes back for a dead task, so the order of the two loads is
    // enough).
    if (s == TaskState::kDead && t->on_cpu.load(std::memory_order_acquire)) continue;
    if (s != TaskState::kFree && s != TaskState::kDead) continue;
    if (!t->state.compare_exchange_strong(s, TaskState::kNew, std::memory_order_acq_rel)) continue;
    // Ours. Rebuilt in place (a Task is too big for a temporary on a kernel
    // stack); the state is kNew throughout, so no other CPU claims it.
    mm::SpinLock& pi = t->pi_lock;
    new (t) Task(TaskState::kNew);
    pi.init(&sys->counters, mm::LockClass::kPiLock);
    t->pid = next_pid.fetch_add(1, std::memory_order_relaxed);
    t->kstack_top = reinterpret_cast<uint32_t>(&kstacks[i][kKernelStackSize]);
    t->cpu.store(x86::this_cpu(), std::memory_order_relaxed);
    if (leader) {
      t->leader = leader;
      t->group = leader->group;
    } else {
      t->leader = t;
      t->group = new (&groups[i]) ThreadGroup();
      init_group_locks(*t->group);
    }
    return t;
  }
  return nullptr;
}

void free_task(Task* t) {
  MM_ASSERT(t->state.load() == TaskState::kNew);
  t->state.store(TaskState::kFree, std::memory_order_release);
}

void dequeue_task(Task* t) {
  Cpu& c = cpus[t->cpu.load(std::memory_order_relaxed)];
  mm::SpinGuard g(c.rq_lock);
  if (!t->on_rq) return;
  Task* prev = nullptr;
  for (Task* q = c.rq_head; q; prev = q, q = q->run_next) {
    if (q != t) continue;
    (prev ? prev->run_next : c.rq_head) = q->run_next;
    if (c.rq_tail == q) c.rq_tail = prev;
    c.nr_queued = c.nr_queued - 1;
    break;
  }
  t->on_rq = false;
  t->run_next = nullptr;
}

Task* task_at(uint32_t i) { return i < kMaxTasks ? &tasks[i] : nullptr; }

void task_setup_frame(Task* t, const x86::TrapFrame& frame) {
  const uint32_t sp = t->kstack_top - sizeof(x86::TrapFrame);
  memcpy(reinterpret_cast<void*>(sp), &frame, sizeof(frame));
  uint32_t* s = reinterpret_cast<uint32_t*>(sp);
  *--s = reinterpret_cast<uint32_t>(&ret_from_fork);
  for (int i = 0; i < 4; ++i) *--s = 0;  // ebp, ebx, esi, edi for switch_stacks
  t->saved_esp = reinterpret_cast<uint32_t>(s);
}

void set_current_state(TaskState s) { current->state.store(s, std::memory_order_seq_cst); }

// Linux's try_to_wake_up, for a kernel whose tasks block only in
// schedule(): under pi_lock (one waker at a time), a kBlocked task either
// still runs on its CPU, on its way into schedule(), which then sees it
// runnable and does not block (both under that CPU's rq_lock); or it has
// been switched out and is on no queue: then nobody else touches it and it
// is queued on a CPU of our choice.
bool try_to_wake_up(Task* t, bool sync) {
  mm::SpinGuard pg(t->pi_lock);
  if (t->state.load(std::memory_order_seq_cst) != TaskState::kBlocked) return false;
  for (;;) {
    const uint32_t cpu = t->cpu.load(std::memory_order_relaxed);
    Cpu& c = cpus[cpu];
    mm::SpinGuard rg(c.rq_lock);
    // The task moves only between run queues, under both locks, or when
    // it runs; recheck that it is still where we locked.
    if (t->cpu.load(std::memory_order_relaxed) != cpu) continue;
    if (t->on_cpu.load(std::memory_order_relaxed) || t->on_rq) {
      t->state.store(TaskState::kRunnable, std::memory_order_seq_cst);
      return true;
    }
    break;
  }
  t->state.store(TaskState::kRunnable, std::memory_order_seq_cst);
  activate(t, select_cpu(t, sync));
  return true;
}

void wake_up_new_task(Task* t) {
  MM_ASSERT(t->state.load() == TaskState::kNew);
  mm::SpinGuard pg(t->pi_lock);
  t->state.store(TaskState::kRunnable, std::memory_order_seq_cst);
  activate(t, select_cpu(t, false));
}

void schedule() {
  mm::lockdep::assert_none_held("calls schedule()");
  if (jiffies >= next_wake) wake_sleepers();
  Cpu& c = cpu_self();
  c.rq_lock.lock();
  Task* prev = c.curr;
  const bool prev_runs = prev != c.idle && prev->state.load(std::memory_order_seq_cst) == TaskState::kRunnable;
  Task* next = dequeue(c);
  if (!next) next = steal(c);
  if (!next) {
    if (prev_runs || prev == c.idle) {
      c.rq_lock.unlock();
      return;
    }
    next = c.idle;
  }
  if (prev_runs) enqueue(c, prev);
  context_switch(c, prev, next);
  finish_task_switch();
}

// The lock is the one schedule() (or the switch that started a new task)
// took on this CPU, for the task now running here.
void finish_task_switch() MM_NO_TSA {
  Cpu& c = cpu_self();
  Task* prev = c.prev;
  c.prev = nullptr;
  if (prev) prev->on_cpu.store(false, std::memory_order_release);
  c.rq_lock.unlock();
  // An exited thread's mm: this CPU has loaded another (context_switch),
  // so the reference can go, and with it the mm if it was the last.
  if (mm::MmStruct* mm = c.mm_drop) {
    c.mm_drop = nullptr;
    MM_ASSERT(c.loaded_mm != mm || mm->users.load() > 1);
    mm::mmput(mm);
  }
}

void drop_deferred_mm() {
  Cpu& c = cpu_self();
  mm::MmStruct* mm = c.mm_drop;
  if (!mm) return;
  c.mm_drop = nullptr;
  load_mm(c, &sys->init_mm);
  mm::mmput(mm);
}

bool need_resched() {
  const Cpu& c = cpu_self();
  if (!c.queued_hint()) return false;
  const Task* t = c.running();
  return t == c.idle || t->ticks_left == 0;
}

bool interrupted() { return current->killed.load(std::memory_order_seq_cst) || stopping; }

void local_timer_tick() {
  Cpu& c = cpu_self();
  Task* t = c.running();
  if (t == c.idle) return;
  ++c.busy_ticks;
  if (t->ticks_left) --t->ticks_left;
}

void timer_tick() {
  jiffies = jiffies + 1;
  ++kstats.timer_ticks;
  local_timer_tick();
  // Interrupts come only from ring 3 or the idle loop: this CPU holds no
  // lock here.
  if (jiffies >= next_wake && !stopping) wake_sleepers();
}

void timer_arm(Task* t, uint64_t tick) {
  mm::SpinGuard g(timer_lock);
  if (!t->on_timer.load(std::memory_order_relaxed)) sleepers.push_back(t);
  t->wake_tick = tick;
  t->on_timer.store(true, std::memory_order_seq_cst);
  if (tick < next_wake) next_wake = tick;
}

void timer_disarm(Task* t) {
  mm::SpinGuard g(timer_lock);
  if (!t->on_timer.load(std::memory_order_relaxed)) return;
  sleepers.remove(t);
  t->wake_tick = 0;
  t->on_timer.store(false, std::memory_order_relaxed);
}

bool timer_armed(const Task* t) { return t->on_timer.load(std::memory_order_seq_cst); }

void return_to_user() {
  mm::lockdep::assert_none_held("returns to user mode");
  for (;;) {
    if (stopping) park_cpu();
    if (current->killed.load(std::memory_order_relaxed)) do_exit_killed();
    if (!need_resched()) break;
    schedule();
  }
}

}  // namespace kern
