// fork, clone, exit, wait4 and PID 1, each under the locks of what it
// touches (task.h; docs/kernel.md, "The kernel's locks").
//
// Lock order here: proctree_lock -> siglock -> pi_lock -> rq_lock. A new
// group's locks are taken after its parent's of the same class (fork), and
// FdTable::lock and alloc_lock are taken alone. No lock is held across a
// user copy, dup_mm, or an mmput, so forks and exits on several CPUs meet
// on the mm core's locks (pgd_lock is what mm.pgd_init is about) and on
// short critical sections here.
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
#include "mm/lockdep.h"
#include "mm/mmap.h"
#include "mm/tlb.h"

namespace kern {

mm::SpinLock proctree_lock;

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
// Every task that can be found by its pid: threads until they exit,
// leaders until they are reaped.
PidList pid_list MM_GUARDED(proctree_lock);

// Drops the exiting task's address space. The last user's mmput needs an
// mm no CPU has loaded. Eager mode: a CPU loads an mm only to run one of its
// tasks, each of which holds a reference, and a thread that exits while its
// siblings go on keeps the mm loaded until its CPU switches to the next
// task, and only then drops its reference (finish_task_switch). So a count
// of 1 here means no other CPU has the mm: this CPU leaves it and tears it
// down (exit_mmap, pgd_free) itself, outside every kernel lock. Only a
// live thread of the mm takes a reference (clone), so a 1 stays 1.
void release_mm(Task* t) {
  mm::MmStruct* mm = t->mm;
  if (!mm) return;
  t->mm = nullptr;
  Cpu& c = cpu_self();
  if (mm->users.load(std::memory_order_acquire) != 1) {
    MM_ASSERT(!c.mm_drop);
    c.mm_drop = mm;
    return;
  }
  if (c.loaded_mm == mm) {
    mm::switch_mm(mm, &sys->init_mm);
    c.loaded_mm = &sys->init_mm;
  }
  mm::mmput(mm);
}

// Called by an exiting task's last thread, which is about to give up its
// CPU: a synchronous wake-up, as Linux's __wake_up_parent.
void wake_child_waiters(ThreadGroup& g) MM_REQ(proctree_lock) {
  for (Task* w : g.child_waiters) try_to_wake_up(w, true);
}

// The group of `leader` has no thread left: its files close, its children
// go to init, and it becomes a zombie its parent can reap. Called by its
// last thread, which touches nothing of the group afterwards (the parent
// may reap it, and the slot be reused, as soon as proctree_lock drops).
void end_group(Task* leader) {
  ThreadGroup& g = *leader->group;
  fd_table_close_all(g.files);
  int32_t status;
  {
    mm::SpinGuard s(g.siglock);
    status = g.group_dead ? g.group_exit_status : g.leader_status;
  }
  if (leader == init_task) shutdown(status);
  mm::SpinGuard p(proctree_lock);
  ThreadGroup& ig = *init_task->group;
  bool orphan_zombie = false;
  while (Task* c = g.children.pop_front()) {
    c->group->parent = init_task;
    ig.children.push_back(c);
    orphan_zombie |= c->group->exited;
  }
  g.exit_status = status;
  g.exited = true;
  if (orphan_zombie) wake_child_waiters(ig);
  if (g.parent) wake_child_waiters(*g.parent->group);
}

// Tells thread `t` to end: it exits itself at its next return to ring 3
// (return_to_user), so its own CPU tears down what it uses. A blocked
// thread is woken (its blocking call returns -EINTR); one running on
// another CPU is sent there by an IPI.
void kill_thread(Task* t) {
  if (t->killed.exchange(true, std::memory_order_seq_cst)) return;
  if (!try_to_wake_up(t) && t->on_cpu.load(std::memory_order_relaxed)) smp_kick(t->cpu.load());
}

// Every other thread of the group is told to end.
void kill_other_threads(ThreadGroup& g) MM_REQ(g.siglock) {
  for (Task* t : g.threads)
    if (t != current) kill_thread(t);
}

constexpr uint32_t kCloneVm = 0x100, kCloneFs = 0x200, kCloneFiles = 0x400, kCloneSighand = 0x800, kCloneVfork = 0x4000,
                   kCloneThread = 0x10000, kCloneSettls = 0x80000, kCloneParentSettid = 0x100000,
                   kCloneChildCleartid = 0x200000, kCloneChildSettid = 0x01000000;
constexpr uint32_t kCloneThreadSet = kCloneVm | kCloneFs | kCloneFiles | kCloneSighand | kCloneThread;

// What fork and a new thread both take from the caller: registers (eax 0
// in the child), FPU, TLS, signal mask, name, and the child's tid words.
void copy_thread_state(Task* child, x86::TrapFrame* frame, uint32_t flags, uint32_t child_tid, uint32_t newsp) {
  Task* parent = current;
  memcpy(child->comm, parent->comm, sizeof(child->comm));
  child->sigmask = parent->sigmask;
  memcpy(child->tls, parent->tls, sizeof(child->tls));
  x86::fxsave(parent->fpu);  // the live registers are the parent's
  memcpy(child->fpu, parent->fpu, sizeof(child->fpu));
  if (flags & kCloneChildSettid) child->set_child_tid = child_tid;
  if (flags & kCloneChildCleartid) child->clear_child_tid = child_tid;
  x86::TrapFrame f = *frame;
  f.eax = 0;
  if (newsp) f.user_esp = newsp;
  task_setup_frame(child, f);
}

// CLONE_PARENT_SETTID, once the child exists (Linux ignores a fault here).
void parent_settid(uint32_t flags, uint32_t parent_tid, const Task* child) {
  if (!(flags & kCloneParentSettid)) return;
  const int32_t tid = child->pid;
  (void)copy_to_user(parent_tid, &tid, sizeof(tid));
}

// The one thread of a new group, before anyone else can see the group.
void first_thread(ThreadGroup& g, Task* t) {
  mm::SpinGuard s(g.siglock);
  g.threads.push_back(t);
  g.nr_threads = 1;
}

// A new process's share of its parent's: heap bounds, working directory,
// signal handlers, files. The child's group is not visible yet; its locks
// are taken all the same (after the parent's: one order for the class).
void copy_group(ThreadGroup& child, ThreadGroup& parent) {
  {
    mm::SpinGuard a(parent.alloc_lock);
    mm::SpinGuard b(child.alloc_lock);
    child.brk_start = parent.brk_start;
    child.brk = parent.brk;
    memcpy(child.cwd, parent.cwd, sizeof(child.cwd));
  }
  {
    mm::SpinGuard a(parent.siglock);
    mm::SpinGuard b(child.siglock);
    memcpy(child.sigactions, parent.sigactions, sizeof(child.sigactions));
  }
  fd_table_copy(child.files, parent.files);
}

// A new thread in the caller's group: the same mm, the group's shared
// state, its own stack and TLS.
int32_t clone_thread(x86::TrapFrame* frame, uint32_t flags, uint32_t newsp, uint32_t parent_tid, uint32_t tls,
                     uint32_t child_tid) {
  Task* self = current;
  ThreadGroup& g = *self->group;
  // A thread told to end makes no new one (checked again below, where it counts).
  if (self->killed.load()) return -EINTR;
  uint64_t tls_slots[x86::kTlsEntries];
  memcpy(tls_slots, self->tls, sizeof(tls_slots));
  if (flags & kCloneSettls)
    if (const int32_t r = tls_from_user(tls_slots, tls)) return r;
  Task* th = alloc_task(self->leader);
  if (!th) return -EAGAIN;
  th->mm = self->mm;
  mm::mmget(th->mm);
  copy_thread_state(th, frame, flags, child_tid, newsp);
  memcpy(th->tls, tls_slots, sizeof(tls_slots));
  // The new thread joins the group under siglock, where exit_group and
  // exec's de_thread kill the group's threads: it either joins before the
  // kill (and is killed with the rest) or sees it and is not made.
  int32_t err = 0;
  {
    mm::SpinGuard p(proctree_lock);
    mm::SpinGuard s(g.siglock);
    if (g.group_dead) {
      err = -EAGAIN;
    } else if (self->killed.load()) {
      err = -EINTR;
    } else {
      g.threads.push_back(th);
      ++g.nr_threads;
      pid_list.push_back(th);
    }
  }
  if (err) {
    mm::mmput(th->mm);  // never the last: the caller holds one
    th->mm = nullptr;
    free_task(th);
    return err;
  }
  parent_settid(flags, parent_tid, th);
  ++kstats.threads;
  wake_up_new_task(th);
  return th->pid;
}

}  // namespace

