// Tasks, the run queue and context switches (uniprocessor).
#include <new>

#include "kernel/console.h"
#include "kernel/klib.h"
#include "kernel/task.h"
#include "mm/tlb.h"

namespace kern {

Task* current = nullptr;
mm::MmStruct* active_mm = nullptr;
volatile uint64_t jiffies = 0;
KernelStats kstats;

namespace {

Task tasks[kMaxTasks];
alignas(16) uint8_t kstacks[kMaxTasks][kKernelStackSize];
Task* const idle_task = &tasks[0];
Task* rq_head = nullptr;
Task* rq_tail = nullptr;
int32_t next_pid = 1;

void enqueue(Task* t) {
  if (t->on_rq || t == idle_task) return;
  t->on_rq = true;
  t->run_next = nullptr;
  if (rq_tail) {
    rq_tail->run_next = t;
  } else {
    rq_head = t;
  }
  rq_tail = t;
}

Task* dequeue() {
  Task* t = rq_head;
  if (!t) return nullptr;
  rq_head = t->run_next;
  if (!rq_head) rq_tail = nullptr;
  t->on_rq = false;
  t->run_next = nullptr;
  return t;
}

void context_switch(Task* prev, Task* next) {
  ++kstats.context_switches;
  if (next->mm && next->mm != active_mm) {
    mm::switch_mm(active_mm, next->mm);
    active_mm = next->mm;
  }
  x86::fxsave(prev->fpu);
  x86::fxrstor(next->fpu);
  x86::load_tls(next->tls);
  if (next->kstack_top) x86::set_kernel_stack(next->kstack_top);
  next->ticks_left = kTimeSliceTicks;
  current = next;
  switch_stacks(&prev->saved_esp, next->saved_esp);
}

}  // namespace

void sched_init() {
  new (idle_task) Task();
  idle_task->leader = idle_task;
  idle_task->state = TaskState::kRunnable;
  kstrlcpy(idle_task->comm, "idle", sizeof(idle_task->comm));
  x86::fxsave(idle_task->fpu);
  current = idle_task;
}

Task* alloc_task() {
  for (uint32_t i = 1; i < kMaxTasks; ++i) {
    Task* t = &tasks[i];
    // An exited thread's slot is free once it no longer runs on its stack.
    if (t->state != TaskState::kFree && !(t->state == TaskState::kDead && t != current)) continue;
    new (t) Task();  // in place: a Task is too big for a temporary on a kernel stack
    t->leader = t;
    t->pid = next_pid++;
    t->state = TaskState::kBlocked;  // not runnable until set up and woken
    t->kstack_top = reinterpret_cast<uint32_t>(&kstacks[i][kKernelStackSize]);
    return t;
  }
  return nullptr;
}

Task* find_task(int32_t pid) {
  for (Task& t : tasks)
    if (t.state != TaskState::kFree && t.state != TaskState::kDead && &t != idle_task && t.pid == pid) return &t;
  return nullptr;
}

void dequeue_task(Task* t) {
  if (!t->on_rq) return;
  Task* prev = nullptr;
  for (Task* q = rq_head; q; prev = q, q = q->run_next) {
    if (q != t) continue;
    (prev ? prev->run_next : rq_head) = q->run_next;
    if (rq_tail == q) rq_tail = prev;
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
  if (t->state == TaskState::kRunnable && t != current) enqueue(t);
}

void schedule() {
  Task* prev = current;
  if (prev != idle_task && prev->state == TaskState::kRunnable) enqueue(prev);
  Task* next = dequeue();
  if (!next) next = idle_task;
  if (next == prev) return;
  context_switch(prev, next);
}

bool need_resched() {
  if (!rq_head) return false;
  return current == idle_task || current->ticks_left == 0;
}

void timer_tick(const x86::TrapFrame*) {
  jiffies = jiffies + 1;
  ++kstats.timer_ticks;
  for (Task& t : tasks) {
    if (t.state == TaskState::kBlocked && t.wake_tick && t.wake_tick <= jiffies) {
      t.wake_tick = 0;
      wake_up(&t);
    }
  }
  if (current != idle_task && current->ticks_left) --current->ticks_left;
}

void idle_loop() {
  for (;;) {
    if (rq_head) {
      schedule();
    } else {
      x86::halt_until_interrupt();
    }
  }
}

}  // namespace kern
