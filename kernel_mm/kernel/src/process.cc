// fork, exit, wait4 and PID 1.
#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/klib.h"
#include "kernel/task.h"
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
};
InitArgs init_args;
Task* init_task = nullptr;

// Drops the task's address space; the CPU leaves it first (mmput needs
// an mm that no CPU has loaded).
void release_mm(Task* t) {
  mm::MmStruct* mm = t->mm;
  if (!mm) return;
  t->mm = nullptr;
  if (active_mm == mm) {
    mm::switch_mm(mm, &sys->init_mm);
    active_mm = &sys->init_mm;
  }
  mm::mmput(mm);
}

}  // namespace

extern "C" void fork_child_tail(x86::TrapFrame* frame) {
  Task* t = current;
  if (t == init_task && !t->mm) {
    const int32_t r = exec_image(frame, init_args.path, init_args.argv, static_cast<uint32_t>(init_args.argc),
                                 init_args.envp, static_cast<uint32_t>(init_args.envc));
    if (r) panic("cannot run init %s: error %d", init_args.path, -r);
    return;
  }
  if (t->set_child_tid) {
    const int32_t tid = t->pid;
    (void)copy_to_user(t->set_child_tid, &tid, sizeof(tid));  // Linux ignores a fault here too
    t->set_child_tid = 0;
  }
}

bool start_init(const char* path, const char* const* argv, int argc, const char* const* envp, int envc) {
  Task* t = alloc_task();
  if (!t) return false;
  init_task = t;
  init_args = InitArgs{path, argv, argc, envp, envc};
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

int32_t do_fork(x86::TrapFrame* frame, uint32_t clone_flags, uint32_t parent_tid, uint32_t child_tid) {
  Task* parent = current;
  Task* child = alloc_task();
  if (!child) return -EAGAIN;
  mm::MmStruct* mm = mm::dup_mm(parent->mm);
  if (!mm) {
    child->state = TaskState::kFree;
    return -ENOMEM;
  }
  mm::mm_publish(mm);
  child->mm = mm;
  child->parent = parent;
  child->brk_start = parent->brk_start;
  child->brk = parent->brk;
  memcpy(child->comm, parent->comm, sizeof(child->comm));
  memcpy(child->cwd, parent->cwd, sizeof(child->cwd));
  fd_table_copy(child->files, parent->files);
  memcpy(child->sigactions, parent->sigactions, sizeof(child->sigactions));
  child->sigmask = parent->sigmask;
  memcpy(child->tls, parent->tls, sizeof(child->tls));
  x86::fxsave(parent->fpu);  // the live registers are the parent's
  memcpy(child->fpu, parent->fpu, sizeof(child->fpu));
  constexpr uint32_t kCloneParentSettid = 0x00100000, kCloneChildCleartid = 0x00200000, kCloneChildSettid = 0x01000000;
  if (clone_flags & kCloneChildSettid) child->set_child_tid = child_tid;
  if (clone_flags & kCloneChildCleartid) child->clear_child_tid = child_tid;
  if (clone_flags & kCloneParentSettid) {
    const int32_t tid = child->pid;
    (void)copy_to_user(parent_tid, &tid, sizeof(tid));
  }
  x86::TrapFrame f = *frame;
  f.eax = 0;
  task_setup_frame(child, f);
  ++kstats.forks;
  wake_up(child);
  return child->pid;
}

void do_exit(int32_t wait_status) {
  Task* t = current;
  if (t->clear_child_tid) {
    const int32_t zero = 0;
    (void)copy_to_user(t->clear_child_tid, &zero, sizeof(zero));
  }
  fd_table_close_all(t->files);
  release_mm(t);
  ++kstats.exits;
  t->exit_status = wait_status;
  t->state = TaskState::kZombie;
  if (t == init_task) shutdown(wait_status);
  // Orphans go to init, which reaps them.
  bool orphan_zombie = false;
  for (uint32_t i = 1; i < kMaxTasks; ++i) {
    Task* c = task_at(i);
    if (c->state == TaskState::kFree || c->parent != t) continue;
    c->parent = init_task;
    orphan_zombie |= c->state == TaskState::kZombie;
  }
  if (orphan_zombie && init_task->waiting_child) wake_up(init_task);
  if (t->parent && t->parent->waiting_child) wake_up(t->parent);
  schedule();
  panic("pid %d ran after exit", t->pid);
}

int32_t do_wait4(int32_t pid, uint32_t status_ptr, uint32_t options, uint32_t rusage_ptr) {
  constexpr uint32_t kWnohang = 1, kKnown = 1 | 2 | 4 | 8 | 0x01000000 | 0x20000000 | 0x40000000 | 0x80000000u;
  if (options & ~kKnown) return -EINVAL;
  for (;;) {
    bool have_child = false;
    for (uint32_t i = 1; i < kMaxTasks; ++i) {
      Task* c = task_at(i);
      if (c->state == TaskState::kFree || c->parent != current) continue;
      if (pid > 0 && c->pid != pid) continue;
      have_child = true;
      if (c->state != TaskState::kZombie) continue;
      const int32_t cpid = c->pid;
      const int32_t st = c->exit_status;
      if (status_ptr && copy_to_user(status_ptr, &st, sizeof(st))) return -EFAULT;
      if (rusage_ptr && clear_user(rusage_ptr, 72)) return -EFAULT;  // struct rusage (i386)
      c->state = TaskState::kFree;
      return cpid;
    }
    if (!have_child) return -ECHILD;
    if (options & kWnohang) return 0;
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
    if (c->state != TaskState::kZombie) {
      ++killed;
      fd_table_close_all(c->files);
      release_mm(c);
    }
    c->state = TaskState::kFree;
  }
  return killed;
}

}  // namespace kern