void init_group_locks(ThreadGroup& g) {
  g.siglock.init(&sys->counters, mm::LockClass::kSiglock);
  g.alloc_lock.init(&sys->counters, mm::LockClass::kAllocLock);
  g.files.lock.init(&sys->counters, mm::LockClass::kFileLock);
}

void init_kernel_locks() {
  proctree_lock.init(&sys->counters, mm::LockClass::kProcTree);
  futex_init_locks();
  fs_init_locks();
  console_init_locks();
}

extern "C" void fork_child_tail(x86::TrapFrame* frame) {
  finish_task_switch();  // the switch that brought this new task here
  Task* t = current;
  if (t == init_task && !t->mm) {
    const int32_t r = exec_kernel(frame, init_args.path, init_args.argv, static_cast<uint32_t>(init_args.argc),
                                  init_args.envp, static_cast<uint32_t>(init_args.envc));
    if (r) panic("cannot run init %s: error %d", init_args.path, -r);
    sys->pages.set_fail_policy(init_args.fail);
    return_to_user();
    return;
  }
  if (t->set_child_tid) {
    const int32_t tid = t->pid;
    (void)copy_to_user(t->set_child_tid, &tid, sizeof(tid));  // Linux ignores a fault here too
    t->set_child_tid = 0;
  }
  return_to_user();
}

