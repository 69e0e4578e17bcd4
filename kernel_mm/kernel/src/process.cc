// fork, exit, wait4 and PID 1.
#include "kernel/process.h"

#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/futex.h"
#include "kernel/klib.h"
#include "kernel/kstats.h"
#include "kernel/sched.h"
#include "kernel/smp.h"
#include "kernel/system.h"
#include "kernel/uaccess.h"
#include "mm/mmap.h"
#include "mm/tlb.h"

namespace kern {
namespace {

// PID 1's program and arguments, exec'd on its first run (fork_child_tail).
struct InitArgs {
  const char* path;
  const char* const* argv;
  int argc;
  const char* const* envp;
  int envc;
  mm::FailPolicy fail;
};
InitArgs init_args{};  // value-initialized: constant, no static constructor
Task* init_task = nullptr;

// Drops the task's address space. The last user's mmput needs an mm no
// CPU has loaded: this CPU leaves it first, and no other CPU has it (a CPU
// loads an mm only to run one of its tasks: eager mode). A thread whose
// siblings go on using the mm leaves it loaded (no CR3 switch until the
// next task). The last mmput (exit_mmap, pgd_free) runs without
// kernel_lock, so that exits on several CPUs meet only on the mm core's
// locks (pgd_lock is what mm.pgd_init is about). Users change only under
// kernel_lock, so a count of 1 here stays 1.
void release_mm(Task* t) MM_REQ(kernel_lock) {
  mm::MmStruct* mm = t->mm;
  if (!mm) return;
  t->mm = nullptr;
  if (mm->users.load(std::memory_order_acquire) != 1) {
    mm::mmput(mm);
    return;
  }
  Cpu& c = cpu_self();
  if (c.loaded_mm == mm) {
    mm::switch_mm(mm, &sys->init_mm);
    c.loaded_mm = &sys->init_mm;
  }
  kernel_lock.unlock();
  mm::mmput(mm);
  kernel_lock.lock();
}

}  // namespace

extern "C" void fork_child_tail(x86::TrapFrame* frame) {
  kernel_lock.debug_assert_held();  // schedule() switched here holding it
  Task* t = current;
  if (t == init_task && !t->mm) {
    const int32_t r = exec_image(frame, init_args.path, init_args.argv, static_cast<uint32_t>(init_args.argc),
                                 init_args.envp, static_cast<uint32_t>(init_args.envc));
    if (r) panic("cannot run init %s: error %d", init_args.path, -r);
    sys->pages.set_fail_policy(init_args.fail);
    return_to_user_locked();
    return;
  }
  if (t->set_child_tid) {
    const int32_t tid = t->pid;
    (void)copy_to_user(t->set_child_tid, &tid, sizeof(tid));  // Linux ignores a fault here too
    t->set_child_tid = 0;
  }
  return_to_user_locked();
}

bool start_init(const char* path, const char* const* argv, int argc, const char* const* envp, int envc,
                const mm::FailPolicy& fail) {
  Task* t = alloc_task();
  if (!t) return false;
  init_task = t;
  init_args = InitArgs{path, argv, argc, envp, envc, fail};
  fd_table_init_console(t->files);
  kstrlcpy(t->comm, "init", sizeof(t->comm));
  x86::fxsave(t->fpu);
  x86::TrapFrame f{};
  f.cs = x86::kUserCs;
  f.ds = f.es = x86::kUserDs;
  f.user_ss = x86::kUserDs;
  f.eflags = 0x202;
  task_setup_frame(t, f);
  wake_up(t);
  return true;
}

namespace {

constexpr uint32_t kCloneVm = 0x100, kCloneFs = 0x200, kCloneFiles = 0x400, kCloneSighand = 0x800, kCloneVfork = 0x4000,
                   kCloneThread = 0x10000, kCloneSettls = 0x80000, kCloneParentSettid = 0x100000,
                   kCloneChildCleartid = 0x200000, kCloneChildSettid = 0x01000000;
constexpr uint32_t kCloneThreadSet = kCloneVm | kCloneFs | kCloneFiles | kCloneSighand | kCloneThread;

// What fork and a new thread both take from the caller: registers (eax 0
// in the child), FPU, TLS, signal mask, name, and the tid words.
void copy_thread_state(Task* child, x86::TrapFrame* frame, uint32_t flags, uint32_t parent_tid, uint32_t child_tid,
                       uint32_t newsp) MM_REQ(kernel_lock) {
  Task* parent = current;
  memcpy(child->comm, parent->comm, sizeof(child->comm));
  child->sigmask = parent->sigmask;
  memcpy(child->tls, parent->tls, sizeof(child->tls));
  x86::fxsave(parent->fpu);  // the live registers are the parent's
  memcpy(child->fpu, parent->fpu, sizeof(child->fpu));
  if (flags & kCloneChildSettid) child->set_child_tid = child_tid;
  if (flags & kCloneChildCleartid) child->clear_child_tid = child_tid;
  if (flags & kCloneParentSettid) {
    const int32_t tid = child->pid;
    (void)copy_to_user(parent_tid, &tid, sizeof(tid));
  }
  x86::TrapFrame f = *frame;
  f.eax = 0;
  if (newsp) f.user_esp = newsp;
  task_setup_frame(child, f);
}

// A new thread in the caller's group: the same mm, the leader's shared
// state, its own stack and TLS.
int32_t clone_thread(x86::TrapFrame* frame, uint32_t flags, uint32_t newsp, uint32_t parent_tid, uint32_t tls,
                     uint32_t child_tid) MM_REQ(kernel_lock) {
  Task* leader = current->leader;
  if (leader->group_dead) return -EAGAIN;
  // A thread told to end (exit_group, exec's de_thread) makes no new one:
  // the new thread would have missed the kill (both run under kernel_lock).
  if (current->killed) return -EINTR;
  uint64_t tls_slots[x86::kTlsEntries];
  memcpy(tls_slots, current->tls, sizeof(tls_slots));
  if (flags & kCloneSettls)
    if (const int32_t r = tls_from_user(tls_slots, tls)) return r;
  Task* th = alloc_task();
  if (!th) return -EAGAIN;
  th->leader = leader;
  th->parent = leader->parent;
  ++leader->nr_threads;
  th->mm = current->mm;
  mm::mmget(th->mm);
  copy_thread_state(th, frame, flags, parent_tid, child_tid, newsp);
  memcpy(th->tls, tls_slots, sizeof(tls_slots));
  ++kstats.threads;
  wake_up(th);
  return th->pid;
}

// Wakes the tasks of group `leader` waiting in wait4.
void wake_waiters(Task* leader) MM_REQ(kernel_lock) {
  for (uint32_t i = 1; i < kMaxTasks; ++i) {
    Task* w = task_at(i);
    if (w->leader == leader && w->waiting_child && w->state == TaskState::kBlocked) wake_up(w);
  }
}

// The group of `leader` has no thread left: its files close, it becomes a
// zombie its parent can reap, its children go to init.
void end_group(Task* leader) MM_REQ(kernel_lock) {
  fd_table_close_all(leader->files);
  if (leader->group_dead) leader->exit_status = leader->group_exit_status;
  leader->state = TaskState::kZombie;
  if (leader == init_task) shutdown(leader->exit_status);
  bool orphan_zombie = false;
  for (uint32_t i = 1; i < kMaxTasks; ++i) {
    Task* c = task_at(i);
    if (c->state == TaskState::kFree || c->state == TaskState::kDead || c->parent != leader || c->leader != c) continue;
    c->parent = init_task;
    orphan_zombie |= c->state == TaskState::kZombie;
  }
  if (orphan_zombie) wake_waiters(init_task);
  if (leader->parent) wake_waiters(leader->parent);
}

// Tells thread `t` to end: it exits itself at its next return to ring 3
// (return_to_user), so its own CPU tears down what it uses. A blocked
// thread is woken (its blocking call returns -EINTR); one running on
// another CPU is sent there by an IPI.
void kill_thread(Task* t) MM_REQ(kernel_lock) {
  if (t->killed) return;
  t->killed = true;
  if (t->state == TaskState::kBlocked) {
    t->waiting_child = false;
    t->futex_object = nullptr;
    t->wake_tick = 0;
    wake_up(t);
  } else if (t->on_cpu) {
    smp_kick(t->cpu);
  }
}

}  // namespace

bool is_init(const Task* t) { return t->leader == init_task; }

int32_t do_fork(x86::TrapFrame* frame, uint32_t clone_flags, uint32_t parent_tid, uint32_t child_tid) {
  Task* parent = current->leader;
  Task* child = alloc_task();  // reserved: blocked, no parent, so nobody else looks at it
  if (!child) return -EAGAIN;
  // dup_mm (pgd_alloc, copy_page_range) without kernel_lock: forks on
  // several CPUs meet only on the mm core's locks.
  kernel_lock.unlock();
  mm::MmStruct* mm = mm::dup_mm(current->mm);
  kernel_lock.lock();
  if (!mm) {
    child->state = TaskState::kFree;
    return -ENOMEM;
  }
  mm::mm_publish(mm);
  child->mm = mm;
  child->parent = parent;
  child->brk_start = parent->brk_start;
  child->brk = parent->brk;
  memcpy(child->cwd, parent->cwd, sizeof(child->cwd));
  fd_table_copy(child->files, parent->files);
  memcpy(child->sigactions, parent->sigactions, sizeof(child->sigactions));
  copy_thread_state(child, frame, clone_flags, parent_tid, child_tid, 0);
  ++kstats.forks;
  wake_up(child);
  return child->pid;
}

int32_t do_clone(x86::TrapFrame* frame, uint32_t flags, uint32_t newsp, uint32_t parent_tid, uint32_t tls,
                 uint32_t child_tid) {
  const uint32_t shared = flags & (kCloneThreadSet | kCloneVfork);
  if (shared == kCloneThreadSet) return clone_thread(frame, flags, newsp, parent_tid, tls, child_tid);
  if (shared) return -EINVAL;  // vfork-style or partial sharing: not supported (docs/kernel.md)
  if (newsp) return -EINVAL;   // a forked child on a new stack: nothing uses it
  return do_fork(frame, flags, parent_tid, child_tid);
}

void do_exit(int32_t wait_status) {
  Task* t = current;
  Task* leader = t->leader;
  if (t->clear_child_tid) {
    // Linux's mm_release: the tid word is cleared and one waiter woken
    // (pthread_join sleeps on it).
    const int32_t zero = 0;
    if (!copy_to_user(t->clear_child_tid, &zero, sizeof(zero))) futex_wake(t->clear_child_tid, 1, ~0u);
  }
  release_mm(t);
  ++kstats.exits;
  if (t == leader) t->exit_status = wait_status;
  t->state = t == leader ? TaskState::kZombie : TaskState::kDead;
  if (--leader->nr_threads == 0) end_group(leader);
  if (leader->nr_threads == 1 && leader->de_thread_waiting) wake_up(leader);
  schedule();
  panic("pid %d ran after exit", t->pid);
}

void do_group_exit(int32_t wait_status) {
  Task* leader = current->leader;
  if (!leader->group_dead) {
    leader->group_dead = true;
    leader->group_exit_status = wait_status;
  }
  kill_other_threads();
  do_exit(wait_status);
}

void kill_other_threads() {
  Task* leader = current->leader;
  for (uint32_t i = 1; i < kMaxTasks; ++i) {
    Task* t = task_at(i);
    if (t == current || t->leader != leader) continue;
    if (t->state == TaskState::kRunnable || t->state == TaskState::kBlocked) kill_thread(t);
  }
}

int32_t de_thread() {
  Task* self = current;
  MM_ASSERT(self->leader == self);
  kill_other_threads();
  while (self->nr_threads > 1) {
    if (interrupted()) return -EINTR;
    self->de_thread_waiting = true;
    self->state = TaskState::kBlocked;
    schedule();
    self->de_thread_waiting = false;
  }
  return 0;
}

int32_t do_wait4(int32_t pid, uint32_t status_ptr, uint32_t options, uint32_t rusage_ptr) {
  constexpr uint32_t kWnohang = 1, kKnown = 1 | 2 | 4 | 8 | 0x01000000 | 0x20000000 | 0x40000000 | 0x80000000u;
  if (options & ~kKnown) return -EINVAL;
  Task* self = current->leader;  // any thread waits for the group's children
  for (;;) {
    bool have_child = false;
    for (uint32_t i = 1; i < kMaxTasks; ++i) {
      Task* c = task_at(i);
      if (c->state == TaskState::kFree || c->state == TaskState::kDead || c->parent != self || c->leader != c) continue;
      if (pid > 0 && c->pid != pid) continue;
      have_child = true;
      if (c->state != TaskState::kZombie || c->nr_threads) continue;  // a group is over with its last thread
      const int32_t cpid = c->pid;
      const int32_t st = c->exit_status;
      if (status_ptr && copy_to_user(status_ptr, &st, sizeof(st))) return -EFAULT;
      if (rusage_ptr && clear_user(rusage_ptr, 72)) return -EFAULT;  // struct rusage (i386)
      c->state = TaskState::kFree;
      return cpid;
    }
    if (!have_child) return -ECHILD;
    if (options & kWnohang) return 0;
    if (interrupted()) return -EINTR;
    current->waiting_child = true;
    current->state = TaskState::kBlocked;
    schedule();
    current->waiting_child = false;
  }
}

// Kills every task left (their mms are torn down through the core), so the
// leak check sees a quiescent system.
uint32_t reap_all() {
  uint32_t killed = 0;
  for (uint32_t i = 1; i < kMaxTasks; ++i) {
    Task* c = task_at(i);
    if (c->state == TaskState::kFree || c == current) continue;
    dequeue_task(c);
    if (c->state == TaskState::kRunnable || c->state == TaskState::kBlocked) {
      ++killed;
      release_mm(c);
    }
    // A group's files close once, with its leader (a zombie leader whose
    // threads still ran has them open).
    if (c->leader == c && c->state != TaskState::kDead) fd_table_close_all(c->files);
    c->state = TaskState::kFree;
  }
  return killed;
}

}  // namespace kern
