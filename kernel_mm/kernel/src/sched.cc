// Tasks, the per-CPU run queues and context switches (task.h, sched.h; the
// design is in docs/kernel.md, "Scheduling on several CPUs").
#include "kernel/sched.h"

#include <new>

#include "kernel/clock.h"
#include "kernel/console.h"
#include "kernel/klib.h"
#include "kernel/kstats.h"
#include "kernel/process.h"
#include "kernel/smp.h"
#include "kernel/system.h"
#include "mm/tlb.h"

namespace kern {

Cpu cpus[x86::kMaxCpus];
mm::SpinLock kernel_lock;
volatile bool stopping = false;
volatile uint64_t jiffies = 0;
KernelStats kstats;

namespace {

Task tasks[kMaxTasks];
alignas(16) uint8_t kstacks[kMaxTasks][kKernelStackSize];
Task* const boot_idle = &tasks[0];
Task ap_idle[x86::kMaxCpus];  // the APs' idle tasks (they run on the AP's boot stack)
int32_t next_pid = 1;
// The earliest wake_tick of a sleeping task (~0: none). kernel_lock.
volatile uint64_t next_wake = ~uint64_t{0};
volatile bool sched_running = false;
std::atomic<uint32_t> parked{0};

uint32_t cpu_index(const Cpu& c) { return static_cast<uint32_t>(&c - cpus); }

void enqueue(Cpu& c, Task* t) MM_REQ(kernel_lock) {
  if (t->on_rq || t == c.idle) return;
  t->on_rq = true;
  t->run_next = nullptr;
  t->cpu = cpu_index(c);
  if (c.rq_tail) {
    c.rq_tail->run_next = t;
  } else {
    c.rq_head = t;
  }
  c.rq_tail = t;
  c.nr_queued = c.nr_queued + 1;
}

Task* dequeue(Cpu& c) MM_REQ(kernel_lock) {
  Task* t = c.rq_head;
  if (!t) return nullptr;
  c.rq_head = t->run_next;
  if (!c.rq_head) c.rq_tail = nullptr;
  c.nr_queued = c.nr_queued - 1;
  t->on_rq = false;
  t->run_next = nullptr;
  return t;
}

bool cpu_is_idle(const Cpu& c) MM_REQ(kernel_lock) { return c.curr == c.idle && c.nr_queued == 0; }

// Where a woken task goes: the CPU it last ran on if that is idle, else any
// idle CPU, else the shortest queue (its last CPU on a tie).
uint32_t select_cpu(const Task* t) MM_REQ(kernel_lock) {
  uint32_t best = cpus[t->cpu].online ? t->cpu : 0;
  if (cpu_is_idle(cpus[best])) return best;
  const uint32_t n = arch::num_cpus();
  for (uint32_t i = 0; i < n; ++i)
    if (cpus[i].online && cpu_is_idle(cpus[i])) return i;
  for (uint32_t i = 0; i < n; ++i)
    if (cpus[i].online && cpus[i].nr_queued < cpus[best].nr_queued) best = i;
  return best;
}

// Work stealing: the head of the longest other queue.
Task* steal(const Cpu& self) MM_REQ(kernel_lock) {
  Cpu* busiest = nullptr;
  const uint32_t n = arch::num_cpus();
  for (uint32_t i = 0; i < n; ++i) {
    Cpu& c = cpus[i];
    if (&c == &self || !c.online || !c.nr_queued) continue;
    if (!busiest || c.nr_queued > busiest->nr_queued) busiest = &c;
  }
  return busiest ? dequeue(*busiest) : nullptr;
}

void wake_sleepers() MM_REQ(kernel_lock) {
  uint64_t earliest = ~uint64_t{0};
  const uint64_t now = jiffies;
  for (Task& t : tasks) {
    if (t.state != TaskState::kBlocked || !t.wake_tick) continue;
    if (t.wake_tick <= now) {
      t.wake_tick = 0;
      wake_up(&t);
    } else if (t.wake_tick < earliest) {
      earliest = t.wake_tick;
    }
  }
  next_wake = earliest;
}

// Eager TLB mode: a CPU with no task of an mm to run leaves that mm for
// init_mm, so that no CPU holds a freed PGD in CR3 (docs/kernel.md).
void load_mm(Cpu& c, mm::MmStruct* want) {
  if (want == c.loaded_mm) return;
  mm::switch_mm(c.loaded_mm, want);
  c.loaded_mm = want;
}

void context_switch(Cpu& c, Task* prev, Task* next) MM_REQ(kernel_lock) {
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
  // Both under kernel_lock, which stays held until `next` releases it on
  // its own stack: no other CPU can pick `prev` before we are off its stack.
  MM_ASSERT(!next->on_cpu);
  prev->on_cpu = false;
  next->on_cpu = true;
  next->cpu = cpu_index(c);
  c.curr = next;
  switch_stacks(&prev->saved_esp, next->saved_esp);
}

void init_idle(Task* t, uint32_t cpu) MM_REQ(kernel_lock) {
  new (t) Task();
  t->leader = t;
  t->state = TaskState::kRunnable;
  t->on_cpu = true;
  t->cpu = cpu;
  format(t->comm, sizeof(t->comm), "idle/%u", cpu);
  x86::fxsave(t->fpu);
}

// Work this CPU could take: a queued task anywhere, or a sleeper due. A
// look without kernel_lock: the idle loop takes it when there is work.
bool work_waiting() {
  const uint32_t n = arch::num_cpus();
  for (uint32_t i = 0; i < n; ++i)
    if (cpus[i].online && cpus[i].queued_hint()) return true;
  return jiffies >= next_wake;
}

[[noreturn]] void idle_loop() {
  for (;;) {
    if (stopping) park_cpu();
    if (work_waiting()) {
      lock_kernel_at_safe_point();
      schedule();
      kernel_lock.unlock();
    } else {
      // An IPI that lands between the check and here stays pending until
      // `sti; hlt`, which then returns at once.
      x86::halt_until_interrupt();
    }
  }
}

}  // namespace

void sched_init() {
  kernel_lock.init(&sys->counters, mm::LockClass::kKernelLock);
  init_idle(boot_idle, 0);
  Cpu& c = cpus[0];
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
  kernel_lock.lock();
  Cpu& c = cpus[cpu];
  init_idle(&ap_idle[cpu], cpu);
  c.idle = c.curr = &ap_idle[cpu];
  c.loaded_mm = &sys->init_mm;
  c.online = true;
  kernel_lock.unlock();
  idle_loop();  // the time-slice timer runs only while a task does (context_switch)
}

void lock_kernel_at_safe_point() {
  kernel_lock.lock_waiting([] {
    if (stopping) park_cpu();
  });
}

// Whether this CPU holds kernel_lock is known only at run time here.
void park_cpu() MM_NO_TSA {
  Cpu& c = cpu_self();
  if (kernel_lock.held_by_me()) kernel_lock.unlock();
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
  kernel_lock.unlock();
  const uint64_t deadline = x86::rdtsc() + tsc_hz;  // one second
  while (parked.load(std::memory_order_acquire) < others) {
    if (x86::rdtsc() > deadline) panic("shutdown: %u of %u other CPUs stopped within a second", parked.load(), others);
    arch::cpu_relax();
  }
  kernel_lock.lock();
}

Task* alloc_task() {
  for (uint32_t i = 1; i < kMaxTasks; ++i) {
    Task* t = &tasks[i];
    // An exited thread's slot is free once no CPU runs on its stack.
    if (t->state != TaskState::kFree && !(t->state == TaskState::kDead && !t->on_cpu)) continue;
    new (t) Task();  // in place: a Task is too big for a temporary on a kernel stack
    t->leader = t;
    t->pid = next_pid++;
    t->state = TaskState::kBlocked;  // not runnable until set up and woken
    t->kstack_top = reinterpret_cast<uint32_t>(&kstacks[i][kKernelStackSize]);
    t->cpu = x86::this_cpu();
    return t;
  }
  return nullptr;
}

Task* find_task(int32_t pid) {
  for (Task& t : tasks)
    if (t.state != TaskState::kFree && t.state != TaskState::kDead && &t != boot_idle && t.pid == pid) return &t;
  return nullptr;
}

void dequeue_task(Task* t) {
  if (!t->on_rq) return;
  Cpu& c = cpus[t->cpu];
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

void wake_up(Task* t) {
  if (t->state == TaskState::kBlocked) t->state = TaskState::kRunnable;
  // A task that runs (on this CPU or another) is never blocked: blocking
  // happens under kernel_lock, which it holds until it is switched out.
  if (t->state != TaskState::kRunnable || t->on_rq || t->on_cpu) return;
  const uint32_t target = select_cpu(t);
  const bool was_idle = cpus[target].curr == cpus[target].idle;
  enqueue(cpus[target], t);
  if (target != x86::this_cpu() && was_idle) smp_kick(target);
}

void note_sleeper(const Task* t) {
  if (t->wake_tick && t->wake_tick < next_wake) next_wake = t->wake_tick;
}

void schedule() {
  MM_ASSERT(kernel_lock.held_by_me());
  Cpu& c = cpu_self();
  Task* prev = c.curr;
  if (jiffies >= next_wake) wake_sleepers();
  const bool prev_runs = prev != c.idle && prev->state == TaskState::kRunnable;
  Task* next = dequeue(c);
  if (!next) next = steal(c);
  if (!next) {
    if (prev_runs || prev == c.idle) return;
    next = c.idle;
  }
  if (prev_runs) enqueue(c, prev);
  context_switch(c, prev, next);
}

bool need_resched() {
  const Cpu& c = cpu_self();
  if (!c.queued_hint()) return false;
  const Task* t = c.running();
  return t == c.idle || t->ticks_left == 0;
}

bool interrupted() { return current->killed || stopping; }

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
  // Interrupts come only from ring 3 or the idle loop: this CPU never holds
  // kernel_lock here. If another CPU does, the next tick (or its next
  // schedule()) wakes the sleepers instead.
  if (jiffies >= next_wake && !stopping && kernel_lock.try_lock()) {
    wake_sleepers();
    kernel_lock.unlock();
  }
}

void return_to_user(bool locked) {
  for (;;) {
    Task* t = current;
    if (!stopping && !t->killed && !need_resched()) break;
    if (!locked) {
      lock_kernel_at_safe_point();
      locked = true;
    }
    if (stopping) park_cpu();
    if (t->killed) do_exit(t->leader->group_exit_status);
    if (!need_resched()) break;
    schedule();
  }
  if (locked) kernel_lock.unlock();
}

}  // namespace kern