bool start_init(const char* path, const char* const* argv, int argc, const char* const* envp, int envc,
                const mm::FailPolicy& fail) {
  Task* t = alloc_task(nullptr);
  if (!t) return false;
  init_task = t;
  init_args = InitArgs{path, argv, argc, envp, envc, fail};
  ThreadGroup& g = *t->group;
  {
    mm::SpinGuard f(g.files.lock);
    fd_table_init_console(g.files);
  }
  first_thread(g, t);
  {
    mm::SpinGuard p(proctree_lock);
    pid_list.push_back(t);
  }
  kstrlcpy(t->comm, "init", sizeof(t->comm));
  x86::fxsave(t->fpu);
  x86::TrapFrame f{};
  f.cs = x86::kUserCs;
  f.ds = f.es = x86::kUserDs;
  f.user_ss = x86::kUserDs;
  f.eflags = 0x202;
  task_setup_frame(t, f);
  wake_up_new_task(t);
  return true;
}

bool is_init(const Task* t) { return t->leader == init_task; }

Task* find_task(int32_t pid) {
  for (Task* t : pid_list)
    if (t->pid == pid) return t;
  return nullptr;
}

int32_t parent_pid() {
  ThreadGroup& g = *current->group;
  mm::SpinGuard p(proctree_lock);
  return g.parent ? g.parent->pid : 0;
}

int32_t do_fork(x86::TrapFrame* frame, uint32_t clone_flags, uint32_t parent_tid, uint32_t child_tid) {
  Task* self = current;
  ThreadGroup& pg = *self->group;
  Task* child = alloc_task(nullptr);  // kNew: nobody else looks at it
  if (!child) return -EAGAIN;
  mm::MmStruct* mm = mm::dup_mm(self->mm);
  if (!mm) {
    free_task(child);
    return -ENOMEM;
  }
  mm::mm_publish(mm);
  child->mm = mm;
  ThreadGroup& cg = *child->group;
  copy_group(cg, pg);
  first_thread(cg, child);
  copy_thread_state(child, frame, clone_flags, child_tid, 0);
  {
    mm::SpinGuard p(proctree_lock);
    cg.parent = self->leader;
    pg.children.push_back(child);
    pid_list.push_back(child);
  }
  parent_settid(clone_flags, parent_tid, child);
  ++kstats.forks;
  wake_up_new_task(child);
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
  mm::lockdep::assert_none_held("exits");
  Task* t = current;
  Task* leader = t->leader;
  ThreadGroup& g = *t->group;
  if (t->clear_child_tid) {
    // Linux's mm_release: the tid word is cleared and one waiter woken
    // (pthread_join sleeps on it).
    const int32_t zero = 0;
    if (!copy_to_user(t->clear_child_tid, &zero, sizeof(zero))) futex_wake(t->clear_child_tid, 1, ~0u);
  }
  release_mm(t);
  ++kstats.exits;
  if (t != leader) {
    mm::SpinGuard p(proctree_lock);
    pid_list.remove(t);
  }
  bool last;
  {
    mm::SpinGuard s(g.siglock);
    g.threads.remove(t);
    last = --g.nr_threads == 0;
    if (t == leader) g.leader_status = wait_status;
    if (g.nr_threads == 1 && g.exec_waiter) try_to_wake_up(g.exec_waiter);
    // A leader stays a zombie until its parent reaps it; a thread's slot
    // is free once its CPU is off its stack.
    t->state.store(t == leader ? TaskState::kZombie : TaskState::kDead, std::memory_order_seq_cst);
  }
  if (last) end_group(leader);
  schedule();
  panic("pid %d ran after exit", t->pid);
}

void do_exit_killed() {
  ThreadGroup& g = *current->group;
  int32_t status;
  {
    mm::SpinGuard s(g.siglock);
    status = g.group_exit_status;
  }
  do_exit(status);
}

void do_group_exit(int32_t wait_status) {
  ThreadGroup& g = *current->group;
  {
    mm::SpinGuard s(g.siglock);
    if (!g.group_dead) {
      g.group_dead = true;
      g.group_exit_status = wait_status;
    }
    kill_other_threads(g);
  }
  do_exit(wait_status);
}

int32_t de_thread() {
  Task* self = current;
  MM_ASSERT(self->leader == self);
  ThreadGroup& g = *self->group;
  int32_t r = 0;
  g.siglock.lock();
  kill_other_threads(g);
  while (g.nr_threads > 1) {
    if (interrupted()) {
      r = -EINTR;
      break;
    }
    // The exiting threads count down under siglock and wake exec_waiter at 1.
    g.exec_waiter = self;
    set_current_state(TaskState::kBlocked);
    g.siglock.unlock();
    schedule();
    g.siglock.lock();
  }
  g.exec_waiter = nullptr;
  g.siglock.unlock();
  return r;
}

int32_t do_wait4(int32_t pid, uint32_t status_ptr, uint32_t options, uint32_t rusage_ptr) {
  constexpr uint32_t kWnohang = 1, kKnown = 1 | 2 | 4 | 8 | 0x01000000 | 0x20000000 | 0x40000000 | 0x80000000u;
  if (options & ~kKnown) return -EINVAL;
  Task* self = current;
  ThreadGroup& g = *self->group;  // any thread waits for the group's children
  int32_t result;
  int32_t status = 0;
  proctree_lock.lock();
  for (;;) {
    bool have_child = false;
    Task* zombie = nullptr;
    for (Task* c : g.children) {
      if (pid > 0 && c->pid != pid) continue;
      have_child = true;
      if (c->group->exited) {
        zombie = c;
        break;
      }
    }
    if (zombie) {
      // Reaped: off the tree and the pid list, then its slot is free (once
      // its last CPU is off its stack, which alloc_task checks).
      g.children.remove(zombie);
      pid_list.remove(zombie);
      result = zombie->pid;
      status = zombie->group->exit_status;
      zombie->state.store(TaskState::kDead, std::memory_order_release);
      break;
    }
    if (!have_child) {
      result = -ECHILD;
      break;
    }
    if (options & kWnohang) {
      result = 0;
      break;
    }
    // Blocked first, then the kill flag: a killer sets the flag, then wakes.
    g.child_waiters.push_back(self);
    set_current_state(TaskState::kBlocked);
    if (interrupted()) {
      g.child_waiters.remove(self);
      set_current_state(TaskState::kRunnable);
      result = -EINTR;
      break;
    }
    proctree_lock.unlock();
    schedule();
    proctree_lock.lock();
    g.child_waiters.remove(self);
  }
  proctree_lock.unlock();
  if (result <= 0) return result;
  // As Linux: the child is reaped whether or not its status reaches the caller.
  if (status_ptr && copy_to_user(status_ptr, &status, sizeof(status))) return -EFAULT;
  if (rusage_ptr && clear_user(rusage_ptr, 72)) return -EFAULT;  // struct rusage (i386)
  return result;
}

// Kills every task left (their mms are torn down through the core), so the
// leak check sees a quiescent system. Every other CPU is parked and holds
// no lock; the locks are taken all the same where the analysis wants them.
uint32_t reap_all() {
  drop_deferred_mm();
  uint32_t killed = 0;
  for (uint32_t i = 1; i < kMaxTasks; ++i) {
    Task* c = task_at(i);
    const TaskState s = c->state.load();
    if (s == TaskState::kFree || c == current) continue;
    dequeue_task(c);
    if (s == TaskState::kRunnable || s == TaskState::kBlocked) {
      ++killed;
      if (mm::MmStruct* mm = c->mm) {
        c->mm = nullptr;
        mm::mmput(mm);  // no other CPU has it loaded: they parked on init_mm
      }
    }
    // A group's files close once, with its leader (a zombie leader whose
    // threads still ran has them open).
    if (c->leader == c && s != TaskState::kDead) fd_table_close_all(c->group->files);
    c->state.store(TaskState::kFree);
  }
  return killed;
}

}  // namespace kern
